/**
 * The staging store: a plan's encrypted batches (rows and manifest) and files in S3, each sealed
 * under its own KMS data key with the batch's identity as encryption context. What comes back
 * has been verified: a tampered or misplaced object is an IntegrityError, never rows.
 * `s3StagingStore` is the real one; a unit test brings a small in-memory one.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { DeleteObjectCommand, DeleteObjectsCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { IntegrityError } from '../core/envelope';
import { encryptionContext, fileContext, stagingKeys } from '../core/staging-keys';
import type { StagingCipher } from '../crypto/staging-cipher';
import type { Plan } from '../plan/types';
import type { Manifest, StagedRows } from './manifest';
import { checkStoredFile, loadFile, StagedFile, stageFile } from './staged-files';
import { integrityFailure } from './staged-objects';

export interface StagingStore {
  /** Seals and puts a batch's rows and manifest (rows first: a manifest names only rows that exist); returns the bytes stored. */
  putBatch(manifest: Manifest, rows: StagedRows): Promise<number>;
  /** A batch's manifest, verified to belong to this batch and to the plan (by its hash). */
  readManifest(migrationId: string, entity: string, batchId: string): Promise<Manifest>;
  /** A batch's rows, verified against its manifest. */
  readRows(manifest: Manifest): Promise<StagedRows>;
  /** Streams a source object into staging, encrypted on the way; NoSuchKey when the source has no such object. */
  stageFile(ref: { migrationId: string; entity: string; batchId: string; fileId: string }, from: { bucket: string; key: string }, stagedKey: string): Promise<{ sha256: string; bytes: number }>;
  /** Copies a staged file to its target bucket, verified against the manifest's hash: 'copied' when this migration wrote it. */
  loadFile(ref: { migrationId: string; entity: string; batchId: string }, file: StagedFile, targetBucket: string): Promise<'copied' | 'unchanged'>;
  /** Whether a target bucket holds a loaded file with the bytes it was staged with (S3's SHA-256, or read back and hashed). */
  checkLoadedFile(targetBucket: string, file: StagedFile): Promise<{ matches: boolean }>;
  /** Removes a file a load copied into a target bucket (a rollback). */
  removeLoadedFile(bucket: string, key: string): Promise<void>;
  /** Removes every object a migration staged (their wrapped data keys go with them); returns how many. */
  removeAll(migrationId: string, progress?: (deleted: number) => void): Promise<number>;
}

/** Where a plan stages: its bucket, cipher and (optionally) the SSE-KMS key S3 encrypts under as well. */
export interface StagingPlace {
  plan: Plan;
  planHash: string;
  bucket: string;
  cipher: StagingCipher;
  sseKmsKeyId?: string;
}

export function s3StagingStore(s3: S3Client, place: StagingPlace): StagingStore {
  const { plan, planHash, bucket, cipher } = place;
  const sse = place.sseKmsKeyId ? { ServerSideEncryption: 'aws:kms' as const, SSEKMSKeyId: place.sseKmsKeyId } : {};
  const get = async (key: string): Promise<Buffer> => {
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return Buffer.from(await out.Body!.transformToByteArray());
  };
  return {
    async putBatch(manifest, rows) {
      const { migrationId, entity, batchId } = manifest;
      const keys = stagingKeys(plan, migrationId, entity, batchId);
      const rowsBody = await cipher.encrypt(gzipSync(Buffer.from(JSON.stringify(rows))), encryptionContext(migrationId, entity, batchId, 'rows'), keys.rows);
      const manifestBody = await cipher.encrypt(Buffer.from(JSON.stringify(manifest)), encryptionContext(migrationId, entity, batchId, 'manifest'), keys.manifest);
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: keys.rows, Body: rowsBody, ...sse }));
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: keys.manifest, Body: manifestBody, ...sse }));
      return rowsBody.length + manifestBody.length;
    },
    async readManifest(migrationId, entity, batchId) {
      const keys = stagingKeys(plan, migrationId, entity, batchId);
      try {
        const plain = await cipher.decrypt(await get(keys.manifest), encryptionContext(migrationId, entity, batchId, 'manifest'), keys.manifest);
        const manifest = JSON.parse(plain.toString('utf8')) as Manifest;
        if (manifest.batchId !== batchId || manifest.planHash !== planHash) throw new IntegrityError(`${keys.manifest}: belongs to another batch or plan`);
        return manifest;
      } catch (err) {
        return integrityFailure(err);
      }
    },
    async readRows(manifest) {
      const keys = stagingKeys(plan, manifest.migrationId, manifest.entity, manifest.batchId);
      try {
        const plain = await cipher.decrypt(await get(keys.rows), encryptionContext(manifest.migrationId, manifest.entity, manifest.batchId, 'rows'), keys.rows);
        const staged = JSON.parse(gunzipSync(plain).toString('utf8')) as StagedRows;
        if (staged.rows.length !== manifest.rowCount) throw new IntegrityError(`${keys.rows}: ${staged.rows.length} rows, the manifest says ${manifest.rowCount}`);
        return staged;
      } catch (err) {
        return integrityFailure(err);
      }
    },
    stageFile: (ref, from, stagedKey) => stageFile(s3, cipher, from, { bucket, key: stagedKey, sse: place.sseKmsKeyId }, fileContext(ref.migrationId, ref.entity, ref.batchId, ref.fileId)),
    loadFile: (ref, file, targetBucket) =>
      loadFile(s3, cipher, file, bucket, targetBucket, ref.migrationId, fileContext(ref.migrationId, ref.entity, ref.batchId, file.fileId)).catch(integrityFailure),
    checkLoadedFile: (targetBucket, file) => checkStoredFile(s3, targetBucket, file.sourceKey, file),
    async removeLoadedFile(targetBucket, key) {
      await s3.send(new DeleteObjectCommand({ Bucket: targetBucket, Key: key }));
    },
    async removeAll(migrationId, progress = () => undefined) {
      const prefix = `${plan.staging.prefix}/${migrationId}/`;
      let deleted = 0;
      for (;;) {
        const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, MaxKeys: 1000 }));
        if (!listed.Contents?.length) return deleted;
        await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: listed.Contents.map((o) => ({ Key: o.Key! })) } }));
        deleted += listed.Contents.length;
        progress(deleted);
      }
    },
  };
}
