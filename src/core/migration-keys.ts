import { createHash, hkdfSync } from 'node:crypto';
import { SivKey, sivKey } from './aes-siv';
import { sealedTokenKey } from './sealed-tokens';

/**
 * The keys a migration seals its own data under: staged objects (the staging key wraps each
 * object's data key in the AWS Encryption SDK's message), pre-images in the target's ledger,
 * quarantined rows, and sealed tokens (values the target receives in clear).
 *
 * A migration registered by this version has a root key of its own (a KMS data key, kept only
 * wrapped in the control database: see src/crypto/migration-key-ring.ts), and each purpose a
 * subkey derived from it with HKDF-SHA256 (salt: the migration id; info: the purpose), so that
 * destroying the one wrapped root key makes every one of them unrecoverable (`close --shred`),
 * and re-wrapping it under another KMS key (`keys rotate`) re-encrypts nothing. This is the shape
 * of the AWS Encryption SDK's hierarchical keyring (a branch key per tenant, wrapped by KMS, and
 * a key per message derived from it), with the control database as the key store.
 *
 * Migrations registered before kept all of this under the control database's shared keys: the
 * vault key for pre-images and quarantined rows, the token key for sealed tokens, and a KMS data
 * key per staged object. They go on that way (`own: false`), and cannot be shredded alone.
 */
export interface SealingKeys {
  /** Whether these are the migration's own keys (false: the control database's shared ones). */
  own: boolean;
  preimage: Buffer;
  quarantine: Buffer;
  sealedToken: SivKey;
  /** Wraps staged objects' data keys; unset for shared keys (a KMS data key per object). */
  staging?: Buffer;
}

export type MigrationKeyPurpose = 'staging' | 'preimage' | 'quarantine' | 'sealed-token';

/** A purpose's subkey of a migration's root key: 32 bytes (64 for the AES-SIV sealed-token key). */
export function migrationSubkey(root: Uint8Array, migrationId: string, purpose: MigrationKeyPurpose): Buffer {
  const length = purpose === 'sealed-token' ? 64 : 32;
  return Buffer.from(hkdfSync('sha256', root, Buffer.from(migrationId, 'utf8'), `cutover-migration-v1/${purpose}`, length));
}

export function ownSealingKeys(root: Uint8Array, migrationId: string): SealingKeys {
  return {
    own: true,
    preimage: migrationSubkey(root, migrationId, 'preimage'),
    quarantine: migrationSubkey(root, migrationId, 'quarantine'),
    sealedToken: sivKey(migrationSubkey(root, migrationId, 'sealed-token')),
    staging: migrationSubkey(root, migrationId, 'staging'),
  };
}

/** The keys of a migration registered before migrations had their own. */
export function sharedSealingKeys(keys: { vault: Buffer; token: Uint8Array }): SealingKeys {
  return { own: false, preimage: keys.vault, quarantine: keys.vault, sealedToken: sealedTokenKey(keys.token) };
}

/**
 * A public name of a wrapped root key, for the audit's evidence: the first 16 bytes of the SHA-256
 * of its wrapped form (which names it without revealing it: the wrapped form is KMS ciphertext).
 */
export function wrappedKeyFingerprint(wrapped: Uint8Array): string {
  return createHash('sha256').update(wrapped).digest('hex').slice(0, 32);
}

/** The KMS encryption context a migration's root key is wrapped under: it unwraps as this migration's only. */
export function migrationKeyContext(migrationId: string): Record<string, string> {
  return { purpose: 'cutover-migration', migration: migrationId };
}
