import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

/**
 * AES-256-GCM sealing of a blob under a data key, with additional authenticated data
 * binding it to its context. Layout: version (1) | iv (12) | tag (16) | ciphertext.
 */
const VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;

export class IntegrityError extends Error {
  constructor(what: string) {
    super(`integrity check failed: ${what}`);
    this.name = 'IntegrityError';
  }
}

export function seal(plaintext: Buffer, dataKey: Uint8Array, aad: string, iv: Buffer = randomBytes(IV_BYTES)): Buffer {
  if (dataKey.length !== 32) throw new Error(`data key: expected 32 bytes, got ${dataKey.length}`);
  const cipher = createCipheriv('aes-256-gcm', dataKey, iv);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([Buffer.from([VERSION]), iv, cipher.getAuthTag(), body]);
}

export function open(sealed: Buffer, dataKey: Uint8Array, aad: string, what = 'sealed blob'): Buffer {
  if (sealed.length < 1 + IV_BYTES + TAG_BYTES || sealed[0] !== VERSION) throw new IntegrityError(`${what}: not a sealed blob of version ${VERSION}`);
  const iv = sealed.subarray(1, 1 + IV_BYTES);
  const tag = sealed.subarray(1 + IV_BYTES, 1 + IV_BYTES + TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', dataKey, iv);
  decipher.setAAD(Buffer.from(aad, 'utf8'));
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(sealed.subarray(1 + IV_BYTES + TAG_BYTES)), decipher.final()]);
  } catch {
    throw new IntegrityError(`${what}: authentication tag does not match (altered, or wrong key or context)`);
  }
}

export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Deterministic filler bytes from a seed: a retried activity regenerates the same payload. */
export function deterministicBytes(seed: string, length: number): Buffer {
  const chunks: Buffer[] = [];
  let total = 0;
  for (let i = 0; total < length; i++) {
    const block = createHash('sha256').update(`${seed}:${i}`).digest();
    chunks.push(block);
    total += block.length;
  }
  return Buffer.concat(chunks).subarray(0, length);
}
