import type { Sql } from './source-sql';

/**
 * The SQL the load writes a batch with. A batch goes to PostgreSQL as one JSON parameter
 * (an array of objects keyed by column name), which `json_populate_recordset` turns into rows
 * of the target table's own row type: each value passes its column type's input function, as
 * a literal in an INSERT would, and no statement carries thousands of bind parameters (which
 * the client builds and the server parses one by one). Pure: text and bindings for knex.raw.
 */
export interface TargetTable {
  schema: string;
  table: string;
}

const list = (names: readonly string[], prefix = '') => names.map(() => `${prefix}??`).join(', ');

/** The batch's rows as the table's row type. */
function rowsOf(t: TargetTable, alias: string): Sql {
  return { sql: `json_populate_recordset(null::??.??, ?::json) as ${alias}`, bindings: [t.schema, t.table] };
}

/**
 * Inserts the rows, or updates the row holding the business key; returns `returning` of each
 * row written. With no column outside the business key, an existing row is left alone.
 */
export function upsertSql(t: TargetTable, columns: readonly string[], businessKey: readonly string[], returning: readonly string[], rowsJson: string): Sql {
  const rows = rowsOf(t, 'r');
  const updatable = columns.filter((c) => !businessKey.includes(c));
  const onConflict = updatable.length ? `do update set ${updatable.map(() => '?? = excluded.??').join(', ')}` : 'do nothing';
  return {
    sql: `insert into ??.?? (${list(columns)}) select ${list(columns, 'r.')} from ${rows.sql} on conflict (${list(businessKey)}) ${onConflict} returning ${list(returning)}`,
    bindings: [t.schema, t.table, ...columns, ...columns, ...rows.bindings, rowsJson, ...businessKey, ...updatable.flatMap((c) => [c, c]), ...returning],
  };
}

/**
 * The rows of the table holding any of the given business keys (`keysJson`: objects of the
 * key's columns), locked until the transaction ends when `lock`. Driven by the keys: each is
 * one lookup in the business key's unique index, whatever the table's statistics say.
 */
export function rowsByKeySql(t: TargetTable, selected: readonly string[], businessKey: readonly string[], keysJson: string, lock: boolean, wholeRow = false): Sql {
  const keys = rowsOf(t, 'k');
  const whole = wholeRow ? `, x.${WHOLE_ROW}` : '';
  const wholeInner = wholeRow ? `, to_jsonb(t) as ${WHOLE_ROW}` : '';
  return {
    sql: `select ${list(selected, 'x.')}${whole} from ${keys.sql} cross join lateral (select ${list(selected, 't.')}${wholeInner} from ??.?? as t where ${businessKey.map(() => 't.?? = k.??').join(' and ')}${lock ? ' for update of t' : ''}) as x`,
    bindings: [...selected, ...keys.bindings, keysJson, ...selected, t.schema, t.table, ...businessKey.flatMap((c) => [c, c])],
  };
}

/** The column `rowsByKeySql` adds with `wholeRow`: every column of the row, as PostgreSQL's JSON of it (a pre-image a rollback can insert again). */
export const WHOLE_ROW = '__cutover_row';

/**
 * Puts a row back exactly as `to_jsonb` took it: inserted when it is gone (a sync round deleted
 * it), else its columns set again. `columns`: the table's writable columns (generated ones
 * left out); `keep`: columns an update leaves alone (the business key, the target's own key).
 */
export function restoreRowSql(t: TargetTable, columns: readonly string[], businessKey: readonly string[], keep: readonly string[], rowJson: string): Sql {
  const updatable = columns.filter((c) => !keep.includes(c));
  const onConflict = updatable.length ? `do update set ${updatable.map(() => '?? = excluded.??').join(', ')}` : 'do nothing';
  return {
    sql: `insert into ??.?? (${list(columns)}) overriding system value select ${list(columns, 'r.')} from json_populate_record(null::??.??, ?::json) as r on conflict (${list(businessKey)}) ${onConflict}`,
    bindings: [t.schema, t.table, ...columns, ...columns, t.schema, t.table, rowJson, ...businessKey, ...updatable.flatMap((c) => [c, c])],
  };
}

/** Deletes the rows holding these business keys (`keysJson` as for `rowsByKeySql`). */
export function deleteByKeySql(t: TargetTable, businessKey: readonly string[], keysJson: string): Sql {
  const keys = rowsOf(t, 'k');
  return {
    sql: `delete from ??.?? as t using ${keys.sql} where ${businessKey.map(() => 't.?? = k.??').join(' and ')}`,
    bindings: [t.schema, t.table, ...keys.bindings, keysJson, ...businessKey.flatMap((c) => [c, c])],
  };
}

/** Soft delete: sets the plan's columns to its constants on the rows holding these business keys. */
export function softDeleteByKeySql(t: TargetTable, businessKey: readonly string[], set: Record<string, unknown>, keysJson: string): Sql {
  const keys = rowsOf(t, 'k');
  const columns = Object.keys(set);
  return {
    sql: `update ??.?? as t set ${columns.map(() => '?? = ?').join(', ')} from ${keys.sql} where ${businessKey.map(() => 't.?? = k.??').join(' and ')}`,
    bindings: [t.schema, t.table, ...columns.flatMap((c) => [c, set[c]]), ...keys.bindings, keysJson, ...businessKey.flatMap((c) => [c, c])],
  };
}
