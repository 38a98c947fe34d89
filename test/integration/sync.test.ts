import { startMigration } from '../../src/migration-client';
import { migrationId as idOf } from '../../src/plan/hash';
import { cli, cliEnv, endedReport, ownerUrl, removeStaged, spawnWorker, sql, WorkerProcess } from './helpers';
import { comparableTarget, startWriter, SyncEnv, syncEnv, syncPlan, waitForReport } from './sync-fixture';

/**
 * Delta sync, as an operator runs it: the full load and the sync rounds run while the legacy
 * LMS keeps taking inserts, updates and deletes; the worker dies twice in the middle of the
 * sync; the operator freezes the source and cuts over. The target must then hold exactly what
 * a fresh full migration of the final source produces (compared here, by the rows' contents
 * with surrogate keys replaced by the legacy ids they stand for), in both capture modes, and
 * the replication slot must be gone.
 *
 * Sized for two cores: 600 users (2,400 enrollments) and a writer at about 60 changes a second.
 */
const USERS = 600;
const CHANGES_PER_SECOND = 60;

describe.each(['logical', 'poll'] as const)('delta sync by %s capture', (mode) => {
  let env: SyncEnv;
  let worker: WorkerProcess | undefined;
  const stamp = Date.now().toString(36);
  const plans: string[] = [];

  beforeAll(async () => {
    env = await syncEnv(`sync_${mode}`, USERS);
  });

  afterAll(async () => {
    await worker?.kill('SIGKILL');
    for (const id of plans) await removeStaged(env, id).catch(() => undefined);
    // CUTOVER_KEEP_SYNC_ENV=1 keeps the databases of a failed run to look at (the test prints their names).
    if (process.env.CUTOVER_KEEP_SYNC_ENV) console.log(`kept: ${JSON.stringify(env?.names)}`);
    else await env?.cleanup();
  });

  const spawn = () => spawnWorker(env, { CUTOVER_FRESH_TARGET_URL: env.freshTargetUrl });

  it('follows a live source through two worker crashes, and cuts over to what a fresh migration of the final source gives', async () => {
    const plan = syncPlan(`it-sync-${mode}-${stamp}`, { mode, publication: env.publication });
    plans.push(idOf(plan));
    worker = await spawn();
    const writer = startWriter(ownerUrl(env), CHANGES_PER_SECOND);
    let stopped = false;
    try {
      const started = await startMigration(env.config, plan, { taskQueue: env.taskQueue });
      const wf = started.workflowId;
      const first = await waitForReport(env, wf, 'the second sync round', (r) => (r.sync?.rounds ?? 0) >= 2);
      expect(first.status).toBe('syncing');
      // Killed twice while rounds run: each time a new worker carries on.
      for (let k = 0; k < 2; k++) {
        const at = (await waitForReport(env, wf, 'a round', (r) => (r.sync?.rounds ?? 0) >= 1)).sync!.rounds;
        await new Promise((r) => setTimeout(r, 300 + k * 400));
        await worker.kill('SIGKILL');
        worker = await spawn();
        await waitForReport(env, wf, `two rounds after kill ${k + 1}`, (r) => (r.sync?.rounds ?? 0) >= at + 2);
      }
      const { changes } = await writer.stop();
      stopped = true;
      expect(changes).toBeGreaterThan(300);

      const out = await cli(['cutover', wf, '--as', 'ops-lead'], cliEnv(env), 240_000);
      expect(`${out.code}\n${out.stdout}${out.stderr}`).toMatch(/^0\n[\s\S]*cut over at .*window [\d.]+ s/);
      const report = await endedReport(env, wf);
      expect(report.status).toBe('completed');
      expect(report.cutover?.verified?.clean).toBe(true);
      expect(report.sync!.rounds).toBeGreaterThan(4);
      expect(report.sync!.applied.inserted + report.sync!.applied.updated).toBeGreaterThan(0);
      expect(report.sync!.applied.deleted).toBeGreaterThan(0);
      expect(report.sync!.roundsUnclean).toBe(0);
      if (mode === 'logical') {
        // The slot ends with the migration: the source keeps no WAL for it.
        expect(await sql(env.adminUrl, 'select slot_name from pg_replication_slots where slot_name = $1', [plan.sync!.slot])).toEqual([]);
      }
    } finally {
      if (!stopped) await writer.stop();
    }

    // What a fresh full migration of the final source gives, in another target.
    const fresh = { ...syncPlan(`it-fresh-${mode}-${stamp}`), target: { ...plan.target, urlEnv: 'CUTOVER_FRESH_TARGET_URL' } };
    plans.push(idOf(fresh));
    const freshRun = await startMigration(env.config, fresh, { taskQueue: env.taskQueue });
    expect((await endedReport(env, freshRun.workflowId)).status).toBe('completed');
    const [synced, expected] = [await comparableTarget(env.config.databases.targetUrl!), await comparableTarget(env.freshTargetUrl)];
    expect(synced).toEqual(expected);
  }, 600_000);
});
