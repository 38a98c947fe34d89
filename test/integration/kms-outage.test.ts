import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes, randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeKeyCommand } from '@aws-sdk/client-kms';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { MockActivityEnvironment } from '@temporalio/testing';
import { seedLms } from '../../demo/lms/seed';
import { createMigrationActivities } from '../../src/activities/migration';
import { fileContext, stagingKeys } from '../../src/core/staging-keys';
import { loadFile } from '../../src/stores/staged-files';
import { createKmsClient } from '../../src/clients/aws';
import { CutoverConfig, loadConfig, readLocalStack } from '../../src/config';
import { KmsUnavailableError } from '../../src/crypto/kms-errors';
import { migrationId as idOf, planHash } from '../../src/plan/hash';
import { loadPlanFile } from '../../src/plan/load';
import type { RangePage, StagedBatch } from '../../src/shared/migration';
import { findBinary } from '../../src/stack/binaries';
import { kmsSeedYaml } from '../../src/stack/kms-seed';
import { BINARIES, KMS_ALIASES } from '../../src/stack/services';
import { cli, cliEnv, CliResult, coursePackagesPlan, freePort, Isolated, isolated, ownerUrl, removeStaged, ROOT, sleep, spawnWorker, sql, waitFor, WorkerProcess, testStores, TestStores } from './helpers';

/**
 * Issue 20 §2: a KMS outage in the middle of a migration is retried, not taken for tampering.
 * Since issue 24 a migration seals under keys of its own, unwrapped once per worker: a running
 * worker makes no KMS call per object, so an outage no longer stalls it; what needs KMS (a
 * migration's first use of its key, a migration registered before migrations had keys of their
 * own, a CLI that unwraps the codec key) fails as a retryable outage, named. The stack's KMS is
 * shared, so the test runs a local-kms of its own (fresh keys under the project's aliases),
 * stops it, and starts it again on the same data.
 */
const USERS = 4_000;
const BATCH = 250;

/**
 * A local-kms of the test's own. It runs under a shell that also ends it when this jest process
 * is gone (killed before its afterAll), so no KMS outlives the test.
 */
class OwnKms {
  readonly endpoint: string;
  private child?: ChildProcess;
  private readonly dir = mkdtempSync(join(tmpdir(), 'cutover-kms-outage-'));

  constructor(
    readonly port: number,
    readonly region: string,
  ) {
    this.endpoint = `http://127.0.0.1:${port}`;
    const keys = Object.fromEntries(Object.values(KMS_ALIASES).map((alias) => [alias, { keyId: randomUUID(), backingKeyHex: randomBytes(32).toString('hex') }]));
    writeFileSync(join(this.dir, 'seed.yaml'), kmsSeedYaml(keys));
  }

  /** The test's configuration, with this KMS instead of the stack's. */
  config(base: CutoverConfig): CutoverConfig {
    return { ...base, kms: { ...base.kms, endpoint: this.endpoint, region: this.region, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } };
  }

  /** What a worker or CLI process needs to use it. */
  env(): NodeJS.ProcessEnv {
    return { CUTOVER_KMS_ENDPOINT: this.endpoint, AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local', AWS_REGION: this.region };
  }

  async start(): Promise<void> {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) return;
    const binary = findBinary(BINARIES.kms, process.env);
    if (!binary) throw new Error('no local-kms binary: run `npx cutover stack up` first (it builds one)');
    const watchdog = `"$KMS_BIN" & k=$!; trap 'kill $k 2>/dev/null; wait $k; exit 0' TERM INT; while kill -0 ${process.pid} 2>/dev/null && kill -0 $k 2>/dev/null; do sleep 1; done; kill $k 2>/dev/null; wait $k`;
    const child = spawn('/bin/sh', ['-c', watchdog], {
      env: { PATH: process.env.PATH, KMS_BIN: binary.path, PORT: String(this.port), KMS_REGION: this.region, KMS_ACCOUNT_ID: '111122223333', KMS_SEED_PATH: join(this.dir, 'seed.yaml'), KMS_DATA_PATH: join(this.dir, 'data') },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.child = child;
    let log = '';
    child.stderr!.on('data', (d) => (log = (log + d).slice(-2000)));
    const kms = createKmsClient({ endpoint: this.endpoint, region: this.region, credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, aliases: KMS_ALIASES });
    try {
      await waitFor(
        `local-kms on port ${this.port}`,
        () => kms.send(new DescribeKeyCommand({ KeyId: KMS_ALIASES.staging })).then(() => true, () => false),
        30_000,
        () => log,
      );
    } finally {
      kms.destroy();
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const late = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(late);
  }

  async remove(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

let kms: OwnKms;

beforeAll(async () => {
  const local = readLocalStack();
  if (!local) throw new Error('the local stack is not up: run `npx cutover stack up`');
  kms = new OwnKms(await freePort(), loadConfig(process.env, local).s3.region);
  await kms.start();
});

afterAll(async () => {
  await kms?.remove();
});

describe('a KMS outage in the middle of a migration', () => {
  let env: Isolated;
  let worker: WorkerProcess | undefined;
  let dir: string;
  let migrationId: string;
  let cliVars: NodeJS.ProcessEnv;

  beforeAll(async () => {
    env = await isolated('kmsout');
    env.config = kms.config(env.config);
    cliVars = { ...cliEnv(env), ...kms.env() };
    dir = mkdtempSync(join(tmpdir(), 'cutover-kms-outage-plan-'));
    await seedLms({ sourceUrl: ownerUrl(env), targetUrl: env.config.databases.targetUrl, users: USERS, seed: 20 });
  });

  afterAll(async () => {
    await kms.start().catch(() => undefined); // back, whatever happened, for the cleanup below
    await worker?.kill();
    if (migrationId) await removeStaged(env, migrationId);
    await env?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it(
    'does not stall it: the worker holds the keys it unwrapped (no KMS call per object), the migration completes with every row, reconciled clean, while KMS is still down; a status started meanwhile says KMS is unreachable',
    async () => {
      const yaml = readFileSync(join(ROOT, 'examples', 'lms-users.plan.yaml'), 'utf8')
        .replace(/^name: .*$/m, `name: kms-outage-${Date.now().toString(36)}`)
        .replace(/batch_size: \d+/, `batch_size: ${BATCH}`)
        .replace(/throttle_rows_per_second: \d+/, 'throttle_rows_per_second: 400');
      const file = join(dir, 'kms-outage.plan.yaml');
      writeFileSync(file, yaml);
      migrationId = idOf(loadPlanFile(file));
      const staged = async () =>
        Number((await sql<{ n: number }>(env.config.databases.controlUrl!, 'select coalesce(sum(rows_extracted), 0)::int as n from cutover.batches where migration_id = $1', [migrationId]))[0]!.n);

      worker = await spawnWorker(env, { ...kms.env(), CUTOVER_METRICS_ADDRESS: 'off' });
      expect((await cli(['start', file], cliVars)).code).toBe(0);
      // An operator's `status --watch`, started before the outage: its codec key is already unwrapped.
      const watching = cli(['status', migrationId, '--watch', '--interval', '2', '--json'], cliVars, 240_000);
      await waitFor('the first batches', async () => (await staged()) >= 3 * BATCH, 120_000, () => worker!.output());
      const stagedBefore = await staged();
      expect(stagedBefore).toBeLessThan(USERS);

      await kms.stop();
      const outageStarted = Date.now();
      let fresh: CliResult | undefined;
      let watched: CliResult | undefined;
      try {
        await sleep(3_000);
        // A `status` started now cannot unwrap the codec key: it says why (exit 3), and shows what Temporal keeps in clear.
        fresh = await cli(['status', migrationId], cliVars);
        // The migration ends while KMS is still down: nothing it does per batch needs KMS.
        watched = await watching;
      } finally {
        await kms.start();
      }
      const kmsBack = Date.now();
      const frames = watched.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { at: string; execution: string; status?: string; retrying?: { activity: string; attempt: number; lastFailure?: string }[]; report?: { status: string; clean: boolean; rollback?: unknown } });
      const last = frames[frames.length - 1]!;
      expect({ code: watched.code, status: last.report?.status, rollback: last.report?.rollback }).toEqual({ code: 0, status: 'completed', rollback: undefined });
      expect(last.report).toMatchObject({ status: 'completed', clean: true, entities: [{ entity: 'users', extracted: USERS, inserted: USERS, quarantined: 0 }] });
      expect(Date.parse(last.at)).toBeLessThan(kmsBack);
      const duringOutage = frames.filter((f) => Date.parse(f.at) > outageStarted);
      expect(duringOutage.length).toBeGreaterThan(0);
      expect(duringOutage.flatMap((f) => f.retrying ?? [])).toEqual([]);
      expect(fresh!.code).toBe(3);
      expect(fresh!.stderr).toMatch(/KMS unreachable: the codec key \(wrapped in the control database\): no data key \(Error \(ECONNREFUSED\)\)/);

      const target = await sql<{ n: string; keys: string; min: number; max: number }>(
        env.config.databases.targetUrl!,
        'select count(*) as n, count(distinct legacy_user_id) as keys, min(legacy_user_id) as min, max(legacy_user_id) as max from people',
      );
      expect(target[0]).toEqual({ n: String(USERS), keys: String(USERS), min: 1, max: USERS });
      expect(worker.output()).not.toMatch(/IntegrityError|integrity check failed/);
      console.log(`KMS down from ${stagedBefore} rows staged; the migration completed ${Math.round((Date.parse(last.at) - outageStarted) / 1000)} s into the outage (${Math.round((kmsBack - outageStarted) / 1000)} s in all): ${USERS} rows, clean`);
    },
    300_000,
  );
});

describe('files while KMS is down', () => {
  let env: Isolated;
  let ctx: TestStores;
  const name = `it-kmsfiles-${Date.now().toString(36)}`;
  const plan = coursePackagesPlan(name);
  const migrationId = idOf(plan);

  beforeAll(async () => {
    env = await isolated('kmsfiles');
    env.config = kms.config(env.config);
    ctx = testStores(env.config);
    await seedLms({ sourceUrl: ownerUrl(env), targetUrl: env.config.databases.targetUrl, users: 200, full: true, seed: 23, files: { s3: ctx.deps.s3, sourceBucket: `${name}-src`, targetBucket: `${name}-dst`, largePackages: 0, certificates: 0 } });
  });

  afterAll(async () => {
    await kms.start().catch(() => undefined);
    await ctx?.close();
    await removeStaged(env, migrationId);
    await env?.cleanup();
  });

  it('staging and copying files fail as a retryable KMS outage, nothing reaches the target, and all of it goes through once KMS is back', async () => {
    const activities = createMigrationActivities(ctx);
    const run = new MockActivityEnvironment();
    await run.run(activities.prepareMigration, { plan, migrationId, planHash: planHash(plan), startedBy: 'it' });
    // As registered by a version before per-migration keys: a KMS data key per staged object.
    await sql(env.config.databases.controlUrl!, 'update cutover.migrations set own_keys = null where migration_id = $1', [migrationId]);
    await sql(env.config.databases.controlUrl!, 'delete from cutover.migration_keys where migration_id = $1', [migrationId]);
    const own = { ...plan, name: `${name}-own` };
    const ownId = idOf(own);
    const stage = async (entity: string) => {
      const page = (await run.run(activities.planRanges, { migrationId, entity, after: null, maxRanges: 10 })) as RangePage;
      expect(page.ranges).toHaveLength(1);
      return { page, staged: (await run.run(activities.stageBatch, { migrationId, entity, ...page.ranges[0]! })) as StagedBatch };
    };
    const courses = await stage('courses');
    await run.run(activities.loadBatch, { ...courses.staged, runId: 'kms' });
    const packages = await stage('course_packages');
    const loaded = await ctx.plans.plan(migrationId);
    const manifest = await loaded.staging.readManifest(migrationId, 'course_packages', packages.staged.batchId);
    expect(manifest.files.length).toBeGreaterThan(0);
    const keys = stagingKeys(plan, migrationId, 'course_packages', packages.staged.batchId);
    const inTarget = async () => (await ctx.deps.s3.send(new ListObjectsV2Command({ Bucket: `${name}-dst` }))).KeyCount ?? 0;
    const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    /**
     * A retryable failure that reads as a KMS outage and names the object (`object`: its key, or a
     * pattern of it). In jest's sandbox the socket error comes from another realm, and the AWS SDK
     * wraps it in a plain Error without its code; a worker process says `Error (ECONNREFUSED)`.
     */
    const retryableKmsOutage = (object: string | RegExp) => ({
      type: 'KmsUnavailable',
      nonRetryable: false,
      message: expect.stringMatching(new RegExp(`KMS unreachable: ${typeof object === 'string' ? escape(object) : object.source}: no data key \\(Error( \\(ECONNREFUSED\\))?\\)`)),
    });

    await kms.stop();
    try {
      // Staging: the batch's files (the first thing of it that needs a data key).
      await expect(run.run(activities.stageBatch, { migrationId, entity: 'course_packages', ...packages.page.ranges[0]! })).rejects.toMatchObject(
        retryableKmsOutage(new RegExp(`${escape(keys.rows.replace(/rows\.json\.gz\.enc$/, ''))}files/[0-9a-f]+\\.enc`)),
      );
      // Loading: the manifest (read first), and a file's copy on its own.
      await expect(run.run(activities.loadBatch, { ...packages.staged, runId: 'kms' })).rejects.toMatchObject(retryableKmsOutage(keys.manifest));
      const file = manifest.files[0]!;
      const copy = loadFile(ctx.deps.s3, loaded.cipher, file, loaded.bucket, `${name}-dst`, migrationId, fileContext(migrationId, 'course_packages', packages.staged.batchId, file.fileId));
      await expect(copy).rejects.toBeInstanceOf(KmsUnavailableError);
      await expect(copy).rejects.toMatchObject({ message: expect.stringContaining(file.stagedKey) });
      expect(await inTarget()).toBe(0);
      expect((await sql<{ n: string }>(env.config.databases.targetUrl!, 'select count(*) as n from course_packages'))[0]!.n).toBe('0');
      // A migration with keys of its own: its key is generated at prepare (a new worker unwraps it on first use), which needs KMS.
      await expect(run.run(activities.prepareMigration, { plan: own, migrationId: ownId, planHash: planHash(own), startedBy: 'it' })).rejects.toMatchObject(
        retryableKmsOutage(`migration ${ownId}'s key under ${env.config.kms.aliases.staging}`),
      );
    } finally {
      await kms.start();
    }

    await expect(run.run(activities.prepareMigration, { plan: own, migrationId: ownId, planHash: planHash(own), startedBy: 'it' })).resolves.toBeTruthy();
    await expect(run.run(activities.stageBatch, { migrationId, entity: 'course_packages', ...packages.page.ranges[0]! })).resolves.toMatchObject({ staged: packages.staged.staged });
    await expect(run.run(activities.loadBatch, { ...packages.staged, runId: 'kms' })).resolves.toMatchObject({ inserted: packages.staged.staged });
    expect(((await run.run(activities.reconcileBatch, packages.staged)) as { clean: boolean }).clean).toBe(true);
    expect(await inTarget()).toBe(manifest.files.length);
  });
});
