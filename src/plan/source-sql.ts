import { type EntitySpec, treeColumnOf } from './types';
import { textArray } from '../control/text-array';
import { bucketSql } from '../core/key-buckets';

/**
 * The SQL that reads an entity's source: a table or the plan's one SELECT, with its named
 * skip filters as boolean columns, keyset ranges of its key, and for a tree (a column that
 * references the entity itself) the depth of each row, so parents load before children
 * whatever the order of their ids. Pure: text and bindings for knex.raw (`??` an identifier,
 * `?` a value); the plan's own SQL has its `?` escaped so knex leaves them alone.
 */
export interface Sql {
  sql: string;
  bindings: unknown[];
}

/** A keyset range: (afterKey, lastKey], within one depth of a tree (`level`; -1: rows no root reaches). */
export interface SourceRange {
  afterKey: string | null;
  lastKey?: string;
  level?: number;
}

/** Rows a tree walk never reaches (their parent chain is a cycle): the last level, loaded (and quarantined as orphans) after every other. */
export const UNREACHED_LEVEL = -1;

const KEY = '__cutover_key';
const DEPTH = '__cutover_depth';
const REL = '__cutover_rel';
const WALK = '__cutover_walk';

/** A column alias for the i-th skip filter's result. */
export const skipAlias = (i: number) => `__cutover_skip_${i}`;

const escape = (planSql: string) => planSql.replace(/\?/g, '\\?');

function relation(spec: EntitySpec): Sql {
  if (spec.source.query !== undefined) return { sql: `(${escape(spec.source.query)})`, bindings: [] };
  return { sql: '??.??', bindings: [spec.source.schema, spec.source.table] };
}

/** The tree's parent column in the source, when the entity is a tree. */
export function treeParentColumn(spec: EntitySpec): string | undefined {
  return treeColumnOf(spec)?.from[0];
}

/**
 * `with` clause: the relation, and for a tree the walk from its roots (rows whose parent is
 * NULL or not in the relation: a parent of 0 meaning none, or a missing one, whose row is then
 * quarantined as an orphan at load). A child is reached once its parent is, so no cycle is
 * walked; rows in a cycle are never reached.
 */
function withClause(spec: EntitySpec): Sql {
  const rel = relation(spec);
  const parent = treeParentColumn(spec);
  const key = spec.source.key;
  if (!parent) return { sql: `with ?? as (select * from ${rel.sql} as __cutover_src)`, bindings: [REL, ...rel.bindings] };
  return {
    sql:
      `with recursive ?? as (select * from ${rel.sql} as __cutover_src), ` +
      `??(??, ??) as (select r.??, 0 from ?? r where r.?? is null or not exists (select 1 from ?? p where p.?? = r.??) ` +
      `union all select c.??, w.?? + 1 from ?? c join ?? w on c.?? = w.??)`,
    bindings: [REL, ...rel.bindings, WALK, KEY, DEPTH, key, REL, parent, REL, key, parent, key, DEPTH, REL, WALK, parent, KEY],
  };
}

/** `where` conditions of a range: its keys, and its depth for a tree. */
function rangeConditions(spec: EntitySpec, range: SourceRange, upTo?: string): Sql {
  const key = spec.source.key;
  const parts: string[] = [];
  const bindings: unknown[] = [];
  if (range.afterKey !== null) {
    parts.push('s.?? > ?');
    bindings.push(key, range.afterKey);
  }
  if (range.lastKey !== undefined) {
    parts.push('s.?? <= ?');
    bindings.push(key, range.lastKey);
  }
  if (upTo !== undefined) {
    parts.push('s.?? <= ?');
    bindings.push(key, upTo);
  }
  if (range.level !== undefined) {
    if (range.level === UNREACHED_LEVEL) {
      parts.push('not exists (select 1 from ?? w where w.?? = s.??)');
      bindings.push(WALK, KEY, key);
    } else {
      parts.push('exists (select 1 from ?? w where w.?? = s.?? and w.?? = ?)');
      bindings.push(WALK, KEY, key, DEPTH, range.level);
    }
  }
  return { sql: parts.length ? `where ${parts.join(' and ')}` : '', bindings };
}

/** The rows of a range: the mapper's source columns, then one boolean per skip filter, in key order. */
export function extractSql(spec: EntitySpec, columns: readonly string[], range: SourceRange): Sql {
  const w = withClause(spec);
  const where = rangeConditions(spec, range);
  const skips = (spec.source.skip ?? []).map((f, i) => ({ sql: `coalesce((${escape(f.when)}), false) as ??`, alias: skipAlias(i) }));
  const select = [...columns.map(() => 's.??'), ...skips.map((s) => s.sql)].join(', ');
  return {
    sql: `${w.sql} select ${select} from ?? s ${where.sql} order by s.??`,
    bindings: [...w.bindings, ...columns, ...skips.map((s) => s.alias), REL, ...where.bindings, spec.source.key],
  };
}

/** The next range: at most `limit` rows after `afterKey` (up to `upTo`), as its last key and row count. */
export function nextRangeSql(spec: EntitySpec, range: SourceRange, limit: number, upTo?: string): Sql {
  const w = withClause(spec);
  const where = rangeConditions(spec, { afterKey: range.afterKey, level: range.level }, upTo);
  return {
    sql: `${w.sql} select max(page.k)::text as last, count(*)::int as n from (select s.?? as k from ?? s ${where.sql} order by s.?? limit ?) page`,
    bindings: [...w.bindings, spec.source.key, REL, ...where.bindings, spec.source.key, limit],
  };
}

/** The deepest level of a tree, and whether some rows are unreached. */
export function treeShapeSql(spec: EntitySpec): Sql {
  const w = withClause(spec);
  return {
    sql: `${w.sql} select coalesce((select max(??) from ??), -1)::int as depth, exists (select 1 from ?? s where not exists (select 1 from ?? w where w.?? = s.??)) as unreached`,
    bindings: [...w.bindings, DEPTH, WALK, REL, WALK, KEY, spec.source.key],
  };
}

/** A page of the source's keys after `afterKey`, with whether a skip filter holds for each (`skipped`: the filter's name or null). */
export function keysSql(spec: EntitySpec, afterKey: string | null, limit: number): Sql {
  const w = withClause(spec);
  const where = rangeConditions(spec, { afterKey });
  const skipped = skippedSql(spec);
  return {
    sql: `${w.sql} select s.??::text as key, ${skipped.sql} as skipped from ?? s ${where.sql} order by s.?? limit ?`,
    bindings: [...w.bindings, spec.source.key, ...skipped.bindings, REL, ...where.bindings, spec.source.key, limit],
  };
}

/** The name of the first skip filter that holds for a row `s`, or null. */
function skippedSql(spec: EntitySpec): Sql {
  const filters = spec.source.skip ?? [];
  if (!filters.length) return { sql: 'null::text', bindings: [] };
  return { sql: `case ${filters.map((f) => `when coalesce((${escape(f.when)}), false) then ?`).join(' ')} end`, bindings: filters.map((f) => f.name) };
}

/**
 * The source's keys summarised by hash bucket (see core/key-buckets): per bucket, the keys of
 * rows the plan reads and no skip filter leaves out, and the sum of their second hashes.
 */
export function keyBucketsSql(spec: EntitySpec, mask: number): Sql {
  const w = withClause(spec);
  const where = rangeConditions(spec, { afterKey: null });
  const skipped = skippedSql(spec);
  const b = bucketSql('s.??::text');
  return {
    sql:
      `${w.sql} select bucket, count(*)::bigint as keys, sum(h)::text as sum from ` +
      `(select ${b.bucket} as bucket, ${b.hash} as h, ${skipped.sql} as skipped from ?? s ${where.sql}) k where skipped is null group by bucket`,
    bindings: [...w.bindings, spec.source.key, mask, spec.source.key, ...skipped.bindings, REL, ...where.bindings],
  };
}

/** The source's keys in some hash buckets, with whether a skip filter holds for each (as `keysSql`). */
export function keysInBucketsSql(spec: EntitySpec, mask: number, buckets: readonly number[]): Sql {
  const w = withClause(spec);
  const where = rangeConditions(spec, { afterKey: null });
  const skipped = skippedSql(spec);
  const b = bucketSql('s.??::text');
  return {
    sql: `${w.sql} select s.??::text as key, ${skipped.sql} as skipped from ?? s ${where.sql ? `${where.sql} and` : 'where'} ${b.bucket} = any(?::int[])`,
    bindings: [...w.bindings, spec.source.key, ...skipped.bindings, REL, ...where.bindings, spec.source.key, mask, `{${buckets.join(',')}}`],
  };
}

/** Rows of the source the plan reads (its range conditions), and of those the ones no skip filter leaves out. */
export function keptCountSql(spec: EntitySpec): Sql {
  const w = withClause(spec);
  const where = rangeConditions(spec, { afterKey: null });
  const filters = spec.source.skip ?? [];
  const kept = filters.length ? `count(*) filter (where not (${filters.map((f) => `coalesce((${escape(f.when)}), false)`).join(' or ')}))` : 'count(*)';
  return {
    sql: `${w.sql} select count(*)::bigint as rows, ${kept}::bigint as kept from ?? s ${where.sql}`,
    bindings: [...w.bindings, REL, ...where.bindings],
  };
}

/** Rows of the source, all of them (skipped ones too). */
export function countSql(spec: EntitySpec): Sql {
  const rel = relation(spec);
  return { sql: `select count(*)::bigint as n from ${rel.sql} s`, bindings: rel.bindings };
}

/** No rows, only the relation's columns (their names in the result's fields). */
export function columnsSql(spec: EntitySpec): Sql {
  const rel = relation(spec);
  return { sql: `select * from ${rel.sql} s limit 0`, bindings: rel.bindings };
}

/** A type name as the catalog prints it (`integer`, `character varying(36)`, `"My Type"`), safe to put in SQL text. */
const TYPE_NAME = /^[A-Za-z_][A-Za-z0-9_ ."(),]*$/;

/**
 * The rows of these source keys (a sync round's changes): as `extractSql`, in key order.
 * `keyType` (the key column's type, from the catalog) lets the keys be compared in that type,
 * so the lookup uses the key's index; without it they are compared as text (a scan).
 */
export function extractByKeysSql(spec: EntitySpec, columns: readonly string[], keys: readonly string[], keyType?: string): Sql {
  const rel = relation(spec);
  const skips = (spec.source.skip ?? []).map((f, i) => ({ sql: `coalesce((${escape(f.when)}), false) as ??`, alias: skipAlias(i) }));
  const select = [...columns.map(() => 's.??'), ...skips.map((s) => s.sql)].join(', ');
  const typed = keyType !== undefined && TYPE_NAME.test(keyType);
  return {
    sql: `select ${select} from ${rel.sql} s where ${typed ? `s.?? = any(?::${keyType}[])` : 's.??::text = any(?::text[])'} order by s.??`,
    bindings: [...columns, ...skips.map((s) => s.alias), ...rel.bindings, spec.source.key, textArray(keys), spec.source.key],
  };
}

/**
 * Poll sync: the epoch (seconds) a row last changed, from the plan's change column: a
 * timestamp's epoch, or an epoch number in its unit. `timestamp` says which the column is.
 */
function changeEpoch(spec: EntitySpec, timestamp: boolean): Sql {
  const c = spec.source.change!;
  if (timestamp) return { sql: 'extract(epoch from s.??)::float8', bindings: [c.column] };
  return { sql: c.unit === 'ms' ? '(s.?? / 1000.0)::float8' : 's.??::float8', bindings: [c.column] };
}

/** Poll sync: keys of rows changed at or after `since` (epoch seconds; null: every row with a change), and the newest change seen. */
export function changedKeysSql(spec: EntitySpec, timestamp: boolean, since: number | null): Sql {
  const rel = relation(spec);
  const e = changeEpoch(spec, timestamp);
  const where = since === null ? `${e.sql} is not null` : `${e.sql} >= ?`;
  return {
    sql: `select s.??::text as key, ${e.sql} as changed from ${rel.sql} s where ${where}`,
    bindings: [spec.source.key, ...e.bindings, ...rel.bindings, ...e.bindings, ...(since === null ? [] : [since])],
  };
}

/** No rows, only the plan's change column: its type OID in the result's field (timestamp or epoch, for `changedKeysSql`). */
export function changeColumnSql(spec: EntitySpec): Sql {
  const rel = relation(spec);
  return { sql: `select s.?? from ${rel.sql} s limit 0`, bindings: [spec.source.change!.column, ...rel.bindings] };
}

/** Type OIDs of date and time types: a change column of these is read as a timestamp. */
export const TIMESTAMP_TYPE_OIDS: readonly number[] = [1082, 1114, 1184];

/** No rows, only the entity's source key: its type OID in the result's field (for `extractByKeysSql`). */
export function keyColumnSql(spec: EntitySpec): Sql {
  const rel = relation(spec);
  return { sql: `select s.?? from ${rel.sql} s limit 0`, bindings: [spec.source.key, ...rel.bindings] };
}
