import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { seedLms } from '../../demo/lms/seed';
import { migrationId as idOf } from '../../src/plan/hash';
import { loadPlanFile } from '../../src/plan/load';
import { cli, CliResult, cliEnv, isolated, Isolated, ownerUrl, removeStaged, ROOT, sleep, spawnWorker, sql, waitFor, WorkerProcess } from './helpers';
import { peopleRows, seedPreexistingPeople, targetChecksums } from './target-state';

/**
 * The README's runbook, tried for real through the CLI: a target outage, a Temporal restart,
 * quarantined rows fixed and replayed, and a rollback. (A worker crash: resilience.test.ts.)
 */
describe('runbook', () => {
  let env: Isolated;
  let worker: WorkerProcess;
  let dbEnv: NodeJS.ProcessEnv;
  let dir: string;
  const migrations: string[] = [];

  const run = (args: string[], timeoutMs?: number): Promise<CliResult> => cli(args, dbEnv, timeoutMs);
  const targetAdminUrl = () => {
    const url = new URL(env.adminUrl);
    url.pathname = '/postgres';
    return url.toString();
  };
  const people = async () => Number((await sql<{ n: string }>(env.config.databases.targetUrl!, 'select count(*) as n from people'))[0]!.n);
  const staged = async (migrationId: string) =>
    Number((await sql<{ n: number }>(env.config.databases.controlUrl!, 'select coalesce(sum(rows_extracted), 0)::int as n from cutover.batches where migration_id = $1', [migrationId]))[0]!.n);
  /** A copy of the users plan under its own name, with settings and an optional gate. */
  function planFile(name: string, settings: { batch: number; throttle: number }, gate = false): { file: string; migrationId: string } {
    const yaml = readFileSync(join(ROOT, 'examples', 'lms-users.plan.yaml'), 'utf8')
      .replace(/^name: .*$/m, `name: ${name}-${Date.now().toString(36)}`)
      .replace(/batch_size: \d+/, `batch_size: ${settings.batch}`)
      .replace(/throttle_rows_per_second: \d+/, `throttle_rows_per_second: ${settings.throttle}`);
    const file = join(dir, `${name}.plan.yaml`);
    writeFileSync(file, gate ? `${yaml}\nphases:\n  - name: people\n    entities: [users]\n    gate: { distinct_approver: false }\n` : yaml);
    const migrationId = idOf(loadPlanFile(file));
    migrations.push(migrationId);
    return { file, migrationId };
  }
  async function finalStatus(migrationId: string) {
    const r = await run(['status', migrationId, '--watch', '--interval', '1', '--json'], 300_000);
    const frames = r.stdout.trim().split('\n');
    return { code: r.code, view: JSON.parse(frames[frames.length - 1]!) };
  }

  beforeAll(async () => {
    env = await isolated('runbook');
    dbEnv = cliEnv(env);
    worker = await spawnWorker(env, { CUTOVER_METRICS_ADDRESS: 'off' });
    dir = mkdtempSync(join(tmpdir(), 'cutover-runbook-'));
  });

  afterAll(async () => {
    await sql(targetAdminUrl(), `alter database ${env.names.target} with allow_connections true`).catch(() => undefined);
    await cli(['stack', 'up']);
    await worker?.kill();
    for (const id of migrations) await removeStaged(env, id);
    await env?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('target outage: loads wait and retry while the target refuses connections, then finish exactly once', async () => {
    await seedLms({ sourceUrl: ownerUrl(env), targetUrl: env.config.databases.targetUrl, users: 6_000, seed: 21, resetTarget: true });
    const { file, migrationId } = planFile('outage', { batch: 300, throttle: 1500 });
    expect((await run(['start', file])).code).toBe(0);
    await waitFor('the first batches', async () => (await staged(migrationId)) >= 900);

    // The outage: no new connection to the target, and the open ones cut.
    await sql(targetAdminUrl(), `alter database ${env.names.target} with allow_connections false`);
    try {
      await sql(targetAdminUrl(), 'select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [env.names.target]);
      const during = await staged(migrationId);
      await sleep(10_000);
      // Lanes wait on their failing stage, load or reconcile: at most one more batch per lane was staged meanwhile.
      expect((await staged(migrationId)) - during).toBeLessThanOrEqual(2 * 300);
      // status says what is being retried, and why, without values
      const status = await run(['status', migrationId]);
      expect(status.stdout).toContain(': running');
      // (A stage holds the load fence in the target, so it waits for the target too.)
      expect(status.stdout).toMatch(
        /retrying: (loadBatch|reconcileBatch|stageBatch) in users(\/part-\d)?, attempt \d+ — (load|reconcile|stage) users batch [0-9a-f]+( into public.people| \(load fence in the target\))?: (object_not_in_prerequisite_state|admin_shutdown|connection_failure)/,
      );
    } finally {
      await sql(targetAdminUrl(), `alter database ${env.names.target} with allow_connections true`);
    }
    const { code, view } = await finalStatus(migrationId);
    expect(code).toBe(0);
    expect(view.report).toMatchObject({ status: 'completed', clean: true, entities: [{ entity: 'users', extracted: 6_000, inserted: 6_000, quarantined: 0 }] });
    expect(await people()).toBe(6_000);
    // The retries are in the worker's log, without values.
    expect(worker.output()).toMatch(/not currently accepting connections|terminating connection|Connection terminated/);
  });

  it('Temporal restart: the worker reconnects and the migration carries on to the same result', async () => {
    await seedLms({ sourceUrl: ownerUrl(env), targetUrl: env.config.databases.targetUrl, users: 6_000, seed: 22, resetTarget: true });
    const { file, migrationId } = planFile('restart', { batch: 300, throttle: 1500 });
    expect((await run(['start', file])).code).toBe(0);
    await waitFor('the first batches', async () => (await staged(migrationId)) >= 900);
    expect((await cli(['stack', 'down', 'temporal'])).code).toBe(0);
    await sleep(3000);
    expect((await cli(['stack', 'up', 'temporal'])).code).toBe(0);
    const { code, view } = await finalStatus(migrationId);
    expect(code).toBe(0);
    expect(view.report).toMatchObject({ status: 'completed', clean: true, entities: [{ entity: 'users', extracted: 6_000, inserted: 6_000 }] });
    expect(await people()).toBe(6_000);
  });

  it('quarantined rows: listed by source key and reason, fixed in the source, replayed by starting the same plan again', async () => {
    await seedLms({ sourceUrl: ownerUrl(env), targetUrl: env.config.databases.targetUrl, users: 3_000, badRatio: 0.01, seed: 23, resetTarget: true });
    const { file, migrationId } = planFile('replay', { batch: 1000, throttle: 0 });
    const first = await run(['start', file, '--wait']);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('users: 3000 extracted, 2970 inserted, 0 updated, 0 unchanged, 30 quarantined');

    const listed = await run(['quarantine', migrationId, '--json']);
    const q = JSON.parse(listed.stdout);
    expect(q.total).toBe(30);
    const byReason = (reason: string) => q.entries.filter((e: { reason: string }) => e.reason === reason).map((e: { sourceKey: string }) => e.sourceKey);
    expect(byReason('conversion_failed')).toHaveLength(15);
    expect(byReason('not_null_violation')).toHaveLength(15);
    // No values in the listing: every seeded email and login is absent.
    const seededValues = await sql<{ email: string | null; login: string }>(ownerUrl(env), 'select email, login from legacy_users where user_id = any($1::int[])', [q.entries.map((e: { sourceKey: string }) => Number(e.sourceKey))]);
    for (const v of seededValues) {
      expect(listed.stdout).not.toContain(v.login);
      if (v.email) expect(listed.stdout).not.toContain(v.email);
    }

    // The fix, in the source, by the keys the quarantine names
    await sql(ownerUrl(env), "update legacy_users set status_code = 'A' where user_id = any($1::int[])", [byReason('conversion_failed').map(Number)]);
    await sql(ownerUrl(env), "update legacy_users set email = 'fixed.' || user_id || '@example.org' where user_id = any($1::int[])", [byReason('not_null_violation').map(Number)]);

    const replay = await run(['start', file, '--wait']);
    expect(replay.code).toBe(0);
    expect(replay.stdout).toContain('users: 3000 extracted, 30 inserted, 0 updated, 2970 unchanged, 0 quarantined');
    expect((await run(['quarantine', migrationId])).stdout.trim()).toBe(`migration ${migrationId}: no quarantined rows`);
    expect(await people()).toBe(3_000);
    const log = await run(['audit', 'log', migrationId]);
    expect(log.stdout.match(/\bstarted\b/g)?.length).toBeGreaterThanOrEqual(2);
  });

  it('rollback: an operator rolls back at the gate on a target that already held rows; every table is as before, updated rows back to their pre-images, the report says so', async () => {
    await seedLms({ sourceUrl: ownerUrl(env), targetUrl: env.config.databases.targetUrl, users: 2_000, seed: 24, resetTarget: true });
    const tgt = env.config.databases.targetUrl!;
    // The new LMS is not empty: 40 people the migration will overwrite, 25 it must not touch, their org units.
    const pre = await seedPreexistingPeople(tgt, Array.from({ length: 40 }, (_, i) => 1 + i * 50), Array.from({ length: 25 }, (_, i) => 500_001 + i));
    const before = await targetChecksums(tgt);
    expect(Object.keys(before)).toEqual(expect.arrayContaining(['people', 'org_units', 'courses', 'enrollments', 'xapi_statements']));
    expect(before.people).toMatch(/^65 rows/);
    const preImages = await peopleRows(tgt, pre.updated);
    const untouched = await peopleRows(tgt, pre.untouched);

    const { file, migrationId } = planFile('rollback', { batch: 500, throttle: 0 }, true);
    expect((await run(['start', file])).code).toBe(0);
    await waitFor('the gate', async () => (await run(['status', migrationId])).stdout.includes('awaiting-approval'));
    // At the gate the migration has done its work: 1,960 rows inserted, the 40 pre-existing ones overwritten, the others as they were.
    const atGate = JSON.parse((await run(['status', migrationId, '--json'])).stdout);
    expect(atGate.report.entities).toEqual([expect.objectContaining({ entity: 'users', inserted: 1_960, updated: 40, unchanged: 0, quarantined: 0 })]);
    expect(await people()).toBe(2_025);
    const overwritten = await peopleRows(tgt, pre.updated);
    expect(overwritten.map((r) => r.id)).toEqual(preImages.map((r) => r.id));
    for (const [i, r] of overwritten.entries()) {
      expect(r).toMatchObject({ source_system: 'legacy-lms', org_unit_id: preImages[i]!.org_unit_id });
      expect(r.username).not.toBe(preImages[i]!.username);
    }
    expect(await peopleRows(tgt, pre.untouched)).toEqual(untouched);

    const rolled = await run(['rollback', migrationId, '--reason', 'runbook drill']);
    expect(rolled.code).toBe(0);
    const { code, view } = await finalStatus(migrationId);
    expect(code).toBe(1);
    expect(view.status).toBe('rolled-back');
    expect(view.report.rollback).toMatchObject({ restored: true });
    expect(view.report.rollback.reason).toContain('runbook drill');
    expect(view.report.rollback.steps).toEqual(expect.arrayContaining([{ step: 'unload users', result: expect.objectContaining({ deleted: 1_960, restored: 40 }) }]));
    // Independently of the migration's own checksums: every table of the target, row for row.
    expect(await targetChecksums(tgt)).toEqual(before);
    expect(await peopleRows(tgt, pre.updated)).toEqual(preImages);
    expect(await peopleRows(tgt, pre.untouched)).toEqual(untouched);

    const report = await run(['report', migrationId, '--out', dir]);
    expect(report.code).toBe(0);
    const html = readFileSync(join(dir, `${migrationId}.html`), 'utf8');
    expect(html).toContain('runbook drill');
    expect(JSON.parse(readFileSync(join(dir, `${migrationId}.json`), 'utf8')).timings.map((t: { label: string }) => t.label)).toEqual(
      expect.arrayContaining([`rollback started (${process.env.CUTOVER_OPERATOR || userInfo().username})`, 'rolled back, target restored']),
    );
  });
});
