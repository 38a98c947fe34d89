import { hkdfSync } from 'node:crypto';
import type { PiiKind } from '../plan/types';
import { SivKey, sivKey, sivOpenBatch, sivSealBatch } from './aes-siv';
import { IntegrityError } from './envelope';
import { valueId } from './token-assignment';

/**
 * Sealed tokens: a personal value the target receives in clear (`protect: detokenize`) is
 * tokenized only to protect it in transit and at rest in staging. Its token is the value's
 * deterministic authenticated encryption (AES-SIV, RFC 5297, 512-bit key), opened by the load:
 * no vault row is written at stage and none read at load, equal values of a migration give
 * equal tokens, two values never share one (SIV is a permutation for a given key and
 * associated data), and a token dies with its key.
 *
 * - Key: the migration's own sealed-token key (src/core/migration-keys.ts: HKDF from its KMS-wrapped
 *   root key, so its tokens die when its keys are shredded); for a migration registered before
 *   per-migration keys, `sealedTokenKey`: HKDF-SHA256 from the control database's token key, with
 *   an info string of its own, so it is never the HMAC key itself.
 * - Associated data: the migration id, so one migration's staged tokens neither open nor match
 *   under another's.
 * - Plaintext: `kind \0 value`, so equal strings of different kinds get different tokens and the
 *   kind comes back with the value.
 * - Form: `siv1.` and the lowercase hex of SIV || ciphertext. No vault token has this form (see
 *   tokens.ts: emails, +999 numbers, Tok…, tok_…), so a load tells them apart by prefix. Hex, not
 *   base64: a token is one word, so no run of its characters reads as a word of its own (a search
 *   for leaked names, as the no-personal-data tests do, would find `-Leo-` in base64url).
 *
 * A batch seals or opens in a handful of AES calls whatever its size (see aes-siv.ts).
 */
export const SEALED_TOKEN_PREFIX = 'siv1.';

const keys = new WeakMap<Uint8Array, SivKey>();

/** The SIV key derived from a token key, once per key. */
export function sealedTokenKey(tokenKey: Uint8Array): SivKey {
  let k = keys.get(tokenKey);
  if (!k) {
    k = sivKey(Buffer.from(hkdfSync('sha256', tokenKey, Buffer.alloc(0), 'cutover-sealed-token-v1', 64)));
    keys.set(tokenKey, k);
  }
  return k;
}

export function isSealedToken(token: string): boolean {
  return token.startsWith(SEALED_TOKEN_PREFIX);
}

/** Tokens for values, by `valueId(kind, value)`: each sealed under the key and the migration id. */
export function sealTokens(key: SivKey, migrationId: string, values: Iterable<{ kind: PiiKind; value: string }>): Map<string, string> {
  const ids = [...new Set([...values].map((v) => valueId(v.kind, v.value)))];
  const sealed = sivSealBatch(key, [Buffer.from(migrationId, 'utf8')], ids.map((id) => Buffer.from(id, 'utf8')));
  return new Map(ids.map((id, i) => [id, `${SEALED_TOKEN_PREFIX}${sealed[i]!.toString('hex')}`]));
}

/**
 * The values of sealed tokens, by token. A token that does not open under this key and migration
 * (tampered, or sealed for another migration) is counted and named by count only: the error
 * carries no token and no value.
 */
export function openSealedTokens(key: SivKey, migrationId: string, tokens: Iterable<string>): Map<string, string> {
  const wanted = [...new Set(tokens)];
  const opened = sivOpenBatch(
    key,
    [Buffer.from(migrationId, 'utf8')],
    wanted.map((t) => Buffer.from(t.slice(SEALED_TOKEN_PREFIX.length), 'hex')),
  );
  const out = new Map<string, string>();
  let bad = 0;
  opened.forEach((plain, i) => {
    const id = plain?.toString('utf8');
    const at = id === undefined ? -1 : id.indexOf('\0');
    if (id === undefined || at < 0) bad++;
    else out.set(wanted[i]!, id.slice(at + 1));
  });
  // Value-free: counts only. Not retried: the staged batch itself is wrong.
  if (bad) throw new IntegrityError(`${bad} sealed token(s) do not open under this migration's token key (tampered, or sealed for another migration)`);
  return out;
}
