import type { Knex } from 'knex';
import { CONTROL_SCHEMA } from '../control/schema';
import type { PiiKind } from '../plan/types';
import { openJson, sealJson } from './seal-json';

export interface VaultEntry {
  token: string;
  kind: PiiKind;
  value: string;
}

/**
 * The token vault: original values, each sealed under the vault key with its token as
 * associated data (a ciphertext moved to another token does not open). Idempotent: a token
 * already present is left alone, so its creator stays the first migration that made it.
 */
export async function putVaultEntries(control: Knex, key: Uint8Array, migrationId: string, entries: VaultEntry[]): Promise<void> {
  const unique = new Map(entries.map((e) => [e.token, e]));
  // Sorted, so concurrent batches sharing tokens lock them in one order and never deadlock.
  const rows = [...unique.values()].sort((a, b) => (a.token < b.token ? -1 : a.token > b.token ? 1 : 0)).map((e) => ({ token: e.token, kind: e.kind, ciphertext: sealJson(e.value, key, `vault:${e.token}`), created_by: migrationId }));
  for (let i = 0; i < rows.length; i += 1000) {
    await control(`${CONTROL_SCHEMA}.vault`).insert(rows.slice(i, i + 1000)).onConflict('token').ignore();
  }
}

/** Original values of the given tokens; a token missing from the vault is an error naming the count. */
export async function lookupTokens(control: Knex, key: Uint8Array, tokens: Iterable<string>): Promise<Map<string, string>> {
  const wanted = [...new Set(tokens)];
  const out = new Map<string, string>();
  for (let i = 0; i < wanted.length; i += 5000) {
    const rows = await control(`${CONTROL_SCHEMA}.vault`).select('token', 'ciphertext').whereIn('token', wanted.slice(i, i + 5000));
    for (const r of rows) out.set(r.token, openJson<string>(r.ciphertext, key, `vault:${r.token}`, 'vault entry'));
  }
  const missing = wanted.length - out.size;
  if (missing > 0) throw new Error(`token vault: ${missing} token(s) have no entry`);
  return out;
}
