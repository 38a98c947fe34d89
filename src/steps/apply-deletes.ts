import type { Knex } from 'knex';
import { forgetKeys, keyMapEntries } from '../control/key-map';
import { appendLedgerRecord } from '../control/ledger';
import { packLedgerRecord } from '../core/ledger-record';
import { holdLoadFence } from '../control/load-fence';
import { rowDigest } from '../core/digest';
import type { QuarantineRecord } from '../core/quarantine-record';
import { conflictRecord, decideDelete, sourceWins, SyncConflict, wholeRowPreImage } from '../core/sync-conflict';
import { targetRowsJson } from '../core/target-rows';
import { deleteByKeySql, rowsByKeySql, softDeleteByKeySql } from '../plan/target-sql';
import type { BatchRef, LoadedBatch } from '../shared/migration';
import { businessKeyOf } from '../core/mapping';
import type { LoadedPlan } from '../stores/plan-store';
import type { Stores } from '../stores/stores';
import { withHeartbeat } from '../stores/activity-runtime';
import { describeSafe, withoutValues } from '../stores/errors';
import { applyInHalves } from '../stores/halving';
import type { Manifest } from '../stores/manifest';
import { countLoaded } from '../stores/metrics';

/** A sync round's batch whose deletes are applied: the load's request. */
export interface DeleteRequest extends BatchRef {
  runId: string;
}

/**
 * A sync round's deletes, in one target transaction: the rows of source keys the source no
 * longer has are deleted (or soft-deleted, by plan) by business key, each ledgered with its
 * whole-row pre-image (so a rollback puts it back), and forgotten by the key map. A row someone
 * else changed since Cutover wrote it is a conflict, handled by the plan's policy. A row the
 * target refuses to delete (a reference to it) is quarantined by name. Re-running changes nothing.
 */
export async function applyDeletes(stores: Pick<Stores, 'keys' | 'quarantine' | 'conflicts' | 'audit'>, loaded: LoadedPlan, req: DeleteRequest, manifest: Manifest): Promise<LoadedBatch> {
  const { spec, mapper } = loaded.entity(req.entity);
  const sync = loaded.plan.sync;
  const ledger = loaded.plan.target.ledgerSchema;
  const table = `${spec.target.schema}.${spec.target.table}`;
  const target = { schema: spec.target.schema, table: spec.target.table };
  const columns = mapper.columns;
  const bkColumns = spec.target.businessKey;
  const targetKey = spec.target.key;
  const selected = targetKey && !columns.includes(targetKey) ? [...columns, targetKey] : columns;
  const types = await loaded.targetTypes(req.entity);
  const bkTypes = mapper.businessKeyIndexes.map((k) => types[k]);
  const [digestKey, sealing] = await Promise.all([stores.keys.get('digest'), loaded.sealing()]);
  const batchKey = `${req.batchId}/deletes`;
  const componentsOf = (bk: string): string[] => (bkColumns.length === 1 ? [bk] : (JSON.parse(bk) as string[]));
  const conflicts: SyncConflict[] = [];
  const result = await withHeartbeat({ phase: 'sync-delete', batchId: req.batchId }, () =>
    loaded.target
      .transaction(async (trx) => {
        await holdLoadFence(trx, ledger, req.migrationId, req.runId, `delete ${req.entity} batch ${req.batchId}`);
        const prior = await trx(`${ledger}.batch_loads`).where({ run_id: req.runId, batch_id: batchKey }).first();
        if (prior) return { inserted: 0, updated: 0, unchanged: 0, quarantined: prior.quarantined, deleted: prior.deleted, conflicts: await stores.conflicts.count(req) };
        const entries = await keyMapEntries(trx, ledger, req.migrationId, req.entity, manifest.delta!.deleted);
        const existing = new Map<string, Record<string, unknown>>();
        const bks = [...entries.values()].map((e) => e.businessKey);
        for (let i = 0; i < bks.length; i += 20_000) {
          const q = rowsByKeySql(target, selected, bkColumns, targetRowsJson(bkColumns, bkTypes, bks.slice(i, i + 20_000).map(componentsOf)), true, true);
          const { rows } = await trx.raw(q.sql, q.bindings as never);
          for (const r of rows as Record<string, unknown>[]) existing.set(businessKeyOf(columns.map((c) => r[c]), mapper.businessKeyIndexes), r);
        }
        const forget: string[] = [];
        const toDelete: { sourceKey: string; bk: string; pre: Record<string, unknown> }[] = [];
        const refused: QuarantineRecord[] = [];
        for (const [sourceKey, e] of entries) {
          const pre = existing.get(e.businessKey);
          const decision = decideDelete({ currentDigest: pre ? rowDigest(digestKey, columns, columns.map((c) => pre[c]), types) : undefined, writtenDigest: e.writtenDigest });
          if (decision === 'forget') forget.push(sourceKey);
          else if (decision === 'delete') toDelete.push({ sourceKey, bk: e.businessKey, pre: pre! });
          else {
            const applied = sourceWins(sync!.conflict);
            conflicts.push({ sourceKey, businessKey: e.businessKey, change: 'delete', applied });
            if (applied) toDelete.push({ sourceKey, bk: e.businessKey, pre: pre! });
            else {
              // The target keeps its row; it is no longer the migration's to follow.
              forget.push(sourceKey);
              if (sync!.conflict === 'quarantine') refused.push(conflictRecord(sourceKey, e.businessKey, 'delete', {}));
            }
          }
        }
        // A chunk the target refuses (a row still referenced) is halved until the refused rows stand alone.
        const done: typeof toDelete = [];
        const remove = (sp: Knex.Transaction, chunk: readonly (typeof toDelete)[number][]) => {
          const keys = targetRowsJson(bkColumns, bkTypes, chunk.map((d) => componentsOf(d.bk)));
          const q = spec.target.softDelete ? softDeleteByKeySql(target, bkColumns, spec.target.softDelete, keys) : deleteByKeySql(target, bkColumns, keys);
          return sp.raw(q.sql, q.bindings as never);
        };
        for (let i = 0; i < toDelete.length; i += 5000) {
          await applyInHalves(
            (work) => trx.transaction(work),
            toDelete.slice(i, i + 5000),
            remove,
            (chunk) => done.push(...chunk),
            (d, safe) => refused.push({ sourceKey: d.sourceKey, businessKey: d.bk, reason: safe.reason, column: safe.column, detail: `the source deleted this row; the target refused: ${describeSafe(safe)}`, row: {} }),
          );
        }
        // One ledger record for the round's deletes: each row's whole pre-image (a rollback puts it back).
        const at = { migrationId: req.migrationId, table, runId: req.runId, batchId: batchKey };
        await appendLedgerRecord(trx, ledger, at, packLedgerRecord({ inserted: [], updated: done.map((d) => ({ businessKey: d.bk, preImage: wholeRowPreImage(d.pre) })) }, sealing.preimage, at));
        await forgetKeys(trx, ledger, req.migrationId, req.entity, [...forget, ...done.map((d) => d.sourceKey)]);
        await stores.conflicts.record(req, sync?.conflict, conflicts);
        await stores.quarantine.write(sealing.quarantine, req, 'load', refused);
        // Rows an earlier round could not delete (still referenced then) leave the quarantine once deleted.
        await stores.quarantine.resolve(req, 'load', [...forget.filter((k) => !refused.some((r) => r.sourceKey === k)), ...done.map((d) => d.sourceKey)]);
        const counts = { inserted: 0, updated: 0, unchanged: 0, quarantined: refused.length, deleted: done.length, conflicts: conflicts.length };
        await trx(`${ledger}.batch_loads`).insert({ run_id: req.runId, batch_id: batchKey, inserted: 0, updated: 0, unchanged: 0, quarantined: counts.quarantined, deleted: counts.deleted });
        return counts;
      })
      .catch((err) => withoutValues(`sync deletes of ${req.entity} batch ${req.batchId} in ${table}`, err)),
  );
  await stores.audit.append({
    migrationId: req.migrationId,
    actor: 'worker',
    action: 'sync-deleted',
    eventKey: `${req.migrationId}/${req.runId}/batch/${batchKey}`,
    details: { entity: req.entity, batchId: req.batchId, deleted: result.deleted, quarantined: result.quarantined, conflicts: result.conflicts },
  });
  countLoaded({ migration: req.migrationId, entity: req.entity }, { inserted: 0, updated: 0, unchanged: 0, quarantined: result.quarantined, detokenized: 0 });
  return { migrationId: req.migrationId, entity: req.entity, batchId: req.batchId, ...result };
}
