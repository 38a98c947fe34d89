import type { RehearsalSpec } from '../plan/types';
import type { LeftBehind } from '../migration-view';
import type { ShreddedKeys } from '../migration-status';
import type { MigrationReport } from '../shared/migration';

/**
 * Everything the HTML report page shows, gathered by the caller (workflow query, Temporal
 * describe, quarantine counts, audit chain). Counts and reason codes only — never row data.
 */
export interface ReportData {
  /** When this snapshot was taken (ISO); the clock for a migration that is still running. */
  generatedAt: string;
  report: MigrationReport;
  workflow: { workflowId: string; url?: string; status: string; startTime?: string; closeTime?: string };
  /** Quarantined rows per entity and reason code. */
  quarantine: { entity: string; reason: string; rows: number }[];
  /** One point per loaded batch: when it finished and how many rows it loaded (inserted + updated + unchanged). */
  throughput: { at: string; rows: number }[];
  /** Milestones, e.g. started, phase people done, gate approved, completed. */
  timings: { label: string; at: string }[];
  audit?: { head: { seq: number; hash: string }; events: number; verified?: boolean };
  /** A completed migration's rollback window: open, or closed by whom and when (unset: not completed, or not known). */
  rollbackWindow?: { state: 'open' | 'closed'; closedBy?: string; closedAt?: string; reason?: string };
  /** The workflow of a rollback after completion, when one was started (its report is `report`). */
  rollbackWorkflow?: { workflowId: string; url?: string; status: string };
  /** A migration that ended without undoing (failed, cancelled, terminated, timed out): the rows still in the target, by table, and the command that undoes them. */
  leftBehind?: LeftBehind;
  /** Once its keys were shredded (`cutover close --shred`): when and by whom. */
  keysShredded?: ShreddedKeys;
  /** What this report lacks and why (a closed workflow no worker answered for: its per-entity figures). */
  missing?: string[];
  /** Set for a rehearsal into a masked sandbox (`start --rehearsal`): the real migration and the sandbox's variable. */
  rehearsal?: RehearsalSpec;
}
