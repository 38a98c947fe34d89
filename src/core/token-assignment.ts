import type { PiiKind } from '../plan/types';
import { candidateToken, TokenShape, tokenShape, valueMac } from './tokens';

/** One value asking for a token: its MAC (its identity in the vault) and its candidate. */
export interface TokenClaim {
  kind: PiiKind;
  value: string;
  mac: Buffer;
  token: string;
}

/**
 * The part of the vault token assignment needs. `claim` is one round trip for many values:
 * a value that already holds a token gets it back; a value without one takes its candidate
 * if no other value holds it. The answer maps each settled value's MAC (hex) to its token;
 * a value left out did not get its candidate (another value holds it, or another writer was
 * storing the same value at that moment): it asks again.
 */
export interface TokenClaimStore {
  claim(claims: readonly TokenClaim[]): Promise<Map<string, string>>;
}

/** Far beyond any real collision chain (a phone token space of 10^10 collides once per ~10^5 values). */
export const MAX_TOKEN_ATTEMPTS = 32;

export const valueId = (kind: PiiKind, value: string) => `${kind}\0${value}`;

/**
 * Gives every value a token that stands for it alone, for ever: its first candidate no other
 * value holds. Equal values get equal tokens across batches, workers and migrations sharing
 * the vault, because the vault keeps one token per value (by MAC) and one value per token.
 * One `claim` per round; a batch needs a second round only when a candidate collided or a
 * concurrent writer stored the same value. Returns the token of each value, by `valueId`.
 */
export async function assignTokens(values: Iterable<{ kind: PiiKind; value: string }>, key: Uint8Array, store: TokenClaimStore, shape: TokenShape = tokenShape): Promise<Map<string, string>> {
  const pending = new Map<string, { kind: PiiKind; value: string; mac: Buffer; attempt: number }>();
  for (const { kind, value } of values) {
    const id = valueId(kind, value);
    if (!pending.has(id)) pending.set(id, { kind, value, mac: valueMac(kind, value, key), attempt: 0 });
  }
  const tokens = new Map<string, string>();
  for (let round = 0; pending.size; round++) {
    const claims = [...pending.values()].map((p) => ({ kind: p.kind, value: p.value, mac: p.mac, token: candidateToken(p.kind, p.mac, p.attempt, key, shape) }));
    const settled = await store.claim(claims);
    for (const [id, p] of pending) {
      const token = settled.get(p.mac.toString('hex'));
      if (token !== undefined) {
        tokens.set(id, token);
        pending.delete(id);
      } else if (++p.attempt >= MAX_TOKEN_ATTEMPTS) {
        throw new Error(`token vault: no free ${p.kind} token after ${MAX_TOKEN_ATTEMPTS} candidates: the ${p.kind} token space is exhausted`);
      }
    }
  }
  return tokens;
}
