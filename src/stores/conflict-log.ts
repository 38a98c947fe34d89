/**
 * Sync conflicts as a load records them: a round's changes to rows someone else edited since
 * Cutover wrote them, under the plan's policy. `pgConflictLog` is the control database's table.
 */
import type { Knex } from 'knex';
import { countConflicts, recordConflicts } from '../control/sync-conflicts';
import type { SyncConflict } from '../core/sync-conflict';
import type { ConflictPolicy } from '../plan/types';

type BatchOf = { migrationId: string; entity: string; batchId: string };

export interface ConflictLog {
  /** Records a batch's conflicts (a retry overwrites its own). */
  record(batch: BatchOf, policy: ConflictPolicy | undefined, conflicts: readonly SyncConflict[]): Promise<void>;
  /** How many a batch recorded. */
  count(batch: BatchOf): Promise<number>;
}

export function pgConflictLog(control: Knex): ConflictLog {
  return {
    record: (batch, policy, conflicts) => recordConflicts(control, batch, policy, conflicts),
    count: (batch) => countConflicts(control, batch),
  };
}
