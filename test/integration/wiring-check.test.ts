import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, DeleteObjectCommand } from '@aws-sdk/client-s3';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createWiringCheckActivities } from '../../src/activities/wiring-check';
import { createKmsClient, createS3Client } from '../../src/clients/aws';
import { createDb } from '../../src/clients/postgres';
import { deterministicBytes, sha256Hex } from '../../src/core/envelope';
import { startWiringCheck } from '../../src/starter';
import { RunningWorker, startWorker } from '../../src/worker';
import { connectClient } from '../../src/clients/temporal';
import type { RecordedProbe, SealedProbe } from '../../src/shared/wiring-check';
import { isolated, Isolated } from './helpers';

describe('wiring check on the real stack', () => {
  let env: Isolated;
  let worker: RunningWorker;
  const s3Keys: string[] = [];

  beforeAll(async () => {
    env = await isolated('wiring');
    worker = await startWorker(env.config);
  });

  afterAll(async () => {
    await worker?.shutdown();
    const s3 = createS3Client(env.config.s3);
    for (const Key of s3Keys) await s3.send(new DeleteObjectCommand({ Bucket: env.config.s3.bucket, Key }));
    s3.destroy();
    await env?.cleanup();
  });

  it('encrypts with a KMS data key, round-trips through S3 and records in PostgreSQL', async () => {
    const probeId = `it-${Date.now()}`;
    const started = await startWiringCheck(env.config, { wait: true, probeId });
    const r = started.result!;
    s3Keys.push(r.probe.objectKey);
    expect(started.workflowId).toBe(`wiring-check-${probeId}`);
    expect(started.url).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:8233/namespaces/default/workflows/wiring-check-${probeId}$`));

    // Independent of the pipeline: the digest is the one of the bytes the probe id defines.
    const expected = deterministicBytes(probeId, 4096);
    expect(r.probe.sha256).toBe(sha256Hex(expected));
    expect(r.opened).toEqual({ verified: true, bytes: 4096 });

    const s3 = createS3Client(env.config.s3);
    try {
      const head = await s3.send(new HeadObjectCommand({ Bucket: env.config.s3.bucket, Key: r.probe.objectKey }));
      expect(head.ServerSideEncryption).toBe('aws:kms');
      const stored = Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: env.config.s3.bucket, Key: r.probe.objectKey }))).Body!.transformToByteArray());
      // Client-side encrypted: not one 32-byte run of the plaintext is in the object.
      for (let i = 0; i + 32 <= expected.length; i += 512) expect(stored.includes(expected.subarray(i, i + 32))).toBe(false);
    } finally {
      s3.destroy();
    }

    const control = createDb(env.config.databases.controlUrl!);
    try {
      const rows = await control('cutover_wiring_checks').where({ probe_id: probeId });
      expect(rows).toHaveLength(1);
      expect(rows[0].sha256).toBe(r.probe.sha256);
      expect(r.postgres.database).toBe(env.names.control);
    } finally {
      await control.destroy();
    }

    const { client, connection } = await connectClient(env.config);
    try {
      const description = await client.workflow.getHandle(started.workflowId).describe();
      expect(description.status.name).toBe('COMPLETED');
      expect(description.taskQueue).toBe(env.taskQueue);
    } finally {
      await connection.close();
    }
  });

  it('refuses a staged object altered by one byte, as a non-retryable IntegrityError', async () => {
    const s3 = createS3Client(env.config.s3);
    const kms = createKmsClient(env.config.kms);
    const control = createDb(env.config.databases.controlUrl!);
    try {
      const activities = createWiringCheckActivities({ s3, kms, control, bucket: env.config.s3.bucket, stagingKeyAlias: env.config.kms.aliases.staging, sseKmsKeyId: env.config.s3.sseKmsKeyId });
      const activityEnv = new MockActivityEnvironment();
      const probeId = `tamper-${Date.now()}`;
      const sealed = (await activityEnv.run(activities.sealProbe, { probeId })) as SealedProbe;
      s3Keys.push(sealed.objectKey);
      const object = await s3.send(new GetObjectCommand({ Bucket: env.config.s3.bucket, Key: sealed.objectKey }));
      const bytes = Buffer.from(await object.Body!.transformToByteArray());
      bytes[100] = bytes[100]! ^ 0xff;
      await s3.send(new PutObjectCommand({ Bucket: env.config.s3.bucket, Key: sealed.objectKey, Body: bytes, Metadata: object.Metadata }));

      await expect(activityEnv.run(activities.openProbe, { probeId, objectKey: sealed.objectKey, sha256: sealed.sha256 })).rejects.toMatchObject({
        type: 'IntegrityError',
        nonRetryable: true,
        message: expect.stringContaining(sealed.objectKey),
      });
    } finally {
      s3.destroy();
      kms.destroy();
      await control.destroy();
    }
  });

  it('converges when an activity runs twice (same probe, same row, same digest)', async () => {
    const s3 = createS3Client(env.config.s3);
    const kms = createKmsClient(env.config.kms);
    const control = createDb(env.config.databases.controlUrl!);
    try {
      const activities = createWiringCheckActivities({ s3, kms, control, bucket: env.config.s3.bucket, stagingKeyAlias: env.config.kms.aliases.staging });
      const activityEnv = new MockActivityEnvironment();
      const probeId = `twice-${Date.now()}`;
      const first = (await activityEnv.run(activities.sealProbe, { probeId })) as SealedProbe;
      const second = (await activityEnv.run(activities.sealProbe, { probeId })) as SealedProbe;
      s3Keys.push(first.objectKey);
      expect(second).toEqual(first);
      const a = (await activityEnv.run(activities.recordProbe, { probeId, sha256: first.sha256 })) as RecordedProbe;
      const b = (await activityEnv.run(activities.recordProbe, { probeId, sha256: first.sha256 })) as RecordedProbe;
      expect(b.checks).toBe(a.checks);
    } finally {
      s3.destroy();
      kms.destroy();
      await control.destroy();
    }
  });
});
