import { AlgorithmSuiteIdentifier, buildClient, CommitmentPolicy, KeyringNode, KmsKeyringNode, RawAesKeyringNode, RawAesWrappingSuiteIdentifier } from '@aws-crypto/client-node';
import { DecryptCommandInput, DescribeKeyCommand, EncryptCommandInput, GenerateDataKeyCommandInput, KMS } from '@aws-sdk/client-kms';
import type { Duplex } from 'node:stream';
import { describeError } from '../stores/errors';
import { IntegrityError } from '../core/envelope';
import { isServiceError, KmsUnavailableError, kmsVerdict } from './kms-errors';
import { isKeysShredded } from './migration-key-ring';

/** A migration's own staging key (see src/core/migration-keys.ts): it wraps each object's data key instead of KMS. */
export interface OwnStagingKey {
  /** The key's name in each message (the migration id): a message staged for another migration does not open. */
  name: string;
  key: Buffer;
}

const { encrypt, decrypt, encryptStream, decryptStream } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);

/**
 * The algorithm suite staged objects are written with: AES-256-GCM with HKDF-SHA512 key
 * derivation and key commitment, without the ECDSA P-384 signature of the SDK's default
 * suite. A signature only adds something where readers must not be able to write: a party
 * that can decrypt but not encrypt. Cutover's workers do both with the same KMS key, so a
 * signature would stop nobody who could forge a staged object; tampering by anyone without
 * the KMS key fails the GCM tag and the key commitment either way. The signature (a P-384 sign
 * per object staged, a verify per read) was among the per-object crypto in issue 11's profile of
 * the worker. Objects staged with the signed suite by earlier versions still decrypt and are
 * still verified.
 */
export const STAGING_SUITE = AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY;

/**
 * Envelope encryption of staged objects with the AWS Encryption SDK: a fresh KMS data key per
 * object (AES-256-GCM, key commitment; see STAGING_SUITE), the wrapped key inside the message,
 * and an encryption context that binds the object to its migration, entity and batch.
 *
 * A failure is one of two things, told apart by what failed rather than by its message: a KMS
 * call (every call goes through a recording client, one per operation, since the SDK folds the
 * errors of its KMS calls into one message) that could not be made or was refused is a
 * `KmsUnavailableError` (retried: an outage); KMS rejecting the wrapped key as not its own, or
 * the message failing its tag, commitment or context with every KMS call answered, is an
 * `IntegrityError` naming the object (not retried: tampering).
 */
export class StagingCipher {
  private keyArn?: Promise<string>;
  /** Each stream's direction and the KMS errors its operation met (see `failure`). */
  private readonly streams = new WeakMap<object, { reading: boolean; kmsErrors: unknown[] }>();

  /**
   * `ownKey`: the migration's own staging key, when it has one (then objects' data keys are wrapped
   * by it, with no KMS call per object, and die with it when the migration's keys are shredded);
   * undefined for a migration registered before migrations had keys of their own (a KMS data key
   * per object under `keyId`).
   */
  constructor(
    private readonly kms: KMS,
    private readonly keyId: string,
    private readonly ownKey?: () => Promise<OwnStagingKey | undefined>,
  ) {}

  /** Strict mode needs the key's ARN (an alias does not match the ARN inside a message). */
  private async arn(what: string): Promise<string> {
    this.keyArn ??= this.kms.send(new DescribeKeyCommand({ KeyId: this.keyId })).then((d) => d.KeyMetadata!.Arn!);
    this.keyArn.catch(() => (this.keyArn = undefined));
    try {
      return await this.keyArn;
    } catch (err) {
      throw new KmsUnavailableError(`${what} (describe key ${this.keyId})`, err);
    }
  }

  /** A keyring for one operation, whose KMS client records the errors of its calls in `kmsErrors`. */
  private async ring(what: string, kmsErrors: unknown[]): Promise<KeyringNode> {
    const own = await this.ownKey?.();
    if (own) {
      // A copy: the keyring zeroes the key it was given once done with it.
      return new RawAesKeyringNode({ keyName: own.name, keyNamespace: 'cutover-migration', unencryptedMasterKey: Uint8Array.from(own.key), wrappingSuite: RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING });
    }
    const generatorKeyId = await this.arn(what);
    const kms = this.kms;
    const record = <T>(call: Promise<T>): Promise<T> =>
      call.catch((err: unknown) => {
        kmsErrors.push(err);
        throw err;
      });
    const client = {
      generateDataKey: (input: GenerateDataKeyCommandInput) => record(kms.generateDataKey(input)),
      encrypt: (input: EncryptCommandInput) => record(kms.encrypt(input)),
      decrypt: (input: DecryptCommandInput) => record(kms.decrypt(input)),
    };
    return new KmsKeyringNode({ generatorKeyId, clientProvider: () => client as never });
  }

  async encrypt(plaintext: Buffer, context: Record<string, string>, what = 'a staged object'): Promise<Buffer> {
    const kmsErrors: unknown[] = [];
    try {
      const { result } = await encrypt(await this.ring(what, kmsErrors), plaintext, { encryptionContext: context, suiteId: STAGING_SUITE });
      return result;
    } catch (err) {
      throw writeFailure(what, err, kmsErrors);
    }
  }

  /** A stream that encrypts what is written to it (files: never held whole in memory). See `failure` for its errors. */
  async encryptingStream(context: Record<string, string>, what = 'a staged file'): Promise<Duplex> {
    const kmsErrors: unknown[] = [];
    const stream = encryptStream(await this.ring(what, kmsErrors), { encryptionContext: context, suiteId: STAGING_SUITE }) as unknown as Duplex;
    this.streams.set(stream, { reading: false, kmsErrors });
    return stream;
  }

  /**
   * A stream that decrypts; it fails on an altered message or another context (an
   * IntegrityError naming `what`, once passed through `failure`). Plaintext flows before the
   * final check: callers hash it and discard what they wrote when the stream fails.
   */
  async decryptingStream(context: Record<string, string>, what: string): Promise<Duplex> {
    const kmsErrors: unknown[] = [];
    const stream = decryptStream(await this.ring(what, kmsErrors)) as unknown as Duplex;
    this.streams.set(stream, { reading: true, kmsErrors });
    stream.on('MessageHeader', (header: { encryptionContext: Record<string, string> }) => {
      for (const [k, v] of Object.entries(context)) {
        if (header.encryptionContext[k] !== v) stream.destroy(new IntegrityError(`${what}: encryption context ${k} does not match`));
      }
    });
    return stream;
  }

  /**
   * What a failed pipeline through `stream` (from `encryptingStream` or `decryptingStream`)
   * means: a KmsUnavailableError when one of the stream's KMS calls failed for want of KMS; an
   * error of another service (S3 reading or writing the bytes: a socket code, an AWS error) as
   * it is; otherwise, for a decrypting stream, an IntegrityError naming `what`.
   */
  failure(stream: Duplex, err: unknown, what: string): unknown {
    const { reading, kmsErrors } = this.streams.get(stream) ?? { reading: true, kmsErrors: [] };
    return reading ? readFailure(what, err, kmsErrors) : writeFailure(what, err, kmsErrors);
  }

  /** Decrypts and checks the context; any altered byte fails as an IntegrityError naming `what`, an unreachable KMS as a KmsUnavailableError. */
  async decrypt(ciphertext: Buffer, context: Record<string, string>, what: string): Promise<Buffer> {
    const kmsErrors: unknown[] = [];
    let out;
    try {
      out = await decrypt(await this.ring(what, kmsErrors), ciphertext);
    } catch (err) {
      throw readFailure(what, err, kmsErrors);
    }
    for (const [k, v] of Object.entries(context)) {
      if (out.messageHeader.encryptionContext[k] !== v) throw new IntegrityError(`${what}: encryption context ${k} does not match`);
    }
    return out.plaintext;
  }
}

/** A failed encryption is never the object's fault: KMS, or the stream's other ends. */
function writeFailure(what: string, err: unknown, kmsErrors: readonly unknown[]): unknown {
  if (err instanceof KmsUnavailableError || isKeysShredded(err)) return err;
  const verdict = kmsVerdict(kmsErrors);
  if (verdict) return new KmsUnavailableError(what, verdict.error, verdict.kind === 'refused' ? 'refused' : 'outage');
  return err;
}

/** A failed decryption: KMS unavailable (retry), another service's error (as it is), or the object itself (integrity). */
export function readFailure(what: string, err: unknown, kmsErrors: readonly unknown[]): unknown {
  if (err instanceof IntegrityError || err instanceof KmsUnavailableError || isKeysShredded(err)) return err;
  const verdict = kmsVerdict(kmsErrors);
  if (verdict?.kind === 'outage' || verdict?.kind === 'refused') return new KmsUnavailableError(what, verdict.error, verdict.kind);
  if (!verdict && isServiceError(err)) return err;
  const reason = verdict ? `KMS does not recognise its data key: ${describeError(verdict.error)}` : ((err as Error)?.message ?? String(err)).split('\n')[0];
  return new IntegrityError(`${what}: cannot be decrypted or verified (${reason})`);
}
