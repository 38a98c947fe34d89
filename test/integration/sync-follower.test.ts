import { MockActivityEnvironment } from '@temporalio/testing';
import { Client } from 'pg';
import { createMigrationActivities } from '../../src/activities/migration';
import type { FollowedRow } from '../../src/core/followed-changes';
import { compareLsn } from '../../src/core/pgoutput';
import { migrationId as idOf, planHash } from '../../src/plan/hash';
import type { FollowedChanges } from '../../src/stores/followed-changes';
import { followSlot } from '../../src/stores/slot-follower';
import type { SyncPositions } from '../../src/shared/migration';
import { ownerUrl, sql, testStores, TestStores, waitFor } from './helpers';
import { SyncEnv, syncEnv, syncPlan } from './sync-fixture';

/**
 * Logical sync's follower: one replication connection holds the slot for as long as the migration
 * syncs, and the walsender decodes each WAL record once; rounds take the keys it kept, up to the
 * source's position at their start, whole transactions only, and confirm the slot through it.
 * Activities run directly (MockActivityEnvironment) against the stack's logical PostgreSQL.
 */
const USERS = 20;

let env: SyncEnv;
let ctx: TestStores;

beforeAll(async () => {
  env = await syncEnv('sync_follow', USERS);
  ctx = testStores(env.config);
});

afterAll(async () => {
  await ctx?.close();
  await env?.cleanup();
});

const slotRow = async (slot: string) =>
  (await sql<{ active: boolean; confirmed: string }>(env.adminUrl, 'select active, confirmed_flush_lsn::text as confirmed from pg_replication_slots where slot_name = $1', [slot]))[0];

it('keeps what committed before each round, whole transactions only, and confirms the slot as rounds apply', async () => {
  const plan = syncPlan(`it-follow-${Date.now().toString(36)}`, { publication: env.publication });
  const migrationId = idOf(plan);
  const activities = createMigrationActivities(ctx);
  const run = (f: (req: never) => Promise<unknown>, req: unknown) => new MockActivityEnvironment().run(f as never, req as never);
  await run(activities.prepareMigration as never, { plan, migrationId, planHash: planHash(plan), startedBy: 'it' });
  let positions = (await run(activities.startCapture as never, { migrationId })) as SyncPositions;

  const follower = new MockActivityEnvironment();
  const following = follower.run(activities.followChanges, { migrationId });
  const owner = new Client({ connectionString: ownerUrl(env) });
  await owner.connect();
  try {
    await waitFor('the follower to hold the slot', async () => (await slotRow(plan.sync!.slot))?.active, 20_000);
    const round = async (n: number) => {
      const captured = (await run(activities.captureChanges as never, { migrationId, round: n, positions })) as { entities: { entity: string; keys: number; deletes: number }[]; advanceTo?: string; more: boolean; positions: SyncPositions };
      positions = captured.positions;
      const keys = await ctx.changes.part(migrationId, n, 'users', 0, 1000);
      return { captured, keys };
    };

    // A transaction that changed user 5 first and stays open, then one that changes user 6 and deletes user 7, committed.
    const open = new Client({ connectionString: ownerUrl(env) });
    await open.connect();
    await open.query('begin');
    await open.query(`update legacy_users set full_name = 'Open Person', changed_at = now() where user_id = 5`);
    await owner.query('begin');
    await owner.query(`update legacy_users set full_name = 'Committed Person', changed_at = now() where user_id = 6`);
    await owner.query('delete from legacy_enrollments where user_id = 7');
    await owner.query('delete from legacy_users where user_id = 7');
    await owner.query('commit');
    // At once: the round waits until the follower has kept everything that committed before its position.
    const first = await round(1);
    expect(first.keys.sort()).toEqual(['6', '7']);
    expect(first.captured.entities.find((e) => e.entity === 'users')).toMatchObject({ keys: 2, deletes: 1 });
    expect(first.captured.more).toBe(false);
    // The slot is the follower's: the round did not read it (a peek of an active slot is refused).
    expect((await slotRow(plan.sync!.slot))?.active).toBe(true);

    // Applied: the round confirms its position; the follower confirms the slot there, and the kept rows before it go.
    await run(activities.advanceCapture as never, { migrationId, round: 1, advanceTo: first.captured.advanceTo });
    await waitFor('the slot confirmed to the round', async () => (await slotRow(plan.sync!.slot))?.confirmed === first.captured.advanceTo, 10_000);
    expect(await sql(env.config.databases.controlUrl!, 'select count(*)::int as n from cutover.sync_followed where migration_id = $1', [migrationId])).toEqual([{ n: 0 }]);

    // The open transaction commits after the first round's position: its change, made before it, is the second round's.
    await open.query('commit');
    await open.end();
    const second = await round(2);
    expect(second.keys).toEqual(['5']);
    // Nothing more: a round with nothing new takes nothing, and its position moves on.
    await run(activities.advanceCapture as never, { migrationId, round: 2, advanceTo: second.captured.advanceTo });
    const third = await round(3);
    expect(third.keys).toEqual([]);
    expect(third.captured.advanceTo).not.toBe(second.captured.advanceTo);
  } finally {
    await owner.end().catch(() => undefined);
    follower.cancel();
    await following.catch(() => undefined);
    await run(activities.endCapture as never, { migrationId });
  }
  expect(await slotRow(plan.sync!.slot)).toBeUndefined();
}, 120_000);

it('holds at most about its limit of one large transaction, and moves its position only once the transaction is all kept', async () => {
  const url = ownerUrl(env);
  const ROWS = 60_000;
  const HOLD = 5_000;
  await sql(url, 'create table it_bulk (id int primary key, v text)');
  await sql(url, 'create publication it_bulk_pub for table it_bulk');
  await sql(url, "select pg_create_logical_replication_slot('it_bulk_slot', 'pgoutput')");
  // One transaction of 60,000 row changes, committed before the follower starts.
  await sql(url, `insert into it_bulk select g, repeat('x', 20) from generate_series(1, ${ROWS}) g`);
  const committed = (await sql<{ lsn: string }>(url, 'select pg_current_wal_lsn()::text as lsn'))[0]!.lsn;

  // What the follower writes, as the control database would get it, and a slow one at that.
  const appends: { rows: number; followedTo: string | undefined; keptBefore: number }[] = [];
  const keys = new Set<string>();
  const store: FollowedChanges = {
    async append(_id, rows: readonly FollowedRow[], followedTo) {
      appends.push({ rows: rows.length, followedTo, keptBefore: keys.size });
      for (const r of rows) keys.add(r.sourceKey);
      await new Promise((r) => setTimeout(r, 30));
    },
    state: async () => undefined,
    before: async () => ({ rows: [], through: '0/0', more: false }),
    confirm: async () => undefined,
    forget: async () => undefined,
  };
  const abort = new AbortController();
  const following = followSlot({
    migrationId: 'it-bulk',
    sourceUrl: url,
    slot: 'it_bulk_slot',
    publication: 'it_bulk_pub',
    from: '0/0',
    tables: new Map([['public.it_bulk', { entity: 'bulk', key: 'id' }]]),
    followed: store,
    beat: () => undefined,
    signal: abort.signal,
    holdRows: HOLD,
  });
  try {
    await waitFor('the transaction kept and followed past', async () => keys.size === ROWS && appends.some((a) => a.followedTo !== undefined && compareLsn(a.followedTo, committed) >= 0), 60_000);
  } finally {
    abort.abort();
    await following;
    await sql(url, "select pg_drop_replication_slot('it_bulk_slot')").catch(() => undefined);
    await sql(url, 'drop publication it_bulk_pub; drop table it_bulk');
  }
  const withRows = appends.filter((a) => a.rows > 0);
  // Held a piece at a time (the limit, plus what the socket had already handed over), never the whole transaction.
  expect(Math.max(...withRows.map((a) => a.rows))).toBeLessThanOrEqual(HOLD * 2);
  expect(withRows.length).toBeGreaterThanOrEqual(ROWS / (HOLD * 2));
  // The position passed the transaction only once every row of it was kept.
  const passed = appends.find((a) => a.followedTo !== undefined && compareLsn(a.followedTo, committed) >= 0)!;
  expect(passed.keptBefore + passed.rows).toBe(ROWS);
  for (const a of appends.slice(0, appends.indexOf(passed))) if (a.followedTo) expect(compareLsn(a.followedTo, committed)).toBeLessThan(0);
}, 120_000);
