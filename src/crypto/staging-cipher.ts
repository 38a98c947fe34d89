import { buildClient, CommitmentPolicy, KmsKeyringNode } from '@aws-crypto/client-node';
import { DescribeKeyCommand, KMS } from '@aws-sdk/client-kms';
import { IntegrityError } from '../core/envelope';

const { encrypt, decrypt } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);

/**
 * Envelope encryption of staged objects with the AWS Encryption SDK: a fresh KMS data key per
 * object (AES-256-GCM, key commitment, ECDSA-signed), the wrapped key inside the message, and
 * an encryption context that binds the object to its migration, entity and batch.
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
    const { result } = await encrypt(await this.ring(), plaintext, { encryptionContext: context });
    return result;
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
