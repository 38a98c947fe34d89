import type { Knex } from 'knex';
import type { CatalogTable } from '../catalog/pg-catalog';
import type { Value } from '../core/mapping';
import { targetRowsJson } from '../core/target-rows';
import type { TargetType } from '../core/target-types';
import { safeDbError } from '../stores/errors';
import type { Refusal } from './forecast';

/**
 * Asks the target, read-only, which of a batch's rows it would refuse, and why, in the order
 * PostgreSQL itself checks them when the load inserts them:
 * 1. each value through its column type's input function (`json_populate_recordset`, the
 *    very call the load makes: a bad enum label, text too long, a number out of range);
 * 2. NOT NULL, column by column in the table's order (a column the plan does not fill and
 *    the target gives no default fails for every row);
 * 3. CHECK constraints, in name order (PostgreSQL's own), each evaluated over the rows as
 *    the table's row type, `false` refusing the row (NULL passes, as in an INSERT).
 * Nothing is written: statements are SELECTs in the caller's read-only transaction, a
 * failing one undone by its savepoint. Not foreseen: unique constraints other than the
 * business key, foreign keys the plan does not declare as references, exclusion
 * constraints, triggers, and defaults a CHECK would see (it sees NULL).
 */
export async function targetRefusals(trx: Knex.Transaction, table: CatalogTable, columns: readonly string[], types: readonly (TargetType | undefined)[], rows: readonly (readonly Value[])[]): Promise<Map<number, Refusal>> {
  const refused = new Map<number, Refusal>();
  const typed = await refusedByTypes(trx, table, columns, types, rows, refused);
  const byName = new Map(columns.map((c, i) => [c, i]));
  const required = table.columns.filter((c) => c.notNull && !c.generated);
  const passing: number[] = [];
  for (const i of typed) {
    const missing = required.find((c) => {
      const at = byName.get(c.name);
      return at === undefined ? !c.hasDefault : rows[i]![at] === null || rows[i]![at] === undefined;
    });
    if (missing) refused.set(i, { reason: 'not_null_violation', column: missing.name, detail: `not_null_violation, table ${table.name}, column ${missing.name}` });
    else passing.push(i);
  }
  const checks = [...table.checks].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  if (!checks.length || !passing.length) return refused;
  const cases = checks.map((c, n) => `when (${c.expression}) is false then ${n}`).join(' ');
  const json = targetRowsJson(columns, types, passing.map((i) => rows[i]!));
  const { rows: failed } = await trx.raw(
    `select n, v from (select (r.__cutover_n - 1)::int as n, case ${cases} end as v from json_populate_recordset(null::??.??, ?::json) with ordinality as r(${table.columns.map(() => '??').join(', ')}, __cutover_n)) as x where v is not null`,
    [table.schema, table.name, json, ...table.columns.map((c) => c.name)] as never,
  );
  for (const f of failed as { n: number; v: number }[]) {
    const check = checks[f.v]!;
    refused.set(passing[f.n]!, { reason: 'check_violation', constraint: check.name, detail: `check_violation, table ${table.name}, constraint ${check.name}` });
  }
  return refused;
}

/** Indexes of the rows whose values all pass their column types' input; the others are put in `refused`. */
async function refusedByTypes(trx: Knex.Transaction, table: CatalogTable, columns: readonly string[], types: readonly (TargetType | undefined)[], rows: readonly (readonly Value[])[], refused: Map<number, Refusal>): Promise<number[]> {
  const ok: number[] = [];
  const probe = async (indexes: readonly number[]): Promise<void> => {
    if (!indexes.length) return;
    try {
      await trx.transaction((sp) => sp.raw('select count(*) from json_populate_recordset(null::??.??, ?::json)', [table.schema, table.name, targetRowsJson(columns, types, indexes.map((i) => rows[i]!))] as never));
      ok.push(...indexes);
    } catch (err) {
      const safe = safeDbError(err);
      if (!safe || safe.sqlstate.startsWith('42')) throw err;
      if (indexes.length > 1) {
        await probe(indexes.slice(0, indexes.length >> 1));
        await probe(indexes.slice(indexes.length >> 1));
        return;
      }
      refused.set(indexes[0]!, { reason: safe.reason, ...(safe.column ? { column: safe.column } : {}), ...(safe.constraint ? { constraint: safe.constraint } : {}), detail: `${safe.reason}, table ${table.name}` });
    }
  };
  await probe(rows.map((_, i) => i));
  return ok.sort((a, b) => a - b);
}
