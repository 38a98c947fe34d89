import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Knex } from 'knex';
import { closeLoadFence } from '../../control/load-fence';
import { forgetEntity } from '../../control/key-map';
import { describeSafe, SafeDbError, safeDbError } from '../../stores/errors';
import { entriesLeft, firstWritesOf, insertedKeyPages, ledgersPresent, nextUndo } from '../../control/ledger';
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
  const left = await entriesLeft(db, ledger, migrationId, table);
  const rest = `${left.toLocaleString('en')} ledger entries of ${table} are kept; fix it, then \`cutover rollback ${migrationId}\` runs the rest of the rollback`;
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
  for await (const inserted of insertedKeyPages(db, ledger, migrationId, table, await firstWritesOf(db, ledger, migrationId, table))) {
    for (let i = 0; i < inserted.length; i += 5000) {
      const keys = inserted.slice(i, i + 5000).map((k) => (bkColumns.length === 1 ? k : JSON.parse(k)));
      const parents = db(table).select(refcols);
      if (bkColumns.length === 1) parents.whereIn(bkColumns[0]!, keys);
      else parents.whereIn(bkColumns, keys);
      const [n] = await db(referencing).whereIn(cols, parents).count<{ n: string }[]>({ n: '*' });
      rows += Number(n!.n);
    }
  }
  return { referencing, rows };
}

export function createRollbackActivities(stores: Pick<Stores, 'plans' | 'keys' | 'vault' | 'batches' | 'approvals'>) {
  return {
    /**
     * Undoes an entity from the ledger, newest record first: restores the pre-images of rows it
     * changed and deletes the rows it inserted, a record per transaction, the record going with its
     * rows (so a retry continues where it stopped). Then forgets its key map.
     */
    async unloadEntity(req: { migrationId: string; entity: string }): Promise<{ deleted: number; restored: number }> {
      const loaded = await stores.plans.plan(req.migrationId);
      const { spec } = loaded.entity(req.entity);
      const ledger = loaded.plan.target.ledgerSchema;
      const table = `${spec.target.schema}.${spec.target.table}`;
      const bkColumns = spec.target.businessKey;
      // Refused (MigrationKeysShredded, not retried) once the migration's keys are shredded: its pre-images no longer open.
      const preimageKey = (await loaded.sealing()).preimage;
      const tally = { deleted: 0, restored: 0 };
      let writable: string[] | undefined;
      const present = await ledgersPresent(loaded.target, ledger);
      if (!present.batches && !present.legacy) return tally;
      // Each row is undone by the oldest write of it still ledgered (first write wins).
      const first = await firstWritesOf(loaded.target, ledger, req.migrationId, table);
      const blocked = async (err: unknown): Promise<never> => {
        // What a retry cannot fix (a reference, a trigger, a permission) stops the rollback with one line; the unit's ledger stays.
        const safe = safeDbError(err);
        if (!safe || isTransient(safe)) throw err;
        throw ApplicationFailure.create({ type: 'RollbackBlocked', nonRetryable: true, message: await blockedRollback(loaded.target, ledger, req.migrationId, req.entity, table, bkColumns, safe) });
      };
      const keyOf = (bk: string): string[] => (bkColumns.length === 1 ? [bk] : (JSON.parse(bk) as string[]));
      const byKeys = (q: Knex.QueryBuilder, keys: string[][]) => (bkColumns.length === 1 ? q.whereIn(bkColumns[0]!, keys.map((k) => k[0]!)) : q.whereIn(bkColumns, keys));
      /**
       * Undoes the newest ledger record left (only its pre-images, when asked) in one transaction:
       * of the rows it wrote first, restores the pre-images of those it changed and deletes those it
       * inserted, and drops the record, so a retry continues where it stopped. False once none is left.
       */
      const undoNext = (only?: 'updated') =>
        loaded.target
          .transaction(async (trx) => {
            const unit = await nextUndo(trx, ledger, req.migrationId, table, preimageKey, first, only);
            if (!unit) return false;
            for (const { businessKey, preImage } of unit.updated) {
              const pre = preImage as Record<string, unknown>;
              if (pre.v === 2 && pre.row && typeof pre.row === 'object') {
                // A whole row (plans with sync): put back as it was, inserted again if a sync round deleted it.
                writable ??= await writableColumns(trx, spec.target.schema, spec.target.table);
                const q = restoreRowSql({ schema: spec.target.schema, table: spec.target.table }, writable, bkColumns, [...bkColumns, ...(spec.target.key ? [spec.target.key] : [])], JSON.stringify(pre.row));
                tally.restored += (await trx.raw(q.sql, q.bindings as never)).rowCount ?? 0;
                continue;
              }
              const key = keyOf(businessKey);
              const where = Object.fromEntries(bkColumns.map((c, i) => [c, key[i]]));
              const values = Object.fromEntries(Object.entries(pre).filter(([c]) => !bkColumns.includes(c) && c !== spec.target.key));
              tally.restored += await trx(table).where(where).update(values);
            }
            for (let i = 0; i < unit.inserted.length; i += 5000) tally.deleted += await byKeys(trx(table).delete(), unit.inserted.slice(i, i + 5000).map(keyOf));
            await unit.done();
            return true;
          })
          .catch(blocked)
          .finally(() => heartbeat(tally));
      const tree = treeColumnOf(spec);
      if (tree) {
        // A tree's rows reference each other: deletes in any order would cut a child from its
        // parent. First every changed row gets its pre-image back (it pointed at rows that existed
        // before), then inserted rows let go of their parents, then they are deleted in any order.
        while (await undoNext('updated'));
        for await (const inserted of insertedKeyPages(loaded.target, ledger, req.migrationId, table, first)) {
          for (let i = 0; i < inserted.length; i += 5000) await byKeys(loaded.target(table).update({ [tree.name]: null }), inserted.slice(i, i + 5000).map(keyOf)).catch(blocked);
          heartbeat(tally);
        }
      }
      while (await undoNext());
      // Objects it copied into target buckets.
      for (;;) {
        const objects = await loaded.target(`${ledger}.files`).where({ migration_id: req.migrationId, entity: req.entity }).limit(1000);
        if (!objects.length) break;
        for (const o of objects) await loaded.staging.removeLoadedFile(o.bucket, o.object_key);
        await loaded.target(`${ledger}.files`).where({ migration_id: req.migrationId, entity: req.entity }).whereIn('object_key', objects.map((o) => o.object_key)).delete();
        tally.deleted += objects.length;
        heartbeat(tally);
      }
      await forgetEntity(loaded.target, ledger, req.migrationId, req.entity);
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
