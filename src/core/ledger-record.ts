/**
 * One ledger record per loaded batch and table: what a rollback needs to undo the batch — the
 * business keys of the rows it inserted, and the pre-images of the rows it changed (or a sync
 * round deleted) — instead of one ledger row per migrated row.
 *
 * - The keys of the rows inserted and of the rows changed are packed as two gzipped JSON arrays.
 *   They are business keys as the target table beside the ledger holds them (the per-row ledger
 *   kept them in clear too; a plan refuses a personal business key).
 * - The pre-images are sealed together: one AES-256-GCM seal of the JSON document
 *   `{ keys, pre }`, under the vault key, its additional data naming the migration, table, run and
 *   batch, so a record's pre-images do not open as another record's.
 *
 * A row two batches wrote is undone by the older one alone (first write wins, as the per-row
 * ledger did): its pre-image is the row as it was before the migration, or the row is deleted when
 * the older batch inserted it. Restoring the newer batch's pre-image first could fail (a sync
 * round deleted a child row whose parent it deleted too) and would change nothing in the end.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { open, seal } from './envelope';

export interface LedgerBatch {
  /** Business keys of the rows the batch inserted. */
  inserted: string[];
  /** Rows the batch changed (or deleted), each with the row as it was before. */
  updated: { businessKey: string; preImage: unknown }[];
}

/** Where a record belongs: its additional data names all of it. */
export interface LedgerRecordAt {
  migrationId: string;
  table: string;
  runId: string;
  batchId: string;
}

/** A record as stored. */
export interface PackedLedgerRecord {
  insertedCount: number;
  updatedCount: number;
  /** Gzipped JSON array of business keys; null when the batch inserted none. */
  inserted: Buffer | null;
  /** Gzipped JSON array of the changed rows' business keys (the pre-images' keys, in clear); null when none. */
  changed: Buffer | null;
  /** Sealed `{ keys, pre }`; null when the batch changed none. */
  preImages: Buffer | null;
}

const aadOf = (at: LedgerRecordAt) => `ledger-preimages:${at.migrationId}:${at.table}:${at.runId}:${at.batchId}`;

export function packLedgerRecord(batch: LedgerBatch, vaultKey: Uint8Array, at: LedgerRecordAt): PackedLedgerRecord {
  return {
    insertedCount: batch.inserted.length,
    updatedCount: batch.updated.length,
    inserted: packKeys(batch.inserted),
    changed: packKeys(batch.updated.map((u) => u.businessKey)),
    preImages: batch.updated.length
      ? seal(Buffer.from(JSON.stringify({ keys: batch.updated.map((u) => u.businessKey), pre: batch.updated.map((u) => u.preImage) }), 'utf8'), vaultKey, aadOf(at))
      : null,
  };
}

const packKeys = (keys: readonly string[]) => (keys.length ? gzipSync(Buffer.from(JSON.stringify(keys), 'utf8'), { level: 1 }) : null);
const unpackKeys = (packed: Buffer | null) => (packed ? (JSON.parse(gunzipSync(packed).toString('utf8')) as string[]) : []);

export const insertedKeysOf = (record: Pick<PackedLedgerRecord, 'inserted'>): string[] => unpackKeys(record.inserted);
export const changedKeysOf = (record: Pick<PackedLedgerRecord, 'changed'>): string[] => unpackKeys(record.changed);

/**
 * Which record undoes each key: the `seq` of the oldest record that wrote it, from records given
 * oldest first; keys already in `into` (an older ledger's) stay. Whether that record inserted or
 * changed the key follows from which of its lists holds it (a batch writes a row once).
 */
export function firstWrites(records: Iterable<{ seq: number; inserted: readonly string[]; changed: readonly string[] }>, into = new Map<string, number>()): Map<string, number> {
  for (const r of records) {
    for (const k of r.inserted) if (!into.has(k)) into.set(k, r.seq);
    for (const k of r.changed) if (!into.has(k)) into.set(k, r.seq);
  }
  return into;
}

/** The record's pre-images; an `IntegrityError` (naming the record, no value) when they were changed or belong elsewhere. */
export function preImagesOf(record: Pick<PackedLedgerRecord, 'preImages'>, vaultKey: Uint8Array, at: LedgerRecordAt): LedgerBatch['updated'] {
  if (!record.preImages) return [];
  const doc = JSON.parse(open(record.preImages, vaultKey, aadOf(at), `ledger pre-images of ${at.table} batch ${at.batchId}`).toString('utf8')) as { keys: string[]; pre: unknown[] };
  return doc.keys.map((businessKey, i) => ({ businessKey, preImage: doc.pre[i] }));
}
