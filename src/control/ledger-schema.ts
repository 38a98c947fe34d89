import type { Knex } from 'knex';
import { fenceTableSql } from './load-fence';
import { ensureKeyMapTables } from './key-map-schema';

/**
 * The ledger lives in the target database, so every load writes its ledger record in the same
 * transaction as the rows themselves: no crash can leave a loaded row that rollback does not
 * know about. `batch_loads` records, once per run and batch, what the committed load did.
 * Not cached: it runs once per migration, and someone may have dropped the schema since.
 */
export async function ensureLedgerSchema(db: Knex, schema: string): Promise<void> {
  await db.transaction(async (trx) => {
    await trx.raw("select pg_advisory_xact_lock(hashtext('cutover.ledger-schema'))");
    await trx.raw(`create schema if not exists ??`, [schema]);
    // One record per loaded batch and table (core/ledger-record.ts); `seq` orders them, and a
    // rollback undoes them newest first. Earlier versions wrote one row per migrated row to
    // ??.ledger: that table is still read (and undone) where it exists, no longer created.
    await trx.raw(
      `create table if not exists ??.ledger_batches (
        seq bigserial primary key,
        migration_id text not null,
        target_table text not null,
        run_id text not null,
        batch_id text not null,
        inserted_count integer not null,
        updated_count integer not null,
        inserted bytea,
        changed bytea,
        pre_images bytea,
        created_at timestamptz not null default now(),
        unique (migration_id, target_table, run_id, batch_id)
      )`,
      [schema],
    );
    await trx.raw('alter table ??.ledger_batches add column if not exists changed bytea', [schema]);
    // Source key -> business key -> target key of every row a migration accounts for (see
    // control/key-map.ts): references are translated through it at load and back at reconcile.
    await ensureKeyMapTables(trx, schema);
    // Objects a migration copied into target buckets (rollback deletes them).
    await trx.raw(
      `create table if not exists ??.files (
        migration_id text not null,
        entity text not null,
        bucket text not null,
        object_key text not null,
        sha256 text not null,
        primary key (migration_id, bucket, object_key)
      )`,
      [schema],
    );
    // The target's checksums before a migration's first ledgered write: what its rollback must give back,
    // even after later runs of the same plan (which begin on a target holding the first run's rows).
    await trx.raw(
      `create table if not exists ??.checksums_before (
        migration_id text primary key,
        checksums jsonb not null,
        taken_at timestamptz not null default now()
      )`,
      [schema],
    );
    const fence = fenceTableSql(schema);
    await trx.raw(fence.sql, fence.bindings);
    await trx.raw(
      `create table if not exists ??.batch_loads (
        run_id text not null,
        batch_id text not null,
        inserted integer not null,
        updated integer not null,
        unchanged integer not null,
        quarantined integer not null,
        loaded_at timestamptz not null default now(),
        primary key (run_id, batch_id)
      )`,
      [schema],
    );
    // Rows a sync round's deletes removed (or soft-deleted).
    await trx.raw('alter table ??.batch_loads add column if not exists deleted integer not null default 0', [schema]);
  });
}
