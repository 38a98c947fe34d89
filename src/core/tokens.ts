import { createHmac } from 'node:crypto';
import type { PiiKind } from '../plan/types';

/**
 * Deterministic tokens: a keyed HMAC of the value, so equal values give equal tokens (joins
 * and business rules survive) and nobody without the key can link a token to a value. Each
 * kind keeps the column valid: an email token is an email address, a phone token a phone
 * number (+999 is not an assigned country code), a name token a single word.
 *
 * A token is short (a phone token has 10^10 values), so two values can map to the same
 * candidate. The vault decides: a value's token is the first of its candidates (attempt 0, 1,
 * 2, ...) that no other value holds (see `token-assignment.ts`).
 */

/** The value's full keyed MAC (32 bytes): its identity in the vault, whatever token it gets. */
export function valueMac(kind: PiiKind, value: string, key: Uint8Array): Buffer {
  return createHmac('sha256', key).update(kind).update('\0').update(value, 'utf8').digest();
}

/** Turns 32 pseudo-random bytes into a token of the kind's shape. */
export type TokenShape = (kind: PiiKind, digest: Buffer) => string;

export const tokenShape: TokenShape = (kind, digest) => {
  const hex = digest.toString('hex');
  switch (kind) {
    case 'email':
      return `u${hex.slice(0, 24)}@token.invalid`;
    case 'phone':
      return `+999${(BigInt(`0x${hex.slice(0, 16)}`) % 10_000_000_000n).toString().padStart(10, '0')}`;
    case 'name':
      return `Tok${hex.slice(0, 12)}`;
    case 'text':
      return `tok_${hex.slice(0, 32)}`;
  }
};

/**
 * The value's candidate token at `attempt`. Attempt 0 is the MAC itself in the kind's shape
 * (the token every earlier version gave); later attempts derive fresh bytes from the MAC.
 */
export function candidateToken(kind: PiiKind, mac: Buffer, attempt: number, key: Uint8Array, shape: TokenShape = tokenShape): string {
  if (attempt === 0) return shape(kind, mac);
  return shape(kind, createHmac('sha256', key).update('cutover-token-retry\0').update(mac).update(`\0${attempt}`).digest());
}

/** The first candidate of a value: its token unless another value took it first. */
export function tokenFor(kind: PiiKind, value: string, key: Uint8Array): string {
  return candidateToken(kind, valueMac(kind, value, key), 0, key);
}

const TOKEN_SHAPES: Record<PiiKind, RegExp> = {
  email: /^u[0-9a-f]{24}@token\.invalid$/,
  phone: /^\+999[0-9]{10}$/,
  name: /^Tok[0-9a-f]{12}$/,
  text: /^tok_[0-9a-f]{32}$/,
};

export function looksLikeToken(kind: PiiKind, value: string): boolean {
  return TOKEN_SHAPES[kind].test(value);
}
