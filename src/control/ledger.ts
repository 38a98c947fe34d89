import type { Knex } from 'knex';

export interface LedgerEntry {
  /** The row's business key as the target holds it. */
  businessKey: string;
  /** The sealed row as it was before the migration wrote it; null for a row it inserted. */
  preImage: Buffer | null;
}

/**
 * Records rows a load wrote, in its transaction, as one JSON parameter per 20,000 rows. First
 * write wins: a row already in the ledger keeps the pre-image from before this migration
 * touched it, so a rollback restores that.
 */
export async function appendLedger(trx: Knex.Transaction, schema: string, at: { migrationId: string; table: string; batchId: string; runId: string }, entries: readonly LedgerEntry[]): Promise<void> {
  for (let i = 0; i < entries.length; i += 20_000) {
    const slice = entries.slice(i, i + 20_000).map((e) => [e.businessKey, e.preImage === null ? null : e.preImage.toString('base64')]);
    await trx.raw(
      `insert into ??.ledger (migration_id, target_table, business_key, action, pre_image, batch_id, run_id)
       select ?, ?, e->>0, case when e->>1 is null then 'inserted' else 'updated' end, decode(e->>1, 'base64'), ?, ? from json_array_elements(?::json) as e
       on conflict (migration_id, target_table, business_key) do nothing`,
      [schema, at.migrationId, at.table, at.batchId, at.runId, JSON.stringify(slice)],
    );
  }
}
