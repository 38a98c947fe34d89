/**
 * The target writer: what a load needs of the target database and the ledger schema beside its
 * tables — the load fence, the key map, the ledger's records, and the rows themselves — and nothing more.
 * `pgTargetWriter` is the real one; a unit test brings a small in-memory one.
 */
import type { Knex } from 'knex';
import { heldByOtherRows, keepKeyMapStatistics, KeyMapEntry, keyMapEntries, KeyMapRow, recordKeys, targetKeysOf } from '../control/key-map';
import { appendLedgerRecord } from '../control/ledger';
import type { LedgerRecordAt, PackedLedgerRecord } from '../core/ledger-record';
import { ensureLoadFence, holdLoadFence } from '../control/load-fence';
import type { Value } from '../core/mapping';
import { targetRowsJson } from '../core/target-rows';
import type { TargetType } from '../core/target-types';
import { rowsByKeySql, upsertSql } from '../plan/target-sql';
import { withoutValues } from './errors';

export type Row = Record<string, Value>;

/** One entity's target table as a load writes it. */
export interface LoadTable {
  schema: string;
  table: string;
  /** The mapped columns, in the staged rows' order, and their target types. */
  columns: readonly string[];
  types: readonly (TargetType | undefined)[];
  /** The business key's columns, and where they sit in `columns`. */
  businessKey: readonly string[];
  businessKeyIndexes: readonly number[];
  /** The target's own key column (an identity, say), when the plan names one. */
  key?: string;
  /** Rows read for update carry the whole row as well (a sync plan keeps whole-row pre-images). */
  wholeRow: boolean;
}

/** The counts a committed load recorded for its run and batch. */
export interface BatchLoadCounts {
  inserted: number;
  updated: number;
  unchanged: number;
  quarantined: number;
}

/** Statements on the rows themselves, inside a savepoint: a refusal undoes the savepoint only. */
export interface RowWriter {
  /** The target rows with these business keys (values in business-key order), locked until commit. */
  lockRows(table: LoadTable, keys: readonly (readonly Value[])[]): Promise<Row[]>;
  /** Inserts or updates rows (values in `table.columns` order) on the business key; returns the key and business key columns of each row written. */
  upsert(table: LoadTable, rows: readonly (readonly Value[])[]): Promise<Row[]>;
}

/** One load's transaction in the target: it holds the load fence until it commits. */
export interface LoadTransaction {
  /** What this run's load of the batch recorded, when it already committed. */
  priorLoad(runId: string, batchId: string): Promise<BatchLoadCounts | undefined>;
  /** Of these rows, those whose business key another source row of the entity already holds: source key to holder. */
  heldByOtherRows(migrationId: string, entity: string, rows: readonly { sourceKey: string; bk: string }[]): Promise<Map<string, string>>;
  keyMapEntries(migrationId: string, entity: string, sourceKeys: Iterable<string>): Promise<Map<string, KeyMapEntry>>;
  /** Runs `work` in a savepoint: when it throws, what it wrote is undone and the transaction goes on. */
  savepoint<T>(work: (rows: RowWriter) => Promise<T>): Promise<T>;
  /** The batch's one ledger record (what a rollback needs to undo it). */
  appendLedger(at: LedgerRecordAt, record: PackedLedgerRecord): Promise<void>;
  recordFiles(migrationId: string, entity: string, files: readonly { bucket: string; objectKey: string; sha256: string }[]): Promise<void>;
  recordKeys(migrationId: string, entity: string, rows: KeyMapRow[]): Promise<void>;
  recordBatchLoad(runId: string, batchId: string, counts: BatchLoadCounts): Promise<void>;
}

export interface TargetWriter {
  /** The ledger's tables and the fence exist, and the key map's statistics follow its growth (`added` rows since the last call). */
  prepare(added: number): Promise<void>;
  /** Where a parent's source keys landed in the target (the key map), outside any load's transaction. */
  targetKeysOf(migrationId: string, entity: string, sourceKeys: Iterable<string>): Promise<Map<string, string>>;
  /** One transaction holding the load fence of `fence.migrationId` for `fence.runId`; committed when `work` returns. */
  inLoad<T>(fence: { migrationId: string; runId: string; what: string }, work: (tx: LoadTransaction) => Promise<T>): Promise<T>;
  /** Holds the load fence while `work` writes elsewhere (a stage's vault entries and objects); released when it ends. */
  fenced<T>(fence: { migrationId: string; runId: string; what: string }, work: () => Promise<T>): Promise<T>;
}

function rowWriter(db: Knex.Transaction): RowWriter {
  return {
    async lockRows(table, keys) {
      const selected = table.key && !table.columns.includes(table.key) ? [...table.columns, table.key] : [...table.columns];
      const keyTypes = table.businessKeyIndexes.map((k) => table.types[k]);
      const q = rowsByKeySql(table, selected, table.businessKey, targetRowsJson(table.businessKey, keyTypes, keys), true, table.wholeRow);
      return (await db.raw(q.sql, q.bindings as never)).rows as Row[];
    },
    async upsert(table, rows) {
      const returning = table.key ? [table.key, ...table.businessKey] : [...table.businessKey];
      const q = upsertSql(table, table.columns, table.businessKey, returning, targetRowsJson(table.columns, table.types, rows));
      return (await db.raw(q.sql, q.bindings as never)).rows as Row[];
    },
  };
}

function loadTransaction(trx: Knex.Transaction, ledger: string): LoadTransaction {
  return {
    async priorLoad(runId, batchId) {
      const prior = await trx(`${ledger}.batch_loads`).where({ run_id: runId, batch_id: batchId }).first();
      return prior ? { inserted: prior.inserted, updated: prior.updated, unchanged: prior.unchanged, quarantined: prior.quarantined } : undefined;
    },
    heldByOtherRows: (migrationId, entity, rows) => heldByOtherRows(trx, ledger, migrationId, entity, rows),
    keyMapEntries: (migrationId, entity, sourceKeys) => keyMapEntries(trx, ledger, migrationId, entity, sourceKeys),
    savepoint: (work) => trx.transaction((sp) => work(rowWriter(sp))),
    appendLedger: (at, record) => appendLedgerRecord(trx, ledger, at, record),
    async recordFiles(migrationId, entity, files) {
      if (!files.length) return;
      await trx(`${ledger}.files`)
        .insert(files.map((f) => ({ migration_id: migrationId, entity, bucket: f.bucket, object_key: f.objectKey, sha256: f.sha256 })))
        .onConflict(['migration_id', 'bucket', 'object_key'])
        .ignore();
    },
    recordKeys: (migrationId, entity, rows) => recordKeys(trx, ledger, migrationId, entity, rows),
    async recordBatchLoad(runId, batchId, counts) {
      await trx(`${ledger}.batch_loads`).insert({ run_id: runId, batch_id: batchId, ...counts });
    },
  };
}

/** The target writer over a plan's target pool and ledger schema. */
export function pgTargetWriter(target: Knex, ledger: string): TargetWriter {
  return {
    async prepare(added) {
      await ensureLoadFence(target, ledger);
      await keepKeyMapStatistics(target, ledger, added);
    },
    targetKeysOf: (migrationId, entity, sourceKeys) => targetKeysOf(target, ledger, migrationId, entity, sourceKeys),
    inLoad: (fence, work) =>
      target.transaction(async (trx) => {
        // Held until commit: a rollback waits for this load to end, and a load after it is refused.
        await holdLoadFence(trx, ledger, fence.migrationId, fence.runId, fence.what);
        return work(loadTransaction(trx, ledger));
      }),
    async fenced(fence, work) {
      const where = (err: unknown) => withoutValues(`${fence.what} (load fence in the target)`, err);
      const trx = await ensureLoadFence(target, ledger)
        .then(() => target.transaction())
        .catch(where);
      try {
        await holdLoadFence(trx, ledger, fence.migrationId, fence.runId, fence.what).catch(where);
        const out = await work();
        await trx.commit();
        return out;
      } catch (err) {
        await trx.rollback().catch(() => undefined);
        throw err;
      }
    },
  };
}
