import type { Knex } from 'knex';
import type { SyncConflict } from '../core/sync-conflict';
import type { ConflictPolicy } from '../plan/types';
import { CONTROL_SCHEMA } from './schema';

/** Records a sync round's conflicts under the plan's policy (a retry overwrites its own). */
export async function recordConflicts(control: Knex, req: { migrationId: string; entity: string; batchId: string }, policy: ConflictPolicy | undefined, conflicts: readonly SyncConflict[]): Promise<void> {
  if (!conflicts.length || !policy) return;
  await control(`${CONTROL_SCHEMA}.sync_conflicts`)
    .insert(conflicts.map((c) => ({ migration_id: req.migrationId, entity: req.entity, source_key: c.sourceKey, business_key: c.businessKey, batch_id: req.batchId, change: c.change, policy, applied: c.applied })))
    .onConflict(['migration_id', 'entity', 'source_key', 'batch_id'])
    .merge(['change', 'policy', 'applied']);
}

export async function countConflicts(control: Knex, req: { migrationId: string; entity: string; batchId: string }): Promise<number> {
  const [n] = await control(`${CONTROL_SCHEMA}.sync_conflicts`).where({ migration_id: req.migrationId, entity: req.entity, batch_id: req.batchId }).count<{ n: string }[]>({ n: '*' });
  return Number(n!.n);
}

/** The changes of one sync batch a conflict kept out of the target (the target keeps its own row): keys only. */
export async function keptOutConflicts(control: Knex, req: { migrationId: string; entity: string; batchId: string }): Promise<{ source_key: string; business_key: string }[]> {
  return control(`${CONTROL_SCHEMA}.sync_conflicts`).select('source_key', 'business_key').where({ migration_id: req.migrationId, entity: req.entity, batch_id: req.batchId, applied: false });
}
