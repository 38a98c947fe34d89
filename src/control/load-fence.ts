import { ApplicationFailure } from '@temporalio/common';
import type { Knex } from 'knex';

/**
 * The load fence: one row per migration in the ledger schema of the target, naming the workflow
 * run allowed to load and whether loading is open. Every load (and every stage's writes) holds
 * it FOR SHARE for its whole transaction; a rollback closes it with an UPDATE, which waits for
 * every transaction holding it. So once `closeLoadFence` returns, no load can still commit, and
 * none started later will: the rows the compensations see are all there will be.
 */
export const FENCE_TABLE = 'load_fence';

export function fenceTableSql(schema: string): { sql: string; bindings: string[] } {
  return {
    sql: `create table if not exists ??.${FENCE_TABLE} (
      migration_id text primary key,
      run_id text not null,
      state text not null check (state in ('loading', 'rolling-back')),
      changed_at timestamptz not null default now()
    )`,
    bindings: [schema],
  };
}

const ensured = new WeakMap<Knex, Set<string>>();

/** The fence table, once per pool and schema (a ledger schema made by an older version lacks it). */
export async function ensureLoadFence(db: Knex, schema: string): Promise<void> {
  const done = ensured.get(db) ?? new Set<string>();
  ensured.set(db, done);
  if (done.has(schema)) return;
  const { sql, bindings } = fenceTableSql(schema);
  await db.raw(sql, bindings);
  done.add(schema);
}

/** Opens loading to this run of the migration (a new run takes over from an older one, after its loads end). */
export async function openLoadFence(db: Knex, schema: string, migrationId: string, runId: string): Promise<void> {
  await ensureLoadFence(db, schema);
  await db.raw(
    `insert into ??.${FENCE_TABLE} (migration_id, run_id, state) values (?, ?, 'loading')
     on conflict (migration_id) do update set run_id = excluded.run_id, state = 'loading', changed_at = now()
     where ${FENCE_TABLE}.run_id <> excluded.run_id`,
    [schema, migrationId, runId],
  );
}

/**
 * Inside a load's (or stage's) transaction: holds the fence for the rest of the transaction, or
 * refuses (non-retryable `LoadFenced`) when the migration is rolling back or another run owns it.
 * A migration prepared before the fence existed gets its row here.
 */
export async function holdLoadFence(trx: Knex.Transaction, schema: string, migrationId: string, runId: string, what: string): Promise<void> {
  let row = await trx(`${schema}.${FENCE_TABLE}`).where({ migration_id: migrationId }).forShare().first();
  if (!row) {
    await trx.raw(`insert into ??.${FENCE_TABLE} (migration_id, run_id, state) values (?, ?, 'loading') on conflict (migration_id) do nothing`, [schema, migrationId, runId]);
    row = await trx(`${schema}.${FENCE_TABLE}`).where({ migration_id: migrationId }).forShare().first();
  }
  if (row.state !== 'loading' || row.run_id !== runId) {
    const why = row.state !== 'loading' ? `migration ${migrationId} is rolling back` : `another run of migration ${migrationId} owns its loads now`;
    throw ApplicationFailure.create({ type: 'LoadFenced', nonRetryable: true, message: `${what}: refused, ${why}; nothing of it was written` });
  }
}

/** Closes loading: waits until every transaction holding the fence has ended. Idempotent. */
export async function closeLoadFence(db: Knex, schema: string, migrationId: string): Promise<void> {
  await ensureLoadFence(db, schema);
  await db.raw(
    `insert into ??.${FENCE_TABLE} (migration_id, run_id, state) values (?, '', 'rolling-back')
     on conflict (migration_id) do update set state = 'rolling-back', changed_at = now()`,
    [schema, migrationId],
  );
}
