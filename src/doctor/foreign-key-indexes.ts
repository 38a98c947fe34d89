import type { Knex } from 'knex';
import type { Plan } from '../plan/types';
import type { CheckResult } from './table';
import { textArray } from '../control/text-array';

/** A foreign key into one of the plan's target tables whose referencing columns no index leads with. */
export interface UnindexedForeignKey {
  referencing: string;
  columns: string;
  referenced: string;
}

/**
 * Foreign keys into the plan's target tables without an index on their referencing columns (an
 * index whose leading columns are exactly them). PostgreSQL does not make one: each delete of a
 * referenced row then scans the whole referencing table to check the key, and a sync round's
 * deletes, or a rollback's, cost a table scan per row.
 */
export async function unindexedForeignKeys(db: Knex, plan: Pick<Plan, 'entities'>): Promise<UnindexedForeignKey[]> {
  const tables = [...new Set(plan.entities.map((e) => `${e.target.schema}.${e.target.table}`))];
  const { rows } = await db.raw(
    `select c.conrelid::regclass::text as referencing, c.confrelid::regclass::text as referenced,
            (select string_agg(quote_ident(a.attname), ', ' order by k.n) from unnest(c.conkey) with ordinality as k(attnum, n)
               join pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.attnum) as columns
       from pg_constraint c
      where c.contype = 'f'
        and c.confrelid in (select to_regclass(t) from unnest(?::text[]) as t where to_regclass(t) is not null)
        and not exists (select 1 from pg_index i where i.indrelid = c.conrelid
              and (string_to_array(i.indkey::text, ' ')::int2[])[1:cardinality(c.conkey)] @> c.conkey
              and (string_to_array(i.indkey::text, ' ')::int2[])[1:cardinality(c.conkey)] <@ c.conkey)
      order by 1, 3`,
    [textArray(tables)],
  );
  return rows as UnindexedForeignKey[];
}

/** The doctor's check name for it. */
export const FOREIGN_KEY_INDEX_CHECK = "target: foreign keys into the plan's tables have an index";

/** The doctor's row: a warning naming each foreign key into the plan's tables that has no index, with the statement that makes one. */
export function foreignKeyIndexRow(missing: readonly UnindexedForeignKey[]): CheckResult {
  const check = FOREIGN_KEY_INDEX_CHECK;
  if (!missing.length) return { component: 'PostgreSQL', check, ok: true, detail: 'every referencing column is indexed' };
  return {
    component: 'PostgreSQL',
    check,
    ok: true,
    warning: true,
    detail: `${missing.map((m) => `${m.referencing} (${m.columns}) → ${m.referenced}`).join(', ')}: no index, so each delete of a referenced row (sync deletes, rollback) scans the referencing table`,
    fix: missing.map((m) => `create index concurrently on ${m.referencing} (${m.columns})`).join('; '),
  };
}
