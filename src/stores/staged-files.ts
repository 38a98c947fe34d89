import { createHash } from 'node:crypto';
import { PassThrough, Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { IntegrityError } from '../core/envelope';
import type { StagingCipher } from '../crypto/staging-cipher';

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

/** Which migration copied a target object: a retry recognises its own copy and ledgers it. */
export const MIGRATION_METADATA = 'cutover-migration';
// No hash goes into a target object's metadata: written with the bytes, before they were
// checked, it would vouch for itself. What a target object holds is checked on its bytes.
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
async function streamToS3(s3: S3Client, source: Readable, stages: NodeJS.ReadWriteStream[], params: { Bucket: string; Key: string; Metadata?: Record<string, string>; ServerSideEncryption?: 'aws:kms'; SSEKMSKeyId?: string; ChecksumAlgorithm?: 'SHA256' }): Promise<void> {
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
  const encrypting = await cipher.encryptingStream(context, to.key);
  try {
    await streamToS3(s3, await open(s3, from.bucket, from.key), [m.stream, encrypting], { Bucket: to.bucket, Key: to.key, ...sse });
  } catch (err) {
    // KMS unreachable: a KmsUnavailableError (retried); S3's own errors (NoSuchKey: a missing file) as they are.
    throw cipher.failure(encrypting, err, to.key);
  }
  return m.digest();
}

/** What a bucket holds under a key, checked against the bytes and SHA-256 it should have. */
export interface StoredFile {
  present: boolean;
  matches: boolean;
  /** How the bytes were checked: S3's own full-object SHA-256, or read back and hashed here. */
  checkedBy?: 's3-sha256' | 'read-back';
  /** The migration that wrote it, as its metadata says (an ownership claim, not a proof). */
  migration?: string;
}

const hexOf = (base64: string) => Buffer.from(base64, 'base64').toString('hex');

/**
 * Checks the object really stored under `key` against `expected`. S3 computes and verifies an
 * object's full-object SHA-256 itself when an upload carries one (the upload is refused when the
 * bytes differ), so that value describes the stored bytes and is compared without reading them.
 * A multipart object's SHA-256 is a checksum of the parts' checksums (S3 offers no full-object
 * SHA-256 for multipart uploads, only CRCs), and an object written by anyone else may have no
 * SHA-256 at all: those are read back and hashed, streaming, pinned to the version just seen.
 */
export async function checkStoredFile(s3: S3Client, bucket: string, key: string, expected: { sha256: string; bytes: number }): Promise<StoredFile> {
  let head;
  try {
    head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: 'ENABLED' }));
  } catch (err) {
    const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (status === 404 || (err as Error).name === 'NotFound' || (err as Error).name === 'NoSuchKey') return { present: false, matches: false };
    throw err;
  }
  const migration = head.Metadata?.[MIGRATION_METADATA];
  if (head.ContentLength !== expected.bytes) return { present: true, matches: false, migration };
  const s3Sha = head.ChecksumSHA256;
  if (s3Sha && head.ChecksumType !== 'COMPOSITE' && !s3Sha.includes('-')) {
    return { present: true, matches: hexOf(s3Sha) === expected.sha256, checkedBy: 's3-sha256', migration };
  }
  const m = meter();
  const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, IfMatch: head.ETag }));
  await pipeline(object.Body as Readable, m.stream, async (hashed: AsyncIterable<Buffer>) => {
    for await (const chunk of hashed) void chunk; // counted by the meter; nothing kept
  });
  const got = m.digest();
  return { present: true, matches: got.sha256 === expected.sha256 && got.bytes === expected.bytes, checkedBy: 'read-back', migration };
}

/** Reads a stream into memory, refusing more than `limit` bytes. */
async function readAtMost(source: AsyncIterable<Buffer>, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of source) {
    size += chunk.length;
    if (size > limit) throw new IntegrityError(`${what}: longer than the manifest's ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/**
 * Copies a staged file to the target bucket, decrypting on the way, and checks its SHA-256
 * against the manifest's: a file changed in staging never stays in the target. A file up to one
 * part (8 MiB) is decrypted and hashed in memory, and only a match is uploaded, with the
 * manifest's SHA-256 as its S3 checksum, so S3 too refuses bytes that differ. A larger file is
 * streamed as a multipart upload whose every part carries a SHA-256 S3 checks, hashed on the
 * way, and deleted when its hash differs; if the worker dies before that delete, the retry and
 * reconcile check the stored bytes, not a recorded claim, and find it. Returns 'copied' for an
 * object this migration wrote (now, or in an attempt whose transaction did not commit), so
 * rollback knows it; 'unchanged' for one that was there before with the same bytes.
 */
export async function loadFile(s3: S3Client, cipher: StagingCipher, file: StagedFile, staging: string, target: string, migrationId: string, context: Record<string, string>): Promise<'copied' | 'unchanged'> {
  const there = await checkStoredFile(s3, target, file.sourceKey, file);
  if (there.matches) return there.migration === migrationId ? 'copied' : 'unchanged';
  const removeOurs = async () => {
    // A wrong object this migration left (a crash before its delete) does not stay either.
    if (there.present && there.migration === migrationId) await s3.send(new DeleteObjectCommand({ Bucket: target, Key: file.sourceKey }));
  };
  const metadata = { [MIGRATION_METADATA]: migrationId };

  if (file.bytes <= PART_SIZE) {
    let plain: Buffer = Buffer.alloc(0);
    const decrypting = await cipher.decryptingStream(context, file.stagedKey);
    try {
      await pipeline(await open(s3, staging, file.stagedKey), decrypting, async (decrypted: AsyncIterable<Buffer>) => {
        plain = await readAtMost(decrypted, file.bytes, file.stagedKey);
      });
    } catch (err) {
      await removeOurs();
      // Tampering is an IntegrityError naming the object; KMS or S3 unreachable is retried.
      throw cipher.failure(decrypting, err, file.stagedKey);
    }
    const sha256 = createHash('sha256').update(plain).digest('hex');
    if (sha256 !== file.sha256 || plain.length !== file.bytes) {
      await removeOurs();
      throw new IntegrityError(`${file.stagedKey}: SHA-256 of the staged file differs from the manifest's (${plain.length} bytes, expected ${file.bytes}); nothing written to ${target}`);
    }
    await s3.send(
      new PutObjectCommand({ Bucket: target, Key: file.sourceKey, Body: plain, ContentLength: plain.length, ChecksumSHA256: Buffer.from(file.sha256, 'hex').toString('base64'), Metadata: metadata }),
    );
    return 'copied';
  }

  const m = meter();
  const decrypting = await cipher.decryptingStream(context, file.stagedKey);
  try {
    await streamToS3(s3, await open(s3, staging, file.stagedKey), [decrypting, m.stream], {
      Bucket: target,
      Key: file.sourceKey,
      Metadata: metadata,
      ChecksumAlgorithm: 'SHA256',
    });
  } catch (err) {
    await removeOurs();
    throw cipher.failure(decrypting, err, file.stagedKey);
  }
  const got = m.digest();
  if (got.sha256 !== file.sha256 || got.bytes !== file.bytes) {
    await s3.send(new DeleteObjectCommand({ Bucket: target, Key: file.sourceKey }));
    throw new IntegrityError(`${file.stagedKey}: SHA-256 of the staged file differs from the manifest's (${got.bytes} bytes, expected ${file.bytes}); removed from ${target}`);
  }
  return 'copied';
}
