/**
 * The legacy LMS's application for the sync bench: a steady write load on the source, the mix of
 * test/integration/sync-fixture.ts's writer (per 20 operations: 4 new users each with an
 * enrollment, 8 users renamed, 7 enrollments' status changed, 1 user deleted with its enrollments,
 * the legacy application's cascade), every insert and update setting `changed_at`.
 *
 * Unlike the fixture's writer it is paced by rows changed (not operations), picks its rows by a
 * random key (an index lookup, where `order by random()` scans the table: too slow at 100,000
 * users for 200 changes a second) and keeps its own key counters, so that two connections can
 * write at once without colliding on a new key.
 */
import { Client } from 'pg';

export interface WriterTally {
  /** Source rows inserted, updated or deleted. */
  changes: number;
  /** Seconds from the start to now (or to the stop). */
  seconds: number;
  /** The rate asked for: changes a second. */
  target: number;
  /** Each new user and when its insert committed (epoch ms): for the bench's own visibility probe. */
  inserted: { userId: number; at: number }[];
}

export interface SteadyWriter {
  tally(): WriterTally;
  /** Stops (operations in flight finish) and returns the tally; rejects with the writer's first error. */
  stop(): Promise<WriterTally>;
  /** The first error a connection hit, if any (the writer then stops). */
  error(): Error | undefined;
}

const random = (below: number) => 1 + Math.floor(Math.random() * below);

/** Starts writing `perSecond` changes a second on `ownerUrl` (a role that may write the legacy tables), over `lanes` connections. */
export async function startSteadyWriter(ownerUrl: string, perSecond: number, lanes = 2): Promise<SteadyWriter> {
  const dbs = Array.from({ length: lanes }, () => new Client({ connectionString: ownerUrl, application_name: 'cutover-bench-writer' }));
  try {
    for (const db of dbs) await db.connect();
  } catch (err) {
    await Promise.all(dbs.map((db) => db.end().catch(() => undefined)));
    throw err;
  }
  const max = async (sql: string) => Number((await dbs[0]!.query(sql)).rows[0].m);
  let nextUser = (await max('select max(user_id) as m from legacy_users')) + 1;
  let nextEnrollment = (await max('select max(enrollment_id) as m from legacy_enrollments')) + 1;
  const orgUnits = await max('select max(org_id) as m from legacy_org_units');
  const courses = await max('select max(course_id) as m from legacy_courses');

  const started = Date.now();
  let changes = 0;
  let ops = 0;
  let stoppedAt: number | undefined;
  let failure: Error | undefined;
  const inserted: WriterTally['inserted'] = [];
  const running = () => stoppedAt === undefined && !failure;

  const operate = async (db: Client, n: number) => {
    const kind = n % 20;
    if (kind < 4) {
      const user = nextUser++;
      const enrollment = nextEnrollment++;
      await db.query(
        `with u as (insert into legacy_users (user_id, login, full_name, email, phone, status_code, created_epoch, last_login_epoch, org_code, org_id, changed_at)
           values ($1::int, 'writer' || $1::int, 'Writer Person' || $1::int, 'writer' || $1::int || '@example.edu', null, 'A', 1700000000, null, 'ENG', $2::int, now()) returning user_id)
         insert into legacy_enrollments (enrollment_id, user_id, course_id, status_code, enrolled_epoch, completed_epoch, changed_at)
         select $3::int, user_id, $4::int, 'E', 1700000000, null, now() from u`,
        [user, random(orgUnits), enrollment, random(courses)],
      );
      inserted.push({ userId: user, at: Date.now() });
      changes += 2;
    } else if (kind < 12) {
      const r = await db.query(`update legacy_users set full_name = 'Renamed ' || user_id || ' ' || $2::int, changed_at = now() where user_id = $1`, [random(nextUser - 1), n]);
      changes += r.rowCount ?? 0;
    } else if (kind < 19) {
      const r = await db.query(`update legacy_enrollments set status_code = case status_code when 'E' then 'C' else 'E' end, changed_at = now() where enrollment_id = $1`, [random(nextEnrollment - 1)]);
      changes += r.rowCount ?? 0;
    } else {
      const user = random(nextUser - 1);
      await db.query('begin');
      try {
        const e = await db.query('delete from legacy_enrollments where user_id = $1', [user]);
        const u = await db.query('delete from legacy_users where user_id = $1', [user]);
        await db.query('commit');
        changes += (e.rowCount ?? 0) + (u.rowCount ?? 0);
      } catch (err) {
        await db.query('rollback').catch(() => undefined);
        throw err;
      }
    }
  };

  // Each lane writes while the changes so far are behind the schedule (perSecond × elapsed), else waits for the next one due.
  const lane = async (db: Client) => {
    while (running()) {
      const due = ((Date.now() - started) / 1000) * perSecond;
      if (changes >= due) {
        await new Promise((r) => setTimeout(r, Math.max(2, ((changes + 1 - due) / perSecond) * 1000)));
        continue;
      }
      await operate(db, ops++);
    }
  };
  const done = Promise.all(
    dbs.map((db) =>
      lane(db)
        .catch((err) => void (failure ??= err instanceof Error ? err : new Error(String(err))))
        .finally(() => db.end().catch(() => undefined)),
    ),
  );
  const tally = (): WriterTally => ({ changes, seconds: ((stoppedAt ?? Date.now()) - started) / 1000, target: perSecond, inserted });
  return {
    tally,
    error: () => failure,
    async stop() {
      stoppedAt ??= Date.now();
      await done;
      if (failure) throw new Error(`the bench's writer failed: ${failure.message}`, { cause: failure });
      return tally();
    },
  };
}
