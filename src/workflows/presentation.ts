import { setCurrentDetails, upsertSearchAttributes } from '@temporalio/workflow';
import { emptyProgress, EntityProgress, MigrationReport, MigrationStatus } from '../shared/migration';
import { addTally, percentDone, progressMarkdown, rowsLoaded } from '../shared/progress';
import { CUTOVER_PERCENT, CUTOVER_PHASE, CUTOVER_ROWS_LOADED, CUTOVER_STATUS } from '../shared/search-attributes';
import type { MigrationState } from './migration-run';

/** How a running migration shows itself in the Web UI and to visibility queries. */
export interface Presentation {
  /** Details always; search attributes only when status, phase or whole percent change (each upsert is a command). */
  refresh(): void;
  /** Sets the status as it reads (a running migration may read as paused, syncing or cutting over) and refreshes. */
  setStatus(status: MigrationStatus): void;
  /** Every phase has loaded and the sync runs: `running` now reads as syncing or cutting over. */
  startSyncing(): void;
  readonly syncing: boolean;
}

export function createPresentation(report: MigrationReport, state: MigrationState): Presentation {
  let shown: { status?: string; phase?: string; percent?: number } = {};
  let syncing = false;
  const refresh = () => {
    setCurrentDetails(progressMarkdown(report));
    const percent = percentDone(report);
    if (shown.status === report.status && shown.phase === report.phase && Math.floor(shown.percent ?? -1) === Math.floor(percent)) return;
    shown = { status: report.status, phase: report.phase, percent };
    upsertSearchAttributes([
      { key: CUTOVER_STATUS, value: report.status },
      { key: CUTOVER_PHASE, value: report.phase ?? null },
      { key: CUTOVER_PERCENT, value: percent },
      { key: CUTOVER_ROWS_LOADED, value: rowsLoaded(report) },
    ]);
  };
  const runningAs = (): MigrationStatus => {
    if (state.controls.paused) return 'paused';
    if (!syncing) return 'running';
    return state.sync?.cutoverAsked ? 'cutting-over' : 'syncing';
  };
  return {
    refresh,
    setStatus(status) {
      report.status = status === 'running' ? runningAs() : status;
      refresh();
    },
    startSyncing() {
      syncing = true;
    },
    get syncing() {
      return syncing;
    },
  };
}

/**
 * An entity's tally while it runs, from its runs' (or partitions') live reports; source rows stay
 * the prepared count, and batches never read fewer than were planned.
 */
export function liveTally(current: EntityProgress, parts: readonly EntityProgress[]): EntityProgress {
  const total = emptyProgress(current.entity, current.sourceRows);
  for (const p of parts) {
    addTally(total, p);
    total.batches += p.batches;
  }
  total.batches = Math.max(total.batches, current.batches);
  return total;
}
