import { AlgorithmSuiteIdentifier, buildClient, CommitmentPolicy, KmsKeyringNode } from '@aws-crypto/client-node';
import { DescribeKeyCommand, KMS } from '@aws-sdk/client-kms';
import type { Duplex } from 'node:stream';
import { IntegrityError } from '../core/envelope';

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
 */
export class StagingCipher {
  private keyring?: Promise<KmsKeyringNode>;

  constructor(
    private readonly kms: KMS,
    private readonly keyId: string,
  ) {}

  /** Strict mode needs the key's ARN (an alias does not match the ARN inside a message). */
  private ring(): Promise<KmsKeyringNode> {
    this.keyring ??= this.kms.send(new DescribeKeyCommand({ KeyId: this.keyId })).then(
      (d) => new KmsKeyringNode({ generatorKeyId: d.KeyMetadata!.Arn!, clientProvider: () => this.kms as never }),
    );
    this.keyring.catch(() => (this.keyring = undefined));
    return this.keyring;
  }

  async encrypt(plaintext: Buffer, context: Record<string, string>): Promise<Buffer> {
    const { result } = await encrypt(await this.ring(), plaintext, { encryptionContext: context, suiteId: STAGING_SUITE });
    return result;
  }

  /** A stream that encrypts what is written to it (files: never held whole in memory). */
  async encryptingStream(context: Record<string, string>): Promise<Duplex> {
    return encryptStream(await this.ring(), { encryptionContext: context, suiteId: STAGING_SUITE }) as unknown as Duplex;
  }

  /**
   * A stream that decrypts; it fails (an IntegrityError naming `what`) on an altered message or
   * another context. Plaintext flows before the final signature check: callers hash it and
   * discard what they wrote when the stream fails.
   */
  async decryptingStream(context: Record<string, string>, what: string): Promise<Duplex> {
    const stream = decryptStream(await this.ring()) as unknown as Duplex;
    stream.on('MessageHeader', (header: { encryptionContext: Record<string, string> }) => {
      for (const [k, v] of Object.entries(context)) {
        if (header.encryptionContext[k] !== v) stream.destroy(new IntegrityError(`${what}: encryption context ${k} does not match`));
      }
    });
    return stream;
  }

  /** Decrypts and checks the context; any altered byte fails as an IntegrityError naming `what`. */
  async decrypt(ciphertext: Buffer, context: Record<string, string>, what: string): Promise<Buffer> {
    let out;
    try {
      out = await decrypt(await this.ring(), ciphertext);
    } catch (err) {
      throw new IntegrityError(`${what}: cannot be decrypted or verified (${(err as Error).message.split('\n')[0]})`);
    }
    for (const [k, v] of Object.entries(context)) {
      if (out.messageHeader.encryptionContext[k] !== v) throw new IntegrityError(`${what}: encryption context ${k} does not match`);
    }
    return out.plaintext;
  }
}
