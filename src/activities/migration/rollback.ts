import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Knex } from 'knex';
import { closeLoadFence } from '../../control/load-fence';
import { describeSafe, SafeDbError, safeDbError } from '../../stores/errors';
import { openJson } from '../../crypto/seal-json';
import type { Stores } from '../../stores/stores';
import { treeColumnOf } from '../../plan/types';
import { restoreRowSql } from '../../plan/target-sql';

/** A table's columns a row can be inserted with: generated columns are computed, not written. */
async function writableColumns(db: Knex, schema: string, table: string): Promise<string[]> {
  const r = await db.raw(
    `select a.attname::text as name from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = ? and c.relname = ? and a.attnum > 0 and not a.attisdropped and a.attgenerated = '' order by a.attnum`,
    [schema, table],
  );
  return (r.rows as { name: string }[]).map((x) => x.name);
}

function heartbeat(details: unknown): void {
  try {
    Context.current().heartbeat(details);
  } catch {
    /* not in an activity */
  }
}

/** SQLSTATE classes of the database, not the rows: a retry may well succeed. */
const TRANSIENT_CLASSES = ['08', '40', '53', '55', '57', '58'];
const isTransient = (e: SafeDbError) => TRANSIENT_CLASSES.includes(e.sqlstate.slice(0, 2));

/**
 * The one line an operator needs when the target refuses an unload: the table, the constraint,
 * how many rows block it, how many entries are still to undo, and what to run after fixing it.
 */
async function blockedRollback(db: Knex, ledger: string, migrationId: string, entity: string, table: string, bkColumns: string[], e: SafeDbError): Promise<string> {
  const [left] = await db(`${ledger}.ledger`).where({ migration_id: migrationId, target_table: table }).count<{ n: string }[]>({ n: '*' });
  const rest = `${Number(left!.n).toLocaleString('en')} ledger entries of ${table} are kept; fix it, then \`cutover rollback ${migrationId}\` runs the rest of the rollback`;
  if (e.sqlstate === '23503' && e.constraint) {
    const blocking = await countReferencing(db, ledger, migrationId, table, bkColumns, e.constraint).catch(() => undefined);
    const by = blocking?.referencing ?? e.table ?? 'another table';
    return `rollback of ${entity} blocked: ${blocking ? `${blocking.rows.toLocaleString('en')} row(s) of ${by}` : `rows of ${by}`} reference rows this migration inserted into ${table} (foreign key ${e.constraint}); remove or re-point them. ${rest}`;
  }
  return `rollback of ${entity} blocked at ${table}: ${describeSafe(e)}. ${rest}`;
}

/** Rows of the constraint's table that reference rows the migration inserted (and would delete). */
async function countReferencing(db: Knex, ledger: string, migrationId: string, table: string, bkColumns: string[], constraint: string): Promise<{ referencing: string; rows: number }> {
  const [schema, name] = table.split('.') as [string, string];
  const fk = await db.raw(
    `select cn.nspname || '.' || cl.relname as referencing,
       array(select a.attname::text from unnest(c.conkey) with ordinality k(n, o) join pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.n order by k.o) as cols,
       array(select a.attname::text from unnest(c.confkey) with ordinality k(n, o) join pg_attribute a on a.attrelid = c.confrelid and a.attnum = k.n order by k.o) as refcols
     from pg_constraint c join pg_class cl on cl.oid = c.conrelid join pg_namespace cn on cn.oid = cl.relnamespace
     join pg_class rl on rl.oid = c.confrelid join pg_namespace rn on rn.oid = rl.relnamespace
     where c.conname = ? and c.contype = 'f' and rn.nspname = ? and rl.relname = ?`,
    [constraint, schema, name],
  );
  const { referencing, cols, refcols } = fk.rows[0] as { referencing: string; cols: string[]; refcols: string[] };
  let rows = 0;
  let after = '';
  for (;;) {
    const page = await db(`${ledger}.ledger`).select('business_key').where({ migration_id: migrationId, target_table: table, action: 'inserted' }).where('business_key', '>', after).orderBy('business_key').limit(5000);
    if (!page.length) return { referencing, rows };
    after = page[page.length - 1]!.business_key;
    const keys = page.map((e) => (bkColumns.length === 1 ? e.business_key : JSON.parse(e.business_key)));
    const parents = db(table).select(refcols);
    if (bkColumns.length === 1) parents.whereIn(bkColumns[0]!, keys);
    else parents.whereIn(bkColumns, keys);
    const [n] = await db(referencing).whereIn(cols, parents).count<{ n: string }[]>({ n: '*' });
    rows += Number(n!.n);
  }
}

export function createRollbackActivities(stores: Pick<Stores, 'plans' | 'keys' | 'vault' | 'batches' | 'approvals'>) {
  return {
    /**
     * Undoes an entity from the ledger: deletes the rows this migration inserted and restores
     * the pre-images of rows it updated, a chunk per transaction, the ledger entries going with
     * their rows (so a retry continues where it stopped). Then forgets its key map.
     */
    async unloadEntity(req: { migrationId: string; entity: string }): Promise<{ deleted: number; restored: number }> {
      const loaded = await stores.plans.plan(req.migrationId);
      const { spec } = loaded.entity(req.entity);
      const ledger = loaded.plan.target.ledgerSchema;
      const table = `${spec.target.schema}.${spec.target.table}`;
      const bkColumns = spec.target.businessKey;
      const vaultKey = await stores.keys.get('vault');
      const tally = { deleted: 0, restored: 0 };
      let writable: string[] | undefined;
      const exists = await loaded.target.schema.withSchema(ledger).hasTable('ledger');
      if (!exists) return tally;
      const blocked = async (err: unknown): Promise<never> => {
        // What a retry cannot fix (a reference, a trigger, a permission) stops the rollback with one line; the chunk's ledger stays.
        const safe = safeDbError(err);
        if (!safe || isTransient(safe)) throw err;
        throw ApplicationFailure.create({ type: 'RollbackBlocked', nonRetryable: true, message: await blockedRollback(loaded.target, ledger, req.migrationId, req.entity, table, bkColumns, safe) });
      };
      const keyOf = (bk: string): string[] => (bkColumns.length === 1 ? [bk] : (JSON.parse(bk) as string[]));
      const byKeys = (q: Knex.QueryBuilder, keys: string[][]) => (bkColumns.length === 1 ? q.whereIn(bkColumns[0]!, keys.map((k) => k[0]!)) : q.whereIn(bkColumns, keys));
      /**
       * Undoes up to 1,000 ledger entries (only `updated` ones, when asked) in one transaction: deletes
       * the rows inserted, restores the pre-images of rows updated, and drops their entries, so a
       * retry continues where it stopped. False once none is left.
       */
      const undoChunk = (only?: 'updated') =>
        loaded.target
          .transaction(async (trx) => {
            const q = trx(`${ledger}.ledger`).where({ migration_id: req.migrationId, target_table: table });
            if (only) q.where({ action: only });
            const entries = await q.orderBy('business_key').limit(1000).forUpdate();
            if (!entries.length) return false;
            const inserted = entries.filter((e) => e.action === 'inserted').map((e) => keyOf(e.business_key));
            if (inserted.length) tally.deleted += await byKeys(trx(table).delete(), inserted);
            for (const e of entries.filter((x) => x.action === 'updated')) {
              const pre = openJson<Record<string, unknown>>(e.pre_image, vaultKey, `preimage:${req.migrationId}:${table}:${e.business_key}`, 'pre-image');
              if (pre.v === 2 && pre.row && typeof pre.row === 'object') {
                // A whole row (plans with sync): put back as it was, inserted again if a sync round deleted it.
                writable ??= await writableColumns(trx, spec.target.schema, spec.target.table);
                const q = restoreRowSql({ schema: spec.target.schema, table: spec.target.table }, writable, bkColumns, [...bkColumns, ...(spec.target.key ? [spec.target.key] : [])], JSON.stringify(pre.row));
                tally.restored += (await trx.raw(q.sql, q.bindings as never)).rowCount ?? 0;
                continue;
              }
              const key = keyOf(e.business_key);
              const where = Object.fromEntries(bkColumns.map((c, i) => [c, key[i]]));
              const values = Object.fromEntries(Object.entries(pre).filter(([c]) => !bkColumns.includes(c) && c !== spec.target.key));
              tally.restored += await trx(table).where(where).update(values);
            }
            await trx(`${ledger}.ledger`).where({ migration_id: req.migrationId, target_table: table }).whereIn('business_key', entries.map((e) => e.business_key)).delete();
            return true;
          })
          .catch(blocked)
          .finally(() => heartbeat(tally));
      const tree = treeColumnOf(spec);
      if (tree) {
        // A tree's rows reference each other: chunks of deletes in any order would cut a child from its
        // parent. First every updated row gets its pre-image back (it pointed at rows that existed
        // before), then inserted rows let go of their parents, then they are deleted in any order.
        while (await undoChunk('updated'));
        for (let after = ''; ; ) {
          const entries = await loaded.target(`${ledger}.ledger`).select('business_key').where({ migration_id: req.migrationId, target_table: table, action: 'inserted' }).where('business_key', '>', after).orderBy('business_key').limit(1000);
          if (!entries.length) break;
          await byKeys(loaded.target(table).update({ [tree.name]: null }), entries.map((e) => keyOf(e.business_key))).catch(blocked);
          after = entries[entries.length - 1]!.business_key;
          heartbeat(tally);
        }
      }
      while (await undoChunk());
      // Objects it copied into target buckets.
      for (;;) {
        const objects = await loaded.target(`${ledger}.files`).where({ migration_id: req.migrationId, entity: req.entity }).limit(1000);
        if (!objects.length) break;
        for (const o of objects) await loaded.staging.removeLoadedFile(o.bucket, o.object_key);
        await loaded.target(`${ledger}.files`).where({ migration_id: req.migrationId, entity: req.entity }).whereIn('object_key', objects.map((o) => o.object_key)).delete();
        tally.deleted += objects.length;
        heartbeat(tally);
      }
      await loaded.target(`${ledger}.key_map`).where({ migration_id: req.migrationId, entity: req.entity }).delete();
      const batchIds = await stores.batches.batchIds(req.migrationId, req.entity);
      for (let i = 0; i < batchIds.length; i += 5000) await loaded.target(`${ledger}.batch_loads`).whereIn('batch_id', batchIds.slice(i, i + 5000)).delete();
      return tally;
    },

    /**
     * Closes the load fence: waits until no load or stage of the migration can still commit, and
     * refuses every later one. The first compensation, so the others see all there is to undo.
     */
    async fenceLoads(req: { migrationId: string }): Promise<{ fenced: number }> {
      const loaded = await stores.plans.plan(req.migrationId);
      await closeLoadFence(loaded.target, loaded.plan.target.ledgerSchema, req.migrationId);
      return { fenced: 1 };
    },

    /** Deletes every object the migration staged (their wrapped per-object data keys go with them). */
    async deleteStaged(req: { migrationId: string }): Promise<{ deleted: number }> {
      const loaded = await stores.plans.plan(req.migrationId);
      return { deleted: await loaded.staging.removeAll(req.migrationId, (deleted) => heartbeat({ deleted })) };
    },

    /** Deletes the vault entries this migration created; entries another migration also uses pass to it. */
    async purgeVault(req: { migrationId: string }): Promise<{ purged: number; handedOver: number }> {
      return stores.vault.purge(req.migrationId, (purged) => heartbeat({ purged }));
    },

    /** Records an operator's decision at a gate, with the time it was taken. */
    async recordApproval(req: { migrationId: string; phase: string; approver: string; decision: 'approve' | 'reject' }): Promise<{ decidedAt: string }> {
      return stores.approvals.record(req);
    },
  };
}
