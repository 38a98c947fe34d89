/**
 * The batch registry: what each staged batch holds (rows extracted, staged, quarantined, and its
 * objects), which the progress, the report and a rollback's clean-up read. `pgBatchRegistry` is
 * the control database's table.
 */
import type { Knex } from 'knex';
import { CONTROL_SCHEMA } from '../control/schema';

export interface StagedBatchRecord {
  batchId: string;
  migrationId: string;
  entity: string;
  afterKey: string | null;
  lastKey: string;
  extracted: number;
  staged: number;
  quarantined: number;
  objectKey: string;
  manifestKey: string;
}

export interface BatchRegistry {
  /** Records (or, on a retry, updates) a staged batch. */
  recordStaged(batch: StagedBatchRecord): Promise<void>;
  /** Records a batch's reconcile result (JSON: counts and business keys, never values). */
  recordReconcile(batchId: string, result: object): Promise<void>;
  /** The ids of an entity's staged batches. */
  batchIds(migrationId: string, entity: string): Promise<string[]>;
}

export function pgBatchRegistry(control: Knex): BatchRegistry {
  return {
    async recordStaged(b) {
      await control(`${CONTROL_SCHEMA}.batches`)
        .insert({
          batch_id: b.batchId,
          migration_id: b.migrationId,
          entity: b.entity,
          after_key: b.afterKey,
          last_key: b.lastKey,
          rows_extracted: b.extracted,
          rows_staged: b.staged,
          rows_quarantined: b.quarantined,
          object_key: b.objectKey,
          manifest_key: b.manifestKey,
        })
        .onConflict('batch_id')
        .merge(['rows_extracted', 'rows_staged', 'rows_quarantined', 'staged_at']);
    },
    async batchIds(migrationId, entity) {
      return (await control(`${CONTROL_SCHEMA}.batches`).select('batch_id').where({ migration_id: migrationId, entity })).map((b) => b.batch_id as string);
    },
    async recordReconcile(batchId, result) {
      await control(`${CONTROL_SCHEMA}.batches`).where({ batch_id: batchId }).update({ reconcile: JSON.stringify(result) });
    },
  };
}
