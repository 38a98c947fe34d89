import { ChildProcess, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { DeterminismViolationError } from '@temporalio/workflow';
import { Worker } from '@temporalio/worker';
import { stringify } from 'yaml';
import { seedLms } from '../../demo/lms/seed';
import { createKmsClient } from '../../src/clients/aws';
import { createDb } from '../../src/clients/postgres';
import { connectClient } from '../../src/clients/temporal';
import { createDataConverter } from '../../src/codec/data-converter';
import { createKeyRing } from '../../src/crypto/key-ring-factory';
import { workflowIdOf } from '../../src/migration-client';
import { migrationId as idOf } from '../../src/plan/hash';
import { loadPlanFile } from '../../src/plan/load';
import { stateDir } from '../../src/stack/state';
import { cli, CliResult, cliEnv, isolated, Isolated, ownerUrl, removeStaged, ROOT, spawnWorker, waitFor, WorkerProcess } from './helpers';

const USERS = 300;
const STARTER = 'it-upgrade-starter';
const APPROVER = 'it-upgrade-approver';

/** Where the change goes: just before the migration waits at its gate (a point the running migration has passed). */
const BEFORE_GATE = "run.view.setStatus('awaiting-approval');";
/** And just before it records its completion (a point it reaches only after the upgrade). */
const BEFORE_COMPLETED = "await audit(run, 'completed'";

function insertBefore(source: string, anchor: string, code: string): string {
  const at = source.indexOf(anchor);
  if (at < 0 || source.indexOf(anchor, at + 1) >= 0) throw new Error(`src/workflows/migration.ts: expected "${anchor}" exactly once (update upgrade.test.ts)`);
  return source.slice(0, at) + code + source.slice(at);
}

/** The same change twice: behind patched() (safe to deploy), and bare (breaks the migrations in flight). */
const PATCHED = (source: string) =>
  `import { patched as upgradePatched } from '@temporalio/workflow';\n` +
  insertBefore(
    insertBefore(source, BEFORE_GATE, "if (upgradePatched('upgrade-test-before-gate')) await audit(run, 'upgrade-test-before-gate', 'cutover', {});\n  "),
    BEFORE_COMPLETED,
    "if (upgradePatched('upgrade-test-after-gate')) await audit(run, 'upgrade-test-after-gate', 'cutover', {});\n  ",
  );
const UNPATCHED = (source: string) => insertBefore(source, BEFORE_GATE, "await audit(run, 'upgrade-test-before-gate', 'cutover', {});\n  ");

/**
 * A new build of this checkout whose src/workflows/migration.ts is changed by `edit`: a copy of
 * src and bin (node_modules linked), so its worker bundles and runs the changed workflow code.
 */
function build(dir: string, edit: (source: string) => string): string {
  for (const part of ['src', 'bin', 'tsconfig.json']) cpSync(join(ROOT, part), join(dir, part), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  const file = join(dir, 'src', 'workflows', 'migration.ts');
  writeFileSync(file, edit(readFileSync(file, 'utf8')));
  return dir;
}

/** `cutover worker` of another build, on the test's task queue and databases; the shared stack's state dir. */
async function spawnBuiltWorker(dir: string, env: Isolated): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(process.execPath, [join(dir, 'bin', 'cutover.js'), 'worker'], {
    cwd: dir,
    env: { ...process.env, ...cliEnv(env), CUTOVER_STATE_DIR: stateDir(process.env), CUTOVER_LOG_LEVEL: 'INFO', CUTOVER_METRICS_ADDRESS: 'off' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  await waitFor('the upgraded worker', async () => {
    if (child.exitCode !== null) throw new Error(`the upgraded worker exited:\n${output}`);
    return /worker polling task queue/.test(output);
  }, 90_000);
  return { child, output: () => output };
}

async function stopProcess(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(timer);
}

describe('a worker deployed with changed workflow code while a migration waits at its gate', () => {
  let env: Isolated;
  let dir: string;
  let planFile: string;
  let migrationId: string;
  let oldWorker: WorkerProcess | undefined;
  let newWorker: ChildProcess | undefined;
  let run: (args: string[]) => Promise<CliResult>;

  beforeAll(async () => {
    env = await isolated('upg');
    run = (args) => cli(args, cliEnv(env));
    await seedLms({ sourceUrl: ownerUrl(env), targetUrl: env.config.databases.targetUrl, users: USERS, seed: 17 });
    dir = mkdtempSync(join(tmpdir(), 'cutover-upgrade-'));
    const name = `it-upg-${Date.now().toString(36)}`;
    const yaml = readFileSync(join(ROOT, 'examples', 'lms-users.plan.yaml'), 'utf8').replace(/^name: .*$/m, `name: ${name}`).replace(/batch_size: \d+/, 'batch_size: 100');
    planFile = join(dir, 'plan.yaml');
    writeFileSync(planFile, `${yaml}\n${stringify({ phases: [{ name: 'people', entities: ['users'], gate: { distinct_approver: true } }] })}`);
    migrationId = idOf(loadPlanFile(planFile));
  });

  afterAll(async () => {
    await oldWorker?.kill();
    await stopProcess(newWorker);
    if (migrationId) await removeStaged(env, migrationId);
    await env?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('replays the migration behind patched() and completes it after the approval', async () => {
    oldWorker = await spawnWorker(env, { CUTOVER_METRICS_ADDRESS: 'off' });
    const started = await run(['start', planFile, '--started-by', STARTER]);
    expect(started.code).toBe(0);
    let last: CliResult | undefined;
    await waitFor(
      'the gate',
      async () => {
        last = await run(['status', migrationId, '--json']);
        return last.code === 0 && JSON.parse(last.stdout).status === 'awaiting-approval';
      },
      120_000,
      () => `last status: ${last?.stdout.slice(0, 2000)} ${last?.stderr}\nworker:\n${oldWorker?.output().slice(-3000)}`,
    );

    // The deployment: the old worker drains and stops while the migration waits.
    await oldWorker.kill();
    oldWorker = undefined;

    // Before deploying, replay the running migration's history on the new code: the bare change
    // breaks it, the one behind patched() does not. (Payloads decrypted by the project's codec.)
    const workflowId = workflowIdOf(migrationId);
    const control = createDb(env.config.databases.controlUrl!, { max: 1 });
    const kms = createKmsClient(env.config.kms);
    const { client, connection } = await connectClient(env.config);
    try {
      const dataConverter = await createDataConverter(createKeyRing(env.config, control, kms));
      const history = await client.workflow.getHandle(workflowId).fetchHistory();
      const replay = (copy: string) => Worker.runReplayHistory({ workflowsPath: join(copy, 'src', 'workflows'), dataConverter, replayName: 'upgrade-check' }, history, workflowId);
      await expect(replay(build(join(dir, 'unpatched'), UNPATCHED))).rejects.toBeInstanceOf(DeterminismViolationError);
      await expect(replay(build(join(dir, 'patched'), PATCHED))).resolves.toBeUndefined();

      // The new worker picks the migration up from history and, approved, finishes it.
      newWorker = (await spawnBuiltWorker(join(dir, 'patched'), env)).child;
      const approved = await run(['approve', migrationId, 'people', '--as', APPROVER]);
      expect(approved.stderr).toBe('');
      expect(approved.code).toBe(0);
      const done = await waitFor('completion', async () => {
        const s = await run(['status', migrationId, '--json']);
        const parsed = s.code === 0 ? JSON.parse(s.stdout) : undefined;
        return parsed?.status === 'completed' || parsed?.status === 'rolled-back' ? parsed : undefined;
      });
      expect(done).toMatchObject({ status: 'completed', report: { clean: true, entities: [{ entity: 'users', extracted: USERS, inserted: USERS }] } });

      // The new code ran past the gate (its patch is recorded, its step audited); the part of
      // history written by the old code was replayed as it was (no step before the gate).
      const log = await run(['audit', 'log', migrationId]);
      expect(log.stdout).toContain('upgrade-test-after-gate');
      expect(log.stdout).not.toContain('upgrade-test-before-gate');
      type Marker = { markerName: string; details?: { 'patch-data'?: { payloads: { data: string }[] } } };
      const events = JSON.parse(historyToJSON(await client.workflow.getHandle(workflowId).fetchHistory())).events as { markerRecordedEventAttributes?: Marker }[];
      const patches = events
        .map((e) => e.markerRecordedEventAttributes)
        .filter((m): m is Marker => m?.markerName === 'core_patch')
        .map((m) => JSON.parse(Buffer.from(m.details!['patch-data']!.payloads[0]!.data, 'base64').toString('utf8')).id as string);
      expect(patches.filter((id) => id.startsWith('upgrade-test-'))).toEqual(['upgrade-test-after-gate']);
    } finally {
      await connection.close();
      kms.destroy();
      await control.destroy();
    }
  });
});
