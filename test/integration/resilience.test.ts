import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { MockActivityEnvironment } from '@temporalio/testing';
import { seedLms } from '../../demo/lms/seed';
import { createMigrationActivities } from '../../src/activities/migration';
import { fileContext, stagingKeys } from '../../src/core/staging-keys';
import { createS3Client } from '../../src/clients/aws';
import { connectClient } from '../../src/clients/temporal';
import { startMigration, workflowIdOf } from '../../src/migration-client';
import { migrationId as idOf, planHash } from '../../src/plan/hash';
import type { MigrationReport, RangePage, StagedBatch } from '../../src/shared/migration';
import { coursePackagesPlan, isolated, Isolated, ownerUrl, planFor, removeStaged, spawnWorker, sql, testStores, TestStores } from './helpers';






describe('a worker killed with SIGKILL in the middle', () => {
  let env: Isolated;
  const plan = planFor(`it-kill-${Date.now().toString(36)}`, { batchSize: 500, parallelism: 2, throttleRowsPerSecond: 1500 });

  beforeAll(async () => {
    env = await isolated('kill');
    await seedLms({ sourceUrl: ownerUrl(env), targetUrl: env.config.databases.targetUrl, users: 10_000, seed: 11 });
  });

  afterAll(async () => {
    await removeStaged(env, idOf(plan));
    await env?.cleanup();
  });

  it('leaves a migration that a restarted worker finishes with exactly the right rows', async () => {
    const first = await spawnWorker(env);
    const started = await startMigration(env.config, plan, { taskQueue: env.taskQueue });
    // Wait until some batches are in, then kill the worker without a chance to clean up.
    const deadline = Date.now() + 120_000;
    for (;;) {
      const loaded = await sql<{ n: string }>(env.config.databases.targetUrl!, 'select count(*) as n from people').catch(() => [{ n: '0' }]);
      if (Number(loaded[0]!.n) >= 2_000) break;
      if (Date.now() > deadline) throw new Error(`no progress before the kill:\n${first.output()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await first.kill('SIGKILL');
    const atKill = Number((await sql<{ n: string }>(env.config.databases.targetUrl!, 'select count(*) as n from people'))[0]!.n);
    expect(atKill).toBeLessThan(10_000);

    const second = await spawnWorker(env);
    let report: MigrationReport;
    const { client, connection } = await connectClient(env.config);
    try {
      report = await client.workflow.getHandle(started.workflowId).result();
    } finally {
      await connection.close();
      await second.kill();
    }
    expect(report.status).toBe('completed');
    expect(report.clean).toBe(true);
    // Every batch counted once, whichever worker committed it.
    expect(report.entities[0]).toMatchObject({ extracted: 10_000, inserted: 10_000, unchanged: 0, quarantined: 0, batches: 20, batchesDone: 20 });

    const target = await sql<{ n: string; distinct_keys: string; min: number; max: number }>(
      env.config.databases.targetUrl!,
      'select count(*) as n, count(distinct legacy_user_id) as distinct_keys, min(legacy_user_id) as min, max(legacy_user_id) as max from people',
    );
    expect(target[0]).toEqual({ n: '10000', distinct_keys: '10000', min: 1, max: 10_000 });
    expect(workflowIdOf(idOf(plan))).toBe(started.workflowId);
  });
});

describe('a staged object altered by one byte', () => {
  let env: Isolated;
  let ctx: TestStores;
  const plan = planFor(`it-tamper-${Date.now().toString(36)}`, { batchSize: 1000 });
  const migrationId = idOf(plan);
  const s3 = () => createS3Client(env.config.s3);

  beforeAll(async () => {
    env = await isolated('tamper');
    await seedLms({ sourceUrl: ownerUrl(env), targetUrl: env.config.databases.targetUrl, users: 2_500, seed: 5 });
    ctx = testStores(env.config);
  });

  afterAll(async () => {
    await ctx?.close();
    await removeStaged(env, migrationId);
    await env?.cleanup();
  });

  it.each(['rows', 'manifest'] as const)('fails the load with a non-retryable integrity error naming the %s object, and loads nothing', async (part) => {
    const activities = createMigrationActivities(ctx);
    const run = new MockActivityEnvironment();
    // Each part is a run of its own, prepared as a workflow run is: the load fence is handed to it.
    await run.run(activities.prepareMigration, { plan, migrationId, planHash: planHash(plan), startedBy: 'it', runId: `restored-${part}` });
    const page = (await run.run(activities.planRanges, { migrationId, entity: 'users', after: null, maxRanges: 10 })) as RangePage;
    expect(page.ranges.map((r) => r.rows)).toEqual([1000, 1000, 500]);
    const staged = (await run.run(activities.stageBatch, { migrationId, entity: 'users', ...page.ranges[0]! })) as StagedBatch;

    const key = stagingKeys(plan, migrationId, 'users', staged.batchId)[part];
    const count = async () => (await sql<{ n: string }>(env.config.databases.targetUrl!, 'select count(*) as n from people'))[0]!.n;
    const before = await count();
    const client = s3();
    try {
      const object = await client.send(new GetObjectCommand({ Bucket: env.config.s3.bucket, Key: key }));
      const bytes = Buffer.from(await object.Body!.transformToByteArray());
      const original = Buffer.from(bytes);
      const middle = Math.floor(bytes.length / 2);
      bytes[middle] = bytes[middle]! ^ 0x01;
      await client.send(new PutObjectCommand({ Bucket: env.config.s3.bucket, Key: key, Body: bytes }));

      await expect(run.run(activities.loadBatch, { ...staged, runId: `tamper-${part}` })).rejects.toMatchObject({
        type: 'IntegrityError',
        nonRetryable: true,
        message: expect.stringContaining(key),
      });
      expect(await count()).toBe(before);

      // With the original bytes back, the same batch loads.
      await client.send(new PutObjectCommand({ Bucket: env.config.s3.bucket, Key: key, Body: original }));
      await expect(run.run(activities.loadBatch, { ...staged, runId: `restored-${part}` })).resolves.toMatchObject({ inserted: part === 'rows' ? 1000 : 0 });
    } finally {
      client.destroy();
    }
  });
});

describe('a staged file changed in staging', () => {
  let env: Isolated;
  let ctx: TestStores;
  const name = `it-files-${Date.now().toString(36)}`;
  const plan = coursePackagesPlan(name);
  const migrationId = idOf(plan);

  beforeAll(async () => {
    env = await isolated('files');
    ctx = testStores(env.config);
    await seedLms({ sourceUrl: ownerUrl(env), targetUrl: env.config.databases.targetUrl, users: 300, full: true, seed: 9, files: { s3: ctx.deps.s3, sourceBucket: `${name}-src`, targetBucket: `${name}-dst`, largePackages: 1, certificates: 0 } });
  });

  afterAll(async () => {
    await ctx?.close();
    await removeStaged(env, migrationId);
    await env?.cleanup();
  });

  it('is detected by its SHA-256 (or its signature), loads nothing, and leaves nothing in the target bucket', async () => {
    const activities = createMigrationActivities(ctx);
    const run = new MockActivityEnvironment();
    await run.run(activities.prepareMigration, { plan, migrationId, planHash: planHash(plan), startedBy: 'it' });
    for (const entity of ['courses', 'course_packages']) {
      const page = (await run.run(activities.planRanges, { migrationId, entity, after: null, maxRanges: 10 })) as RangePage;
      expect(page.ranges).toHaveLength(1);
      const staged = (await run.run(activities.stageBatch, { migrationId, entity, ...page.ranges[0]! })) as StagedBatch;
      if (entity === 'courses') {
        await run.run(activities.loadBatch, { ...staged, runId: 'files' });
        continue;
      }
      const s3 = ctx.deps.s3;
      const prefix = `${stagingKeys(plan, migrationId, entity, staged.batchId).rows.replace(/rows\.json\.gz\.enc$/, '')}files/`;
      const listed = await s3.send(new ListObjectsV2Command({ Bucket: env.config.s3.bucket, Prefix: prefix }));
      const largest = [...listed.Contents!].sort((a, b) => b.Size! - a.Size!)[0]!;
      const id = largest.Key!.slice(prefix.length, -'.enc'.length);
      const original = Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: env.config.s3.bucket, Key: largest.Key! }))).Body!.transformToByteArray());
      const loaded = await ctx.plans.plan(migrationId);
      const context = fileContext(migrationId, entity, staged.batchId, id);
      const plaintext = await loaded.cipher.decrypt(original, context, largest.Key!);
      expect(plaintext.length).toBeGreaterThan(10 * 1024 * 1024); // the multipart one

      // Every attempt below is a retry within the one run that loaded the courses (the load fence
      // refuses loads of any other run).
      // 1. Re-encrypted properly, one byte of content changed: only the hash can tell.
      const changed = Buffer.from(plaintext);
      changed[5_000_000] = changed[5_000_000]! ^ 0x01;
      await s3.send(new PutObjectCommand({ Bucket: env.config.s3.bucket, Key: largest.Key!, Body: await loaded.cipher.encrypt(changed, context) }));
      await expect(run.run(activities.loadBatch, { ...staged, runId: 'files' })).rejects.toMatchObject({
        type: 'IntegrityError',
        nonRetryable: true,
        message: expect.stringMatching(/SHA-256 of the staged file differs from the manifest's/),
      });
      // 2. One ciphertext byte flipped: the message no longer verifies.
      const flipped = Buffer.from(original);
      flipped[flipped.length - 100] = flipped[flipped.length - 100]! ^ 0x01;
      await s3.send(new PutObjectCommand({ Bucket: env.config.s3.bucket, Key: largest.Key!, Body: flipped }));
      await expect(run.run(activities.loadBatch, { ...staged, runId: 'files' })).rejects.toMatchObject({ type: 'IntegrityError', message: expect.stringContaining(largest.Key!) });

      expect((await sql<{ n: string }>(env.config.databases.targetUrl!, 'select count(*) as n from course_packages'))[0]!.n).toBe('0');
      const inTarget = await s3.send(new ListObjectsV2Command({ Bucket: `${name}-dst` }));
      const largeInTarget = (inTarget.Contents ?? []).filter((o) => (o.Size ?? 0) > 10 * 1024 * 1024);
      expect(largeInTarget).toEqual([]);

      // With the original back, the batch loads and every file arrives.
      await s3.send(new PutObjectCommand({ Bucket: env.config.s3.bucket, Key: largest.Key!, Body: original }));
      await expect(run.run(activities.loadBatch, { ...staged, runId: 'files' })).resolves.toMatchObject({ inserted: staged.staged });
      const reconciled = (await run.run(activities.reconcileBatch, staged)) as { clean: boolean };
      expect(reconciled.clean).toBe(true);
      // Files copied by the failed attempts are known to the ledger too, so a rollback removes them.
      const ledgered = await sql<{ n: string }>(env.config.databases.targetUrl!, "select count(*) as n from cutover.files where entity = 'course_packages'");
      expect(Number(ledgered[0]!.n)).toBe(staged.staged);
    }
  });
});
