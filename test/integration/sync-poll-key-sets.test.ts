import { MockActivityEnvironment } from '@temporalio/testing';
import { createMigrationActivities } from '../../src/activities/migration';
import { migrationId as idOf, planHash } from '../../src/plan/hash';
import type { CapturedRound, SyncPositions } from '../../src/shared/migration';
import { ownerUrl, sql, testStores, TestStores } from './helpers';
import { SyncEnv, syncEnv, syncPlan } from './sync-fixture';

/**
 * Poll capture compares key sets (hard deletes, rows inserted without a change value) every
 * sync.key_set_interval_seconds, not every round: each comparison scans every key on both sides.
 * A round in between takes only changed rows; a round after the cutover is asked always compares.
 * Activities run directly (MockActivityEnvironment); the key map is what the test records.
 */
const USERS = 12;

let env: SyncEnv;
let ctx: TestStores;

beforeAll(async () => {
  env = await syncEnv('sync_keysets', USERS);
  ctx = testStores(env.config);
});

afterAll(async () => {
  await ctx?.close();
  await env?.cleanup();
});

it('finds a hard delete at the next comparison, or at once in a round after the cutover is asked, and changed rows every round', async () => {
  const plan = syncPlan(`it-keysets-${Date.now().toString(36)}`, { mode: 'poll', keySetIntervalSeconds: 3600 });
  const migrationId = idOf(plan);
  const activities = createMigrationActivities(ctx);
  const run = <T>(f: unknown, req: unknown) => new MockActivityEnvironment().run(f as never, req as never) as Promise<T>;
  await run(activities.prepareMigration, { plan, migrationId, planHash: planHash(plan), startedBy: 'it' });
  let positions = await run<SyncPositions>(activities.startCapture, { migrationId });
  // The users as loaded: the key map holds every one.
  const ledger = plan.target.ledgerSchema;
  const { createDb } = await import('../../src/clients/postgres');
  const { recordKeys } = await import('../../src/control/key-map');
  const target = createDb(env.config.databases.targetUrl!);
  try {
    const ids = (await sql<{ id: number }>(ownerUrl(env), 'select user_id as id from legacy_users order by 1')).map((r) => String(r.id));
    await target.transaction((trx) => recordKeys(trx, ledger, migrationId, 'users', ids.map((k) => ({ sourceKey: k, businessKey: k, targetKey: k }))));

    const round = async (n: number, final = false) => {
      const captured = await run<CapturedRound>(activities.captureChanges, { migrationId, round: n, positions, ...(final ? { final } : {}) });
      positions = captured.positions;
      return (await ctx.changes.part(migrationId, n, 'users', 0, 1000)).sort();
    };
    // The first round compares (none before it), and finds nothing.
    expect(await round(1)).toEqual([]);
    expect(positions.keySetsAt).toBeDefined();

    // A hard delete (no change value tells it) and a change: the next round, within the interval, takes the change only.
    await sql(ownerUrl(env), 'delete from legacy_enrollments where user_id = 3');
    await sql(ownerUrl(env), 'delete from legacy_users where user_id = 3');
    await sql(ownerUrl(env), `update legacy_users set full_name = 'Changed Person', changed_at = now() where user_id = 4`);
    expect(await round(2)).toEqual(['4']);
    // Once the cutover is asked, every round compares: the delete is found.
    expect(await round(3, true)).toEqual(['3', '4']);

    // With the interval passed, a round compares too.
    await sql(ownerUrl(env), 'delete from legacy_enrollments where user_id = 5');
    await sql(ownerUrl(env), 'delete from legacy_users where user_id = 5');
    positions = { ...positions, keySetsAt: positions.keySetsAt! - 3600 };
    expect(await round(4)).toEqual(expect.arrayContaining(['5']));
  } finally {
    await target.destroy();
  }
}, 120_000);
