import { accountedKeyBuckets, keyMapKeysInBuckets } from '../control/key-map';
import { bucketMaskFor, bucketSummaries, differingBuckets } from '../core/key-buckets';
import { sourceKeySetChanges } from '../core/sync-keys';
import { keyBucketsSql, keysInBucketsSql } from '../plan/source-sql';
import type { EntitySpec } from '../plan/types';
import type { LoadedPlan } from '../stores/plan-store';
import type { Stores } from '../stores/stores';
import { readOnly } from '../stores/source-snapshot';

/** What comparing an entity's key sets found, and how much it read to find it. */
export interface KeySetChanges {
  /** Rows the migration loaded that the source no longer has, or now skips. */
  deleted: string[];
  /** Rows the source has (not skipped) that the migration neither loaded nor quarantined. */
  unseen: string[];
  /** Rows the migration has loaded of the entity (the key map's count: the mass-delete guard's denominator). */
  loaded: number;
  /** Hash buckets compared, and how many of them differed (their keys were read). */
  buckets: number;
  differing: number;
}

/**
 * Poll sync's comparison of the source's keys with the ones the migration accounts for (the key
 * map, and the quarantine), for deletes and rows inserted without a change value. Each side is
 * summarised by hash bucket in its own database (one row per few hundred keys comes back), and
 * only the keys of buckets whose summaries differ are read and compared exactly
 * (`sourceKeySetChanges`). A round whose source lost or gained a handful of rows reads a handful
 * of buckets, not the table. `aboutKeys` sizes the buckets (any recent count of the key map
 * will do: both sides use the same buckets within one comparison).
 */
export async function compareKeySets(stores: Pick<Stores, 'quarantine'>, loaded: LoadedPlan, migrationId: string, spec: EntitySpec, aboutKeys: number): Promise<KeySetChanges> {
  const ledger = loaded.plan.target.ledgerSchema;
  const quarantined = await stores.quarantine.sourceKeys(migrationId, spec.name);
  const mask = bucketMaskFor(aboutKeys);
  const q = keyBucketsSql(spec, mask);
  // Each side in its own database, at the same time.
  const [sourceRows, accountedRows] = await Promise.all([
    readOnly(loaded, `sync ${spec.name}: summarise the source keys`, async (trx) => (await trx.raw(q.sql, q.bindings as never)).rows),
    accountedKeyBuckets(loaded.target, ledger, migrationId, spec.name, mask, [...quarantined]),
  ]);
  const source = bucketSummaries(sourceRows);
  const accounted = bucketSummaries(accountedRows);
  const mapped = accountedRows.reduce((n, r) => n + Number(r.mapped), 0);
  const differing = differingBuckets(source, accounted);
  const out = { deleted: [] as string[], unseen: [] as string[], loaded: mapped, buckets: mask + 1, differing: differing.length };
  if (!differing.length) return out;
  const k = keysInBucketsSql(spec, mask, differing);
  const sourceKeys = new Map<string, string | null>();
  for (const r of await readOnly(loaded, `sync ${spec.name}: read the source keys of ${differing.length} bucket(s)`, async (trx) => (await trx.raw(k.sql, k.bindings as never)).rows as { key: string; skipped: string | null }[])) {
    sourceKeys.set(r.key, r.skipped);
  }
  const mappedKeys = new Set(await keyMapKeysInBuckets(loaded.target, ledger, migrationId, spec.name, mask, differing));
  return { ...out, ...sourceKeySetChanges(sourceKeys, mappedKeys, quarantined) };
}
