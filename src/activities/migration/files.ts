import { createHash } from 'node:crypto';
import { PassThrough, Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { IntegrityError } from '../../core/envelope';
import type { StagingCipher } from '../../crypto/staging-cipher';

/** A file a batch carries: where it came from, where it is staged, what its bytes hash to. */
export interface StagedFile {
  /** Names the staged object and binds its encryption context. */
  fileId: string;
  column: string;
  businessKey: string;
  sourceKey: string;
  stagedKey: string;
  sha256: string;
  bytes: number;
}

export const SHA_METADATA = 'cutover-sha256';
/** Which migration copied a target object: a retry recognises its own copy and ledgers it. */
export const MIGRATION_METADATA = 'cutover-migration';
const PART_SIZE = 8 * 1024 * 1024; // multipart above this; at most QUEUE parts in memory
const QUEUE = 2;

/** Counts and hashes the bytes flowing through. */
function meter(): { stream: Transform; digest(): { sha256: string; bytes: number } } {
  const hash = createHash('sha256');
  let bytes = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  return { stream, digest: () => ({ sha256: hash.digest('hex'), bytes }) };
}

/** Streams `source` through `stages` into an S3 upload; the upload fails if any stage fails. */
async function streamToS3(s3: S3Client, source: Readable, stages: NodeJS.ReadWriteStream[], params: { Bucket: string; Key: string; Metadata?: Record<string, string>; ServerSideEncryption?: 'aws:kms'; SSEKMSKeyId?: string }): Promise<void> {
  const body = new PassThrough();
  const upload = new Upload({ client: s3, params: { ...params, Body: body }, partSize: PART_SIZE, queueSize: QUEUE });
  const piping = pipeline(source, ...(stages as [NodeJS.ReadWriteStream]), body);
  const [piped, uploaded] = await Promise.allSettled([piping, upload.done()]);
  if (piped.status === 'rejected') {
    await upload.abort().catch(() => undefined);
    throw piped.reason;
  }
  if (uploaded.status === 'rejected') throw uploaded.reason;
}

async function open(s3: S3Client, bucket: string, key: string): Promise<Readable> {
  const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return object.Body as Readable;
}

/** Copies a source object into staging, encrypted on the way, and returns its SHA-256. */
export async function stageFile(
  s3: S3Client,
  cipher: StagingCipher,
  from: { bucket: string; key: string },
  to: { bucket: string; key: string; sse?: string },
  context: Record<string, string>,
): Promise<{ sha256: string; bytes: number }> {
  const m = meter();
  const sse = to.sse ? { ServerSideEncryption: 'aws:kms' as const, SSEKMSKeyId: to.sse } : {};
  await streamToS3(s3, await open(s3, from.bucket, from.key), [m.stream, await cipher.encryptingStream(context)], { Bucket: to.bucket, Key: to.key, ...sse });
  return m.digest();
}

/**
 * Copies a staged file to the target bucket, decrypting on the way, and checks its SHA-256
 * against the manifest's: a file changed in staging never stays in the target. Returns
 * 'copied' for an object this migration wrote (now, or in an attempt whose transaction did not
 * commit), so rollback knows it; 'unchanged' for one that was there before with the same bytes.
 */
export async function loadFile(s3: S3Client, cipher: StagingCipher, file: StagedFile, staging: string, target: string, migrationId: string, context: Record<string, string>): Promise<'copied' | 'unchanged'> {
  const head = await s3.send(new HeadObjectCommand({ Bucket: target, Key: file.sourceKey })).catch(() => undefined);
  if (head?.Metadata?.[SHA_METADATA] === file.sha256) return head.Metadata[MIGRATION_METADATA] === migrationId ? 'copied' : 'unchanged';
  const m = meter();
  try {
    await streamToS3(s3, await open(s3, staging, file.stagedKey), [await cipher.decryptingStream(context, file.stagedKey), m.stream], {
      Bucket: target,
      Key: file.sourceKey,
      Metadata: { [SHA_METADATA]: file.sha256, [MIGRATION_METADATA]: migrationId },
    });
  } catch (err) {
    if (err instanceof IntegrityError) throw err;
    throw new IntegrityError(`${file.stagedKey}: cannot be decrypted or verified (${(err as Error).message.split('\n')[0]})`);
  }
  const got = m.digest();
  if (got.sha256 !== file.sha256 || got.bytes !== file.bytes) {
    await s3.send(new DeleteObjectCommand({ Bucket: target, Key: file.sourceKey }));
    throw new IntegrityError(`${file.stagedKey}: SHA-256 of the staged file differs from the manifest's (${got.bytes} bytes, expected ${file.bytes}); removed from ${target}`);
  }
  return 'copied';
}

/** True when the target object is there and carries the expected hash. */
export async function targetFileMatches(s3: S3Client, target: string, file: StagedFile): Promise<boolean> {
  const head = await s3.send(new HeadObjectCommand({ Bucket: target, Key: file.sourceKey })).catch(() => undefined);
  return head?.Metadata?.[SHA_METADATA] === file.sha256 && head.ContentLength === file.bytes;
}
