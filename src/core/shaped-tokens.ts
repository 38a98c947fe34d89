/**
 * Tokens of a phone number's shape, without a vault (`token: format_preserving` on a column the
 * target keeps as tokens): FF1 (NIST SP 800-38G, `core/ff1.ts`) over the value's digits, every
 * other character left where it was. "+44 20 7946 0123" becomes "+44 81 3302 7716", say.
 *
 * - 1:1 by construction: FF1 is a permutation of the digit strings of each length, and the
 *   characters around the digits are kept, so two values with the same token are the same value.
 * - The key is derived by HKDF-SHA256 from the KMS-wrapped token key (info
 *   `cutover-ff1-token-v1`); the tweak names the kind. The same value gets the same token in
 *   every migration under the same token key (a rehearsal and its real migration agree), and
 *   the holder of the token key can turn a token back into its value. Delete the key and the
 *   tokens are values of no one.
 * - A value with fewer than 6 digits is outside FF1's minimum domain (10^6, the Rev. 1 draft's
 *   bound, so a small domain cannot be tabulated): it gets a vault token instead, as without the
 *   option.
 * - Unlike a vault token, such a token is not recognizable as one, and may by chance spell
 *   another person's number: it carries no link to that person, but a scan for personal data
 *   in the target cannot tell it from a real number. Plans choose it where the target's
 *   format checks need a phone's shape; the vault stays the default.
 */
import { hkdfSync } from 'node:crypto';
import type { PiiKind } from '../plan/types';
import { ff1DecryptBatch, ff1EncryptBatch, ff1Key, Ff1Key } from './ff1';

/** The kinds whose values have digits enough to keep their shape. */
export const SHAPED_KINDS: readonly PiiKind[] = ['phone'];
/** 10^6: FF1's minimum domain over decimal digits. */
export const SHAPED_MIN_DIGITS = 6;

const DIGITS = /[0-9]/g;

let cached: { tokenKey: Uint8Array; key: Ff1Key } | undefined;

export function shapedTokenKey(tokenKey: Uint8Array): Ff1Key {
  if (cached?.tokenKey === tokenKey) return cached.key;
  const key = ff1Key(Buffer.from(hkdfSync('sha256', tokenKey, Buffer.alloc(0), 'cutover-ff1-token-v1', 32)), '0123456789');
  cached = { tokenKey, key };
  return key;
}

/** Whether a value has digits enough for a shaped token. */
export function canShape(value: string): boolean {
  return (value.match(DIGITS)?.length ?? 0) >= SHAPED_MIN_DIGITS;
}

function transform(key: Ff1Key, kind: PiiKind, values: readonly string[], decrypt: boolean): string[] {
  for (const v of values) if (!canShape(v)) throw new Error(`a shaped token needs at least ${SHAPED_MIN_DIGITS} digits`);
  const digits = values.map((v) => v.replace(/[^0-9]/g, ''));
  const tweak = Buffer.from(`cutover-shaped:${kind}`, 'utf8');
  const out = decrypt ? ff1DecryptBatch(key, tweak, digits) : ff1EncryptBatch(key, tweak, digits);
  return values.map((v, i) => {
    let at = 0;
    const next = out[i]!;
    return v.replace(DIGITS, () => next[at++]!);
  });
}

/** The shaped tokens of values (each with `canShape`), in order: a handful of AES calls for the batch. */
export function shapeTokens(key: Ff1Key, kind: PiiKind, values: readonly string[]): string[] {
  return transform(key, kind, values, false);
}

/** The values of shaped tokens, in order. */
export function unshapeTokens(key: Ff1Key, kind: PiiKind, tokens: readonly string[]): string[] {
  return transform(key, kind, tokens, true);
}
