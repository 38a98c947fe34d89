import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { seedLms } from '../../demo/lms/seed';
import { migrationId as idOf } from '../../src/plan/hash';
import { findBinary } from '../../src/stack/binaries';
import { BINARIES } from '../../src/stack/services';
import { cli, cliEnv, CliResult, freePort, Isolated, isolated, ownerUrl, removeStaged, ROOT, sleep, spawnWorker, sql, waitFor, WorkerProcess } from './helpers';
import { loadPlanFile } from '../../src/plan/load';
import { launchChromium, screenshotPath } from './browser';

const USERS = 10_000;
const STARTER = 'it-operator';
const APPROVER = 'it-second-person';

/**
 * Everything here goes through the `cutover` CLI in a child process, as an operator would:
 * start, watch, pause, resume, tune, approve, report, list, audit.
 */
describe('an operator drives a migration through the CLI', () => {
  let env: Isolated;
  let worker: WorkerProcess;
  let dbEnv: NodeJS.ProcessEnv;
  let dir: string;
  let planFile: string;
  let migrationId: string;
  let metricsPort: number;
  let watch: ReturnType<typeof spawn> | undefined;

  const run = (args: string[], timeoutMs?: number): Promise<CliResult> => cli(args, dbEnv, timeoutMs);
  /** Rows extracted so far, from the control database's record of staged batches. */
  const staged = async () =>
    (await sql<{ batches: number; rows: number }>(env.config.databases.controlUrl!, 'select count(*)::int as batches, coalesce(sum(rows_extracted), 0)::int as rows from cutover.batches where migration_id = $1', [migrationId]))[0]!;
  const status = async () => {
    const r = await run(['status', migrationId, '--json']);
    expect(r.stderr).toBe('');
    return JSON.parse(r.stdout);
  };
  /**
   * One poll of `status` while waiting: a call that fails is said (on the test's output) and
   * polled again; more than two failing polls fail the test. (Once in a fresh-clone run on a
   * loaded machine a poll printed `cutover status:` with an empty message: the CLI now names
   * such an error's class instead.)
   */
  let failedPolls = 0;
  const pollStatus = async () => {
    const r = await run(['status', migrationId, '--json']);
    if (r.code === 0 && r.stderr === '') return JSON.parse(r.stdout);
    failedPolls++;
    console.warn(`status poll failed (exit ${r.code}): ${r.stderr.trim()}`);
    expect(failedPolls).toBeLessThanOrEqual(2);
    return undefined;
  };
  /** Rows per second staged over the next `rows` rows (wall clock of this test). */
  async function rateOver(rows: number): Promise<number> {
    const from = await staged();
    const t0 = Date.now();
    const to = await waitFor(`${rows} more rows`, async () => {
      const now = await staged();
      return now.rows - from.rows >= rows ? now : undefined;
    });
    return ((to.rows - from.rows) * 1000) / (Date.now() - t0);
  }

  beforeAll(async () => {
    env = await isolated('ops');
    dbEnv = cliEnv(env);
    await seedLms({ sourceUrl: ownerUrl(env), targetUrl: env.config.databases.targetUrl, users: USERS, seed: 11 });
    metricsPort = await freePort();
    worker = await spawnWorker(env, { CUTOVER_METRICS_ADDRESS: `127.0.0.1:${metricsPort}` });
    dir = mkdtempSync(join(tmpdir(), 'cutover-ops-'));
    // The users plan, slowed down (a throttle) so there is time to act, with a gate needing a second person.
    const plan = loadPlanFile(join(ROOT, 'examples', 'lms-users.plan.yaml'));
    const name = `it-ops-${Date.now().toString(36)}`;
    const yaml = readFileSync(join(ROOT, 'examples', 'lms-users.plan.yaml'), 'utf8')
      .replace(/^name: .*$/m, `name: ${name}`)
      .replace(/batch_size: \d+/, 'batch_size: 200')
      .replace(/throttle_rows_per_second: \d+/, 'throttle_rows_per_second: 200');
    planFile = join(dir, 'plan.yaml');
    writeFileSync(planFile, `${yaml}\n${stringify({ phases: [{ name: 'people', entities: plan.entities.map((e) => e.name), gate: { distinct_approver: true } }] })}`);
    migrationId = idOf(loadPlanFile(planFile));
  });

  afterAll(async () => {
    if (watch && watch.exitCode === null) watch.kill();
    await worker?.kill();
    if (migrationId) await removeStaged(env, migrationId);
    await env?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('start, watch, tune, pause, resume, approve, report: each step through the CLI', async () => {
    // start prints the id and the Web UI link
    const started = await run(['start', planFile, '--started-by', STARTER]);
    expect(started.code).toBe(0);
    expect(started.stdout).toContain(`migration id: ${migrationId}`);
    expect(started.stdout).toMatch(new RegExp(`Web UI: +http://127\\.0\\.0\\.1:8233/namespaces/default/workflows/cutover-${migrationId}`));

    // A live watcher, from start to end
    watch = spawn(process.execPath, [join(ROOT, 'bin', 'cutover.js'), 'status', migrationId, '--watch', '--interval', '1'], { env: { ...process.env, ...dbEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
    let watched = '';
    watch!.stdout!.on('data', (d) => (watched += d));
    watch!.stderr!.on('data', (d) => (watched += d));
    const watchExit = new Promise<number>((resolve) => watch!.on('exit', (code) => resolve(code ?? -1)));

    // The running migration is found by its search attribute, with Temporal's own CLI
    const temporal = findBinary(BINARIES.temporal, process.env)!.path;
    const listed = await waitFor('the search attribute', async () => {
      const out = execFileSync(temporal, ['workflow', 'list', '--address', '127.0.0.1:7233', '--query', `CutoverStatus='running' AND CutoverPlan='${loadPlanFile(planFile).name}'`, '-o', 'json'], { encoding: 'utf8' });
      return out.includes(`cutover-${migrationId}`) ? out : undefined;
    });
    expect(listed).toContain(`cutover-${migrationId}`);

    // Throttled at 200 rows/s: measure, then lift the limit while it runs and measure again
    await waitFor('the first batches', async () => (await staged()).rows >= 600);
    const throttled = await rateOver(1000);
    expect(throttled).toBeLessThan(200 * 1.35);

    // The validator refuses bad values (exit 1, the reason in one line); nonsense is a usage error
    const negative = await run(['tune', migrationId, '--throttle=-5', '--as', STARTER]);
    expect(negative.code).toBe(1);
    expect(negative.stderr.trim()).toBe('cutover tune: refused: throttle must be a whole number of rows per second from 0 (no limit) to 10,000,000, got -5');
    const tooBig = await run(['tune', migrationId, '--batch-size', '500000']);
    expect(tooBig.code).toBe(1);
    expect(tooBig.stderr).toContain('batch size must be a whole number of rows from 1 to 100,000, got 500000');
    expect((await run(['tune', migrationId, '--throttle', 'fast'])).code).toBe(2);

    const tuned = await run(['tune', migrationId, '--throttle', '0', '--as', STARTER]);
    expect(tuned.code).toBe(0);
    expect(tuned.stdout).toContain('throttle none');
    const faster = await rateOver(1600);
    expect(faster).toBeGreaterThan(throttled * 2);

    // Pause: batches in flight finish, then no new batch starts
    const paused = await run(['pause', migrationId, '--as', STARTER, '--reason', 'target maintenance']);
    expect(paused.code).toBe(0);
    expect(paused.stdout).toContain('paused');
    let settled = await staged();
    await waitFor('in-flight batches to finish', async () => {
      await sleep(2500);
      const now = await staged();
      const same = now.batches === settled.batches;
      settled = now;
      return same;
    });
    await sleep(5000);
    expect(await staged()).toEqual(settled);
    expect(settled.rows).toBeLessThan(USERS);
    const whilePaused = await status();
    expect(whilePaused.status).toBe('paused');
    expect(whilePaused.report.controls).toMatchObject({ paused: true, throttleRowsPerSecond: 0 });
    const again = await run(['pause', migrationId]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`migration ${migrationId} is already paused`);

    // Resume: it runs to the gate
    const resumed = await run(['resume', migrationId, '--as', STARTER, '--json']);
    expect(resumed.code).toBe(0);
    expect(JSON.parse(resumed.stdout)).toEqual({ paused: false, throttleRowsPerSecond: 0 });
    const atGate = await waitFor('the gate', async () => {
      const s = await pollStatus();
      return s?.status === 'awaiting-approval' ? s : undefined;
    });
    expect(atGate.report.entities[0]).toMatchObject({ entity: 'users', extracted: USERS, inserted: USERS });

    // The starter may not approve; a second person may
    const self = await run(['approve', migrationId, 'people', '--as', STARTER]);
    expect(self.code).toBe(1);
    expect(self.stderr.trim()).toBe(`cutover approve: refused: phase people needs a second person: ${STARTER} started this migration and cannot approve it`);
    const approved = await run(['approve', migrationId, 'people', '--as', APPROVER]);
    expect(approved.code).toBe(0);
    expect(approved.stdout).toMatch(new RegExp(`phase people: approved by ${APPROVER} at \\d{4}-`));

    // The watcher saw it through, with bars, rates and ETA, and exits 0 at completion
    expect(await watchExit).toBe(0);
    expect(watched).toMatch(/users +█+░* +\d+\.\d %/);
    expect(watched).toMatch(/rows\/s +ETA \d/);
    expect(watched).toContain('PAUSED');
    expect(watched).toContain(`migration ${migrationId}`);
    expect(watched).toMatch(/: completed/);

    const done = await status();
    expect(done).toMatchObject({ execution: 'COMPLETED', status: 'completed', report: { clean: true } });

    // list finds it among the completed, from the visibility store
    const list = await run(['list', '--status', 'completed', '--json']);
    expect(list.code).toBe(0);
    const row = JSON.parse(list.stdout).find((m: { migrationId: string }) => m.migrationId === migrationId);
    expect(row).toMatchObject({ status: 'completed', percent: 100, rowsLoaded: USERS });

    // The report: JSON, HTML with a chart, Markdown; throughput has one point per loaded batch
    const report = await run(['report', migrationId, '--out', dir]);
    expect(report.code).toBe(0);
    const data = JSON.parse(readFileSync(join(dir, `${migrationId}.json`), 'utf8'));
    const batches = (await staged()).batches;
    expect(data.throughput).toHaveLength(batches);
    expect(data.throughput.reduce((n: number, p: { rows: number }) => n + p.rows, 0)).toBe(USERS);
    expect(data.timings.map((t: { label: string }) => t.label)).toEqual(
      expect.arrayContaining([`started by ${STARTER}`, `paused by ${STARTER}`, `resumed by ${STARTER}`, `gate of people approved by ${APPROVER}`, 'phase people reconciled clean', 'completed']),
    );
    expect(data.audit).toMatchObject({ verified: true });
    // Opened in a browser, the page shows the chart (a line with points) and the tables
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      await page.goto(`file://${join(dir, `${migrationId}.html`)}`);
      const chart = page.getByTestId('throughput-chart');
      expect(await chart.isVisible()).toBe(true);
      expect((await chart.boundingBox())!.height).toBeGreaterThan(150);
      expect(await chart.locator('polyline, path').count()).toBeGreaterThan(0);
      const entities = await page.getByTestId('entities').innerText();
      expect(entities).toMatch(/users[\s\S]*10,000/);
      expect(await page.getByTestId('phases').innerText()).toContain('people');
      expect(await page.getByText(`${migrationId}`).count()).toBeGreaterThan(0);
      await page.screenshot({ path: screenshotPath('report'), fullPage: true });
    } finally {
      await browser.close();
    }

    // The audit trail names who did what; the chain verifies
    const log = await run(['audit', 'log', migrationId]);
    for (const action of ['started', 'tuned', 'paused', 'resumed', 'approved', 'batch-loaded', 'completed']) expect(log.stdout).toContain(action);
    expect((await run(['audit', 'verify'])).code).toBe(0);

    // Prometheus: Cutover's counters by entity, and Temporal's runtime metrics, on the worker's endpoint
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const loaded = [...metrics.matchAll(/^cutover_rows_loaded_total\{([^}]*)\} (\d+)/gm)].filter((m) => m[1]!.includes(`migration="${migrationId}"`) && m[1]!.includes('entity="users"'));
    expect(loaded.reduce((n, m) => n + Number(m[2]), 0)).toBe(USERS);
    expect(metrics).toMatch(/^cutover_batches_staged_total\{[^}]*entity="users"[^}]*\} \d+/m);
    expect(metrics).toMatch(/^temporal_activity_execution_latency/m);
  });

  it('a batch size changed while an entity runs applies to the batches it has not started', async () => {
    const name = `it-resize-${Date.now().toString(36)}`;
    const file = join(dir, 'resize.plan.yaml');
    writeFileSync(
      file,
      readFileSync(join(ROOT, 'examples', 'lms-users.plan.yaml'), 'utf8')
        .replace(/^name: .*$/m, `name: ${name}`)
        .replace(/batch_size: \d+/, 'batch_size: 250')
        .replace(/parallelism: \d+/, 'parallelism: 1') // one run, no partitions
        .replace(/throttle_rows_per_second: \d+/, 'throttle_rows_per_second: 500'),
    );
    const id = idOf(loadPlanFile(file));
    expect((await run(['start', file, '--started-by', STARTER])).code).toBe(0);
    const batches = () => sql<{ rows: number; n: number }>(env.config.databases.controlUrl!, 'select rows_extracted as rows, count(*)::int as n from cutover.batches where migration_id = $1 group by 1 order by 1', [id]);
    await waitFor('two batches', async () => (await batches()).reduce((n, b) => n + b.n, 0) >= 2);
    const tuned = await run(['tune', id, '--batch-size', '2000', '--throttle', '0', '--json']);
    expect(tuned.code).toBe(0);
    expect(JSON.parse(tuned.stdout)).toMatchObject({ batchSize: 2000, throttleRowsPerSecond: 0 });
    const done = await run(['status', id, '--watch', '--interval', '1', '--json'], 300_000);
    expect(done.code).toBe(0);
    const final = JSON.parse(done.stdout.trim().split('\n').pop()!);
    expect(final.report).toMatchObject({ status: 'completed', clean: true, entities: [{ entity: 'users', extracted: USERS, unchanged: USERS }] });
    // Early batches at 250 rows, the rest at 2,000 (the last may be shorter); every row exactly once
    const sizes = await batches();
    expect(sizes.find((b) => b.rows === 250)!.n).toBeGreaterThanOrEqual(2);
    expect(sizes.find((b) => b.rows === 2000)!.n).toBeGreaterThanOrEqual(3);
    expect(sizes.reduce((n, b) => n + b.rows * b.n, 0)).toBe(USERS);
    expect(final.report.entities[0].batches).toBe(sizes.reduce((n, b) => n + b.n, 0));
    await removeStaged(env, id);
  });

  it('names an unknown migration in one line, exit 4, for every command that takes an id', async () => {
    for (const args of [['status', 'nope-000000000000'], ['pause', 'nope-000000000000'], ['report', 'nope-000000000000'], ['cancel', 'nope-000000000000']]) {
      const r = await run(args);
      expect({ args, code: r.code }).toEqual({ args, code: 4 });
      expect(r.stderr.trim()).toBe(`cutover ${args[0]}: no migration nope-000000000000: workflow cutover-nope-000000000000 is not in namespace default (\`cutover list\` shows the migrations)`);
    }
  });
});
