import type { Knex } from 'knex';

/** Schema in the control database: keys, token vault, plans, batches and quarantine. */
export const CONTROL_SCHEMA = 'cutover';

let ready = new WeakSet<Knex>();

/**
 * The version of the DDL below: raise it with every change to it. A control database at this
 * version (or a later one) is used as it is, without running the DDL again.
 */
export const CONTROL_SCHEMA_VERSION = 6;

/** The version a control database's schema was last brought to; 0 before versions were kept. */
async function schemaVersion(db: Knex): Promise<number> {
  const r = await db.raw(`select to_regclass('${CONTROL_SCHEMA}.schema_version') is not null as kept`);
  if (!r.rows[0].kept) return 0;
  const row = await db(`${CONTROL_SCHEMA}.schema_version`).max({ v: 'version' }).first();
  return Number(row?.v ?? 0);
}

/**
 * Creates the control schema if missing; safe to call from concurrent activities. A schema
 * already current costs one read: the DDL (`create index if not exists`, `alter table … if not
 * exists`) takes table locks even when it changes nothing, and every client process (each codec
 * key lookup) running it beside a worker's vault transactions could deadlock with them.
 */
export async function ensureControlSchema(db: Knex): Promise<void> {
  if (ready.has(db)) return;
  if ((await schemaVersion(db)) >= CONTROL_SCHEMA_VERSION) {
    ready.add(db);
    return;
  }
  await db.transaction(async (trx) => {
    // One creator at a time, across workers: a transaction-level advisory lock.
    await trx.raw("select pg_advisory_xact_lock(hashtext('cutover.control-schema'))");
    await trx.raw(`create schema if not exists ${CONTROL_SCHEMA}`);
    await trx.raw(`
      create table if not exists ${CONTROL_SCHEMA}.data_keys (
        purpose text primary key,
        kms_key_id text not null,
        wrapped bytea not null,
        created_at timestamptz not null default now()
      );
      create table if not exists ${CONTROL_SCHEMA}.vault (
        token text primary key,
        kind text not null,
        ciphertext bytea not null,
        created_by text not null,
        created_at timestamptz not null default now()
      );
      create index if not exists vault_created_by on ${CONTROL_SCHEMA}.vault (created_by);
      -- The value's keyed MAC: one token per value (entries from before it was kept get it on first use).
      alter table ${CONTROL_SCHEMA}.vault add column if not exists value_mac bytea;
      create unique index if not exists vault_value_mac on ${CONTROL_SCHEMA}.vault (value_mac);
      -- Migrations that use an entry another migration created: its rollback hands the entry over.
      create table if not exists ${CONTROL_SCHEMA}.vault_shares (
        token text not null references ${CONTROL_SCHEMA}.vault (token) on delete cascade,
        migration_id text not null,
        primary key (token, migration_id)
      );
      create table if not exists ${CONTROL_SCHEMA}.migrations (
        migration_id text primary key,
        plan_name text not null,
        plan_hash text not null,
        plan jsonb not null,
        started_by text,
        created_at timestamptz not null default now()
      );
      create table if not exists ${CONTROL_SCHEMA}.batches (
        batch_id text primary key,
        migration_id text not null,
        entity text not null,
        after_key text,
        last_key text not null,
        rows_extracted integer not null,
        rows_staged integer not null,
        rows_quarantined integer not null,
        object_key text not null,
        manifest_key text not null,
        staged_at timestamptz not null default now(),
        reconcile jsonb
      );
      create index if not exists batches_migration on ${CONTROL_SCHEMA}.batches (migration_id, entity);
      create table if not exists ${CONTROL_SCHEMA}.approvals (
        migration_id text not null,
        phase text not null,
        approver text not null,
        decision text not null,
        decided_at timestamptz not null default now(),
        primary key (migration_id, phase)
      );
      create table if not exists ${CONTROL_SCHEMA}.quarantine (
        migration_id text not null,
        entity text not null,
        source_key text not null,
        batch_id text not null,
        stage text not null,
        business_key text,
        reason text not null,
        column_name text,
        detail text not null,
        payload bytea not null,
        created_at timestamptz not null default now(),
        primary key (migration_id, entity, source_key)
      );
      -- A completed migration can be rolled back until an operator closes its window (a row here,
      -- per completed run of the migration workflow); cutover rollback then refuses.
      create table if not exists ${CONTROL_SCHEMA}.rollback_windows (
        migration_id text not null,
        run_id text not null,
        closed_by text not null,
        closed_at timestamptz not null default now(),
        reason text,
        primary key (migration_id, run_id)
      );
      -- Delta sync: the source keys a round captured (by change stream or watermark), per entity;
      -- a round's stage reads them from here, so keys never travel through workflow history.
      create table if not exists ${CONTROL_SCHEMA}.sync_changes (
        migration_id text not null,
        round integer not null,
        entity text not null,
        source_key text not null,
        primary key (migration_id, round, entity, source_key)
      );
      -- Delta sync, logical: what the slot's follower kept of the stream (a key per row change of a
      -- plan table, by the commit it belongs to), until a round that took it is confirmed; and how
      -- far the stream is kept complete, and confirmed (see stores/followed-changes.ts).
      create table if not exists ${CONTROL_SCHEMA}.sync_followed (
        migration_id text not null,
        commit_lsn pg_lsn not null,
        lsn pg_lsn not null,
        kind char(1) not null,
        entity text not null,
        source_key text not null,
        committed_at double precision not null,
        primary key (migration_id, commit_lsn, lsn, kind, entity, source_key)
      );
      create table if not exists ${CONTROL_SCHEMA}.sync_follow_state (
        migration_id text primary key,
        followed_to pg_lsn,
        confirmed pg_lsn,
        updated_at timestamptz not null default now()
      );
      -- Target rows someone else changed since Cutover wrote them, and what the plan's policy did.
      create table if not exists ${CONTROL_SCHEMA}.sync_conflicts (
        migration_id text not null,
        entity text not null,
        source_key text not null,
        business_key text not null,
        batch_id text not null,
        change text not null,
        policy text not null,
        applied boolean not null,
        detected_at timestamptz not null default now(),
        primary key (migration_id, entity, source_key, batch_id)
      );
      -- Rows whose last verification failed (missing from the target, or different from the
      -- source), until a later batch or the cutover verifies them: what "verified" leaves out.
      create table if not exists ${CONTROL_SCHEMA}.unverified_rows (
        migration_id text not null,
        entity text not null,
        source_key text not null,
        business_key text not null,
        reason text not null,
        batch_id text not null,
        found_at timestamptz not null default now(),
        primary key (migration_id, entity, source_key)
      );
      -- Per-migration keys: a migration registered with own_keys seals its staged objects,
      -- pre-images, quarantined rows and sealed tokens under subkeys of its own root key, kept here
      -- only wrapped by KMS (generated at prepare). Shredding deletes the wrapped key for good.
      alter table ${CONTROL_SCHEMA}.migrations add column if not exists own_keys boolean;
      create table if not exists ${CONTROL_SCHEMA}.migration_keys (
        migration_id text primary key,
        kms_key_id text not null,
        wrapped bytea,
        fingerprint text not null,
        generation integer not null default 1,
        created_at timestamptz not null default now(),
        rotated_at timestamptz,
        shredded_at timestamptz,
        shredded_by text
      );
      create table if not exists ${CONTROL_SCHEMA}.schema_version (version integer primary key);`);
    await trx(`${CONTROL_SCHEMA}.schema_version`).insert({ version: CONTROL_SCHEMA_VERSION }).onConflict('version').ignore();
  });
  ready.add(db);
}

/** For tests that drop and recreate databases. */
export function forgetControlSchema(): void {
  ready = new WeakSet<Knex>();
}
