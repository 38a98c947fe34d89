import { createHmac } from 'node:crypto';
import type { PiiKind } from '../plan/types';

/**
 * Deterministic tokens: a keyed HMAC of the value, so equal values give equal tokens (joins
 * and business rules survive) and nobody without the key can link a token to a value. Each
 * kind keeps the column valid: an email token is an email address, a phone token a phone
 * number (+999 is not an assigned country code), a name token a single word.
 */
export function tokenFor(kind: PiiKind, value: string, key: Uint8Array): string {
  const mac = createHmac('sha256', key).update(kind).update('\0').update(value, 'utf8').digest();
  const hex = mac.toString('hex');
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
