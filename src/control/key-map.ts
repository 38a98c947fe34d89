import type { Knex } from 'knex';
import { bucketSql } from '../core/key-buckets';

export interface KeyMapRow {
  sourceKey: string;
  businessKey: string;
  targetKey: string | null;
  /** Plans with sync: the keyed digest of the row as written (or accepted); null keeps the one recorded. */
  writtenDigest?: string | null;
  /** Plans with sync: the digest of the source version last taken account of; null keeps the one recorded. */
  sourceDigest?: string | null;
}

/** Keys per statement: each statement takes them as one JSON parameter (no per-key bind parameters). */
const CHUNK = 20_000;

/**
 * The scope of (migration, entity) in a statement: a scalar subquery (PostgreSQL runs it once,
 * before the index probes). Not cached in the process: the ledger schema may be dropped and
 * made again, and the scope numbers with it. Bindings: schema, migration id, entity.
 */
const SCOPE = '(select scope from ??.key_map_scopes where migration_id = ? and entity = ?)';

/** Per database and ledger schema: rows this process recorded, and the count at which it next analyzes. */
const growth = new WeakMap<Knex, Map<string, { recorded: number; analyzeAt: number }>>();

/**
 * Keeps the key map's planner statistics in step with its growth: ANALYZE at a process's first
 * load into a target (the key map may hold millions of rows another process wrote), then each
 * time the rows this process recorded double from 1,000 (a handful of times per migration, each
 * a fixed-size sample). Without statistics, as on a server with autovacuum off or behind a bulk
 * load, PostgreSQL takes every index that starts with (migration_id, entity) for equally cheap,
 * and a lookup by source key may scan an entity's whole key map through the business-key index:
 * one full scan per key, quadratic in the entity's size (minutes per batch at 100,000 users).
 */
export async function keepKeyMapStatistics(db: Knex, schema: string, added: number): Promise<void> {
  let bySchema = growth.get(db);
  if (!bySchema) growth.set(db, (bySchema = new Map()));
  const g = bySchema.get(schema) ?? { recorded: 0, analyzeAt: 0 };
  bySchema.set(schema, g);
  g.recorded += added;
  if (g.recorded < g.analyzeAt) return;
  g.analyzeAt = Math.max(1000, g.recorded * 2);
  // Best effort: statistics help the plan, and a role that may not analyze still loads.
  await db.raw('analyze ??.key_map_rows', [schema]).catch(() => undefined);
}

/**
 * Records (or corrects) where each source row landed; part of the load's transaction. A business
 * key equal to the source key is stored as null (the row's source key says it).
 */
export async function recordKeys(trx: Knex.Transaction, schema: string, migrationId: string, entity: string, rows: KeyMapRow[]): Promise<void> {
  if (!rows.length) return;
  const counting = await countsKept(trx, schema);
  // The scope, once per (migration, entity); taken only when missing, so a concurrent load's
  // insert waits for no one after the first batch. Made here, it starts its count at 0.
  const made = await trx.raw(
    `insert into ??.key_map_scopes (migration_id, entity) select ?, ?
     where not exists (select 1 from ??.key_map_scopes where migration_id = ? and entity = ?) on conflict do nothing returning scope`,
    [schema, migrationId, entity, schema, migrationId, entity],
  );
  if (counting && made.rows.length) await trx.raw('insert into ??.key_map_counts (scope, rows) values (?, 0)', [schema, made.rows[0].scope]);
  let added = 0;
  for (let i = 0; i < rows.length; i += CHUNK) {
    const slice = rows.slice(i, i + CHUNK).map((r) => [r.sourceKey, r.businessKey === r.sourceKey ? null : r.businessKey, r.targetKey, r.writtenDigest ?? null, r.sourceDigest ?? null]);
    // xmax is 0 on a row version this statement inserted, the writer's id on one it updated.
    const { rows: written } = await trx.raw(
      `with w as (insert into ??.key_map_rows as m (scope, source_key, business_key, target_key, written_digest, source_digest)
       select ${SCOPE}, r->>0, r->>1, r->>2, r->>3, r->>4 from json_array_elements(?::json) as r
       on conflict (scope, source_key) do update set business_key = excluded.business_key, target_key = excluded.target_key,
         written_digest = coalesce(excluded.written_digest, m.written_digest), source_digest = coalesce(excluded.source_digest, m.source_digest)
       returning (m.xmax = 0) as inserted)
       select count(*) filter (where inserted)::int as n from w`,
      [schema, schema, migrationId, entity, JSON.stringify(slice)],
    );
    added += written[0].n as number;
  }
  if (counting) await addToCount(trx, schema, migrationId, entity, added);
}

/**
 * Per database (its client's settings, which its transactions share): ledger schemas known to
 * have the counts table (made at prepare; a worker may run a migration prepared before it existed).
 */
const countsTables = new WeakMap<object, Set<string>>();

async function countsKept(db: Knex | Knex.Transaction, schema: string): Promise<boolean> {
  const settings = (db.client as { config: object }).config;
  let known = countsTables.get(settings);
  if (!known) countsTables.set(settings, (known = new Set()));
  if (known.has(schema)) return true;
  const { rows } = await db.raw("select to_regclass(format('%I.key_map_counts', ?::text)) is not null as present", [schema]);
  if (rows[0].present) known.add(schema);
  return rows[0].present as boolean;
}

/** A change to a counted scope's row count (a scope an earlier version made has no count to change). */
async function addToCount(trx: Knex.Transaction, schema: string, migrationId: string, entity: string, n: number): Promise<void> {
  if (!n) return;
  await trx.raw(
    `insert into ??.key_map_counts (scope, rows) select s.scope, ? from (select ${SCOPE} as scope) s
     where exists (select 1 from ??.key_map_counts c where c.scope = s.scope)`,
    [schema, n, schema, migrationId, entity, schema],
  );
}

async function lookup(db: Knex, schema: string, migrationId: string, entity: string, by: 'source_key' | 'target_key', keys: Iterable<string>): Promise<Map<string, string>> {
  const wanted = [...new Set(keys)];
  const other = by === 'source_key' ? 'target_key' : 'source_key';
  const out = new Map<string, string>();
  for (let i = 0; i < wanted.length; i += CHUNK) {
    // Driven by the keys: one probe of an index per key (on the statistics keepKeyMapStatistics
    // keeps; without them the planner may take another index that starts with the scope and
    // read the whole entity per key).
    const { rows } = await db.raw(
      `select k.k, m.v from json_array_elements_text(?::json) as k(k)
       cross join lateral (select ?? as v from ??.key_map_rows where scope = ${SCOPE} and ?? = k.k limit 1) as m`,
      [JSON.stringify(wanted.slice(i, i + CHUNK)), other, schema, schema, migrationId, entity, by],
    );
    for (const r of rows as { k: string; v: string | null }[]) if (r.v !== null) out.set(r.k, r.v);
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
    // Only keys held by another source row come back: the common case (every key its own row's) returns nothing.
    // A holder's business key is stored where it differs from its source key (the partial index),
    // else it is the source key (the primary key): a row whose business key is its own source key
    // can meet only the first kind.
    const { rows: held } = await db.raw(
      `with s as (select ${SCOPE} as scope)
       select h.business_key, h.source_key from json_array_elements(?::json) as r
       cross join lateral (
         select k.business_key, k.source_key from ??.key_map_rows k, s where k.scope = s.scope and k.business_key = r->>1 and k.source_key <> r->>0
         union all
         select k.source_key, k.source_key from ??.key_map_rows k, s where r->>1 <> r->>0 and k.scope = s.scope and k.source_key = r->>1 and k.business_key is null
       ) as h`,
      [schema, migrationId, entity, JSON.stringify(slice.map((r) => [r.sourceKey, r.bk])), schema, schema],
    );
    const holders = new Map<string, string[]>();
    for (const h of held as { business_key: string; source_key: string }[]) holders.set(h.business_key, [...(holders.get(h.business_key) ?? []), h.source_key]);
    for (const r of slice) {
      const other = holders.get(r.bk)?.find((k) => k !== r.sourceKey);
      if (other !== undefined) out.set(r.sourceKey, other);
    }
  }
  return out;
}

/** Key-map entries of these source keys: business key, target key and last written digest. */
export interface KeyMapEntry {
  businessKey: string;
  targetKey: string | null;
  writtenDigest: string | null;
  sourceDigest: string | null;
}

export async function keyMapEntries(db: Knex, schema: string, migrationId: string, entity: string, sourceKeys: Iterable<string>): Promise<Map<string, KeyMapEntry>> {
  const wanted = [...new Set(sourceKeys)];
  const out = new Map<string, KeyMapEntry>();
  for (let i = 0; i < wanted.length; i += CHUNK) {
    const { rows } = await db.raw(
      `select m.source_key, coalesce(m.business_key, m.source_key) as business_key, m.target_key, m.written_digest, m.source_digest from json_array_elements_text(?::json) as k(k)
       cross join lateral (select source_key, business_key, target_key, written_digest, source_digest from ??.key_map_rows where scope = ${SCOPE} and source_key = k.k) as m`,
      [JSON.stringify(wanted.slice(i, i + CHUNK)), schema, schema, migrationId, entity],
    );
    for (const r of rows as { source_key: string; business_key: string; target_key: string | null; written_digest: string | null; source_digest: string | null }[]) {
      out.set(r.source_key, { businessKey: r.business_key, targetKey: r.target_key, writtenDigest: r.written_digest, sourceDigest: r.source_digest });
    }
  }
  return out;
}

/** Every source key of an entity in the key map (what the migration accounts for as loaded), in key order pages. */
export async function* keyMapSourceKeys(db: Knex, schema: string, migrationId: string, entity: string): AsyncGenerator<string[]> {
  for (let after = ''; ; ) {
    const { rows: page } = await db.raw(`select source_key from ??.key_map_rows where scope = ${SCOPE} and source_key > ? order by source_key limit ?`, [schema, schema, migrationId, entity, after, CHUNK]);
    if (page.length) yield page.map((r: { source_key: string }) => r.source_key);
    if (page.length < CHUNK) return;
    after = page[page.length - 1]!.source_key;
  }
}

/**
 * The source keys the migration accounts for (the key map's rows of an entity, and `alsoKeys`
 * it lacks: the quarantined ones), summarised by hash bucket (see core/key-buckets), with how
 * many of each bucket's keys are the key map's own.
 */
export async function accountedKeyBuckets(db: Knex, schema: string, migrationId: string, entity: string, mask: number, alsoKeys: readonly string[]): Promise<{ bucket: number; keys: string; sum: string | null; mapped: string }[]> {
  const b = bucketSql('k');
  const { rows } = await db.raw(
    `with m as (select source_key as k, true as mapped from ??.key_map_rows where scope = ${SCOPE}
       union all select q.k, false from json_array_elements_text(?::json) as q(k)
         where not exists (select 1 from ??.key_map_rows where scope = ${SCOPE} and source_key = q.k))
     select ${b.bucket} as bucket, count(*)::bigint as keys, sum(${b.hash})::text as sum, count(*) filter (where mapped)::bigint as mapped from m group by 1`,
    [schema, schema, migrationId, entity, JSON.stringify(alsoKeys), schema, schema, migrationId, entity, mask],
  );
  return rows;
}

/** The key map's source keys of an entity in some hash buckets. */
export async function keyMapKeysInBuckets(db: Knex, schema: string, migrationId: string, entity: string, mask: number, buckets: readonly number[]): Promise<string[]> {
  const b = bucketSql('source_key');
  const { rows } = await db.raw(`select source_key from ??.key_map_rows where scope = ${SCOPE} and ${b.bucket} = any(?::int[])`, [schema, schema, migrationId, entity, mask, `{${buckets.join(',')}}`]);
  return rows.map((r: { source_key: string }) => r.source_key);
}

/**
 * How many source rows of an entity the key map holds: the sum of its scope's counts, kept in the
 * transactions that add and remove its rows (a few hundred small rows, where counting the rows
 * themselves reads millions); a scope an earlier version made is counted by its rows.
 */
export async function keyMapCount(db: Knex, schema: string, migrationId: string, entity: string): Promise<number> {
  if (await countsKept(db, schema)) {
    const { rows } = await db.raw(`select count(*)::int as kept, coalesce(sum(rows), 0)::bigint as n from ??.key_map_counts where scope = ${SCOPE}`, [schema, schema, migrationId, entity]);
    if (rows[0].kept > 0) return Number(rows[0].n);
  }
  return keyMapRowCount(db, schema, migrationId, entity);
}

/** The key map's rows of an entity, counted one by one (what keyMapCount must equal). */
export async function keyMapRowCount(db: Knex, schema: string, migrationId: string, entity: string): Promise<number> {
  const { rows } = await db.raw(`select count(*)::int as n from ??.key_map_rows where scope = ${SCOPE}`, [schema, schema, migrationId, entity]);
  return rows[0].n as number;
}

/** Forgets every row of an entity (its rollback is done): its count starts again at 0. */
export async function forgetEntity(db: Knex, schema: string, migrationId: string, entity: string): Promise<void> {
  const counting = await countsKept(db, schema);
  await db.transaction(async (trx) => {
    await trx.raw(`delete from ??.key_map_rows where scope = ${SCOPE}`, [schema, schema, migrationId, entity]);
    if (!counting) return;
    const { rowCount } = await trx.raw(`delete from ??.key_map_counts where scope = ${SCOPE}`, [schema, schema, migrationId, entity]);
    // Counted before (or made by this version, when it has no rows at all): counted from 0 again.
    if (rowCount) await trx.raw(`insert into ??.key_map_counts (scope, rows) select ${SCOPE}, 0 where ${SCOPE} is not null`, [schema, schema, migrationId, entity, schema, migrationId, entity]);
  });
}

/** Forgets rows a sync round deleted (or left in the target, kept by a conflict policy): they are no longer the migration's. */
export async function forgetKeys(trx: Knex.Transaction, schema: string, migrationId: string, entity: string, sourceKeys: readonly string[]): Promise<void> {
  let removed = 0;
  for (let i = 0; i < sourceKeys.length; i += CHUNK) {
    const { rowCount } = await trx.raw(`delete from ??.key_map_rows where scope = ${SCOPE} and source_key in (select json_array_elements_text(?::json))`, [schema, schema, migrationId, entity, JSON.stringify(sourceKeys.slice(i, i + CHUNK))]);
    removed += rowCount ?? 0;
  }
  if (removed && (await countsKept(trx, schema))) await addToCount(trx, schema, migrationId, entity, -removed);
}
