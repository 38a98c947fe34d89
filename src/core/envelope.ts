import { createCipheriv, createDecipheriv, createHash, createSecretKey, KeyObject, randomBytes } from 'node:crypto';

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

/**
 * Random IVs drawn from the CSPRNG a few thousand at a time: the same random bytes as one call
 * per IV, without a call's fixed cost for each sealed value (the vault seals one per personal value).
 */
const IV_POOL = IV_BYTES * 4096;
let ivPool = Buffer.alloc(0);
let ivAt = 0;
function nextIv(): Buffer {
  if (ivAt + IV_BYTES > ivPool.length) {
    ivPool = randomBytes(IV_POOL);
    ivAt = 0;
  }
  ivAt += IV_BYTES;
  return ivPool.subarray(ivAt - IV_BYTES, ivAt);
}

/** A data key imported once per key buffer: a cipher made from a KeyObject skips the import. */
const keyObjects = new WeakMap<Uint8Array, KeyObject>();
function keyObjectOf(dataKey: Uint8Array): KeyObject {
  let k = keyObjects.get(dataKey);
  if (!k) {
    k = createSecretKey(dataKey);
    keyObjects.set(dataKey, k);
  }
  return k;
}

export function seal(plaintext: Buffer, dataKey: Uint8Array, aad: string, iv: Buffer = nextIv()): Buffer {
  if (dataKey.length !== 32) throw new Error(`data key: expected 32 bytes, got ${dataKey.length}`);
  const cipher = createCipheriv('aes-256-gcm', keyObjectOf(dataKey), iv);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([Buffer.from([VERSION]), iv, cipher.getAuthTag(), body]);
}

export function open(sealed: Buffer, dataKey: Uint8Array, aad: string, what = 'sealed blob'): Buffer {
  if (sealed.length < 1 + IV_BYTES + TAG_BYTES || sealed[0] !== VERSION) throw new IntegrityError(`${what}: not a sealed blob of version ${VERSION}`);
  const iv = sealed.subarray(1, 1 + IV_BYTES);
  const tag = sealed.subarray(1 + IV_BYTES, 1 + IV_BYTES + TAG_BYTES);
  if (dataKey.length !== 32) throw new IntegrityError(`${what}: a data key of ${dataKey.length} bytes`);
  const decipher = createDecipheriv('aes-256-gcm', keyObjectOf(dataKey), iv);
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
