import { seedLms } from '../../demo/lms/seed';
import { startMigration } from '../../src/migration-client';
import { migrationId as idOf } from '../../src/plan/hash';
import { cli, cliEnv, isolated, Isolated, ledgerRecords, ownerUrl, planFor, removeStaged, spawnWorker, sql, WorkerProcess } from './helpers';
import { seedPreexistingPeople, targetChecksums } from './target-state';

const USERS = 100_000;
/** Every third user is in the target already: the migration updates those and inserts the rest. */
const PREEXISTING = Array.from({ length: Math.floor(USERS / 3) }, (_, i) => 1 + i * 3);
/** Rows changed by hand after the first run, half of them ones it inserted, half ones it updated: the second run writes them again. */
const CHANGED_AFTER = Array.from({ length: 500 }, (_, i) => 2 + i * 97);

/**
 * A rollback at volume, from the ledger's per-batch records: 100,000 users of which a third
 * overwrite rows the target had, a second run that writes again rows the first one inserted or
 * updated, then a rollback after completion. Every table of the target ends as it was, row for
 * row (md5 of each, computed here), which needs the records undone newest first.
 */
describe('rollback of 100,000 rows mixing inserts and updates', () => {
  let env: Isolated;
  let worker: WorkerProcess;
  const plan = planFor(`volume-${Date.now().toString(36)}`, { batchSize: 5000 });
  const migrationId = idOf(plan);
  const tgt = () => env.config.databases.targetUrl!;

  beforeAll(async () => {
    env = await isolated('volume');
    worker = await spawnWorker(env, { CUTOVER_METRICS_ADDRESS: 'off' });
  });

  afterAll(async () => {
    await worker?.kill();
    await removeStaged(env, migrationId);
    await env?.cleanup();
  });

  it('restores every table exactly', async () => {
    await seedLms({ sourceUrl: ownerUrl(env), targetUrl: tgt(), users: USERS, seed: 7, resetTarget: true });
    await seedPreexistingPeople(tgt(), PREEXISTING, Array.from({ length: 1000 }, (_, i) => 900_001 + i));
    const before = await targetChecksums(tgt());
    expect(before.people).toMatch(new RegExp(`^${PREEXISTING.length + 1000} rows`));

    const first = await startMigration(env.config, plan, { taskQueue: env.taskQueue, wait: true });
    expect(first.report!.entities[0]).toMatchObject({ extracted: USERS, inserted: USERS - PREEXISTING.length, updated: PREEXISTING.length, quarantined: 0 });
    // One record per batch, not one ledger row per migrated row.
    const records = await ledgerRecords(tgt(), migrationId);
    expect(records.length).toBe(USERS / 5000);

    await sql(tgt(), "update people set org_code = 'HAND' where legacy_user_id = any($1::int[])", [CHANGED_AFTER]);
    const second = await startMigration(env.config, plan, { taskQueue: env.taskQueue, wait: true });
    expect(second.report!.entities[0]).toMatchObject({ inserted: 0, updated: CHANGED_AFTER.length, unchanged: USERS - CHANGED_AFTER.length });

    const rolled = await cli(['rollback', migrationId, '--as', 'it-operator', '--reason', 'volume drill'], cliEnv(env), 600_000);
    expect({ code: rolled.code, stderr: rolled.stderr }).toEqual({ code: 0, stderr: '' });
    expect(rolled.stdout).toContain(`migration ${migrationId}: rolled back after completion (target restored)`);
    expect(await targetChecksums(tgt())).toEqual(before);
    expect(await ledgerRecords(tgt(), migrationId)).toEqual([]);
  }, 900_000);
});
