import { startMigration } from '../../src/migration-client';
import { migrationId as idOf } from '../../src/plan/hash';
import type { MigrationReport } from '../../src/shared/migration';
import { cli, cliEnv, endedReport, ownerUrl, removeStaged, spawnWorker, sql, WorkerProcess } from './helpers';
import { SyncEnv, syncEnv, syncPlan, waitForReport } from './sync-fixture';

const USERS = 60;

const usersVerification = (r: MigrationReport) => r.sync?.verified?.entities.find((e) => e.entity === 'users');

/**
 * The cutover verifies only what is not verified: every row is verified by the batch that last
 * wrote it, so a row changed after its verification must be verified again by the round that
 * applies the change, or the cutover would complete on a target it never checked. Here the
 * target corrupts one row as a round updates it (a trigger standing in for a faulty load or a
 * writer on the new system); the round's check finds it, the row stays unverified, the cutover
 * names it and refuses; once the source changes the row again and a round loads it right, the
 * cutover completes, after a final step that compared that one row and the counts.
 */
describe('cutover after continuous verification', () => {
  let env: SyncEnv;
  let worker: WorkerProcess | undefined;
  let migrationId: string | undefined;

  beforeAll(async () => {
    env = await syncEnv('cutover_verify', USERS);
    worker = await spawnWorker(env);
  });

  afterAll(async () => {
    await worker?.kill('SIGKILL');
    if (migrationId) await removeStaged(env, migrationId).catch(() => undefined);
    await env?.cleanup();
  });

  it('verifies again a row changed after its verification, and cuts over only when it is right', async () => {
    const plan = syncPlan(`it-cutover-verify-${Date.now().toString(36)}`, { mode: 'logical', publication: env.publication });
    migrationId = idOf(plan);
    const tgt = env.config.databases.targetUrl!;
    const started = await startMigration(env.config, plan, { taskQueue: env.taskQueue });
    const wf = started.workflowId;

    // Verified as loaded: every loaded row, up to the slot's position.
    const syncing = await waitForReport(env, wf, 'a sync round with the verification state', (r) => (r.sync?.rounds ?? 0) >= 1 && r.sync?.verified !== undefined);
    expect(usersVerification(syncing)).toEqual({ entity: 'users', loaded: USERS, unverified: 0 });
    expect(syncing.sync!.verified!.upTo).toMatch(/^LSN [0-9A-F]+\/[0-9A-F]+$/);

    // The new system corrupts user 7 whenever it is updated; then the legacy system changes user 7.
    await sql(tgt, `create function it_corrupt() returns trigger language plpgsql as $$ begin new.given_name := 'Corrupted'; return new; end $$`);
    await sql(tgt, `create trigger it_corrupt before update on people for each row when (new.legacy_user_id = 7) execute function it_corrupt()`);
    await sql(ownerUrl(env), `update legacy_users set full_name = 'Changed Person', changed_at = now() where user_id = 7`);
    const unclean = await waitForReport(env, wf, 'the round that applies the change', (r) => (r.sync?.roundsUnclean ?? 0) >= 1);
    expect(unclean.status).toBe('syncing');

    // The source is frozen (nothing more changes): the cutover verifies the tail, finds user 7, and refuses.
    const refused = await cli(['cutover', wf, '--as', 'it-operator'], cliEnv(env), 180_000);
    expect(`${refused.code}\n${refused.stdout}`).toMatch(/^1\n[\s\S]*cutover refused: the final verification found users: 0 missing, 1 mismatched, 0 extra \(7 \(source key 7\)\)/);
    const after = await waitForReport(env, wf, 'syncing again', (r) => r.status === 'syncing' && r.cutover?.refused !== undefined);
    expect(after.cutover!.verified!.entities.map((e) => e.scope)).toEqual(['tail', 'tail', 'tail', 'tail']);
    // One row compared again (user 7), not the tables.
    expect(after.cutover!.verified!.entities.reduce((n, e) => n + e.compared, 0)).toBe(1);
    const status = await cli(['status', wf], cliEnv(env), 60_000);
    expect(status.stdout).toMatch(/verified: [\d,]+ of [\d,]+ rows, up to LSN \S+ · not verified: users 1/);
    expect(usersVerification(await waitForReport(env, wf, 'the report after the refusal', (r) => usersVerification(r)?.unverified === 1))).toBeDefined();

    // Fixed on the new system; the legacy system changes user 7 again: the round loads it right and verifies it.
    await sql(tgt, 'drop trigger it_corrupt on people');
    await sql(ownerUrl(env), `update legacy_users set full_name = 'Fixed Person', changed_at = now() where user_id = 7`);
    await waitForReport(env, wf, 'user 7 verified again', (r) => usersVerification(r)?.unverified === 0);

    // The counts both ways: a loaded row the migration has lost track of (its key-map row forgotten,
    // and its kept count with it, as forgetKeys does) is one row the source has and the migration
    // does not account for, though no row is unverified.
    const scope = `(select scope from cutover.key_map_scopes where migration_id = $1 and entity = 'users')`;
    const keyRow = `from cutover.key_map_rows where scope = ${scope} and source_key = '9'`;
    const [lost] = await sql<Record<string, unknown>>(tgt, `select * ${keyRow}`, [migrationId]);
    await sql(tgt, `delete ${keyRow}`, [migrationId]);
    await sql(tgt, `insert into cutover.key_map_counts (scope, rows) select ${scope}, -1`, [migrationId]);
    const counted = await cli(['cutover', wf, '--as', 'it-operator'], cliEnv(env), 180_000);
    expect(`${counted.code}\n${counted.stdout}`).toMatch(new RegExp(`^1\\n[\\s\\S]*cutover refused: the final verification found users: 1 missing, 0 mismatched, 0 extra \\(1 row\\(s\\): the source has ${USERS} rows to migrate, the migration loaded ${USERS - 1} `));
    await waitForReport(env, wf, 'syncing again', (r) => r.status === 'syncing');
    await sql(tgt, `insert into cutover.key_map_rows select (json_populate_record(null::cutover.key_map_rows, $1::json)).*`, [JSON.stringify(lost)]);
    await sql(tgt, `insert into cutover.key_map_counts (scope, rows) select ${scope}, 1`, [migrationId]);

    const out = await cli(['cutover', wf, '--as', 'it-operator'], cliEnv(env), 180_000);
    expect(`${out.code}\n${out.stdout}${out.stderr}`).toMatch(/^0\n[\s\S]*cut over at .*window [\d.]+ s[\s\S]*final verification clean \(0 row\(s\) not verified before compared again, counts equal both ways\)/);
    const report = await endedReport(env, wf);
    expect(report.status).toBe('completed');
    expect(report.cutover!.verified).toMatchObject({ clean: true });
    expect(report.cutover!.verified!.entities.find((e) => e.entity === 'users')).toMatchObject({ scope: 'tail', loaded: USERS, missing: 0, mismatched: 0, extra: 0 });
    expect(await sql(tgt, 'select given_name from people where legacy_user_id = 7')).toEqual([{ given_name: 'Fixed' }]);
  }, 400_000);
});
