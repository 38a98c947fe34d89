/**
 * Sync conflicts as a load records them: a round's changes to rows someone else edited since
 * Cutover wrote them, under the plan's policy. `pgConflictLog` is the control database's table.
 */
import type { Knex } from 'knex';
import { countConflicts, keptOutConflicts, recordConflicts } from '../control/sync-conflicts';
import type { SyncConflict } from '../core/sync-conflict';
import type { ConflictPolicy } from '../plan/types';
import { CONTROL_SCHEMA } from '../control/schema';

type BatchOf = { migrationId: string; entity: string; batchId: string };

export interface ConflictLog {
  /** Records a batch's conflicts (a retry overwrites its own). */
  record(batch: BatchOf, policy: ConflictPolicy | undefined, conflicts: readonly SyncConflict[]): Promise<void>;
  /** How many a batch recorded. */
  count(batch: BatchOf): Promise<number>;
  /** A batch's changes the policy kept out of the target (the target keeps its own row): keys only. */
  keptOut(batch: BatchOf): Promise<{ source_key: string; business_key: string }[]>;
  /** The source keys of an entity whose last conflict kept the target's version (the target differs from the source by the plan's choice). */
  lastKeptOut(migrationId: string, entity: string): Promise<Set<string>>;
}

export function pgConflictLog(control: Knex): ConflictLog {
  return {
    record: (batch, policy, conflicts) => recordConflicts(control, batch, policy, conflicts),
    count: (batch) => countConflicts(control, batch),
    keptOut: (batch) => keptOutConflicts(control, batch),
    async lastKeptOut(migrationId, entity) {
      const r = await control.raw(`select distinct on (source_key) source_key, applied from ${CONTROL_SCHEMA}.sync_conflicts where migration_id = ? and entity = ? order by source_key, detected_at desc`, [migrationId, entity]);
      return new Set((r.rows as { source_key: string; applied: boolean }[]).filter((x) => !x.applied).map((x) => x.source_key));
    },
  };
}
