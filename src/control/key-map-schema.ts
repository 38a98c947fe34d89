import type { Knex } from 'knex';

/**
 * The key map's tables, in the ledger schema. A row costs what it must hold and no more:
 * - `key_map_scopes` names each (migration, entity) once; a row carries its 4-byte scope
 *   instead of repeating both names in the row and in each of its indexes;
 * - `key_map_rows.business_key` is null where the business key is the source key itself (the
 *   common plan: `legacy_id: { from: id }`), so its index holds only the others;
 * - digests only for plans with sync (null otherwise).
 * Earlier versions kept one `key_map` table with (migration_id, entity) in every row and three
 * indexes (369 bytes per row at 100,000 users, more than the target's own row): where it
 * exists, its rows move here once, and it is dropped. Runs under the ledger schema's lock.
 */
export async function ensureKeyMapTables(trx: Knex.Transaction, schema: string): Promise<void> {
  await trx.raw(
    `create table if not exists ??.key_map_scopes (
      scope serial primary key,
      migration_id text not null,
      entity text not null,
      unique (migration_id, entity)
    )`,
    [schema],
  );
  await trx.raw(
    `create table if not exists ??.key_map_rows (
      scope integer not null,
      source_key text not null,
      business_key text,
      target_key text,
      written_digest text,
      source_digest text,
      primary key (scope, source_key)
    )`,
    [schema],
  );
  // Which source row holds a business key (a second one with the same key is a duplicate, not
  // an update): rows whose business key is their source key are found through the primary key.
  await trx.raw('create index if not exists key_map_rows_business on ??.key_map_rows (scope, business_key) where business_key is not null', [schema]);
  // Back from a target key to its source key (reconcile checks references this way).
  await trx.raw('create index if not exists key_map_rows_target on ??.key_map_rows (scope, target_key) where target_key is not null', [schema]);

  // How many rows each scope holds, kept exactly in the transactions that change them (see
  // key-map.ts, keyMapCount): one row per change, insert-only, so concurrent loads of an entity
  // never wait on one counter. A scope counts from the row it is made with (rows 0); scopes an
  // earlier version made have none, and are counted by their rows.
  await trx.raw('create table if not exists ??.key_map_counts (scope integer not null, rows bigint not null)', [schema]);
  await trx.raw('create index if not exists key_map_counts_scope on ??.key_map_counts (scope)', [schema]);

  const legacy = await trx.raw("select to_regclass(format('%I.key_map', ?::text)) is not null as present", [schema]);
  if (!legacy.rows[0].present) return;
  await trx.raw('alter table ??.key_map add column if not exists written_digest text, add column if not exists source_digest text', [schema]);
  await trx.raw('insert into ??.key_map_scopes (migration_id, entity) select distinct migration_id, entity from ??.key_map on conflict do nothing', [schema, schema]);
  await trx.raw(
    `insert into ??.key_map_rows (scope, source_key, business_key, target_key, written_digest, source_digest)
     select s.scope, k.source_key, nullif(k.business_key, k.source_key), k.target_key, k.written_digest, k.source_digest
     from ??.key_map k join ??.key_map_scopes s using (migration_id, entity)
     on conflict do nothing`,
    [schema, schema, schema],
  );
  await trx.raw('drop table ??.key_map', [schema]);
}
