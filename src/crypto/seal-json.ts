import { open, seal } from '../core/envelope';

/** Seals a small JSON document (a vault value, a pre-image, a quarantined row) under a key. */
export function sealJson(value: unknown, key: Uint8Array, aad: string): Buffer {
  return seal(Buffer.from(JSON.stringify(value), 'utf8'), key, aad);
}

export function openJson<T>(sealed: Buffer, key: Uint8Array, aad: string, what: string): T {
  return JSON.parse(open(sealed, key, aad, what).toString('utf8')) as T;
}
