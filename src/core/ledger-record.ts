/**
 * One ledger record per loaded batch and table: what a rollback needs to undo the batch — the
 * business keys of the rows it inserted, and the pre-images of the rows it changed (or a sync
 * round deleted) — instead of one ledger row per migrated row.
 *
 * - The inserted keys are packed as one gzipped JSON array. They are business keys as the target
 *   table beside the ledger holds them (the per-row ledger kept them in clear too).
 * - The pre-images are sealed together: one AES-256-GCM seal of the JSON document
 *   `{ keys, pre }`, under the vault key, its additional data naming the migration, table, run and
 *   batch, so a record's pre-images do not open as another record's.
 *
 * Records are undone newest first. That restores what a first-write-wins per-row ledger did: a row
 * written by two batches gets the later batch's pre-image (the earlier batch's version) back
 * first, then the earlier batch's (the row as it was before the migration), or is deleted when the
 * earlier batch inserted it.
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
  /** Sealed `{ keys, pre }`; null when the batch changed none. */
  preImages: Buffer | null;
}

const aadOf = (at: LedgerRecordAt) => `ledger-preimages:${at.migrationId}:${at.table}:${at.runId}:${at.batchId}`;

export function packLedgerRecord(batch: LedgerBatch, vaultKey: Uint8Array, at: LedgerRecordAt): PackedLedgerRecord {
  return {
    insertedCount: batch.inserted.length,
    updatedCount: batch.updated.length,
    inserted: batch.inserted.length ? gzipSync(Buffer.from(JSON.stringify(batch.inserted), 'utf8'), { level: 1 }) : null,
    preImages: batch.updated.length
      ? seal(Buffer.from(JSON.stringify({ keys: batch.updated.map((u) => u.businessKey), pre: batch.updated.map((u) => u.preImage) }), 'utf8'), vaultKey, aadOf(at))
      : null,
  };
}

export function insertedKeysOf(record: Pick<PackedLedgerRecord, 'inserted'>): string[] {
  return record.inserted ? (JSON.parse(gunzipSync(record.inserted).toString('utf8')) as string[]) : [];
}

/** The record's pre-images; an `IntegrityError` (naming the record, no value) when they were changed or belong elsewhere. */
export function preImagesOf(record: Pick<PackedLedgerRecord, 'preImages'>, vaultKey: Uint8Array, at: LedgerRecordAt): LedgerBatch['updated'] {
  if (!record.preImages) return [];
  const doc = JSON.parse(open(record.preImages, vaultKey, aadOf(at), `ledger pre-images of ${at.table} batch ${at.batchId}`).toString('utf8')) as { keys: string[]; pre: unknown[] };
  return doc.keys.map((businessKey, i) => ({ businessKey, preImage: doc.pre[i] }));
}
