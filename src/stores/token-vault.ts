/**
 * The token vault as the activities see it: tokens for personal values, and values for tokens.
 * `pgTokenVault` is the control database's vault (src/crypto/vault.ts); `withSealedTokens` puts
 * the values the target receives in clear under sealed tokens instead (no vault row: see
 * src/core/sealed-tokens.ts); a unit test brings a small in-memory vault. The keys are the
 * caller's: the plan decides which vault key it may use.
 */
import type { Knex } from 'knex';
import type { SivKey } from '../core/aes-siv';
import { isSealedToken, openSealedTokens, sealTokens } from '../core/sealed-tokens';
import { valueId } from '../core/token-assignment';
import { existingTokens, lookupTokens, purgeVaultEntries, tokenize } from '../crypto/vault';
import type { PiiKind } from '../plan/types';

/**
 * The keys tokens depend on: the control database's token (MAC and shaped tokens) and vault keys,
 * shared by every migration on it, and the migration's own sealed-token key (see
 * src/core/migration-keys.ts).
 */
export interface VaultKeys {
  token: Uint8Array;
  vault: Uint8Array;
  sealed: SivKey;
}

export interface TokenVault {
  /**
   * One token per value; tokens by `valueId(kind, value)`. A value marked `clear` everywhere it
   * occurs (the target gets it back) may get a sealed token; any other gets the vault's, for ever.
   */
  tokenize(keys: VaultKeys, migrationId: string, values: Iterable<{ kind: PiiKind; value: string; clear?: boolean }>): Promise<Map<string, string>>;
  /**
   * The values of these tokens, sealed or stored; tokens in `held` (values this worker staged
   * them from) are not read again. A token the vault has no entry for is an error naming how many.
   */
  open(keys: VaultKeys, migrationId: string, tokens: Iterable<string>, held?: ReadonlyMap<string, string>): Promise<Map<string, string>>;
  /** The tokens the vault already holds for these values (reads only: nothing is claimed); a value it never saw is absent. */
  existing(tokenKey: Uint8Array, values: Iterable<{ kind: PiiKind; value: string }>): Promise<Map<string, string>>;
  /** Removes the entries a migration created; entries another migration uses too pass to it. */
  purge(migrationId: string, progress?: (purged: number) => void): Promise<{ purged: number; handedOver: number }>;
}

export function pgTokenVault(control: Knex): TokenVault {
  return {
    tokenize: (keys, migrationId, values) => tokenize(control, keys, migrationId, values),
    open: (keys, _migrationId, tokens, held) => lookupTokens(control, keys.vault, tokens, held),
    existing: (tokenKey, values) => existingTokens(control, tokenKey, values),
    purge: (migrationId, progress) => purgeVaultEntries(control, migrationId, progress),
  };
}

/**
 * Values the target receives in clear, and only those, get sealed tokens: no vault row at stage,
 * none read at load (src/core/sealed-tokens.ts). A value that is also kept as a token somewhere
 * in the batch gets the vault's token everywhere, as before. Tokens staged by earlier versions
 * (vault tokens for clear values too) still open through the vault.
 */
export function withSealedTokens(vault: TokenVault): TokenVault {
  return {
    ...vault,
    async tokenize(keys, migrationId, values) {
      const all = [...values].map((v) => ({ ...v, id: valueId(v.kind, v.value) }));
      const kept = new Set(all.filter((v) => !v.clear).map((v) => v.id));
      const sealable = all.filter((v) => !kept.has(v.id));
      const stored = all.filter((v) => kept.has(v.id));
      const tokens = sealable.length ? sealTokens(keys.sealed, migrationId, sealable) : new Map<string, string>();
      if (stored.length) for (const [id, token] of await vault.tokenize(keys, migrationId, stored)) tokens.set(id, token);
      return tokens;
    },
    async open(keys, migrationId, tokens, held) {
      const sealed: string[] = [];
      const other: string[] = [];
      for (const t of new Set(tokens)) (held?.has(t) || !isSealedToken(t) ? other : sealed).push(t);
      const out = sealed.length ? openSealedTokens(keys.sealed, migrationId, sealed) : new Map<string, string>();
      if (other.length) for (const [t, v] of await vault.open(keys, migrationId, other, held)) out.set(t, v);
      return out;
    },
  };
}
