import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { seedLms } from '../../demo/lms/seed';
import type { Plan, SyncSpec } from '../../src/plan/types';
import type { MigrationReport } from '../../src/shared/migration';
import { isolated, Isolated, lmsPlan, logicalPostgresAdminUrl, ownerUrl, progressOf, ROOT, sql } from './helpers';

/**
 * A live legacy LMS for delta sync: the demo LMS seeded into a database of the stack's
 * PostgreSQL with wal_level=logical (source, target and control all there), change columns
 * added (NULL for the seeded rows: they are found by the full load), the read-only role given
 * REPLICATION, and a publication of the tables, as the source's DBA would.
 */
export interface SyncEnv extends Isolated {
  publication: string;
  /** A second target database, for a fresh full migration of the final source to compare with. */
  freshTargetUrl: string;
  /** Creates one more target database (the demo's target schema), dropped with the rest. */
  anotherTarget(suffix: string): Promise<string>;
}

export const SYNC_ENTITIES = ['org_units', 'users', 'courses', 'enrollments'];
const SOURCE_TABLES = ['legacy_org_units', 'legacy_users', 'legacy_courses', 'legacy_enrollments'];

export async function syncEnv(label: string, users: number): Promise<SyncEnv> {
  const env = await isolated(label, logicalPostgresAdminUrl());
  await seedLms({ sourceUrl: ownerUrl(env), targetUrl: env.config.databases.targetUrl, users, full: true, seed: 7 });
  const publication = `pub_${randomBytes(4).toString('hex')}`;
  for (const t of SOURCE_TABLES) await sql(ownerUrl(env), `alter table ${t} add column changed_at timestamptz`);
  await sql(ownerUrl(env), `create publication ${publication} for table ${SOURCE_TABLES.join(', ')}`);
  await sql(env.adminUrl, `alter role ${env.names.reader} replication`);
  const targets: string[] = [];
  const withTarget = async (suffix: string) => {
    // Another target: the same schema, owned by the application role.
    const name = `${env.names.target}_${suffix}`;
    await sql(env.adminUrl, `create database ${name} owner ${env.names.app}`);
    targets.push(name);
    const url = new URL(env.config.databases.targetUrl!);
    url.pathname = `/${name}`;
    await sql(url.toString(), readFileSync(join(ROOT, 'demo', 'lms', 'target.sql'), 'utf8'));
    return url.toString();
  };
  const freshTargetUrl = await withTarget('fresh');
  return {
    ...env,
    publication,
    freshTargetUrl,
    anotherTarget: withTarget,
    cleanup: async () => {
      for (const t of targets) await sql(env.adminUrl, `drop database if exists ${t} with (force)`).catch(() => undefined);
      await env.cleanup();
    },
  };
}

/** The four entities of the LMS plan people and enrollments need, in one phase, with sync as given. */
export function syncPlan(name: string, sync?: Partial<SyncSpec>): Plan {
  return lmsPlan(name, (p) => {
    const entities = p.entities
      .filter((e) => SYNC_ENTITIES.includes(e.name))
      .map((e) => ({ ...e, source: { ...e.source, change: { column: 'changed_at', unit: 's' as const } } }));
    const base = { ...p, entities, phases: [{ name: 'all', entities: SYNC_ENTITIES }], settings: { ...p.settings, batchSize: 500 } };
    if (!sync) return base;
    return {
      ...base,
      sync: { mode: 'logical', intervalSeconds: 1, quietSeconds: 3, conflict: 'source_wins', maxDeleteRatio: 0.5, overlapSeconds: 5, slot: `cutover_${randomBytes(4).toString('hex')}`, publication: 'cutover', maxRetainedWalMb: 1024, ...sync },
    };
  });
}

/**
 * A writer on the legacy LMS: inserts users with enrollments, updates users and enrollments
 * (setting their change column, as the application does), and deletes users together with their
 * enrollments (the legacy application's cascade), about `perSecond` changes a second, until stopped.
 */
/** `spare`: users the writer never deletes (a test that checks a row of its own arrives). */
export function startWriter(sourceOwnerUrl: string, perSecond: number, options: { spare?: number[] } = {}): { stop(): Promise<{ changes: number }> } {
  let running = true;
  let changes = 0;
  const done = (async () => {
    const db = new Client({ connectionString: sourceOwnerUrl });
    await db.connect();
    try {
      let n = 0;
      const maxUser = Number((await db.query('select max(user_id) as m from legacy_users')).rows[0].m);
      const maxCourse = Number((await db.query('select max(course_id) as m from legacy_courses')).rows[0].m);
      let nextUser = maxUser + 1;
      while (running) {
        const started = Date.now();
        const tick = Math.max(1, Math.round(perSecond / 10));
        for (let i = 0; i < tick && running; i++, n++) {
          const kind = n % 20;
          if (kind < 4) {
            const id = nextUser++;
            await db.query(
              `with u as (insert into legacy_users (user_id, login, full_name, email, phone, status_code, created_epoch, last_login_epoch, org_code, org_id, changed_at)
                 values ($1::int, 'writer' || $1::int, 'Writer Person' || $1::int, 'writer' || $1::int || '@example.edu', null, 'A', 1700000000, null, 'ENG', 1 + $1::int % 50, now()) returning user_id)
               insert into legacy_enrollments (enrollment_id, user_id, course_id, status_code, enrolled_epoch, completed_epoch, changed_at)
               select (select coalesce(max(enrollment_id), 0) + 1 from legacy_enrollments), user_id, 1 + $1::int % $2::int, 'E', 1700000000, null, now() from u`,
              [id, maxCourse],
            );
            changes += 2;
          } else if (kind < 12) {
            const r = await db.query(`update legacy_users set full_name = 'Renamed ' || user_id || ' ' || $1, changed_at = now() where user_id = (select user_id from legacy_users order by random() limit 1)`, [n]);
            changes += r.rowCount ?? 0;
          } else if (kind < 19) {
            const r = await db.query(`update legacy_enrollments set status_code = case status_code when 'E' then 'C' else 'E' end, changed_at = now() where enrollment_id = (select enrollment_id from legacy_enrollments order by random() limit 1)`);
            changes += r.rowCount ?? 0;
          } else {
            await db.query('begin');
            const victim = await db.query('select user_id from legacy_users where user_id <> all($1::int[]) order by random() limit 1', [options.spare ?? []]);
            const id = victim.rows[0]?.user_id;
            const e = await db.query('delete from legacy_enrollments where user_id = $1', [id]);
            const u = await db.query('delete from legacy_users where user_id = $1', [id]);
            await db.query('commit');
            changes += (e.rowCount ?? 0) + (u.rowCount ?? 0);
          }
        }
        const wait = 100 - (Date.now() - started);
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
    } finally {
      await db.end();
    }
  })();
  return {
    async stop() {
      running = false;
      await done;
      return { changes };
    },
  };
}

/**
 * The target's rows in a form two targets can share: surrogate keys replaced by the legacy ids
 * they stand for, one md5 per table (computed here, independently of the migration).
 */
export async function comparableTarget(targetUrl: string): Promise<Record<string, string>> {
  const queries: Record<string, string> = {
    org_units: `select to_jsonb(t) - 'id' as r from org_units t`,
    people: `select (to_jsonb(p) - 'id' - 'org_unit_id') || jsonb_build_object('org', o.legacy_org_id) as r from people p left join org_units o on o.id = p.org_unit_id`,
    courses: `select to_jsonb(t) - 'id' as r from courses t`,
    enrollments: `select (to_jsonb(e) - 'id' - 'person_id' - 'course_id') || jsonb_build_object('person', p.legacy_user_id, 'course', c.legacy_course_id) as r from enrollments e left join people p on p.id = e.person_id left join courses c on c.id = e.course_id`,
  };
  const out: Record<string, string> = {};
  for (const [t, q] of Object.entries(queries)) {
    const [r] = await sql<{ n: string; x: string }>(targetUrl, `select count(*) as n, md5(coalesce(string_agg(r::text, '|' order by r::text), '')) as x from (${q}) q`);
    out[t] = `${r!.n} rows, md5 ${r!.x}`;
  }
  return out;
}

/** Waits until the migration's report satisfies `done`, failing with its last state. */
export async function waitForReport(env: Isolated, workflowId: string, what: string, done: (r: MigrationReport) => boolean, timeoutMs = 180_000): Promise<MigrationReport> {
  const deadline = Date.now() + timeoutMs;
  let last: MigrationReport | undefined;
  for (;;) {
    last = (await progressOf(env, workflowId).catch(() => undefined)) ?? last;
    if (last && done(last)) return last;
    if (last && ['rolled-back', 'rolling-back', 'failed'].includes(last.status)) throw new Error(`the migration is ${last.status} while waiting for ${what}: ${last.rollback?.reason}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last status ${last?.status}, sync ${JSON.stringify(last?.sync)}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}
