import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { DescribeKeyCommand, InvalidCiphertextException, KMSInternalException, KMSServiceException } from '@aws-sdk/client-kms';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { ApplicationFailure } from '@temporalio/common';
import { sanitizeDbErrors } from '../../src/stores/errors';
import { loadFile, stageFile, StagedFile } from '../../src/stores/staged-files';
import { IntegrityError, open, seal, sha256Hex } from '../../src/core/envelope';
import { kmsFailureKind, KmsUnavailableError } from '../../src/crypto/kms-errors';
import { StagingCipher } from '../../src/crypto/staging-cipher';

/**
 * Issue 20 §2: a KMS that cannot be reached is an outage (retried), a ciphertext that fails its
 * tag, commitment or context is tampering (an IntegrityError naming the object). No I/O: a KMS
 * that wraps data keys with AES-GCM in memory, and fails the way the AWS SDK does.
 */

const ARN = 'arn:aws:kms:eu-west-1:111122223333:key/11111111-2222-3333-4444-555555555555';

/** What the SDK throws with the KMS endpoint's port closed (as seen from @aws-sdk/client-kms 3.1162 against a stopped local-kms). */
function connectionRefused(): Error {
  return Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:4599'), { code: 'ECONNREFUSED', errno: -111, syscall: 'connect', address: '127.0.0.1', port: 4599, $metadata: { attempts: 3, totalRetryDelay: 40 } });
}
const throttled = () => new KMSServiceException({ name: 'ThrottlingException', $fault: 'client', $metadata: { httpStatusCode: 400 }, message: 'Rate exceeded' });
const internal = () => new KMSInternalException({ $metadata: { httpStatusCode: 500 }, message: 'internal' });
const invalidCiphertext = () => new InvalidCiphertextException({ $metadata: { httpStatusCode: 400 }, message: '' });
const denied = () => new KMSServiceException({ name: 'AccessDeniedException', $fault: 'client', $metadata: { httpStatusCode: 400 }, message: 'User: arn:aws:iam::1:user/x is not authorized' });

const contextKey = (c: Record<string, string> = {}) => JSON.stringify(Object.keys(c).sort().map((k) => [k, c[k]]));

class FakeKms {
  private readonly master = randomBytes(32);
  /** The error the next data-key calls fail with (undefined: they work). */
  failing?: () => Error;
  describeFailing?: () => Error;
  calls = 0;

  async send(command: unknown) {
    if (!(command instanceof DescribeKeyCommand)) throw new Error('unexpected command');
    if (this.describeFailing) throw this.describeFailing();
    return { KeyMetadata: { Arn: ARN } };
  }
  private check() {
    this.calls++;
    if (this.failing) throw this.failing();
  }
  async generateDataKey(input: { NumberOfBytes: number; EncryptionContext?: Record<string, string> }) {
    this.check();
    const plaintext = randomBytes(input.NumberOfBytes);
    return { KeyId: ARN, Plaintext: new Uint8Array(plaintext), CiphertextBlob: new Uint8Array(seal(plaintext, this.master, contextKey(input.EncryptionContext))) };
  }
  async encrypt(input: { Plaintext: Uint8Array; EncryptionContext?: Record<string, string> }) {
    this.check();
    return { KeyId: ARN, CiphertextBlob: new Uint8Array(seal(Buffer.from(input.Plaintext), this.master, contextKey(input.EncryptionContext))) };
  }
  async decrypt(input: { CiphertextBlob: Uint8Array; EncryptionContext?: Record<string, string> }) {
    this.check();
    try {
      return { KeyId: ARN, Plaintext: new Uint8Array(open(Buffer.from(input.CiphertextBlob), this.master, contextKey(input.EncryptionContext))) };
    } catch {
      throw invalidCiphertext();
    }
  }
}

const context = { migration: 'm1', entity: 'users', batch: 'b1', part: 'manifest' };
const KEY = 'migrations/m1/users/b1/manifest.json.enc';

function setup() {
  const kms = new FakeKms();
  const cipher = new StagingCipher(kms as never, 'alias/cutover-staging');
  return { kms, cipher };
}

/** The failure a Temporal activity would report for `err`, as the worker's wrapper makes it. */
async function asActivityFailure(err: unknown): Promise<ApplicationFailure> {
  const wrapped = sanitizeDbErrors({ loadBatch: async () => Promise.reject(err) });
  return wrapped.loadBatch().then(
    () => {
      throw new Error('expected a failure');
    },
    (e: unknown) => e as ApplicationFailure,
  );
}

describe('what a KMS error is', () => {
  it.each([
    ['connection refused', connectionRefused(), 'outage'],
    ['a reset connection', Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), 'outage'],
    ['a timeout', Object.assign(new Error('timed out'), { name: 'TimeoutError', $metadata: {} }), 'outage'],
    ['throttling', throttled(), 'outage'],
    ['HTTP 500', internal(), 'outage'],
    ['HTTP 503 of an unmodelled error', new KMSServiceException({ name: 'Unknown', $fault: 'server', $metadata: { httpStatusCode: 503 }, message: '' }), 'outage'],
    ['access denied', denied(), 'refused'],
    ['invalid ciphertext', invalidCiphertext(), 'invalid-ciphertext'],
    ['a library error about the bytes', new Error('Malformed Header'), undefined],
  ])('%s', (_, err, kind) => {
    expect(kmsFailureKind(err)).toBe(kind);
  });
});

describe('the staging cipher with KMS unreachable, and with a tampered object', () => {
  it('decrypts what it encrypted while KMS answers', async () => {
    const { cipher } = setup();
    const sealed = await cipher.encrypt(Buffer.from('{"rows":1}'), context);
    expect((await cipher.decrypt(sealed, context, KEY)).toString()).toBe('{"rows":1}');
  });

  it.each([
    ['connection refused', connectionRefused],
    ['throttling', throttled],
    ['HTTP 500', internal],
  ])('a decrypt while KMS fails with %s is a retryable KmsUnavailable, not an IntegrityError', async (_, failure) => {
    const { kms, cipher } = setup();
    const sealed = await cipher.encrypt(Buffer.from('{"rows":1}'), context);
    kms.failing = failure;
    const err = await cipher.decrypt(sealed, context, KEY).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KmsUnavailableError);
    expect(err).not.toBeInstanceOf(IntegrityError);
    expect((err as Error).message).toMatch(/^KMS unreachable: migrations\/m1\/users\/b1\/manifest\.json\.enc: /);

    // What status and the Web UI show: retried, reads as a KMS outage, no address or message of the SDK's.
    const failed = await asActivityFailure(err);
    expect(failed).toBeInstanceOf(ApplicationFailure);
    expect(failed.type).toBe('KmsUnavailable');
    expect(failed.nonRetryable).toBe(false);
    expect(failed.message).toMatch(/^loadBatch: KMS unreachable: migrations\/m1\/users\/b1\/manifest\.json\.enc: no data key \(/);
    expect(failed.message).not.toMatch(/127\.0\.0\.1|Rate exceeded|internal\)/);

    // KMS back: the same bytes decrypt.
    kms.failing = undefined;
    expect((await cipher.decrypt(sealed, context, KEY)).toString()).toBe('{"rows":1}');
  });

  it('an outage before any data-key call (describing the key) is retried too, and a later call recovers', async () => {
    const { kms, cipher } = setup();
    kms.describeFailing = connectionRefused;
    await expect(cipher.encrypt(Buffer.from('x'), context)).rejects.toBeInstanceOf(KmsUnavailableError);
    await expect(cipher.decrypt(Buffer.from('not even a message'), context, KEY)).rejects.toMatchObject({ name: 'KmsUnavailable', message: expect.stringContaining(KEY) });
    kms.describeFailing = undefined;
    const sealed = await cipher.encrypt(Buffer.from('x'), context);
    expect((await cipher.decrypt(sealed, context, KEY)).toString()).toBe('x');
  });

  it('an encrypt (stage) while KMS is unreachable reads as a KMS outage', async () => {
    const { kms, cipher } = setup();
    await cipher.encrypt(Buffer.from('x'), context); // the key's ARN is known
    kms.failing = connectionRefused;
    const err = await cipher.encrypt(Buffer.from('x'), context, KEY).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KmsUnavailableError);
    expect((await asActivityFailure(err)).message).toMatch(/^loadBatch: KMS unreachable: .*: no data key \(Error \(ECONNREFUSED\)\)$/);
  });

  it('a refused key is retried, and says so', async () => {
    const { kms, cipher } = setup();
    const sealed = await cipher.encrypt(Buffer.from('x'), context);
    kms.failing = denied;
    const err = await cipher.decrypt(sealed, context, KEY).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'KmsUnavailable', kind: 'refused', message: expect.stringMatching(/^KMS refused the key: .*AccessDeniedException/) });
    expect((err as Error).message).not.toContain('arn:aws:iam');
  });

  it.each([
    ['a byte of the body flipped', (b: Buffer) => (b[b.length - 40] = b[b.length - 40]! ^ 1)],
    ['a byte of the header flipped', (b: Buffer) => (b[30] = b[30]! ^ 1)],
    ['its last bytes zeroed', (b: Buffer) => b.fill(0, b.length - 10)],
  ])('a tampered object (%s) is a non-retryable IntegrityError naming it', async (_, alter) => {
    const { cipher } = setup();
    const sealed = await cipher.encrypt(Buffer.from('{"rows":1}'), context);
    alter(sealed);
    const err = await cipher.decrypt(sealed, context, KEY).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as Error).message).toContain(`${KEY}: cannot be decrypted or verified`);
    const failed = await asActivityFailure(err);
    expect(failed.type).toBe('IntegrityError');
    // IntegrityError is among the retry policy's non-retryable types (src/workflows/proxies.ts).
  });

  it('a wrapped data key KMS does not recognise (altered, or another key) is tampering, not an outage', async () => {
    const { kms, cipher } = setup();
    const sealed = await cipher.encrypt(Buffer.from('{"rows":1}'), context);
    kms.failing = invalidCiphertext;
    const err = await cipher.decrypt(sealed, context, KEY).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as Error).message).toMatch(new RegExp(`${KEY.replace(/\./g, '\\.')}: cannot be decrypted or verified \\(KMS does not recognise its data key: InvalidCiphertextException`));
  });

  it("an object of another batch (its encryption context) is tampering, with KMS answering", async () => {
    const { cipher } = setup();
    const sealed = await cipher.encrypt(Buffer.from('{"rows":1}'), { ...context, batch: 'b2' });
    await expect(cipher.decrypt(sealed, context, KEY)).rejects.toThrow(new IntegrityError(`${KEY}: encryption context batch does not match`));
  });
});

/** An S3 client in memory: a staging bucket holding `objects`, a target bucket that records puts. */
function fakeS3(objects: Map<string, Buffer>, opts: { getFails?: () => Error } = {}) {
  const put = new Map<string, Buffer>();
  const s3 = {
    async send(command: unknown) {
      if (command instanceof HeadObjectCommand) throw Object.assign(new Error('NotFound'), { name: 'NotFound', $metadata: { httpStatusCode: 404 } });
      if (command instanceof GetObjectCommand) {
        if (opts.getFails) throw opts.getFails();
        const body = objects.get(command.input.Key!);
        if (!body) throw Object.assign(new Error('NoSuchKey'), { name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } });
        return { Body: Readable.from([body]) };
      }
      if (command instanceof PutObjectCommand) {
        put.set(command.input.Key!, Buffer.from(command.input.Body as Buffer));
        return {};
      }
      throw new Error(`unexpected ${(command as object).constructor.name}`);
    },
  };
  return { s3: s3 as unknown as S3Client, put };
}

describe('a staged file copied while KMS is unreachable, or changed in staging', () => {
  const fileContext = { migration: 'm1', entity: 'course_packages', batch: 'b1', file: 'f1' };
  const stagedKey = 'migrations/m1/course_packages/b1/files/f1.enc';
  const content = randomBytes(4096);
  const file: StagedFile = { fileId: 'f1', column: 'package', businessKey: 'bk', sourceKey: 'packages/C-00001.zip', stagedKey, sha256: sha256Hex(content), bytes: content.length };

  async function staged() {
    const { kms, cipher } = setup();
    const sealed = await cipher.encrypt(content, fileContext);
    return { kms, cipher, objects: new Map([[stagedKey, sealed]]) };
  }

  it('loading: KMS unreachable is a KmsUnavailable naming the object, and nothing reaches the target', async () => {
    const { kms, cipher, objects } = await staged();
    const { s3, put } = fakeS3(objects);
    kms.failing = connectionRefused;
    const err = await loadFile(s3, cipher, file, 'staging', 'target', 'm1', fileContext).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KmsUnavailableError);
    expect((err as Error).message).toContain(stagedKey);
    expect(put.size).toBe(0);
    kms.failing = undefined;
    await expect(loadFile(s3, cipher, file, 'staging', 'target', 'm1', fileContext)).resolves.toBe('copied');
    expect(put.get(file.sourceKey)).toEqual(content);
  });

  it('loading: S3 unreachable is its own (retryable) error, not an IntegrityError', async () => {
    const { cipher, objects } = await staged();
    const { s3 } = fakeS3(objects, { getFails: () => Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET', $metadata: { attempts: 3 } }) });
    const err = await loadFile(s3, cipher, file, 'staging', 'target', 'm1', fileContext).catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(IntegrityError);
    expect(err).toMatchObject({ code: 'ECONNRESET' });
  });

  it('loading: a ciphertext byte flipped in staging is an IntegrityError naming the object, and nothing reaches the target', async () => {
    const { cipher, objects } = await staged();
    const tampered = Buffer.from(objects.get(stagedKey)!);
    tampered[tampered.length - 100] = tampered[tampered.length - 100]! ^ 1;
    objects.set(stagedKey, tampered);
    const { s3, put } = fakeS3(objects);
    const err = await loadFile(s3, cipher, file, 'staging', 'target', 'm1', fileContext).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as Error).message).toContain(`${stagedKey}: cannot be decrypted or verified`);
    expect(put.size).toBe(0);
  });

  it('staging: KMS unreachable while encrypting a file reads as a KMS outage', async () => {
    const { kms, cipher } = setup();
    await cipher.encrypt(Buffer.from('x'), fileContext); // the key's ARN is known
    const { s3 } = fakeS3(new Map([['packages/C-00001.zip', content]]));
    kms.failing = connectionRefused;
    const err = await stageFile(s3, cipher, { bucket: 'source', key: 'packages/C-00001.zip' }, { bucket: 'staging', key: stagedKey }, fileContext).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KmsUnavailableError);
    expect((err as Error).message).toContain(stagedKey);
  });
});
