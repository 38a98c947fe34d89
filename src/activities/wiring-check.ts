import { DecryptCommand, GenerateDataKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { ApplicationFailure } from '@temporalio/activity';
import type { Knex } from 'knex';
import { deterministicBytes, IntegrityError, open, seal, sha256Hex } from '../core/envelope';
import { OpenedProbe, RecordedProbe, SealedProbe, WIRING_CHECK_S3_PREFIX, WiringCheckInput } from '../shared/wiring-check';

export interface WiringCheckDeps {
  s3: S3Client;
  kms: KMSClient;
  control: Knex;
  bucket: string;
  stagingKeyAlias: string;
  sseKmsKeyId?: string;
}

const META_WRAPPED_KEY = 'cutover-wrapped-key';

function encryptionContext(probeId: string): Record<string, string> {
  return { purpose: 'wiring-check', probe: probeId };
}

export function createWiringCheckActivities(d: WiringCheckDeps) {
  return {
    /** Encrypts a probe payload with a fresh KMS data key and puts it in the staging bucket. */
    async sealProbe(input: WiringCheckInput): Promise<SealedProbe> {
      const plaintext = deterministicBytes(input.probeId, input.bytes ?? 4096);
      const context = encryptionContext(input.probeId);
      const key = await d.kms.send(new GenerateDataKeyCommand({ KeyId: d.stagingKeyAlias, KeySpec: 'AES_256', EncryptionContext: context }));
      if (!key.Plaintext || !key.CiphertextBlob) throw new Error('KMS returned no data key');
      const objectKey = `${WIRING_CHECK_S3_PREFIX}${input.probeId}.bin`;
      try {
        const body = seal(plaintext, key.Plaintext, JSON.stringify(context));
        await d.s3.send(
          new PutObjectCommand({
            Bucket: d.bucket,
            Key: objectKey,
            Body: body,
            Metadata: { [META_WRAPPED_KEY]: Buffer.from(key.CiphertextBlob).toString('base64') },
            ...(d.sseKmsKeyId ? { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: d.sseKmsKeyId } : {}),
          }),
        );
      } finally {
        key.Plaintext.fill(0);
      }
      return { objectKey, bytes: plaintext.length, sha256: sha256Hex(plaintext), keyAlias: d.stagingKeyAlias, sse: d.sseKmsKeyId ? `aws:kms (${d.sseKmsKeyId})` : 'none' };
    },

    /** Gets the probe back, unwraps its key through KMS, decrypts and checks the digest. */
    async openProbe(probe: { probeId: string; objectKey: string; sha256: string }): Promise<OpenedProbe> {
      const object = await d.s3.send(new GetObjectCommand({ Bucket: d.bucket, Key: probe.objectKey }));
      const wrapped = object.Metadata?.[META_WRAPPED_KEY];
      if (!wrapped || !object.Body) throw ApplicationFailure.nonRetryable(`${probe.objectKey}: no wrapped data key`, 'IntegrityError');
      const sealed = Buffer.from(await object.Body.transformToByteArray());
      const context = encryptionContext(probe.probeId);
      const key = await d.kms.send(new DecryptCommand({ CiphertextBlob: Buffer.from(wrapped, 'base64'), EncryptionContext: context }));
      try {
        const plaintext = open(sealed, key.Plaintext!, JSON.stringify(context), probe.objectKey);
        if (sha256Hex(plaintext) !== probe.sha256) throw new IntegrityError(`${probe.objectKey}: SHA-256 differs from the sealed one`);
        return { verified: true, bytes: plaintext.length };
      } catch (err) {
        if (err instanceof IntegrityError) throw ApplicationFailure.nonRetryable(err.message, 'IntegrityError');
        throw err;
      } finally {
        key.Plaintext?.fill(0);
      }
    },

    /** Records the check in the control database (an upsert: re-running changes nothing). */
    async recordProbe(probe: { probeId: string; sha256: string }): Promise<RecordedProbe> {
      const table = 'cutover_wiring_checks';
      if (!(await d.control.schema.hasTable(table))) {
        await d.control.schema
          .createTable(table, (t) => {
            t.text('probe_id').primary();
            t.text('sha256').notNullable();
            t.timestamp('checked_at', { useTz: true }).notNullable().defaultTo(d.control.fn.now());
          })
          .catch(async (err) => {
            if (!(await d.control.schema.hasTable(table))) throw err; // lost a race with another attempt
          });
      }
      await d.control(table).insert({ probe_id: probe.probeId, sha256: probe.sha256 }).onConflict('probe_id').merge(['sha256']);
      const info = await d.control.raw<{ rows: { db: string; v: string }[] }>('select current_database() as db, current_setting(\'server_version\') as v');
      const count = await d.control(table).count<{ n: string }[]>({ n: '*' });
      return { database: info.rows[0]!.db, serverVersion: info.rows[0]!.v, checks: Number(count[0]!.n) };
    },
  };
}
