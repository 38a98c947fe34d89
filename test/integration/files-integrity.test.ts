import { createHash } from 'node:crypto';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { MockActivityEnvironment } from '@temporalio/testing';
import { seedLms } from '../../demo/lms/seed';
import { createMigrationActivities } from '../../src/activities/migration';
import { checkStoredFile, StagedFile } from '../../src/stores/staged-files';
import { migrationId as idOf, planHash } from '../../src/plan/hash';
import type { BatchReconcile, RangePage, StagedBatch } from '../../src/shared/migration';
import { coursePackagesPlan, isolated, Isolated, ownerUrl, removeStaged, testStores, TestStores } from './helpers';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/**
 * The worker dies after a target object was uploaded and before a failed check deleted it, or
 * someone overwrites it: the bucket holds wrong bytes whose metadata says the right hash (what
 * Cutover itself used to write with the upload). Neither a retried load nor reconcile may take
 * that claim for the bytes.
 */
describe('a wrong file in the target bucket that claims the right hash', () => {
  let env: Isolated;
  let ctx: TestStores;
  const name = `it-fileint-${Date.now().toString(36)}`;
  const plan = coursePackagesPlan(name);
  const migrationId = idOf(plan);
  const target = `${name}-dst`;

  beforeAll(async () => {
    env = await isolated('fileint');
    ctx = testStores(env.config);
    await seedLms({ sourceUrl: ownerUrl(env), targetUrl: env.config.databases.targetUrl, users: 200, full: true, seed: 12, files: { s3: ctx.deps.s3, sourceBucket: `${name}-src`, targetBucket: target, largePackages: 1, certificates: 0 } });
  });

  afterAll(async () => {
    await ctx?.close();
    await removeStaged(env, migrationId);
    await env?.cleanup();
  });

  it('is re-copied by a retried load and reported by reconcile, which checks the stored bytes, never reconciled clean', async () => {
    const activities = createMigrationActivities(ctx);
    const run = new MockActivityEnvironment();
    const s3 = ctx.deps.s3;
    await run.run(activities.prepareMigration, { plan, migrationId, planHash: planHash(plan), startedBy: 'it' });
    let staged!: StagedBatch;
    for (const entity of ['courses', 'course_packages']) {
      const page = (await run.run(activities.planRanges, { migrationId, entity, after: null, maxRanges: 10 })) as RangePage;
      expect(page.ranges).toHaveLength(1);
      staged = (await run.run(activities.stageBatch, { migrationId, entity, ...page.ranges[0]! })) as StagedBatch;
      await run.run(activities.loadBatch, { ...staged, runId: 'first' });
    }
    expect(((await run.run(activities.reconcileBatch, staged)) as BatchReconcile).clean).toBe(true);

    const loaded = await ctx.plans.plan(migrationId);
    const files = (await loaded.staging.readManifest(migrationId, 'course_packages', staged.batchId)).files;
    const large = [...files].sort((a, b) => b.bytes - a.bytes)[0]!;
    const small = files.find((f) => f.bytes < 1024 * 1024)!;
    expect(large.bytes).toBeGreaterThan(10 * 1024 * 1024); // multipart
    const original = async (f: StagedFile) => Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: `${name}-src`, Key: f.sourceKey }))).Body!.transformToByteArray());
    const stored = async (f: StagedFile) => Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: target, Key: f.sourceKey }))).Body!.transformToByteArray());

    // What is stored now is right, and how each was checked: S3's own SHA-256 for the
    // single-part upload, read back for the multipart one (S3 keeps a checksum of part checksums).
    for (const [f, by] of [[small, 's3-sha256'], [large, 'read-back']] as const) {
      expect(sha256(await stored(f))).toBe(sha256(await original(f))); // not toEqual: 10 MB compared element by element takes half a minute
      expect(await checkStoredFile(s3, target, f.sourceKey, f)).toMatchObject({ present: true, matches: true, checkedBy: by, migration: migrationId });
    }
    const t0 = Date.now();
    await checkStoredFile(s3, target, large.sourceKey, large);
    console.log(`read back and hashed ${large.bytes} bytes in ${Date.now() - t0} ms`);

    // S3 verifies a SHA-256 sent with an upload: bytes that differ are refused.
    await expect(s3.send(new PutObjectCommand({ Bucket: target, Key: `${name}-probe`, Body: Buffer.from('not the bytes'), ChecksumSHA256: Buffer.from(small.sha256, 'hex').toString('base64') }))).rejects.toThrow();

    // The crash between upload and delete: same length, one byte changed, metadata claiming the
    // manifest's hash and this migration. The small one is even uploaded with a correct SHA-256
    // of its (wrong) bytes, as any careful writer would.
    const tamper = async (f: StagedFile, withChecksum: boolean) => {
      const wrong = await original(f);
      const at = Math.floor(wrong.length / 2);
      wrong[at] = wrong[at]! ^ 0x01;
      await s3.send(
        new PutObjectCommand({
          Bucket: target,
          Key: f.sourceKey,
          Body: wrong,
          Metadata: { 'cutover-sha256': f.sha256, 'cutover-migration': migrationId },
          ...(withChecksum ? { ChecksumSHA256: createHash('sha256').update(wrong).digest('base64') } : {}),
        }),
      );
      expect(sha256(await stored(f))).not.toBe(f.sha256);
    };
    await tamper(small, true);
    await tamper(large, false);

    const dirty = (await run.run(activities.reconcileBatch, staged)) as BatchReconcile;
    expect(dirty.clean).toBe(false);
    expect(dirty.mismatched).toBe(2);
    // Each named by its business key and what differs: the file, never a value.
    expect(new Set(dirty.sampleMismatched)).toEqual(new Set([small, large].map((f) => `${f.businessKey} (columns: file ${f.column})`)));

    // The load's retry (the same run: Temporal retrying the activity whose worker died) checks
    // what is there and copies the right bytes again.
    await run.run(activities.loadBatch, { ...staged, runId: 'first' });
    for (const f of [small, large]) expect(sha256(await stored(f))).toBe(f.sha256);
    expect(((await run.run(activities.reconcileBatch, staged)) as BatchReconcile).clean).toBe(true);
  });
});
