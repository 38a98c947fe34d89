/**
 * The ledger in the target's ledger schema: what each load wrote, so a rollback can undo it.
 *
 * `ledger_batches` holds one record per loaded batch and table (see `core/ledger-record.ts`),
 * written in the load's own transaction. `ledger` is the per-row ledger earlier versions wrote
 * (one row per migrated row, first write wins); nothing writes it any more, but a migration that
 * began under an earlier version still has entries there, and its rollback undoes them after
 * every batch record (they are all older).
 */
import type { Knex } from 'knex';
import { changedKeysOf, firstWrites, insertedKeysOf, LedgerRecordAt, PackedLedgerRecord, preImagesOf } from '../core/ledger-record';
import { openJson } from '../crypto/seal-json';

/** Records a batch's ledger record; a second record for the same run, batch and table changes nothing. */
export async function appendLedgerRecord(trx: Knex.Transaction, schema: string, at: LedgerRecordAt, record: PackedLedgerRecord): Promise<void> {
  if (!record.insertedCount && !record.updatedCount) return;
  await trx.raw(
    `insert into ??.ledger_batches (migration_id, target_table, run_id, batch_id, inserted_count, updated_count, inserted, changed, pre_images)
     values (?, ?, ?, ?, ?, ?, ?, ?, ?) on conflict (migration_id, target_table, run_id, batch_id) do nothing`,
    [schema, at.migrationId, at.table, at.runId, at.batchId, record.insertedCount, record.updatedCount, record.inserted, record.changed, record.preImages],
  );
}

/** Which of the two ledgers the schema holds: batch records, and the per-row ledger of earlier versions. */
export async function ledgersPresent(db: Knex, schema: string): Promise<{ batches: boolean; legacy: boolean }> {
  const r = await db.raw('select to_regclass(?) is not null as batches, to_regclass(?) is not null as legacy', [`${schema}.ledger_batches`, `${schema}.ledger`]);
  return { batches: r.rows[0].batches as boolean, legacy: r.rows[0].legacy as boolean };
}

/** Writes a migration still has ledgered, by table: rows inserted and rows changed (a row written by two batches counts twice). */
export async function ledgerCounts(db: Knex, schema: string, migrationId: string): Promise<{ table: string; inserted: number; updated: number }[]> {
  const present = await ledgersPresent(db, schema);
  const parts: string[] = [];
  const bindings: unknown[] = [];
  if (present.batches) {
    parts.push('select target_table, sum(inserted_count)::int as inserted, sum(updated_count)::int as updated from ??.ledger_batches where migration_id = ? group by 1');
    bindings.push(schema, migrationId);
  }
  if (present.legacy) {
    parts.push("select target_table, count(*) filter (where action = 'inserted')::int, count(*) filter (where action = 'updated')::int from ??.ledger where migration_id = ? group by 1");
    bindings.push(schema, migrationId);
  }
  if (!parts.length) return [];
  const r = await db.raw(`select target_table as table, sum(inserted)::int as inserted, sum(updated)::int as updated from (${parts.join(' union all ')}) x group by 1 order by 1`, bindings as never);
  return (r.rows as { table: string; inserted: number; updated: number }[]).map((t) => ({ table: t.table, inserted: Number(t.inserted), updated: Number(t.updated) }));
}

/** Whether the migration has anything ledgered at all (rows or copied files). */
export async function anythingLedgered(trx: Knex, schema: string, migrationId: string): Promise<boolean> {
  const legacy = (await ledgersPresent(trx, schema)).legacy ? ` or exists (select 1 from ??.ledger where migration_id = ?)` : '';
  const r = await trx.raw(
    `select exists (select 1 from ??.ledger_batches where migration_id = ?) or exists (select 1 from ??.files where migration_id = ?)${legacy} as any`,
    [schema, migrationId, schema, migrationId, ...(legacy ? [schema, migrationId] : [])],
  );
  return r.rows[0].any as boolean;
}

/**
 * Which write undoes each key of the migration's table: the oldest record that wrote it (the
 * per-row ledger of earlier versions before any record, as `seq` 0). Read at the start of each
 * rollback attempt: records are dropped newest first, so the oldest writer of a key left is still there.
 */
export async function firstWritesOf(db: Knex, schema: string, migrationId: string, table: string): Promise<Map<string, number>> {
  const present = await ledgersPresent(db, schema);
  const first = new Map<string, number>();
  for (let after = ''; present.legacy; ) {
    const page = await db(`${schema}.ledger`).select('business_key').where({ migration_id: migrationId, target_table: table }).where('business_key', '>', after).orderBy('business_key').limit(20_000);
    if (!page.length) break;
    for (const e of page) first.set(e.business_key, 0);
    after = page[page.length - 1]!.business_key;
  }
  for (let after = 0; present.batches; ) {
    const records = await db(`${schema}.ledger_batches`).select('seq', 'inserted', 'changed').where({ migration_id: migrationId, target_table: table }).where('seq', '>', after).orderBy('seq').limit(50);
    if (!records.length) break;
    firstWrites(records.map((r) => ({ seq: Number(r.seq), inserted: insertedKeysOf(r), changed: changedKeysOf(r) })), first);
    after = Number(records[records.length - 1]!.seq);
  }
  return first;
}

/** One unit of undo, read and locked in the rollback's transaction. */
export interface UndoUnit {
  /** Business keys of rows inserted: to delete. */
  inserted: string[];
  /** Rows changed: to put back as they were. */
  updated: { businessKey: string; preImage: unknown }[];
  /** Drops what was undone (the pre-images only, when only those were asked for), in the same transaction. */
  done(): Promise<void>;
}

/**
 * The next unit to undo of a migration's table, newest first: a batch record, then (when none is
 * left) up to 1,000 entries of the per-row ledger. A record's keys that an older write undoes
 * (`first`) are left to it. With `only: 'updated'`, only the pre-images, and the record stays
 * (its inserted keys for a later pass, its changed keys so `first` reads the same on a retry).
 * Undefined when nothing is left.
 */
export async function nextUndo(trx: Knex.Transaction, schema: string, migrationId: string, table: string, vaultKey: Uint8Array, first: ReadonlyMap<string, number>, only?: 'updated'): Promise<UndoUnit | undefined> {
  const present = await ledgersPresent(trx, schema);
  const q = trx(`${schema}.ledger_batches`).where({ migration_id: migrationId, target_table: table });
  if (only) q.whereNotNull('pre_images');
  const record = present.batches ? await q.orderBy('seq', 'desc').first().forUpdate() : undefined;
  if (record) {
    const at = { migrationId, table, runId: record.run_id, batchId: record.batch_id };
    const seq = Number(record.seq);
    const undoesHere = (k: string) => first.get(k) === seq;
    return {
      inserted: only ? [] : insertedKeysOf(record).filter(undoesHere),
      updated: preImagesOf({ preImages: record.pre_images }, vaultKey, at).filter((u) => undoesHere(u.businessKey)),
      async done() {
        if (only) await trx(`${schema}.ledger_batches`).where({ seq: record.seq }).update({ pre_images: null, updated_count: 0 });
        else await trx(`${schema}.ledger_batches`).where({ seq: record.seq }).delete();
      },
    };
  }
  if (!present.legacy) return undefined;
  const lq = trx(`${schema}.ledger`).where({ migration_id: migrationId, target_table: table });
  if (only) lq.where({ action: only });
  const entries = await lq.orderBy('business_key').limit(1000).forUpdate();
  if (!entries.length) return undefined;
  return {
    inserted: entries.filter((e) => e.action === 'inserted').map((e) => e.business_key as string),
    updated: entries
      .filter((e) => e.action === 'updated')
      .map((e) => ({ businessKey: e.business_key as string, preImage: openJson(e.pre_image, vaultKey, `preimage:${migrationId}:${table}:${e.business_key}`, 'pre-image') })),
    async done() {
      await trx(`${schema}.ledger`).where({ migration_id: migrationId, target_table: table }).whereIn('business_key', entries.map((e) => e.business_key)).delete();
    },
  };
}

/** Business keys of every row the migration inserted into the table (still ledgered, and not there before by `first`), a page at a time. */
export async function* insertedKeyPages(db: Knex, schema: string, migrationId: string, table: string, first: ReadonlyMap<string, number>): AsyncGenerator<string[]> {
  const present = await ledgersPresent(db, schema);
  for (let after = 0; present.batches; ) {
    const records = await db(`${schema}.ledger_batches`).select('seq', 'inserted').where({ migration_id: migrationId, target_table: table }).where('seq', '>', after).whereNotNull('inserted').orderBy('seq').limit(20);
    if (!records.length) break;
    for (const r of records) yield insertedKeysOf(r).filter((k) => first.get(k) === Number(r.seq));
    after = Number(records[records.length - 1]!.seq);
  }
  if (!present.legacy) return;
  for (let after = ''; ; ) {
    const page = await db(`${schema}.ledger`).select('business_key').where({ migration_id: migrationId, target_table: table, action: 'inserted' }).where('business_key', '>', after).orderBy('business_key').limit(5000);
    if (!page.length) return;
    yield page.map((e) => e.business_key as string);
    after = page[page.length - 1]!.business_key;
  }
}

/** Ledgered writes of the table still to undo. */
export async function entriesLeft(db: Knex, schema: string, migrationId: string, table: string): Promise<number> {
  return (await ledgerCounts(db, schema, migrationId)).filter((t) => t.table === table).reduce((n, t) => n + t.inserted + t.updated, 0);
}
