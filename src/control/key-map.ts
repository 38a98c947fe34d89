import type { Knex } from 'knex';

export interface KeyMapRow {
  sourceKey: string;
  businessKey: string;
  targetKey: string | null;
}

const CHUNK = 5000;

/** Records (or corrects) where each source row landed; part of the load's transaction. */
export async function recordKeys(trx: Knex.Transaction, schema: string, migrationId: string, entity: string, rows: KeyMapRow[]): Promise<void> {
  const records = rows.map((r) => ({ migration_id: migrationId, entity, source_key: r.sourceKey, business_key: r.businessKey, target_key: r.targetKey }));
  for (let i = 0; i < records.length; i += CHUNK) {
    await trx(`${schema}.key_map`).insert(records.slice(i, i + CHUNK)).onConflict(['migration_id', 'entity', 'source_key']).merge(['business_key', 'target_key']);
  }
}

async function lookup(db: Knex, schema: string, migrationId: string, entity: string, by: 'source_key' | 'target_key', keys: Iterable<string>): Promise<Map<string, string>> {
  const wanted = [...new Set(keys)];
  const other = by === 'source_key' ? 'target_key' : 'source_key';
  const out = new Map<string, string>();
  for (let i = 0; i < wanted.length; i += CHUNK) {
    const rows = await db(`${schema}.key_map`).select(by, other).where({ migration_id: migrationId, entity }).whereIn(by, wanted.slice(i, i + CHUNK));
    for (const r of rows) if (r[other] !== null) out.set(r[by], r[other]);
  }
  return out;
}

/** Target keys of loaded parent rows, by their source keys (a missing one is an orphan). */
export function targetKeysOf(db: Knex, schema: string, migrationId: string, entity: string, sourceKeys: Iterable<string>): Promise<Map<string, string>> {
  return lookup(db, schema, migrationId, entity, 'source_key', sourceKeys);
}

/** Source keys of loaded parent rows, by their target keys: how reconcile checks a reference. */
export function sourceKeysOf(db: Knex, schema: string, migrationId: string, entity: string, targetKeys: Iterable<string>): Promise<Map<string, string>> {
  return lookup(db, schema, migrationId, entity, 'target_key', targetKeys);
}

/**
 * Rows whose business key another source row of the entity already holds in the key map: by
 * source key, the other row's source key. Loading them would overwrite that row (the upsert
 * meets its key), so they are quarantined instead (`duplicate_business_key`).
 */
export async function heldByOtherRows(db: Knex, schema: string, migrationId: string, entity: string, rows: readonly { sourceKey: string; bk: string }[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (let i = 0; i < rows.length; i += CHUNK) {
    const slice = rows.slice(i, i + CHUNK);
    const held = await db(`${schema}.key_map`).select('business_key', 'source_key').where({ migration_id: migrationId, entity }).whereIn('business_key', [...new Set(slice.map((r) => r.bk))]);
    const holders = new Map<string, string[]>();
    for (const h of held) holders.set(h.business_key, [...(holders.get(h.business_key) ?? []), h.source_key]);
    for (const r of slice) {
      const other = holders.get(r.bk)?.find((k) => k !== r.sourceKey);
      if (other !== undefined) out.set(r.sourceKey, other);
    }
  }
  return out;
}
