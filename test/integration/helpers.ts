import { createServer } from 'node:net';
import { randomBytes } from 'node:crypto';
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DeleteObjectsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { WorkflowFailedError } from '@temporalio/client';
import { Client as PgClient } from 'pg';
import { connectClient } from '../../src/clients/temporal';
import { createKmsClient, createS3Client } from '../../src/clients/aws';
import { createDb } from '../../src/clients/postgres';
import { createKeyRing } from '../../src/crypto/key-ring-factory';
import { CutoverConfig, loadConfig, readLocalStack } from '../../src/config';
import { loadPlanFile } from '../../src/plan/load';
import type { Plan } from '../../src/plan/types';
import type { MigrationReport } from '../../src/shared/migration';
import { progressQuery } from '../../src/shared/queries';
import { databaseNames, DatabaseNames, postgresUrl } from '../../src/stack/endpoints';
import { dropDatabases, provisionDatabases } from '../../src/stack/postgres-provision';
import { createStores, StoreClients, Stores } from '../../src/stores/stores';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

export const ROOT = join(__dirname, '..', '..');

export interface Isolated {
  config: CutoverConfig;
  names: DatabaseNames;
  taskQueue: string;
  adminUrl: string;
  cleanup(): Promise<void>;
}

/** The local stack's configuration, with databases and a task queue of this test's own (on the stack's PostgreSQL, or the server `adminUrl` names). */
export async function isolated(label: string, server?: string): Promise<Isolated> {
  const local = readLocalStack();
  if (!local) throw new Error('the local stack is not up: run `npx cutover stack up`');
  const suffix = randomBytes(4).toString('hex');
  const names = databaseNames(`it_${label}_${suffix}`);
  const readerPassword = randomBytes(12).toString('hex');
  const appPassword = randomBytes(12).toString('hex');
  const adminUrl = server ?? local.postgres.adminUrl;
  await provisionDatabases({ adminUrl, names, readerPassword, appPassword });
  const base = loadConfig(process.env, local);
  const config: CutoverConfig = {
    ...base,
    temporal: { ...base.temporal, taskQueue: `it-${label}-${suffix}` },
    databases: {
      sourceUrl: postgresUrl(adminUrl, names.reader, readerPassword, names.source),
      targetUrl: postgresUrl(adminUrl, names.app, appPassword, names.target),
      controlUrl: postgresUrl(adminUrl, names.app, appPassword, names.control),
    },
  };
  return { config, names, taskQueue: config.temporal.taskQueue, adminUrl, cleanup: () => dropDatabases(adminUrl, names) };
}

/**
 * The admin URL of the stack's PostgreSQL with wal_level=logical (service `postgres-logical`;
 * CUTOVER_LOGICAL_PG_URL names another): superuser `postgres`, database `postgres`. A delta-sync
 * test creates its own databases there, as `isolated` does on the main server, and drops them.
 */
export function logicalPostgresAdminUrl(): string {
  const url = process.env.CUTOVER_LOGICAL_PG_URL || readLocalStack()?.logicalPostgres?.adminUrl;
  if (!url) throw new Error('the local stack has no logical PostgreSQL (endpoints file from before it?): run `npx cutover stack up`');
  return url;
}

/** The environment a CLI child process needs to work on the test's databases and task queue. */
export function cliEnv(env: Isolated): NodeJS.ProcessEnv {
  return {
    CUTOVER_SOURCE_URL: env.config.databases.sourceUrl,
    CUTOVER_TARGET_URL: env.config.databases.targetUrl,
    CUTOVER_CONTROL_URL: env.config.databases.controlUrl,
    CUTOVER_TASK_QUEUE: env.taskQueue,
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A free loopback port (asked of the kernel, then released) for a server of the test's own. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Polls `probe` until it returns something truthy; fails naming `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 120_000, context: () => string = () => ''): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${context()}`);
    await sleep(300);
  }
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Every child process a test spawned (CLI runs, workers, codec servers) until it exits. A test
 * that fails or times out may never reach its own `kill()`: `setup-timeout.ts` kills what is
 * left after each test file (`killChildren`). A timed-out test's body keeps running and may
 * spawn more after that, so each child's pid is also recorded under `runChildrenDir()`, and
 * the exit (and SIGINT/SIGTERM) handler that `global-setup.ts` installs in jest's own process
 * kills whatever is recorded there. (A test file's `process` is a copy inside jest's sandbox:
 * its 'exit' event never fires, so the handler cannot live here.) Services that `stack up`
 * starts are detached, not children of the CLI process: none of this touches them.
 */
const children = new Map<ChildProcess, string>();

const alive = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;

/** This jest run's record of live children: one file per pid (global-setup.ts names the run). */
export function runChildrenDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(ROOT, 'test-output', 'children', env.CUTOVER_TEST_RUN || `pid-${process.pid}`);
}

/**
 * SIGKILLs every recorded child of this run that is still a `cutover` process, or still runs the
 * binary a record names (a server a test started detached: `recordService`); never a reused pid.
 * Returns how many.
 */
export function killRecordedChildren(dir = runChildrenDir()): number {
  if (!existsSync(dir)) return 0;
  let killed = 0;
  for (const name of readdirSync(dir)) {
    const pid = Number(name.replace(/^service-/, ''));
    try {
      const marker = name.startsWith('service-') ? readFileSync(join(dir, name), 'utf8').trim() : 'cutover.js';
      const cmdline = existsSync('/proc') ? readFileSync(`/proc/${pid}/cmdline`, 'utf8') : marker;
      if (pid > 0 && marker && cmdline.includes(marker)) {
        process.kill(pid, 'SIGKILL');
        killed++;
      }
    } catch {
      // already gone
    }
  }
  rmSync(dir, { recursive: true, force: true });
  return killed;
}

/**
 * Records a detached server a test started (through `stackUp` with a state directory of its own)
 * with the binary its command line holds, so that if jest is stopped before the test's `afterAll`
 * (SIGINT, SIGTERM from CI), the exit handler kills it too. The record stays until the run ends.
 */
export function recordService(pid: number, binary: string): void {
  const dir = runChildrenDir();
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `service-${pid}`), `${binary}\n`);
}

/** Drops the record once the test has stopped the server itself. */
export function forgetService(pid: number): void {
  rmSync(join(runChildrenDir(), `service-${pid}`), { force: true });
}

function track(child: ChildProcess, what: string): ChildProcess {
  children.set(child, what);
  const dir = runChildrenDir();
  const record = child.pid ? join(dir, String(child.pid)) : undefined;
  if (record) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(record, `${what}\n`);
  }
  child.once('exit', () => {
    children.delete(child);
    if (record) rmSync(record, { force: true });
  });
  return child;
}

/** Stops `child`: `signal`, then SIGKILL if it has not exited after `graceMs`. */
async function stop(child: ChildProcess, signal: NodeJS.Signals, graceMs: number): Promise<void> {
  if (!alive(child)) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), graceMs)));
  if (await Promise.race([exited.then(() => false), late])) {
    child.kill('SIGKILL');
    await exited;
  }
  clearTimeout(timer);
}

/** Kills every child process still running (SIGTERM, then SIGKILL after `graceMs`); returns what it killed. */
export async function killChildren(graceMs = 5_000): Promise<string[]> {
  const left = [...children].filter(([child]) => alive(child));
  await Promise.all(left.map(([child]) => stop(child, 'SIGTERM', graceMs)));
  return left.map(([child, what]) => `${what} (pid ${child.pid})`);
}

function spawnCutover(args: string[], env: NodeJS.ProcessEnv, what: string): ChildProcess & { stdout: NodeJS.ReadableStream; stderr: NodeJS.ReadableStream } {
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'cutover.js'), ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  track(child, what);
  return child;
}

/** Runs the real CLI as a user would, in a child process; SIGKILLed after `timeoutMs`. */
export function cli(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 120_000, live?: { stdout: string }): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawnCutover(args, env, `cutover ${args.join(' ')}`);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
      // What it printed so far, for a test that acts on a line while the command still runs.
      if (live) live.stdout = stdout;
    });
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

export interface WorkerProcess {
  output(): string;
  /** `signal` (SIGTERM by default), then SIGKILL if the process has not exited after `graceMs` (30 s by default). */
  kill(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

export interface CliProcess {
  output(): string;
  /** What the `ready` pattern matched in the output. */
  ready: RegExpExecArray;
  /** `signal` (SIGTERM by default), then SIGKILL if the process has not exited after `graceMs` (30 s by default). */
  kill(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

/** Runs a long-lived `cutover` command (a worker, a codec server) and waits until its output matches `ready`. */
export async function spawnCli(args: string[], env: NodeJS.ProcessEnv, ready: RegExp, what: string): Promise<CliProcess> {
  const child = spawnCutover(args, env, what);
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const deadline = Date.now() + 60_000;
  let matched: RegExpExecArray | null;
  while (!(matched = ready.exec(output))) {
    if (!alive(child) || Date.now() > deadline) {
      await stop(child, 'SIGKILL', 0);
      throw new Error(`${what} did not start:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    output: () => output,
    ready: matched,
    kill: (signal = 'SIGTERM', graceMs = 30_000) => stop(child, signal, graceMs),
  };
}

/** Runs `cutover worker` as its own process on the test's task queue and databases. */
export function spawnWorker(env: Isolated, extraEnv: NodeJS.ProcessEnv = {}): Promise<WorkerProcess> {
  return spawnCli(['worker'], { ...cliEnv(env), CUTOVER_LOG_LEVEL: 'INFO', ...extraEnv }, /worker polling task queue/, 'worker');
}

/** The example plan under another name (each test its own migration id), with settings changed. */
export function planFor(name: string, settings: Partial<Plan['settings']> = {}): Plan {
  const plan = loadPlanFile(join(ROOT, 'examples', 'lms-users.plan.yaml'));
  return { ...plan, name, settings: { ...plan.settings, ...settings } };
}

/** The whole-LMS example plan under another name, its files in buckets of the test's own (`<name>-src`, `<name>-dst`). */
export function lmsPlan(name: string, change: (p: Plan) => Plan = (p) => p): Plan {
  const plan = loadPlanFile(join(ROOT, 'examples', 'lms.plan.yaml'));
  const entities = plan.entities.map((e) => ({ ...e, columns: e.columns.map((c) => (c.file ? { ...c, file: { sourceBucket: `${name}-src`, targetBucket: `${name}-dst` } } : c)) }));
  return change({ ...plan, name, entities });
}

/** Courses and their packages (files) alone, from the LMS plan: the smallest plan that copies files. */
export function coursePackagesPlan(name: string): Plan {
  return lmsPlan(name, (p) => ({
    ...p,
    entities: p.entities.filter((e) => e.name === 'courses' || e.name === 'course_packages'),
    phases: [{ name: 'learning', entities: ['courses', 'course_packages'] }],
  }));
}

/** The test's source database through its owner (to seed it; migrations use the read-only role). */
export function ownerUrl(env: Isolated): string {
  const url = new URL(env.adminUrl);
  url.pathname = `/${env.names.source}`;
  return url.toString();
}

/** The ledger records (one per loaded batch and table) a migration still has in the target, oldest first; all migrations' without an id. */
export interface LedgerRecordRow {
  seq: string;
  target_table: string;
  run_id: string;
  batch_id: string;
  inserted_count: number;
  updated_count: number;
  inserted: Buffer | null;
  pre_images: Buffer | null;
}
export async function ledgerRecords(url: string, migrationId?: string): Promise<LedgerRecordRow[]> {
  return sql<LedgerRecordRow>(url, `select * from cutover.ledger_batches ${migrationId ? 'where migration_id = $1' : ''} order by seq`, migrationId ? [migrationId] : []).catch((err: Error) => {
    if (/does not exist/.test(err.message)) return [] as LedgerRecordRow[];
    throw err;
  });
}

export async function sql<T>(url: string, text: string, params: unknown[] = []): Promise<T[]> {
  const c = new PgClient({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(text, params)).rows as T[];
  } finally {
    await c.end();
  }
}

/** Deletes what a migration staged. */
export async function removeStaged(env: Isolated, migrationId: string): Promise<void> {
  const s3 = createS3Client(env.config.s3);
  try {
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: env.config.s3.bucket, Prefix: `migrations/${migrationId}/` }));
    if (listed.Contents?.length) await s3.send(new DeleteObjectsCommand({ Bucket: env.config.s3.bucket, Delete: { Objects: listed.Contents.map((o) => ({ Key: o.Key! })) } }));
  } finally {
    s3.destroy();
  }
}

/** A running migration's progress report; undefined when it cannot be asked (no worker answers, or it has ended). */
export async function progressOf(env: Isolated, workflowId: string): Promise<MigrationReport | undefined> {
  const { client, connection } = await connectClient(env.config);
  try {
    return await client.workflow.getHandle(workflowId).query(progressQuery);
  } catch {
    return undefined;
  } finally {
    await connection.close();
  }
}

/** The report a migration ended with: its result, or the report its rollback's failure carries. */
export async function endedReport(env: Isolated, workflowId: string): Promise<MigrationReport> {
  const { client, connection } = await connectClient(env.config);
  try {
    return await client.workflow.getHandle(workflowId).result();
  } catch (err) {
    if (!(err instanceof WorkflowFailedError)) throw err;
    for (let e: unknown = err; e && typeof e === 'object'; e = (e as { cause?: unknown }).cause) {
      const details = (e as { details?: unknown[] }).details;
      if (details?.length) return details[0] as MigrationReport;
    }
    throw err;
  } finally {
    await connection.close();
  }
}

/** A worker's stores built in-process from a config (as worker.ts builds them), with their clients; `close` ends every one. */
export type TestStores = Stores & { deps: StoreClients; close(): Promise<void> };

export function testStores(config: CutoverConfig): TestStores {
  const control = createDb(config.databases.controlUrl!);
  const kms = createKmsClient(config.kms);
  const s3 = createS3Client(config.s3);
  const deps: StoreClients = { config, control, kms, s3, keys: createKeyRing(config, control, kms) };
  const stores = createStores(deps);
  return {
    ...stores,
    deps,
    async close() {
      await stores.close();
      await control.destroy();
      kms.destroy();
      s3.destroy();
    },
  };
}
