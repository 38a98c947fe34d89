import { MockActivityEnvironment } from '@temporalio/testing';
import { Client } from 'pg';
import { createMigrationActivities } from '../../src/activities/migration';
import { runDoctor } from '../../src/doctor/doctor';
import { startMigration } from '../../src/migration-client';
import { migrationId as idOf, planHash } from '../../src/plan/hash';
import type { Plan } from '../../src/plan/types';
import type { SyncPositions } from '../../src/shared/migration';
import { cli, cliEnv, endedReport, ownerUrl, progressOf, removeStaged, sleep, spawnWorker, sql, waitFor, WorkerProcess, testStores, TestStores } from './helpers';
import { comparableTarget, startWriter, SyncEnv, syncEnv, syncPlan, waitForReport } from './sync-fixture';

/**
 * Issue 20 §3: a source transaction that has written (it holds an xid) when the migration starts
 * makes the slot's creation wait for it. The capture must wait visibly (heartbeats; a failure per
 * attempt that says what it waits for, which `cutover status` shows), never hand the full load a
 * slot that is not consistent yet, and never accept a slot another backend is still creating (a
 * first attempt abandoned after its heartbeat timeout). The handoff is then gap-free: the target
 * equals the final source.
 *
 * Small on purpose (the machine is shared): 60 users, a writer at about 20 changes a second, and
 * the open transaction held for about a minute in the end-to-end test, seconds in the others.
 * An open writing transaction holds up every slot creation on the server (other tests' too) while
 * it is open: each test ends its own transactions and sessions in `finally`.
 */
const USERS = 60;

/** One attempt's wait before it fails saying why (the worker's default is longer). */
const WAIT_PER_ATTEMPT_SECONDS = '4';

let env: SyncEnv;
const sessions: Client[] = [];

/** A session on the source of the test's own, ended (its transaction rolled back) after each test. */
async function session(url: string): Promise<Client & { pid: number }> {
  const c = new Client({ connectionString: url, application_name: 'it-open-transaction' });
  c.on('error', () => undefined);
  await c.connect();
  sessions.push(c);
  const pid = Number((await c.query('select pg_backend_pid() as pid')).rows[0].pid);
  return Object.assign(c, { pid });
}

/** Ids of the open transactions' users: counting down, below the writer's (it counts up from the largest id). */
let lateUser = 900_000;

/** A transaction that has written on the source (it holds an xid: a course renamed, a user and an enrollment inserted) and stays open. */
async function openWritingTransaction(): Promise<Client & { pid: number; xid: string; userId: number }> {
  const userId = lateUser--;
  const c = await session(ownerUrl(env));
  await c.query('begin');
  await c.query(`update legacy_courses set title = title || ' (revised)', changed_at = now() where course_id = 1`);
  await c.query(
    `insert into legacy_users (user_id, login, full_name, email, phone, status_code, created_epoch, last_login_epoch, org_code, org_id, changed_at)
     values ($1::int, 'late' || $1::int, 'Late Person', 'late' || $1::int || '@example.edu', null, 'A', 1700000000, null, 'ENG', 1, now())`,
    [userId],
  );
  await c.query(`insert into legacy_enrollments (enrollment_id, user_id, course_id, status_code, enrolled_epoch, completed_epoch, changed_at) values ($1::int, $1::int, 1, 'E', 1700000000, null, now())`, [userId]);
  const xid = String((await c.query('select txid_current()::text as x')).rows[0].x);
  return Object.assign(c, { xid, userId });
}

async function endSessions(): Promise<void> {
  for (const c of sessions.splice(0)) {
    // Terminate from outside: a session stuck in a slot's creation does not answer a rollback.
    await sql(env.adminUrl, 'select pg_terminate_backend($1)', [(c as Client & { pid: number }).pid]).catch(() => undefined);
    await c.end().catch(() => undefined);
  }
}

const slotRow = async (slot: string) =>
  (await sql<{ active_pid: number | null; confirmed: string | null }>(env.adminUrl, 'select active_pid, confirmed_flush_lsn::text as confirmed from pg_replication_slots where slot_name = $1', [slot]))[0];

/** A promise's state without waiting for it. */
function track<T>(p: Promise<T>): { settled: () => boolean; value: () => T | undefined; error: () => unknown; done: Promise<unknown> } {
  let state: 'pending' | 'ok' | 'failed' = 'pending';
  let value: T | undefined;
  let error: unknown;
  const done = p.then(
    (v) => ((state = 'ok'), (value = v)),
    (e) => ((state = 'failed'), (error = e)),
  );
  return { settled: () => state !== 'pending', value: () => value, error: () => error, done };
}

beforeAll(async () => {
  env = await syncEnv('sync_open', USERS);
});

afterAll(async () => {
  await endSessions();
  await env?.cleanup();
});

describe('startCapture with a writing transaction open on the source', () => {
  let ctx: TestStores;
  const before = process.env.CUTOVER_SYNC_SLOT_WAIT_SECONDS;

  beforeAll(async () => {
    process.env.CUTOVER_SYNC_SLOT_WAIT_SECONDS = WAIT_PER_ATTEMPT_SECONDS;
    ctx = testStores(env.config);
  });

  afterAll(async () => {
    if (before === undefined) delete process.env.CUTOVER_SYNC_SLOT_WAIT_SECONDS;
    else process.env.CUTOVER_SYNC_SLOT_WAIT_SECONDS = before;
    await endSessions();
    await ctx?.close();
  });

  afterEach(endSessions);

  async function prepared(name: string): Promise<{ plan: Plan; migrationId: string; activities: ReturnType<typeof createMigrationActivities> }> {
    const plan = syncPlan(`${name}-${Date.now().toString(36)}`, { publication: env.publication });
    const migrationId = idOf(plan);
    const activities = createMigrationActivities(ctx);
    await new MockActivityEnvironment().run(activities.prepareMigration, { plan, migrationId, planHash: planHash(plan), startedBy: 'it' });
    return { plan, migrationId, activities };
  }

  /** Runs startCapture as one attempt, recording its heartbeats and when each came. */
  function attempt(activities: ReturnType<typeof createMigrationActivities>, migrationId: string) {
    const run = new MockActivityEnvironment();
    const beats: { at: number; details: unknown }[] = [];
    run.on('heartbeat', (details: unknown) => beats.push({ at: Date.now(), details }));
    const started = Date.now();
    return { run, beats, started, result: track(run.run(activities.startCapture, { migrationId }) as Promise<SyncPositions>) };
  }

  it('heartbeats while its own slot creation waits, says for which pid and transaction, and returns only once the slot is consistent', async () => {
    const { plan, migrationId, activities } = await prepared('it-slot-own');
    const open = await openWritingTransaction();
    process.env.CUTOVER_SYNC_SLOT_WAIT_SECONDS = '60';
    try {
      const a = attempt(activities, migrationId);
      await sleep(6_000);
      expect(a.result.settled()).toBe(false);
      // Heartbeats every few seconds (the heartbeat timeout is 2 minutes) …
      expect(a.beats.length).toBeGreaterThanOrEqual(2);
      const gaps = a.beats.map((b, i) => b.at - (i ? a.beats[i - 1]!.at : a.started));
      expect(Math.max(...gaps, Date.now() - a.beats[a.beats.length - 1]!.at)).toBeLessThan(5_000);
      // … that say what the capture waits for: the transaction and its session, never a query.
      const said = JSON.stringify(a.beats[a.beats.length - 1]!.details);
      expect(said).toContain(`pid ${open.pid}`);
      expect(said).toContain(`transaction ${open.xid}`);
      expect(said).not.toMatch(/Late Person|late\d+|insert|update/i);
      // The slot exists, being created, and is not consistent: the load must not start.
      expect(await slotRow(plan.sync!.slot)).toMatchObject({ confirmed: null });

      await open.query('commit');
      await waitFor('startCapture to return once the transaction ended', async () => a.result.settled(), 60_000);
      expect(a.result.error()).toBeUndefined();
      const slot = await slotRow(plan.sync!.slot);
      expect(slot?.confirmed).toBeTruthy();
      expect(a.result.value()?.confirmed).toBe(slot!.confirmed);
    } finally {
      process.env.CUTOVER_SYNC_SLOT_WAIT_SECONDS = WAIT_PER_ATTEMPT_SECONDS;
    }
  }, 120_000);

  it('never accepts a slot another backend is still creating (a first attempt abandoned after its heartbeat timeout): the retry waits for it, failing each attempt with what it waits for', async () => {
    const { plan, migrationId, activities } = await prepared('it-slot-half');
    const open = await openWritingTransaction();
    // The first attempt: its session goes on creating the slot after Temporal gave up on it.
    const abandoned = await session(env.config.databases.sourceUrl!);
    const creating = track(abandoned.query(`select pg_create_logical_replication_slot($1, 'pgoutput')`, [plan.sync!.slot]));
    await waitFor('the half-created slot', async () => (await slotRow(plan.sync!.slot))?.active_pid === abandoned.pid, 20_000);

    const retry = attempt(activities, migrationId);
    await waitFor('the retry to end its attempt', async () => retry.result.settled(), 30_000);
    const message = String((retry.result.error() as Error | undefined)?.message);
    expect(retry.result.value()).toBeUndefined(); // the old code returned at once, accepting the slot
    expect(message).toContain(plan.sync!.slot);
    expect(message).toContain(`pid ${abandoned.pid}`);
    expect(message).toContain(`pid ${open.pid}`);
    expect(message).not.toMatch(/Late Person|late\d+|insert|update/i);
    expect(retry.beats.length).toBeGreaterThanOrEqual(2);

    // The next attempt waits too, until the transaction ends; then it takes the slot, consistent.
    const next = attempt(activities, migrationId);
    await sleep(2_000);
    expect(next.result.settled()).toBe(false);
    await open.query('commit');
    await waitFor('the next attempt to return', async () => next.result.settled(), 60_000);
    expect(next.result.error()).toBeUndefined();
    await creating.done;
    expect(creating.error()).toBeUndefined();
    const slot = await slotRow(plan.sync!.slot);
    expect(slot?.confirmed).toBeTruthy();
    expect(next.result.value()?.confirmed).toBe(slot!.confirmed);
  }, 120_000);

  it('a cancelled capture ends its own slot creation: no half-created slot is left behind', async () => {
    const { plan, migrationId, activities } = await prepared('it-slot-cancel');
    await openWritingTransaction();
    process.env.CUTOVER_SYNC_SLOT_WAIT_SECONDS = '60';
    try {
      const a = attempt(activities, migrationId);
      await waitFor('the slot being created', async () => (await slotRow(plan.sync!.slot))?.active_pid, 20_000);
      a.run.cancel();
      await waitFor('the cancelled attempt to end', async () => a.result.settled(), 20_000);
      expect(a.result.value()).toBeUndefined();
      await waitFor('the half-created slot to go', async () => !(await slotRow(plan.sync!.slot)), 20_000);
    } finally {
      process.env.CUTOVER_SYNC_SLOT_WAIT_SECONDS = WAIT_PER_ATTEMPT_SECONDS;
    }
  }, 60_000);
});

describe('a migration started while a writing transaction is open, with writes from other sessions meanwhile', () => {
  let worker: WorkerProcess | undefined;
  const plans: string[] = [];

  afterAll(async () => {
    await worker?.kill('SIGKILL');
    await endSessions();
    for (const id of plans) await removeStaged(env, id).catch(() => undefined);
  });

  it('waits for the slot visibly, loads nothing before it is consistent, and cuts over to the final source', async () => {
    const stamp = Date.now().toString(36);
    const plan = syncPlan(`it-sync-open-${stamp}`, { publication: env.publication });
    plans.push(idOf(plan));
    worker = await spawnWorker(env, { CUTOVER_FRESH_TARGET_URL: env.freshTargetUrl, CUTOVER_SYNC_SLOT_WAIT_SECONDS: WAIT_PER_ATTEMPT_SECONDS });
    // As doctor's fix says: the source role may see other roles' transactions (statistics only).
    await sql(env.adminUrl, `grant pg_read_all_stats to ${env.names.reader}`);
    const open = await openWritingTransaction();
    const openedAt = Date.now();
    // The first attempt, abandoned by Temporal after its heartbeat timeout, whose session still creates the slot.
    const abandoned = await session(env.config.databases.sourceUrl!);
    const creating = track(abandoned.query(`select pg_create_logical_replication_slot($1, 'pgoutput')`, [plan.sync!.slot]));
    await waitFor('the half-created slot', async () => (await slotRow(plan.sync!.slot))?.active_pid === abandoned.pid, 20_000);
    // The writer deletes random users: never the late transaction's, whose arrival this test checks.
    const writer = startWriter(ownerUrl(env), 20, { spare: [open.userId] });
    let stopped = false;
    try {
      const wf = (await startMigration(env.config, plan, { taskQueue: env.taskQueue })).workflowId;
      // The operator sees what the migration waits for: the slot, the session creating it, the transaction holding it.
      const status = await waitFor(
        '`cutover status` to say what the capture waits for',
        async () => {
          const out = await cli(['status', wf], cliEnv(env));
          return out.stdout.includes(`pid ${open.pid}`) && out.stdout.includes(plan.sync!.slot) ? out.stdout : undefined;
        },
        60_000,
      );
      expect(status).toMatch(/startCapture.*is not consistent yet, so the full load has not started/);
      expect(status).toContain(`pid ${abandoned.pid}`);
      expect(status).not.toMatch(/Late Person|late\d+/);
      // Nothing is loaded while the slot is not consistent.
      const waiting = await progressOf(env, wf);
      expect(waiting?.entities.every((e) => e.extracted === 0 && e.batchesDone === 0)).toBe(true);
      expect((await slotRow(plan.sync!.slot))?.confirmed).toBeNull();

      // Changes from other sessions go on meanwhile; the transaction commits about a minute after the start.
      await sleep(Math.max(0, 62_000 - (Date.now() - openedAt)));
      expect((await progressOf(env, wf))?.entities.every((e) => e.extracted === 0)).toBe(true);
      // `cutover doctor --plan` names it (open over a minute, it has written), and the slot still being created.
      const doctor = await runDoctor(env.config, { plan, env: cliEnv(env) });
      const writers = doctor.find((r) => r.check === 'no writing transaction open over 1 min');
      expect(writers).toMatchObject({ ok: true, warning: true, detail: expect.stringMatching(new RegExp(`pid ${open.pid} on ${env.names.source} for \\d+ min \\(transaction ${open.xid}, idle in transaction\\)`)) });
      expect(writers!.fix).toMatch(/^the slot is being created and waits until each has ended/);
      expect(JSON.stringify(doctor)).not.toMatch(/Late Person|late\d+/);
      await open.query('commit');
      await creating.done;

      await waitForReport(env, wf, 'the second sync round', (r) => (r.sync?.rounds ?? 0) >= 2, 240_000);
      const { changes } = await writer.stop();
      stopped = true;
      expect(changes).toBeGreaterThan(200);

      const out = await cli(['cutover', wf, '--as', 'ops-lead'], cliEnv(env), 240_000);
      expect(`${out.code}\n${out.stdout}${out.stderr}`).toMatch(/^0\n[\s\S]*cut over at /);
      const report = await endedReport(env, wf);
      expect(report.status).toBe('completed');
      expect(report.cutover?.verified?.clean).toBe(true);
    } finally {
      if (!stopped) await writer.stop();
    }

    // The target equals what a fresh full migration of the final source gives.
    const fresh = { ...syncPlan(`it-fresh-open-${stamp}`), target: { ...plan.target, urlEnv: 'CUTOVER_FRESH_TARGET_URL' } };
    plans.push(idOf(fresh));
    const freshRun = await startMigration(env.config, fresh, { taskQueue: env.taskQueue });
    expect((await endedReport(env, freshRun.workflowId)).status).toBe('completed');
    const [synced, expected] = [await comparableTarget(env.config.databases.targetUrl!), await comparableTarget(env.freshTargetUrl)];
    expect(synced).toEqual(expected);
    // The late transaction's rows are there.
    expect(await sql(env.config.databases.targetUrl!, 'select count(*)::int as n from people where legacy_user_id = $1', [open.userId])).toEqual([{ n: 1 }]);
  }, 600_000);
});
