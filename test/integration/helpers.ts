import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { DeleteObjectsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { Client as PgClient } from 'pg';
import { createS3Client } from '../../src/clients/aws';
import { CutoverConfig, loadConfig, readLocalStack } from '../../src/config';
import { loadPlanFile } from '../../src/plan/load';
import type { Plan } from '../../src/plan/types';
import { databaseNames, DatabaseNames, postgresUrl } from '../../src/stack/endpoints';
import { dropDatabases, provisionDatabases } from '../../src/stack/postgres-provision';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

export const ROOT = join(__dirname, '..', '..');

export interface Isolated {
  config: CutoverConfig;
  names: DatabaseNames;
  taskQueue: string;
  adminUrl: string;
  cleanup(): Promise<void>;
}

/** The local stack's configuration, with databases and a task queue of this test's own. */
export async function isolated(label: string): Promise<Isolated> {
  const local = readLocalStack();
  if (!local) throw new Error('the local stack is not up: run `npx cutover stack up`');
  const suffix = randomBytes(4).toString('hex');
  const names = databaseNames(`it_${label}_${suffix}`);
  const readerPassword = randomBytes(12).toString('hex');
  const appPassword = randomBytes(12).toString('hex');
  const adminUrl = local.postgres.adminUrl;
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

/** Runs the real CLI as a user would, in a child process. */
export function cli(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 120_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'cutover.js'), ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
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
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export interface CliProcess {
  output(): string;
  /** What the `ready` pattern matched in the output. */
  ready: RegExpExecArray;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** Runs a long-lived `cutover` command (a worker, a codec server) and waits until its output matches `ready`. */
export async function spawnCli(args: string[], env: NodeJS.ProcessEnv, ready: RegExp, what: string): Promise<CliProcess> {
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'cutover.js'), ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const deadline = Date.now() + 60_000;
  let matched: RegExpExecArray | null;
  while (!(matched = ready.exec(output))) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`${what} did not start:\n${output}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    output: () => output,
    ready: matched,
    async kill(signal = 'SIGTERM') {
      if (child.exitCode === null) child.kill(signal);
      await exited;
    },
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

/** The test's source database through its owner (to seed it; migrations use the read-only role). */
export function ownerUrl(env: Isolated): string {
  const url = new URL(env.adminUrl);
  url.pathname = `/${env.names.source}`;
  return url.toString();
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
