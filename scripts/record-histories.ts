/**
 * Records the histories of real migrations as replay fixtures (test/fixtures/histories/<commit>/), which
 * test/unit/replay.test.ts replays against the workflow code of the checkout under test. Each
 * scenario runs a small migration on the local stack's PostgreSQL, MinIO and KMS, with
 * databases of its own, on a Temporal dev server this script starts for itself (in memory, on
 * free ports, so the shared stack's server is never restarted or reconfigured): the
 * continue-as-new scenario needs a server that suggests continue-as-new after 40 events.
 *
 * Record from the code whose histories you want to keep (the code deployed workers run):
 *
 *   git worktree add ../base-<commit> <commit> && ln -s "$PWD/node_modules" ../base-<commit>/
 *   cp scripts/record-histories.ts ../base-<commit>/scripts/
 *   (cd ../base-<commit> && npx tsx scripts/record-histories.ts --out "$OLDPWD/test/fixtures/histories/<commit>")
 *
 * Keep one directory per workflow version that may still have migrations running; remove a
 * version's directory once none started on it is left.
 *
 * Each execution is one file, `<scenario>/<nn>-<migration|entity[.part-N]>.json.gz`: the
 * history JSON (historyToJSON's format, one event per line) with its workflow id and run id.
 * Options: `--out DIR` (default test/fixtures/histories/<this checkout's commit>), `--only a,b` (some
 * scenarios). Payloads are decrypted with the run's codec key before they are written (as the
 * codec server does for the Web UI), so the fixtures replay without a key; the script then
 * checks that no seeded personal value (name, login, email, phone) appears in any payload.
 * Takes about two minutes on 2 cores.
 */
import { spawn, ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { DeleteObjectsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { Client, WorkflowFailedError } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import type { Payload } from '@temporalio/common';
import { Client as PgClient } from 'pg';
import { seedLms } from '../demo/lms/seed';
import { createKmsClient, createS3Client } from '../src/clients/aws';
import { createDb } from '../src/clients/postgres';
import { connectClient } from '../src/clients/temporal';
import { EncryptionCodec } from '../src/codec/payload-codec';
import { CutoverConfig, loadConfig, readLocalStack } from '../src/config';
import { createKeyRing } from '../src/crypto/key-ring-factory';
import { decideGate, pauseMigration, requestCutover, requestRollback, resumeMigration, startMigration, tuneMigration, workflowIdOf } from '../src/migration-client';
import { migrationId as idOf } from '../src/plan/hash';
import { loadPlanFile } from '../src/plan/load';
import type { Plan } from '../src/plan/types';
import type { MigrationReport } from '../src/shared/migration';
import { rollbackMigration } from '../src/rollback-client';
import { progressQuery } from '../src/shared/queries';
import { findBinary } from '../src/stack/binaries';
import { databaseNames, postgresUrl } from '../src/stack/endpoints';
import { dropDatabases, provisionDatabases } from '../src/stack/postgres-provision';
import { BINARIES, SEARCH_ATTRIBUTES } from '../src/stack/services';
import { startWorker } from '../src/worker';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
process.env.CUTOVER_LOG_LEVEL ??= 'WARN';
// The plans name CUTOVER_SOURCE_URL / CUTOVER_TARGET_URL: the worker must use the scenario's databases.
for (const name of ['CUTOVER_SOURCE_URL', 'CUTOVER_TARGET_URL', 'CUTOVER_CONTROL_URL', 'TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE']) delete process.env[name];

const ROOT = join(__dirname, '..');
const STARTER = 'fixture-starter';
const APPROVER = 'fixture-approver';
/** Temporal suggests continue-as-new after this many events on the continue-as-new server. */
const CAN_THRESHOLD = 40;

/** One recorded execution (a run of a migration or of an entity run / partition). */
export interface HistoryFixture {
  scenario: string;
  workflowId: string;
  runId: string;
  workflowType: string;
  /** Which commit's workflow code produced it. */
  recordedFrom: string;
  history: { events: unknown[] };
}

interface Scenario {
  name: string;
  what: string;
  /** Needs the server that suggests continue-as-new early. */
  continueAsNew?: boolean;
  seed: { users: number; full?: boolean; badRatio?: number };
  /** On the stack's PostgreSQL with wal_level=logical (the source's reader role gets REPLICATION). */
  logical?: boolean;
  /** Run on the seeded source through its owner, before the migration starts (a change column, say). */
  prepareSource?: (sourceOwnerUrl: string) => Promise<void>;
  plan: () => Plan;
  /** Drives the migration to its end; returns how it ended. */
  drive: (ctx: DriveContext) => Promise<string>;
}

interface DriveContext {
  config: CutoverConfig;
  client: Client;
  plan: Plan;
  workflowId: string;
  taskQueue: string;
  sourceOwnerUrl: string;
  /** Other workflows the scenario started (a rollback after completion), recorded after the migration's. */
  alsoRecord: { workflowId: string }[];
}

/** One statement on the scenario's source through its owner (the legacy application writing). */
async function onSource(url: string, text: string): Promise<void> {
  const db = new PgClient({ connectionString: url });
  await db.connect();
  try {
    await db.query(text);
  } finally {
    await db.end();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

const progress = (ctx: DriveContext) => ctx.client.workflow.getHandle(ctx.workflowId).query(progressQuery);
const atGate = (ctx: DriveContext) => waitFor('the gate', async () => (await progress(ctx)).status === 'awaiting-approval');
const result = (ctx: DriveContext) => ctx.client.workflow.getHandle(ctx.workflowId).result() as Promise<MigrationReport>;
/** A migration that ends rolled back fails with RolledBack: that is the expected end here. */
async function rolledBack(ctx: DriveContext): Promise<string> {
  try {
    await result(ctx);
  } catch (err) {
    if (err instanceof WorkflowFailedError) return `failed as expected: ${(err.cause as Error)?.message?.slice(0, 120)}`;
    throw err;
  }
  throw new Error('the migration completed; a rollback was expected');
}
async function completed(ctx: DriveContext): Promise<string> {
  const report = await result(ctx);
  if (report.status !== 'completed' || !report.clean) throw new Error(`expected a clean completion, got ${report.status}`);
  return `completed: ${report.entities.map((e) => `${e.entity} ${e.batchesDone} batches`).join(', ')}`;
}

/** The users plan with settings changed. */
function usersPlan(name: string, settings: Partial<Plan['settings']>, gate = false): Plan {
  const plan = loadPlanFile(join(ROOT, 'examples', 'lms-users.plan.yaml'));
  return { ...plan, name, settings: { ...plan.settings, ...settings }, phases: plan.phases.map((p) => ({ ...p, ...(gate ? { gate: { distinctApprover: true } } : {}) })) };
}

/** Org units, people, courses and enrollments in two phases (no files), small batches. */
function twoPhasePlan(name: string, batchSize: number, gate: boolean): Plan {
  const base = loadPlanFile(join(ROOT, 'examples', 'lms.plan.yaml'));
  const keep = ['org_units', 'users', 'courses', 'enrollments'];
  return {
    ...base,
    name,
    settings: { ...base.settings, batchSize, parallelism: 2 },
    entities: base.entities.filter((e) => keep.includes(e.name)).map(({ batchSize: _own, ...e }) => e),
    phases: [
      { name: 'people', entities: ['org_units', 'users'], ...(gate ? { gate: { distinctApprover: true } } : {}) },
      { name: 'learning', entities: ['courses', 'enrollments'] },
    ],
  };
}

const SCENARIOS: Scenario[] = [
  {
    name: 'gate-approved',
    what: 'two phases, parents before children, a gate needing a second person, approved',
    seed: { users: 150, full: true },
    plan: () => twoPhasePlan('fixture-gate', 300, true),
    async drive(ctx) {
      await atGate(ctx);
      await decideGate(ctx.config, ctx.workflowId, 'people', APPROVER);
      return completed(ctx);
    },
  },
  {
    name: 'partitions',
    what: 'an entity of 40 batches with parallelism 2: two partition child workflows',
    seed: { users: 1000 },
    plan: () => usersPlan('fixture-partitions', { batchSize: 25, parallelism: 2 }),
    drive: completed,
  },
  {
    name: 'continue-as-new',
    what: 'the migration continues as new between phases, the enrollments run continues as new between batches',
    continueAsNew: true,
    seed: { users: 150, full: true },
    plan: () => twoPhasePlan('fixture-can', 100, false),
    drive: completed,
  },
  {
    name: 'pause-resume-tune',
    what: 'throttled; paused, resumed, then tuned (no throttle, a new batch size: the rest is planned again)',
    seed: { users: 300 },
    plan: () => usersPlan('fixture-controls', { batchSize: 30, parallelism: 1, throttleRowsPerSecond: 100 }),
    async drive(ctx) {
      await waitFor('two batches', async () => ((await progress(ctx)).entities[0]?.batchesDone ?? 0) >= 2);
      await pauseMigration(ctx.config, ctx.workflowId, STARTER, 'fixture: pause');
      await sleep(2000);
      await resumeMigration(ctx.config, ctx.workflowId, STARTER, 'fixture: resume');
      await tuneMigration(ctx.config, ctx.workflowId, { by: STARTER, throttleRowsPerSecond: 0, batchSize: 100 });
      return completed(ctx);
    },
  },
  {
    name: 'rollback-at-gate',
    what: 'the operator asks for a rollback while the migration waits at its gate',
    seed: { users: 200 },
    plan: () => usersPlan('fixture-rollback', { batchSize: 100, parallelism: 2 }, true),
    async drive(ctx) {
      await atGate(ctx);
      await requestRollback(ctx.config, ctx.workflowId, STARTER, 'fixture: rolled back at the gate');
      return rolledBack(ctx);
    },
  },
  {
    name: 'rollback-mid-load',
    what: 'the operator asks for a rollback while users load in their entity run, a child workflow (before the rollback-decided-by-request patch, the runs\' cancellation failed the migration with nothing undone)',
    seed: { users: 600 },
    plan: () => twoPhasePlan('fixture-rollback-mid-load', 20, false),
    async drive(ctx) {
      await waitFor('loads in flight', async () => (await progress(ctx)).entities.some((e) => e.entity === 'users' && e.batchesDone >= 2 && e.batchesDone < e.batches), 180_000);
      await requestRollback(ctx.config, ctx.workflowId, STARTER, 'fixture: rolled back while rows load');
      try {
        const report = await result(ctx);
        return `completed?! ${report.status}`;
      } catch (err) {
        if (err instanceof WorkflowFailedError) return `ended: ${(err.cause as Error)?.message?.slice(0, 160)}`;
        throw err;
      }
    },
  },
  {
    name: 'rollback-after-completion',
    what: 'a completed migration rolled back through its own rollback workflow (the patch after-end-undo-order: purge the vault, then delete staged objects)',
    seed: { users: 200 },
    plan: () => usersPlan('fixture-after-completion', { batchSize: 100, parallelism: 2 }),
    async drive(ctx) {
      await completed(ctx);
      const outcome = await rollbackMigration(ctx.config, ctx.workflowId, STARTER, 'fixture: rolled back after completion', { wait: true });
      if (outcome.kind !== 'after-completion') throw new Error(`expected a rollback after completion, got ${outcome.kind}`);
      ctx.alsoRecord.push({ workflowId: outcome.workflowId });
      return `rolled back after completion: ${outcome.execution}, ${outcome.report?.status}`;
    },
  },
  {
    name: 'sync-poll',
    what: 'delta sync by polling after the full load (rounds continue as new), a change, a delete, a conflict (quarantined), then the cutover',
    continueAsNew: true,
    seed: { users: 120 },
    prepareSource: (url) => onSource(url, 'alter table legacy_users add column changed_at timestamptz'),
    plan: () => ({
      ...usersPlan('fixture-sync', { batchSize: 50, parallelism: 1 }),
      entities: usersPlan('fixture-sync', {}).entities.map((e) => ({ ...e, source: { ...e.source, change: { column: 'changed_at', unit: 's' as const } } })),
      sync: { mode: 'poll', intervalSeconds: 1, quietSeconds: 2, conflict: 'quarantine', maxDeleteRatio: 0.5, overlapSeconds: 2, slot: 'cutover', publication: 'cutover', maxRetainedWalMb: 1024 },
    }),
    async drive(ctx) {
      await waitFor('the sync', async () => (await progress(ctx)).status === 'syncing', 180_000);
      await onSource(ctx.sourceOwnerUrl, `update legacy_users set full_name = 'Fixture Change', changed_at = now() where user_id = 5`);
      await onSource(ctx.sourceOwnerUrl, 'delete from legacy_users where user_id = 6');
      await waitFor('the round with the delete', async () => ((await progress(ctx)).sync?.applied.deleted ?? 0) >= 1, 120_000);
      // A conflict: the new system edits a row the legacy system then changes too.
      await onSource(ctx.config.databases.targetUrl!, `update people set given_name = 'PilotEdit' where legacy_user_id = 7`);
      await onSource(ctx.sourceOwnerUrl, `update legacy_users set full_name = 'Conflicting Change', changed_at = now() where user_id = 7`);
      await waitFor('the conflict', async () => ((await progress(ctx)).sync?.conflicts.detected ?? 0) >= 1, 120_000);
      // Long enough for the rounds to continue as new on this server.
      await sleep(8000);
      await requestCutover(ctx.config, ctx.workflowId, STARTER, 'fixture: cut over');
      const report = await result(ctx);
      if (report.status !== 'completed' || !report.cutover?.verified?.clean) throw new Error(`expected a clean cutover, got ${report.status}`);
      return `cut over after ${report.sync!.rounds} rounds, window ${report.cutover.windowSeconds} s`;
    },
  },
  {
    name: 'sync-logical',
    what: 'delta sync by logical decoding after the full load, the slot followed beside the rounds: a change, a delete, then the cutover (slot dropped)',
    logical: true,
    seed: { users: 80 },
    prepareSource: (url) => onSource(url, `create publication fixture_pub for table legacy_users`),
    plan: () => ({
      ...usersPlan('fixture-sync-logical', { batchSize: 50, parallelism: 1 }),
      sync: { mode: 'logical', intervalSeconds: 1, quietSeconds: 2, conflict: 'source_wins', maxDeleteRatio: 0.5, overlapSeconds: 2, slot: `fixture_${randomBytes(3).toString('hex')}`, publication: 'fixture_pub', maxRetainedWalMb: 1024 },
    }),
    async drive(ctx) {
      await waitFor('the sync', async () => (await progress(ctx)).status === 'syncing', 180_000);
      await onSource(ctx.sourceOwnerUrl, `update legacy_users set full_name = 'Fixture Change' where user_id = 5`);
      await onSource(ctx.sourceOwnerUrl, 'delete from legacy_users where user_id = 6');
      await waitFor('the round with the delete', async () => ((await progress(ctx)).sync?.applied.deleted ?? 0) >= 1, 120_000);
      await requestCutover(ctx.config, ctx.workflowId, STARTER, 'fixture: cut over');
      const report = await result(ctx);
      if (report.status !== 'completed' || !report.cutover?.verified?.clean) throw new Error(`expected a clean cutover, got ${report.status}`);
      return `cut over after ${report.sync!.rounds} rounds, window ${report.cutover.windowSeconds} s`;
    },
  },
  {
    name: 'abort-threshold',
    what: 'too many rows quarantined: the entity run fails, the migration rolls back on its own',
    seed: { users: 200, badRatio: 0.1 },
    plan: () => usersPlan('fixture-abort', { batchSize: 100, parallelism: 1 }),
    drive: rolledBack,
  },
];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** A Temporal dev server of our own (in memory), with the project's search attributes. */
async function startTemporal(dynamicConfig: string[]): Promise<{ address: string; stop(): Promise<void> }> {
  const binary = findBinary(BINARIES.temporal, process.env);
  if (!binary) throw new Error('no temporal binary: run `npx cutover stack up` first (it builds or finds one)');
  const port = await freePort();
  const uiPort = await freePort();
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--ui-port', String(uiPort), '--headless', '--namespace', 'default', '--log-level', 'error'];
  for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) args.push('--search-attribute', `${name}=${type}`);
  for (const value of dynamicConfig) args.push('--dynamic-config-value', value);
  const child: ChildProcess = spawn(binary.path, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const address = `127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
  };
  try {
    await waitFor(`Temporal on ${address}`, async () => {
      if (child.exitCode !== null) throw new Error(`temporal exited: ${stderr}`);
      return new Promise<boolean>((resolve) => {
        const probe = createServer();
        probe.once('error', () => resolve(true)); // taken: the server listens
        probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(false)));
      });
    }, 60_000);
    // The namespace and search attributes are registered a moment after the port opens.
    await sleep(1500);
  } catch (err) {
    await stop();
    throw err;
  }
  return { address, stop };
}

/** Every encrypted payload in a JSON history, decrypted in place (metadata and data stay base64). */
async function decodePayloads(node: unknown, codec: EncryptionCodec): Promise<void> {
  if (Array.isArray(node)) {
    for (const item of node) await decodePayloads(item, codec);
    return;
  }
  if (!node || typeof node !== 'object') return;
  const obj = node as Record<string, unknown>;
  const metadata = obj.metadata as Record<string, string> | undefined;
  if (metadata && typeof metadata === 'object' && typeof metadata.encoding === 'string' && Buffer.from(metadata.encoding, 'base64').toString() === 'binary/encrypted') {
    const encoded: Payload = { metadata: Object.fromEntries(Object.entries(metadata).map(([k, v]) => [k, Buffer.from(v, 'base64')])), data: Buffer.from((obj.data as string) ?? '', 'base64') };
    const [plain] = await codec.decode([encoded]);
    obj.metadata = Object.fromEntries(Object.entries(plain!.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v!).toString('base64')]));
    obj.data = Buffer.from(plain!.data ?? new Uint8Array()).toString('base64');
    return;
  }
  for (const value of Object.values(obj)) await decodePayloads(value, codec);
}

/** Every payload's data, decoded from base64: what the personal-data check searches. */
export function payloadTexts(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) node.forEach((n) => payloadTexts(n, out));
  else if (node && typeof node === 'object') {
    const obj = node as Record<string, unknown>;
    if (obj.metadata && typeof obj.metadata === 'object' && typeof obj.data === 'string') out.push(Buffer.from(obj.data, 'base64').toString('utf8'));
    for (const value of Object.values(obj)) payloadTexts(value, out);
  }
  return out;
}

/**
 * The migration's executions and all their descendants, found through the histories
 * themselves: child workflows started, and the run each continue-as-new leads to.
 */
async function collect(client: Client, workflowId: string, runId: string, codec: EncryptionCodec, scenario: string, recordedFrom: string, out: HistoryFixture[]): Promise<void> {
  const handle = client.workflow.getHandle(workflowId, runId);
  const history = await handle.fetchHistory();
  const json = JSON.parse(historyToJSON(history)) as { events: Record<string, Record<string, unknown>>[] };
  const started = json.events[0]!.workflowExecutionStartedEventAttributes as { workflowType: { name: string } };
  const children: { workflowId: string; runId: string }[] = [];
  let next: string | undefined;
  for (const e of json.events) {
    const child = e.childWorkflowExecutionStartedEventAttributes as { workflowExecution: { workflowId: string; runId: string } } | undefined;
    if (child) children.push(child.workflowExecution);
    const can = e.workflowExecutionContinuedAsNewEventAttributes as { newExecutionRunId: string } | undefined;
    if (can) next = can.newExecutionRunId;
  }
  await decodePayloads(json, codec);
  out.push({ scenario, workflowId, runId, workflowType: started.workflowType.name, recordedFrom, history: json });
  for (const c of children) await collect(client, c.workflowId, c.runId, codec, scenario, recordedFrom, out);
  if (next) await collect(client, workflowId, next, codec, scenario, recordedFrom, out);
}

/** One event per line: compact, and a diff shows which events changed. */
function fixtureText(f: HistoryFixture): string {
  const { history, ...head } = f;
  const events = history.events.map((e) => JSON.stringify(e)).join(',\n');
  return `${JSON.stringify(head).slice(0, -1)},"history":{"events":[\n${events}\n]}}\n`;
}

function fileName(f: HistoryFixture, index: number): string {
  // cutover-fixture-gate-<hash>/users/part-0 → users.part-0; the migration itself → migration
  const [, ...rest] = f.workflowId.split('/');
  return `${f.scenario}/${String(index).padStart(2, '0')}-${rest.length ? rest.join('.') : 'migration'}.json.gz`;
}

async function runScenario(s: Scenario, temporalAddress: string, outDir: string, recordedFrom: string): Promise<{ files: number; bytes: number; outcome: string }> {
  const local = readLocalStack();
  if (!local) throw new Error('the local stack is not up: run `npx cutover stack up`');
  const suffix = randomBytes(3).toString('hex');
  const names = databaseNames(`rec_${s.name.replace(/-/g, '_')}_${suffix}`);
  const readerPassword = randomBytes(12).toString('hex');
  const appPassword = randomBytes(12).toString('hex');
  const adminUrl = s.logical ? local.logicalPostgres?.adminUrl : local.postgres.adminUrl;
  if (!adminUrl) throw new Error(`${s.name}: the local stack has no logical PostgreSQL: run \`npx cutover stack up\``);
  await provisionDatabases({ adminUrl, names, readerPassword, appPassword });
  const base = loadConfig({ ...process.env }, local);
  const config: CutoverConfig = {
    ...base,
    temporal: { ...base.temporal, connection: { ...base.temporal.connection, address: temporalAddress }, taskQueue: `record-${s.name}-${suffix}` },
    databases: {
      sourceUrl: postgresUrl(adminUrl, names.reader, readerPassword, names.source),
      targetUrl: postgresUrl(adminUrl, names.app, appPassword, names.target),
      controlUrl: postgresUrl(adminUrl, names.app, appPassword, names.control),
    },
  };
  const owner = new URL(adminUrl);
  owner.pathname = `/${names.source}`;
  const plan = s.plan();
  const migrationId = idOf(plan);
  const workflowId = workflowIdOf(migrationId);
  let worker: Awaited<ReturnType<typeof startWorker>> | undefined;
  let connection: Awaited<ReturnType<typeof connectClient>>['connection'] | undefined;
  try {
    await seedLms({ sourceUrl: owner.toString(), targetUrl: config.databases.targetUrl, users: s.seed.users, full: s.seed.full, badRatio: s.seed.badRatio, seed: 7 });
    await s.prepareSource?.(owner.toString());
    if (s.logical) await onSource(adminUrl, `alter role ${names.reader} replication`);
    worker = await startWorker(config, { taskQueue: config.temporal.taskQueue });
    const connected = await connectClient(config);
    connection = connected.connection;
    const started = await startMigration(config, plan, { taskQueue: config.temporal.taskQueue, startedBy: STARTER });
    const alsoRecord: { workflowId: string }[] = [];
    const outcome = await s.drive({ config, client: connected.client, plan, workflowId, taskQueue: config.temporal.taskQueue, sourceOwnerUrl: owner.toString(), alsoRecord });

    // The codec key of this scenario's control database decrypts its payloads.
    const control = createDb(config.databases.controlUrl!, { max: 1, applicationName: 'cutover-record' });
    const kms = createKmsClient(config.kms);
    const fixtures: HistoryFixture[] = [];
    try {
      const codec = new EncryptionCodec(await createKeyRing(config, control, kms).get('codec'));
      await collect(connected.client, workflowId, started.runId, codec, s.name, recordedFrom, fixtures);
      for (const other of alsoRecord) {
        const d = await connected.client.workflow.getHandle(other.workflowId).describe();
        await collect(connected.client, other.workflowId, d.raw.workflowExecutionInfo?.execution?.runId ?? d.runId, codec, s.name, recordedFrom, fixtures);
      }
    } finally {
      kms.destroy();
      await control.destroy();
    }
    if (s.continueAsNew && !fixtures.some((f) => f.history.events.some((e) => (e as Record<string, unknown>).workflowExecutionContinuedAsNewEventAttributes))) {
      throw new Error(`${s.name}: no execution continued as new`);
    }
    await checkNoPersonalData(owner.toString(), fixtures);

    const dir = join(outDir, s.name);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    let bytes = 0;
    fixtures.forEach((f, i) => {
      // Gzipped: a 40-batch entity alone is half a megabyte of JSON (`zcat` reads them).
      const gz = gzipSync(fixtureText(f), { level: 9 });
      bytes += gz.length;
      writeFileSync(join(outDir, fileName(f, i)), gz);
    });
    return { files: fixtures.length, bytes, outcome };
  } finally {
    await connection?.close();
    await worker?.shutdown();
    await removeStaged(config, migrationId);
    await dropDatabases(adminUrl, names);
  }
}

/** Fails when any seeded personal value (name, login, email, phone) appears in a payload. */
async function checkNoPersonalData(sourceOwnerUrl: string, fixtures: HistoryFixture[]): Promise<void> {
  const db = new PgClient({ connectionString: sourceOwnerUrl });
  await db.connect();
  let rows: { login: string; full_name: string; email: string | null; phone: string | null }[];
  try {
    rows = (await db.query('select login, full_name, email, phone from legacy_users')).rows;
  } finally {
    await db.end();
  }
  const haystack = fixtures.flatMap((f) => payloadTexts(f.history)).join('\n').toLowerCase();
  const values = new Set(rows.flatMap((r) => [r.login, r.full_name, r.email, r.phone]).filter((v): v is string => Boolean(v)).map((v) => v.toLowerCase()));
  const found = [...values].filter((v) => haystack.includes(v));
  if (found.length) throw new Error(`${found.length} personal values from the seeded source appear in the recorded payloads (not printed)`);
}

async function removeStaged(config: CutoverConfig, migrationId: string): Promise<void> {
  const s3 = createS3Client(config.s3);
  try {
    for (;;) {
      const listed = await s3.send(new ListObjectsV2Command({ Bucket: config.s3.bucket, Prefix: `migrations/${migrationId}/` }));
      if (!listed.Contents?.length) return;
      await s3.send(new DeleteObjectsCommand({ Bucket: config.s3.bucket, Delete: { Objects: listed.Contents.map((o) => ({ Key: o.Key! })) } }));
    }
  } finally {
    s3.destroy();
  }
}

/** The commit recorded from (`-dirty` when tracked files differ from it). */
function gitHead(): string {
  try {
    return require('node:child_process').execFileSync('git', ['describe', '--always', '--dirty', '--abbrev=7'], { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const opt = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const recordedFrom = gitHead();
  const outDir = opt('--out') ?? join(ROOT, 'test', 'fixtures', 'histories', recordedFrom);
  const only = opt('--only')?.split(',');
  const chosen = SCENARIOS.filter((s) => !only || only.includes(s.name));
  if (only && chosen.length !== only.length) throw new Error(`unknown scenario in --only; known: ${SCENARIOS.map((s) => s.name).join(', ')}`);
  mkdirSync(outDir, { recursive: true });
  const servers = new Map<boolean, Awaited<ReturnType<typeof startTemporal>>>();
  const t0 = Date.now();
  try {
    for (const s of chosen) {
      const can = Boolean(s.continueAsNew);
      if (!servers.has(can)) servers.set(can, await startTemporal(can ? [`limit.historyCount.suggestContinueAsNew=${CAN_THRESHOLD}`] : []));
      const t = Date.now();
      const r = await runScenario(s, servers.get(can)!.address, outDir, recordedFrom);
      console.log(`${s.name}: ${r.outcome}; ${r.files} histories, ${(r.bytes / 1024).toFixed(0)} KB gzipped, ${((Date.now() - t) / 1000).toFixed(1)} s`);
    }
  } finally {
    for (const server of servers.values()) await server.stop();
  }
  const total = readdirSync(outDir, { recursive: true }).length;
  console.log(`recorded from ${recordedFrom} into ${outDir} (${total} entries) in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
