import { sql } from './helpers';

/**
 * Every table of the target's public schema (the application's tables, whichever the plan
 * names) with its row count and the md5 of its rows in order, computed here, independently of
 * the migration's own checksums.
 */
export async function targetChecksums(targetUrl: string): Promise<Record<string, string>> {
  const tables = await sql<{ t: string }>(targetUrl, "select table_name as t from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE' order by 1");
  const out: Record<string, string> = {};
  for (const { t } of tables) {
    const [r] = await sql<{ n: string; x: string }>(targetUrl, `select count(*) as n, md5(coalesce(string_agg(t::text, '|' order by t::text), '')) as x from public."${t}" t`);
    out[t] = `${r!.n} rows, md5 ${r!.x}`;
  }
  return out;
}

/** People who were in the new LMS before the migration: some the migration updates (their legacy ids are in the source), some it never touches. */
export interface PreexistingPeople {
  /** legacy_user_id of rows the migration will overwrite. */
  updated: number[];
  /** legacy_user_id of rows no source row names. */
  untouched: number[];
}

/**
 * Puts rows into the target before a migration: two org units, people the migration will
 * update (legacy ids `updated`, values unlike the source's: other names, emails, status, an
 * org unit the plan does not set) and people it will not touch (`untouched`, ids not in the
 * source). Returns the ids.
 */
export async function seedPreexistingPeople(targetUrl: string, updated: number[], untouched: number[]): Promise<PreexistingPeople> {
  await sql(targetUrl, "insert into org_units (legacy_org_id, code, name) values (9001, 'PRE-1', 'Pre-existing unit 1'), (9002, 'PRE-2', 'Pre-existing unit 2')");
  const insert = (ids: number[], tag: string) =>
    sql(
      targetUrl,
      `insert into people (legacy_user_id, username, given_name, family_name, email, phone, status, created_at, last_login_at, org_code, source_system, org_unit_id)
       select g, '${tag}-user-' || g, 'Pre', 'Existing ' || g, '${tag}.' || g || '@old.example.net', case when g % 2 = 0 then null else '+44 20 7946 ' || lpad(g::text, 4, '0') end,
              'suspended', timestamptz '2001-02-03 04:05:06+00' + g * interval '1 hour', null, 'OLD', 'old-lms',
              (select id from org_units where legacy_org_id = 9001 + g % 2)
       from unnest($1::int[]) g`,
      [ids],
    );
  await insert(updated, 'pre');
  await insert(untouched, 'keep');
  return { updated, untouched };
}

/** The pre-existing rows as they are now, by legacy id (every column, the surrogate key too). */
export async function peopleRows(targetUrl: string, ids: number[]): Promise<Record<string, unknown>[]> {
  return sql<Record<string, unknown>>(targetUrl, 'select * from people where legacy_user_id = any($1::int[]) order by legacy_user_id', [ids]);
}
