/**
 * The token vault as the activities see it: tokens for personal values, and values for tokens.
 * `pgTokenVault` is the control database's vault (src/crypto/vault.ts); a unit test brings a
 * small in-memory one. The keys are the caller's: the plan decides which vault key it may use.
 */
import type { Knex } from 'knex';
import { existingTokens, lookupTokens, purgeVaultEntries, tokenize } from '../crypto/vault';
import type { PiiKind } from '../plan/types';

export interface TokenVault {
  /** One token per value, for ever (new values are stored sealed); tokens by `valueId(kind, value)`. */
  tokenize(keys: { token: Uint8Array; vault: Uint8Array }, migrationId: string, values: Iterable<{ kind: PiiKind; value: string }>): Promise<Map<string, string>>;
  /**
   * The values of these tokens; tokens in `held` (values this worker staged them from) are not
   * read again. A token the vault has no entry for is an error naming how many.
   */
  open(vaultKey: Uint8Array, tokens: Iterable<string>, held?: ReadonlyMap<string, string>): Promise<Map<string, string>>;
  /** The tokens the vault already holds for these values (reads only: nothing is claimed); a value it never saw is absent. */
  existing(tokenKey: Uint8Array, values: Iterable<{ kind: PiiKind; value: string }>): Promise<Map<string, string>>;
  /** Removes the entries a migration created; entries another migration uses too pass to it. */
  purge(migrationId: string, progress?: (purged: number) => void): Promise<{ purged: number; handedOver: number }>;
}

export function pgTokenVault(control: Knex): TokenVault {
  return {
    tokenize: (keys, migrationId, values) => tokenize(control, keys, migrationId, values),
    open: (vaultKey, tokens, held) => lookupTokens(control, vaultKey, tokens, held),
    existing: (tokenKey, values) => existingTokens(control, tokenKey, values),
    purge: (migrationId, progress) => purgeVaultEntries(control, migrationId, progress),
  };
}
