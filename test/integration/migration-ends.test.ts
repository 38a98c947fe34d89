import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seedLms } from '../../demo/lms/seed';
import { connectClient } from '../../src/clients/temporal';
import { migrationId as idOf } from '../../src/plan/hash';
import { loadPlanFile } from '../../src/plan/load';
import { cli, CliResult, cliEnv, isolated, Isolated, ownerUrl, removeStaged, ROOT, spawnWorker, sql, waitFor, WorkerProcess } from './helpers';
import { seedPreexistingPeople, targetChecksums } from './target-state';
import { agreement, everyViewSays, migrationViews } from './views';

/**
 * One truth about a migration's state (issue 20 §4): for each end — completed and then rolled
 * back after completion, cancelled, terminated — `start --wait`, `status --json`, `list --json`,
 * `list --status` and `report --json` say the same status; an end that undid nothing says what it
 * left in the target and `cutover rollback` undoes it, the target exactly as before.
 */
describe('every end of a migration, told the same way by every command', () => {
  let env: Isolated;
  let worker: WorkerProcess;
  let dir: string;
  let before: Record<string, string>;
  const migrations: string[] = [];
  const USERS = 500;

  const run = (args: string[], timeoutMs?: number): Promise<CliResult> => cli(args, cliEnv(env), timeoutMs);
  const tgt = () => env.config.databases.targetUrl!;
  const people = async () => Number((await sql<{ n: string }>(tgt(), 'select count(*) as n from people'))[0]!.n);
  const json = (r: CliResult, what: string) => {
    try {
      return JSON.parse(r.stdout);
    } catch {
      throw new Error(`${what} did not print JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
    }
  };

  function planFile(name: string, settings: { batch: number; throttle: number }): { file: string; migrationId: string } {
    const yaml = readFileSync(join(ROOT, 'examples', 'lms-users.plan.yaml'), 'utf8')
      .replace(/^name: .*$/m, `name: ${name}-${Date.now().toString(36)}`)
      .replace(/batch_size: \d+/, `batch_size: ${settings.batch}`)
      .replace(/throttle_rows_per_second: \d+/, `throttle_rows_per_second: ${settings.throttle}`);
    const file = join(dir, `${name}.plan.yaml`);
    writeFileSync(file, yaml);
    const migrationId = idOf(loadPlanFile(file));
    migrations.push(migrationId);
    return { file, migrationId };
  }

  /** What status --json, list --json, list --status and report --json say of a migration: all must be `expected`. */
  async function allViewsSay(migrationId: string, expected: string) {
    const views = await migrationViews(env, migrationId, expected);
    expect(agreement(views)).toEqual(everyViewSays(expected));
    return views;
  }

  beforeAll(async () => {
    env = await isolated('ends');
    worker = await spawnWorker(env, { CUTOVER_METRICS_ADDRESS: 'off' });
    dir = mkdtempSync(join(tmpdir(), 'cutover-ends-'));
    await seedLms({ sourceUrl: ownerUrl(env), targetUrl: tgt(), users: USERS, seed: 20, resetTarget: true });
    // The new system already holds people: three the migration overwrites, two it does not touch.
    await seedPreexistingPeople(tgt(), [1, 51, 101], [500_001, 500_002]);
    before = await targetChecksums(tgt());
  });

  afterAll(async () => {
    await worker?.kill();
    for (const id of migrations) await removeStaged(env, id);
    await env?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('completed, then rolled back after completion: completed everywhere, then rolled-back everywhere (list too)', async () => {
    const { file, migrationId } = planFile('ends-done', { batch: 250, throttle: 0 });
    const started = await run(['start', file, '--wait', '--json']);
    expect(started.code).toBe(0);
    expect(json(started, 'start --wait --json').status).toBe('completed');
    const done = await allViewsSay(migrationId, 'completed');
    expect(done.statusExit).toBe(0);
    expect(done.listing.runs).toBe(1);
    expect(done.view.written).toBe('completed');

    const rolled = await run(['rollback', migrationId, '--as', 'it-operator']);
    expect(rolled.stdout).toContain(`migration ${migrationId}: rolled back after completion (target restored)`);
    expect(rolled.code).toBe(0);
    expect(await targetChecksums(tgt())).toEqual(before);

    const after = await allViewsSay(migrationId, 'rolled-back');
    expect(after.statusExit).toBe(1);
    const completed = json(await run(['list', '--status', 'completed', '--json']), 'list --status completed') as { migrationId: string }[];
    expect(completed.map((m) => m.migrationId)).not.toContain(migrationId);
    // A second rollback is refused, saying so.
    const again = await run(['rollback', migrationId]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already rolled back after completion/);
  });

  it('cancelled: start --wait, status, list and report say cancelled and what it left; `cutover rollback` then restores the target exactly', async () => {
    // Throttled so that the cancel lands mid-load.
    const { file, migrationId } = planFile('ends-cancel', { batch: 50, throttle: 60 });
    const base = await people();
    const waiting = run(['start', file, '--wait', '--json'], 240_000);
    await waitFor('the first loaded batches', async () => (await people()) >= base + 100);
    const cancelled = await run(['cancel', migrationId, '--as', 'it-operator']);
    expect(cancelled.code).toBe(0);
    const ended = await waiting;
    const startView = json(ended, 'start --wait --json');
    expect({ code: ended.code, status: startView.status }).toEqual({ code: 1, status: 'cancelled' });
    expect(startView.leftBehind.undo).toBe(`cutover rollback ${migrationId}`);

    const views = await allViewsSay(migrationId, 'cancelled');
    expect(views.statusExit).toBe(1);
    // The Web UI's search attribute says the same (the workflow writes it as it is cancelled).
    expect(views.view.written).toBe('cancelled');
    // What it left: its ledger's rows in public.people, the same in status, report and start --wait.
    const left = views.view.leftBehind as { tables: { table: string; inserted: number; updated: number }[]; undo: string };
    const ledger = Number((await sql<{ n: string }>(tgt(), 'select coalesce(sum(inserted_count + updated_count), 0) as n from cutover.ledger_batches where migration_id = $1', [migrationId]).catch(() => [{ n: '-1' }]))[0]!.n);
    const people_ = left.tables.find((t) => t.table === 'public.people');
    expect(people_).toBeDefined();
    expect(people_!.inserted + people_!.updated).toBeGreaterThan(0);
    if (ledger >= 0) expect(left.tables.reduce((n, t) => n + t.inserted + t.updated, 0)).toBe(ledger);
    expect(views.data.leftBehind).toEqual(views.view.leftBehind);
    const text = await run(['status', migrationId]);
    expect(text.stdout).toMatch(/CANCELLED: cancelled by an operator: nothing was undone/);
    expect(text.stdout).toContain(`\`cutover rollback ${migrationId}\` undoes them`);

    const rolled = await run(['rollback', migrationId, '--as', 'it-operator']);
    expect(rolled.stderr).toBe('');
    expect(rolled.stdout).toContain(`migration ${migrationId}: rolled back after the migration was cancelled (target restored)`);
    expect(rolled.code).toBe(0);
    expect(await targetChecksums(tgt())).toEqual(before);
    await allViewsSay(migrationId, 'rolled-back');
    const again = await run(['rollback', migrationId]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already rolled back after it ended \(cancelled\)/);
  });

  it('terminated: every view says terminated and what it left; `cutover rollback` restores the target', async () => {
    const { file, migrationId } = planFile('ends-term', { batch: 50, throttle: 60 });
    const base = await people();
    const waiting = run(['start', file, '--wait', '--json'], 240_000);
    await waitFor('the first loaded batches', async () => (await people()) >= base + 100);
    const { client, connection } = await connectClient(env.config);
    try {
      await client.workflow.getHandle(`cutover-${migrationId}`).terminate('it: terminated from outside');
    } finally {
      await connection.close();
    }
    const ended = await waiting;
    expect({ code: ended.code, status: json(ended, 'start --wait --json').status }).toEqual({ code: 1, status: 'terminated' });
    const views = await allViewsSay(migrationId, 'terminated');
    expect(views.statusExit).toBe(1);
    expect(views.view.leftBehind.tables.length).toBeGreaterThan(0);

    const rolled = await run(['rollback', migrationId, '--as', 'it-operator']);
    expect(rolled.stdout).toContain(`migration ${migrationId}: rolled back after the migration was terminated`);
    expect(rolled.code).toBe(0);
    expect(await targetChecksums(tgt())).toEqual(before);
    await allViewsSay(migrationId, 'rolled-back');
  });
});
