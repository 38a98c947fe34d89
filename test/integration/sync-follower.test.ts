import { MockActivityEnvironment } from '@temporalio/testing';
import { Client } from 'pg';
import { createMigrationActivities } from '../../src/activities/migration';
import { migrationId as idOf, planHash } from '../../src/plan/hash';
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
