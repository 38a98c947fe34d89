import { createServer } from 'node:net';
import { startMigration } from '../../src/migration-client';
import { migrationId as idOf } from '../../src/plan/hash';
import type { ConflictPolicy, Plan } from '../../src/plan/types';
import { cli, cliEnv, endedReport, ownerUrl, removeStaged, spawnWorker, sql, WorkerProcess } from './helpers';
import { seedPreexistingPeople, targetChecksums } from './target-state';
import { SyncEnv, syncEnv, syncPlan, waitForReport } from './sync-fixture';
import { launchChromium, openWorkflowPage, screenshotPath, startCodecServerFor, waitForFramesText } from './browser';

/**
 * What an operator meets during a sync, on a small live source (poll capture, a round a second):
 * a target row someone edited on the new system while the source changed it too (a conflict,
 * under each policy), and a rollback after sync rounds deleted, updated and inserted rows in a
 * target that held rows of its own before the migration.
 */
const USERS = 120;

describe('delta sync, as an operator meets it', () => {
  let env: SyncEnv;
  let worker: WorkerProcess | undefined;
  const stamp = Date.now().toString(36);
  const plans: string[] = [];
  const targets: Record<string, string> = {};
  let metricsPort: number;

  beforeAll(async () => {
    env = await syncEnv('sync_ops', USERS);
    for (const t of ['source_wins', 'target_wins', 'quarantine', 'rollback']) targets[t] = await env.anotherTarget(t);
    metricsPort = await new Promise<number>((resolve) => {
      const s = createServer();
      s.listen(0, '127.0.0.1', () => {
        const port = (s.address() as { port: number }).port;
        s.close(() => resolve(port));
      });
    });
    worker = await spawnWorker(env, { ...Object.fromEntries(Object.entries(targets).map(([t, url]) => [`CUTOVER_TARGET_${t.toUpperCase()}`, url])), CUTOVER_METRICS_ADDRESS: `127.0.0.1:${metricsPort}` });
  });

  afterAll(async () => {
    await worker?.kill('SIGKILL');
    for (const id of plans) await removeStaged(env, id).catch(() => undefined);
    await env?.cleanup();
  });

  const planInto = (name: string, target: string, conflict: ConflictPolicy = 'quarantine'): Plan => {
    const p = syncPlan(`${name}-${stamp}`, { mode: 'poll', conflict });
    const plan = { ...p, target: { ...p.target, urlEnv: `CUTOVER_TARGET_${target.toUpperCase()}` } };
    plans.push(idOf(plan));
    return plan;
  };

  it('reports a row both sides changed as a conflict, and handles it by the plan policy', async () => {
    const policies: ConflictPolicy[] = ['source_wins', 'target_wins', 'quarantine'];
    const runs = await Promise.all(policies.map(async (policy) => ({ policy, plan: planInto(`it-conflict-${policy.replace('_', '-')}`, policy, policy) })));
    const started = await Promise.all(runs.map((r) => startMigration(env.config, r.plan, { taskQueue: env.taskQueue })));
    await Promise.all(started.map((s) => waitForReport(env, s.workflowId, 'syncing', (r) => r.status === 'syncing' && (r.sync?.rounds ?? 0) >= 1)));
    // A pilot group edits user 7 on the new system; then the legacy system changes it too.
    for (const policy of policies) await sql(targets[policy]!, `update people set given_name = 'PilotEdit' where legacy_user_id = 7`);
    await sql(ownerUrl(env), `update legacy_users set full_name = 'Sourcechange Person', changed_at = now() where user_id = 7`);
    const reports = await Promise.all(started.map((s) => waitForReport(env, s.workflowId, 'the conflict', (r) => (r.sync?.conflicts.detected ?? 0) >= 1)));
    const givenName = async (policy: string) => (await sql<{ g: string }>(targets[policy]!, 'select given_name as g from people where legacy_user_id = 7'))[0]!.g;
    const quarantined = async (plan: Plan) => sql<{ reason: string }>(env.config.databases.controlUrl!, `select reason from cutover.quarantine where migration_id = $1 and entity = 'users' and source_key = '7'`, [idOf(plan)]);

    expect(reports.map((r) => r.sync!.conflicts)).toEqual([
      { detected: 1, sourceWon: 1, targetKept: 0, quarantined: 0 },
      { detected: 1, sourceWon: 0, targetKept: 1, quarantined: 0 },
      { detected: 1, sourceWon: 0, targetKept: 0, quarantined: 1 },
    ]);
    expect(await givenName('source_wins')).toBe('Sourcechange');
    expect(await givenName('target_wins')).toBe('PilotEdit');
    expect(await givenName('quarantine')).toBe('PilotEdit');
    expect(await quarantined(runs[2]!.plan)).toEqual([{ reason: 'conflict' }]);
    expect(await quarantined(runs[1]!.plan)).toEqual([]);
    // Recorded by key, never by value.
    const recorded = await sql<{ policy: string; applied: boolean; business_key: string }>(
      env.config.databases.controlUrl!,
      `select policy, applied, business_key from cutover.sync_conflicts where migration_id = any($1::text[]) order by policy`,
      [runs.map((r) => idOf(r.plan))],
    );
    expect(recorded).toEqual([
      { policy: 'quarantine', applied: false, business_key: '7' },
      { policy: 'source_wins', applied: true, business_key: '7' },
      { policy: 'target_wins', applied: false, business_key: '7' },
    ]);

    // The poll's overlap reads user 7 again, unchanged, in the rounds that follow: the change the
    // conflict kept out stays quarantined, the target keeps its row, and no round reports it as a
    // mismatch (an earlier version resolved the quarantine and counted the row unverified).
    const conflictRound = reports[2]!.sync!.rounds;
    const later = await waitForReport(env, started[2]!.workflowId, 'two rounds after the conflict', (r) => (r.sync?.rounds ?? 0) >= conflictRound + 2);
    expect(later.sync!.applied.unchanged).toBeGreaterThan(0);
    expect(later.sync!.roundsUnclean).toBe(0);
    expect(await quarantined(runs[2]!.plan)).toEqual([{ reason: 'conflict' }]);
    expect(await givenName('quarantine')).toBe('PilotEdit');

    // What an operator sees meanwhile: the sync in `cutover status` and in the Web UI's current details.
    const status = await cli(['status', started[2]!.workflowId], cliEnv(env), 60_000);
    expect(status.stdout).toMatch(/syncing/);
    expect(status.stdout).toMatch(/delta sync:\s+poll capture · round \d+ .* lag \d+ s, \d+ changes/);
    expect(status.stdout).toMatch(/conflicts: 1 \(0 source won, 0 target kept, 1 quarantined\)/);
    // What is verified, up to the poll's watermark (the row the conflict kept out is accounted apart, not unverified).
    expect(status.stdout).toMatch(/verified: [\d,]+ of [\d,]+ rows, up to changes before \d{4}-\d\d-\d\dT[\d:.]+Z\n/);
    // Prometheus: the sync's lag gauges, by migration.
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`^cutover_sync_lag_seconds\\{[^}]*migration="${idOf(runs[2]!.plan)}"[^}]*\\} \\d+`, 'm'));
    expect(metrics).toMatch(new RegExp(`^cutover_sync_changes_behind\\{[^}]*migration="${idOf(runs[2]!.plan)}"[^}]*\\} \\d+`, 'm'));
    const codec = await startCodecServerFor(env);
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await openWorkflowPage(page, started[2]!.workflowId, { codecUrl: codec.endpoint, uiUrl: env.config.temporal.uiUrl });
      await page.getByText('User Metadata', { exact: true }).click();
      const details = await waitForFramesText(page, 'Delta sync');
      await page.screenshot({ path: screenshotPath('sync-details'), fullPage: true });
      expect(details).toMatch(/poll capture · round \d+/);
      expect(details).toMatch(/conflicts: 1/);
      expect(details).toMatch(/verified: [\d,]+ of [\d,]+ rows, up to changes before /);
    } finally {
      await browser.close();
      await codec.stop();
    }

    // Each cuts over: the final reconcile counts the row the policy kept apart, and is clean.
    for (const s of started) {
      const out = await cli(['cutover', s.workflowId], cliEnv(env), 180_000);
      expect(`${out.code}\n${out.stdout}${out.stderr}`).toMatch(/^0\n[\s\S]*final verification clean/);
    }
    for (const s of started) expect((await endedReport(env, s.workflowId)).cutover?.verified?.clean).toBe(true);
  }, 400_000);

  it('rolls back after sync rounds: every target table as it was, rows a round deleted put back', async () => {
    const url = targets.rollback!;
    // The new system already holds people: two the migration updates (their legacy ids are in the source), one it never touches.
    await seedPreexistingPeople(url, [3, 4], [900_001]);
    const before = await targetChecksums(url);
    const plan = planInto('it-sync-rollback', 'rollback');
    const started = await startMigration(env.config, plan, { taskQueue: env.taskQueue });
    await waitForReport(env, started.workflowId, 'syncing', (r) => r.status === 'syncing');
    // The legacy system deletes a pre-existing person (and their enrollments), changes another, adds one.
    await sql(ownerUrl(env), 'begin; delete from legacy_enrollments where user_id = 3; delete from legacy_users where user_id = 3; commit');
    await sql(ownerUrl(env), `update legacy_users set full_name = 'Changed Later', changed_at = now() where user_id = 4`);
    await sql(
      ownerUrl(env),
      `insert into legacy_users (user_id, login, full_name, email, phone, status_code, created_epoch, last_login_epoch, org_code, org_id, changed_at)
       values (50001, 'late', 'Late Joiner', 'late@example.edu', null, 'A', 1700000000, null, 'ENG', 1, now())`,
    );
    const synced = await waitForReport(env, started.workflowId, 'the round with the changes', (r) => (r.sync?.applied.deleted ?? 0) >= 1 && (r.sync?.applied.inserted ?? 0) >= 1);
    expect(synced.sync!.roundsUnclean).toBe(0);
    expect(await sql(url, 'select 1 from people where legacy_user_id = 3')).toEqual([]);

    const out = await cli(['rollback', started.workflowId, '--reason', 'it test'], cliEnv(env), 60_000);
    expect(out.code).toBe(0);
    const report = await endedReport(env, started.workflowId);
    expect(report.status).toBe('rolled-back');
    expect(report.rollback?.restored).toBe(true);
    expect(report.rollback?.steps.map((s) => s.step)).toContain('drop the replication slot');
    // Checked here too, independently of the migration's own checksums.
    expect(await targetChecksums(url)).toEqual(before);
  }, 300_000);
});
