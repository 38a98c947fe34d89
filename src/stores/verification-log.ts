/**
 * Which rows are verified: a batch's reconcile (full load or sync round) verifies the rows it
 * staged, and a row it finds missing or different stays unverified until a later batch of the
 * same key, or the cutover's tail verification, finds it right. Rows not listed here were
 * verified after their last change. `pgVerificationLog` is the control database's table.
 */
import type { Knex } from 'knex';
import { CONTROL_SCHEMA } from '../control/schema';

type BatchOf = { migrationId: string; entity: string; batchId: string };

export interface UnverifiedRow {
  sourceKey: string;
  businessKey: string;
  /** `missing`, `mismatched` or `still present` (deleted in the source, still in the target). */
  reason: string;
}

export interface VerificationLog {
  /** After a batch's reconcile: `verified` source keys leave the list, `failed` ones join it. */
  record(batch: BatchOf, verified: readonly string[], failed: readonly UnverifiedRow[]): Promise<void>;
  /** An entity's unverified rows, oldest first. */
  unverified(migrationId: string, entity: string): Promise<UnverifiedRow[]>;
  /** Unverified rows per entity. */
  counts(migrationId: string): Promise<Map<string, number>>;
}

const CHUNK = 20_000;

export function pgVerificationLog(control: Knex): VerificationLog {
  const table = `${CONTROL_SCHEMA}.unverified_rows`;
  return {
    async record(batch, verified, failed) {
      await control.transaction(async (trx) => {
        for (let i = 0; i < verified.length; i += CHUNK) {
          await trx.raw(`delete from ${table} where migration_id = ? and entity = ? and source_key in (select json_array_elements_text(?::json))`, [batch.migrationId, batch.entity, JSON.stringify(verified.slice(i, i + CHUNK))]);
        }
        for (let i = 0; i < failed.length; i += CHUNK) {
          await trx.raw(
            `insert into ${table} (migration_id, entity, source_key, business_key, reason, batch_id)
             select ?, ?, r->>0, r->>1, r->>2, ? from json_array_elements(?::json) as r
             on conflict (migration_id, entity, source_key) do update set business_key = excluded.business_key, reason = excluded.reason, batch_id = excluded.batch_id, found_at = now()`,
            [batch.migrationId, batch.entity, batch.batchId, JSON.stringify(failed.slice(i, i + CHUNK).map((f) => [f.sourceKey, f.businessKey, f.reason]))],
          );
        }
      });
    },
    async unverified(migrationId, entity) {
      const rows = await control(table).select('source_key', 'business_key', 'reason').where({ migration_id: migrationId, entity }).orderBy('found_at').orderBy('source_key');
      return rows.map((r) => ({ sourceKey: r.source_key, businessKey: r.business_key, reason: r.reason }));
    },
    async counts(migrationId) {
      const rows = await control(table).select('entity').count<{ entity: string; n: string }[]>({ n: '*' }).where({ migration_id: migrationId }).groupBy('entity');
      return new Map(rows.map((r) => [r.entity, Number(r.n)]));
    },
  };
}
