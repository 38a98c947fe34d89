import type { Knex } from 'knex';
import { CONTROL_SCHEMA } from '../control/schema';
import { assignTokens, TokenClaim, TokenClaimStore, valueId } from '../core/token-assignment';
import { valueMac } from '../core/tokens';
import type { PiiKind } from '../plan/types';
import { openJson, sealJson } from './seal-json';

const VAULT = `${CONTROL_SCHEMA}.vault`;
/**
 * Claims hold this lock shared, a purge's chunk exclusively: no claim can take up an entry (or
 * record a share of it) between the purge's hand-over and its delete.
 */
const VAULT_LOCK_SHARED = "select pg_advisory_xact_lock_shared(hashtext('cutover.vault'))";
const VAULT_LOCK = "select pg_advisory_xact_lock(hashtext('cutover.vault'))";
const SHARES = `${CONTROL_SCHEMA}.vault_shares`;

/**
 * The token vault: original values, each sealed under the vault key with its token as
 * associated data (a ciphertext moved to another token does not open), and indexed by the
 * value's keyed MAC. Two unique keys make a token stand for one value and a value have one
 * token. A value first stored by another migration is recorded as shared, so that
 * migration's rollback does not take the entry away from this one.
 */
export function vaultClaimStore(control: Knex, vaultKey: Uint8Array, migrationId: string): TokenClaimStore {
  return {
    async claim(claims: readonly TokenClaim[]): Promise<Map<string, string>> {
      // Sorted, so concurrent batches sharing values take their index entries in one order.
      const rows = [...claims]
        .sort((a, b) => (a.token < b.token ? -1 : a.token > b.token ? 1 : Buffer.compare(a.mac, b.mac)))
        .map((c, n) => ({ mac: c.mac.toString('hex'), token: c.token, kind: c.kind, sealed: sealJson(c.value, vaultKey, `vault:${c.token}`).toString('hex'), n }));
      const settled = new Map<string, string>();
      for (let i = 0; i < rows.length; i += 5000) {
        const found = await withDeadlockRetry(() =>
          control.transaction(async (trx): Promise<{ rows: { mac: string; token: string }[] }> => {
            // Shared: claims run side by side; a purge takes it exclusively (see purgeVaultEntries).
            await trx.raw(VAULT_LOCK_SHARED);
            return trx.raw(
            `with input as (
               select decode(i.mac, 'hex') as value_mac, i.token, i.kind, decode(i.sealed, 'hex') as ciphertext, n
               from json_to_recordset(?::json) as i(mac text, token text, kind text, sealed text, n int)
             ),
             existing as (
               -- Driven by the input: one probe of the MAC's unique index per value, whatever the statistics say.
               select v.value_mac, v.token, v.created_by from input i
               cross join lateral (select value_mac, token, created_by from ${VAULT} where value_mac = i.value_mac) as v
             ),
             inserted as (
               insert into ${VAULT} (token, value_mac, kind, ciphertext, created_by)
               select i.token, i.value_mac, i.kind, i.ciphertext, ? from input i
               where not exists (select 1 from existing e where e.value_mac = i.value_mac)
               order by i.n
               on conflict do nothing
               returning value_mac, token
             ),
             shared as (
               insert into ${SHARES} (token, migration_id)
               select e.token, ? from existing e where e.created_by <> ?
               on conflict do nothing
             )
             select encode(value_mac, 'hex') as mac, token from existing
             union all
             select encode(value_mac, 'hex') as mac, token from inserted`,
            [JSON.stringify(rows.slice(i, i + 5000)), migrationId, migrationId, migrationId],
            );
          }),
        );
        for (const r of found.rows) settled.set(r.mac, r.token);
      }
      return settled;
    },
  };
}

/** Concurrent claims of overlapping values can deadlock in PostgreSQL (40P01): the loser runs again. */
async function withDeadlockRetry<T>(work: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (err) {
      if ((err as { code?: string }).code !== '40P01' || attempt >= 5) throw err;
    }
  }
}

const indexed = new WeakSet<Knex>();

/**
 * Entries written before the vault kept the value's MAC get it now, once per control
 * database and process: their token stays theirs, and the same value asks for it again.
 */
export async function indexLegacyVaultEntries(control: Knex, tokenKey: Uint8Array, vaultKey: Uint8Array): Promise<number> {
  if (indexed.has(control)) return 0;
  let done = 0;
  for (;;) {
    const rows: { token: string; kind: PiiKind; ciphertext: Buffer }[] = await control(VAULT).select('token', 'kind', 'ciphertext').whereNull('value_mac').limit(2000);
    if (!rows.length) break;
    const macs = rows.map((r) => ({ token: r.token, mac: valueMac(r.kind, openJson<string>(r.ciphertext, vaultKey, `vault:${r.token}`, 'vault entry'), tokenKey).toString('hex') }));
    await control.raw(`update ${VAULT} v set value_mac = decode(m.mac, 'hex') from json_to_recordset(?::json) as m(token text, mac text) where v.token = m.token and v.value_mac is null`, [JSON.stringify(macs)]);
    done += rows.length;
  }
  indexed.add(control);
  return done;
}

/**
 * Tokens for personal values: each value's token from the vault, or a new one stored with the
 * value sealed. A token stands for exactly one value (see `assignTokens`). Returns tokens by
 * `valueId(kind, value)`.
 */
export async function tokenize(
  control: Knex,
  keys: { token: Uint8Array; vault: Uint8Array },
  migrationId: string,
  values: Iterable<{ kind: PiiKind; value: string }>,
): Promise<Map<string, string>> {
  await indexLegacyVaultEntries(control, keys.token, keys.vault);
  return assignTokens(values, keys.token, vaultClaimStore(control, keys.vault, migrationId));
}

/**
 * The tokens the vault already holds for these values, by `valueId(kind, value)`; a value it
 * has no entry for is absent. Reads only: nothing is claimed or shared.
 */
export async function existingTokens(control: Knex, tokenKey: Uint8Array, values: Iterable<{ kind: PiiKind; value: string }>): Promise<Map<string, string>> {
  const byMac = new Map<string, string>();
  for (const v of values) byMac.set(valueMac(v.kind, v.value, tokenKey).toString('hex'), valueId(v.kind, v.value));
  const macs = [...byMac.keys()];
  const out = new Map<string, string>();
  for (let i = 0; i < macs.length; i += 20_000) {
    const { rows } = await control.raw(`select m.mac, v.token from json_array_elements_text(?::json) as m(mac) cross join lateral (select token from ${VAULT} where value_mac = decode(m.mac, 'hex')) as v`, [JSON.stringify(macs.slice(i, i + 20_000))]);
    for (const r of rows as { mac: string; token: string }[]) out.set(byMac.get(r.mac)!, r.token);
  }
  return out;
}

/**
 * Original values of the given tokens; a token missing from the vault is an error naming the
 * count. Tokens found in `held` (the values this worker staged them from) are not read again.
 */
export async function lookupTokens(control: Knex, key: Uint8Array, tokens: Iterable<string>, held?: ReadonlyMap<string, string>): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const wanted: string[] = [];
  for (const t of new Set(tokens)) {
    const known = held?.get(t);
    if (known === undefined) wanted.push(t);
    else out.set(t, known);
  }
  for (let i = 0; i < wanted.length; i += 20_000) {
    const slice = wanted.slice(i, i + 20_000);
    const { rows } = await control.raw(`select v.token, v.ciphertext from json_array_elements_text(?::json) as k(t) cross join lateral (select token, ciphertext from ${VAULT} where token = k.t) as v`, [JSON.stringify(slice)]);
    for (const r of rows as { token: string; ciphertext: Buffer }[]) out.set(r.token, openJson<string>(r.ciphertext, key, `vault:${r.token}`, 'vault entry'));
  }
  const missing = wanted.filter((t) => !out.has(t)).length;
  if (missing > 0) throw new Error(`token vault: ${missing} token(s) have no entry`);
  return out;
}

/**
 * Removes what a migration holds in the vault: its uses of other migrations' entries, and the
 * entries it created — except those another migration uses too, which pass to that migration.
 */
export async function purgeVaultEntries(control: Knex, migrationId: string, progress: (purged: number) => void = () => undefined): Promise<{ purged: number; handedOver: number }> {
  await control(SHARES).where({ migration_id: migrationId }).delete();
  let purged = 0;
  let handedOver = 0;
  for (;;) {
    const n = await control.transaction(async (trx) => {
      await trx.raw(VAULT_LOCK);
      // Entries another migration uses too pass to it (one heir each) instead of going.
      const handed = await trx.raw(
        `with heir as (
           select distinct on (s.token) s.token, s.migration_id from ${SHARES} s join ${VAULT} v on v.token = s.token
           where v.created_by = ? order by s.token, s.migration_id
         ),
         moved as (update ${VAULT} v set created_by = h.migration_id from heir h where v.token = h.token returning v.token, v.created_by)
         delete from ${SHARES} s using moved m where s.token = m.token and s.migration_id = m.created_by`,
        [migrationId],
      );
      handedOver += handed.rowCount ?? 0;
      const deleted = await trx.raw(`delete from ${VAULT} where token in (select token from ${VAULT} where created_by = ? limit 5000)`, [migrationId]);
      return deleted.rowCount ?? 0;
    });
    purged += n;
    progress(purged);
    if (!n) return { purged, handedOver };
  }
}
