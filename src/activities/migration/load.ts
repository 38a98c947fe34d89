import type { Knex } from 'knex';
import { sealJson } from '../../crypto/seal-json';
import { lookupTokens } from '../../crypto/vault';
import { heldByOtherRows, recordKeys, targetKeysOf } from '../../control/key-map';
import { ApplicationFailure } from '@temporalio/activity';
import { clearTargetsOf, tokensToOpen, withClearValues } from '../../core/detokenize';
import { normalizeValue } from '../../core/digest';
import { storedForm } from '../../core/target-types';
import { quarantinedKeys } from '../../control/quarantine';
import { businessKeyOf, Value } from '../../core/mapping';
import type { BatchRef, LoadedBatch } from '../../shared/migration';
import { fileContext, MigrationContext, withHeartbeat } from './context';
import { throwIfCancelled } from './cancellation';
import { ensureLoadFence, holdLoadFence } from '../../control/load-fence';
import { describeSafe, safeDbError, withoutValues } from './errors';
import { integrityFailure, readManifest, readStagedRows } from './staged-objects';
import { loadFile } from './files';
import { inLanes } from '../../core/lanes';
import { QuarantineRecord, resolveQuarantine, writeQuarantine } from './stage';
import { appendAudit } from '../../audit/store';
import { countLoaded } from './metrics';

export interface LoadRequest extends BatchRef {
  /** The workflow run this load belongs to: counts are recorded once per run and batch. */
  runId: string;
}

type Row = Record<string, Value>;

/** Largest number of rows per INSERT that stays under PostgreSQL's 65,535 parameters. */
function chunkSize(columns: number): number {
  return Math.max(1, Math.floor(60_000 / Math.max(1, columns)));
}

/** The quarantine record of a row whose business key another source row holds. Keys only, never values. */
function duplicateOf(row: { sourceKey: string; bk: string }, holder: string, bkColumns: string[]): QuarantineRecord {
  return {
    sourceKey: row.sourceKey,
    businessKey: row.bk,
    reason: 'duplicate_business_key',
    column: bkColumns.join(', '),
    detail: `source row ${holder} has the same business key (${bkColumns.join(', ')}); one target row cannot hold both`,
    row: {},
  };
}

export function createLoadActivities(ctx: MigrationContext) {
  return {
    /**
     * Loads one staged batch in one target transaction: verify and decrypt, detokenize what the
     * plan wants in clear, upsert on the business key, ledger every inserted or updated row (with
     * its sealed pre-image), quarantine rows the target refuses. Re-running changes nothing.
     */
    async loadBatch(req: LoadRequest): Promise<LoadedBatch> {
      const loaded = await ctx.plan(req.migrationId);
      const { spec, mapper } = loaded.entity(req.entity);
      const manifest = await readManifest(ctx, loaded, req.migrationId, req.entity, req.batchId);
      const staged = await readStagedRows(ctx, loaded, manifest);
      const vaultKey = await loaded.vaultKey();
      const types = await loaded.targetTypes(req.entity);

      // Detokenize what the target needs in clear: whole columns and paths inside JSON documents.
      const clearTargets = clearTargetsOf(spec);
      const tokens = tokensToOpen(staged.rows, clearTargets);
      const clear = await withHeartbeat({ phase: 'detokenize', batchId: req.batchId }, () => lookupTokens(ctx.deps.control, vaultKey, tokens));
      const ledger = loaded.plan.target.ledgerSchema;
      await ensureLoadFence(loaded.target, ledger);

      // References: a parent's source key becomes the target key it was loaded under.
      const refColumns = spec.columns.map((c, i) => ({ c, i })).filter(({ c }) => c.reference);
      const parentKeys = new Map<number, Map<string, string>>();
      // A reference whose parent was quarantined is told apart from a true orphan.
      const parentQuarantined = new Map<number, Set<string>>();
      for (const { c, i } of refColumns) {
        const keys = [...new Set(staged.rows.map((r) => r[i]).filter((v) => v !== null && v !== undefined).map((v) => String(normalizeValue(v))))];
        const loadedParents = await targetKeysOf(loaded.target, ledger, req.migrationId, c.reference!.entity, keys);
        const missing = keys.filter((k) => !loadedParents.has(k));
        parentKeys.set(i, loadedParents);
        parentQuarantined.set(i, missing.length ? await quarantinedKeys(ctx.deps.control, req.migrationId, c.reference!.entity, missing) : new Set());
      }
      const orphans: QuarantineRecord[] = [];
      /** `stagedBk`: the business key as staged (references as source keys, as the manifest has it); `bk`: as the target holds it. */
      let rows: { sourceKey: string; stagedBk: string; bk: string; values: Value[] }[] = [];
      staged.rows.forEach((values, r) => {
        const out = withClearValues(values, clearTargets, clear);
        const sourceKey = staged.sourceKeys[r]!;
        const stagedBk = businessKeyOf(out, mapper.businessKeyIndexes);
        for (const { c, i } of refColumns) {
          if (out[i] === null || out[i] === undefined) continue;
          const parentKey = String(normalizeValue(out[i]));
          const target = parentKeys.get(i)!.get(parentKey);
          if (target === undefined) {
            const quarantinedParent = parentQuarantined.get(i)!.has(parentKey);
            orphans.push({
              sourceKey,
              businessKey: stagedBk,
              reason: quarantinedParent ? 'parent_quarantined' : 'orphan_reference',
              column: c.name,
              detail: quarantinedParent ? `its ${c.reference!.entity} row is quarantined: fix that row and run the plan again` : `no ${c.reference!.entity} row was loaded for the referenced source key`,
              row: {},
            });
            return;
          }
          out[i] = target;
        }
        // The business key as the target holds it: references translated (ledger, key map and rollback use it).
        rows.push({ sourceKey, stagedBk, bk: businessKeyOf(out, mapper.businessKeyIndexes), values: out });
      });

      // Two source rows with one business key would load as one (the second overwriting the first):
      // the first in key order loads, the others are quarantined.
      const firstWith = new Map<string, string>();
      rows = rows.filter((r) => {
        const first = firstWith.get(r.bk);
        if (first === undefined) {
          firstWith.set(r.bk, r.sourceKey);
          return true;
        }
        orphans.push(duplicateOf(r, first, spec.target.businessKey));
        return false;
      });

      // Files first, outside the transaction: each is verified against the manifest's hash
      // before the rows that name it are written.
      const keptKeys = new Set(rows.map((r) => r.stagedBk));
      const copied: { bucket: string; objectKey: string; sha256: string }[] = [];
      await withHeartbeat({ phase: 'load-files', batchId: req.batchId }, () =>
        inLanes(
          manifest.files.filter((f) => keptKeys.has(f.businessKey)),
          4,
          async (f) => {
            const target = spec.columns.find((c) => c.name === f.column)!.file!.targetBucket;
            const outcome = await loadFile(ctx.deps.s3, loaded.cipher, f, loaded.bucket, target, req.migrationId, fileContext(req.migrationId, req.entity, req.batchId, f.fileId)).catch(integrityFailure);
            if (outcome === 'copied') copied.push({ bucket: target, objectKey: f.sourceKey, sha256: f.sha256 });
          },
        ),
      );

      const columns = mapper.columns;
      const bkColumns = spec.target.businessKey;
      const table = `${spec.target.schema}.${spec.target.table}`;
      const targetKey = spec.target.key;
      const selected = targetKey && !columns.includes(targetKey) ? [...columns, targetKey] : columns;
      const toObject = (values: Value[]): Row => Object.fromEntries(columns.map((c, i) => [c, values[i] ?? null]));

      const result = await withHeartbeat({ phase: 'load', batchId: req.batchId }, () =>
        loaded.target
          .transaction(async (trx) => {
            // Held until commit: a rollback waits for this load to end, and a load after it is refused.
            await holdLoadFence(trx, ledger, req.migrationId, req.runId, `load ${req.entity} batch ${req.batchId}`);
            const prior = await trx(`${ledger}.batch_loads`).where({ run_id: req.runId, batch_id: req.batchId }).first();
            if (prior) return { inserted: prior.inserted, updated: prior.updated, unchanged: prior.unchanged, quarantined: prior.quarantined };

            // A business key another source row already loaded (an earlier batch) is a duplicate too.
            const held = await heldByOtherRows(trx, ledger, req.migrationId, req.entity, rows);
            const loadable = rows.filter((r) => !held.has(r.sourceKey));
            // Pre-images of rows already in the target, locked for the rest of the transaction.
            const existing = new Map<string, Row>();
            for (let i = 0; i < loadable.length; i += 5000) {
              const slice = loadable.slice(i, i + 5000);
              const q = trx(table).select(selected).forUpdate();
              if (bkColumns.length === 1) q.whereIn(bkColumns[0]!, slice.map((r) => r.values[mapper.businessKeyIndexes[0]!] as string));
              else q.whereIn(bkColumns, slice.map((r) => mapper.businessKeyIndexes.map((k) => r.values[k] as string)));
              for (const found of await q) existing.set(businessKeyOf(columns.map((c) => found[c]), mapper.businessKeyIndexes), found);
            }
            const writes: { row: (typeof rows)[number]; pre?: Row }[] = [];
            let unchanged = 0;
            for (const row of loadable) {
              const pre = existing.get(row.bk);
              if (pre && columns.every((c, i) => storedForm(types[i], pre[c]) === storedForm(types[i], row.values[i]))) unchanged++;
              else writes.push({ row, pre });
            }

            // Where each written row landed (its target key), from RETURNING.
            const landed = new Map<string, string>();
            const upsert = async (db: Knex.Transaction, batch: typeof writes) => {
              const q = db(table).insert(batch.map((w) => toObject(w.row.values))).onConflict(bkColumns);
              const updatable = columns.filter((c) => !bkColumns.includes(c));
              const returned: Record<string, unknown>[] = await (updatable.length ? q.merge(updatable) : q.ignore()).returning(targetKey ? [targetKey, ...bkColumns] : bkColumns);
              if (targetKey) for (const r of returned) landed.set(businessKeyOf(bkColumns.map((c) => r[c]), bkColumns.map((_, i) => i)), String(normalizeValue(r[targetKey])));
            };
            const written: typeof writes = [];
            const refused: QuarantineRecord[] = [...orphans, ...rows.filter((r) => held.has(r.sourceKey)).map((r) => duplicateOf(r, held.get(r.sourceKey)!, spec.target.businessKey))];
            for (let i = 0; i < writes.length; i += chunkSize(columns.length)) {
              const chunk = writes.slice(i, i + chunkSize(columns.length));
              try {
                await trx.transaction((sp) => upsert(sp, chunk)); // a savepoint: a failure undoes only this chunk
                written.push(...chunk);
              } catch (err) {
                if (!safeDbError(err)) throw err;
                // Find the refused rows one by one; the others still load.
                for (const w of chunk) {
                  try {
                    await trx.transaction((sp) => upsert(sp, [w]));
                    written.push(w);
                  } catch (rowErr) {
                    const safe = safeDbError(rowErr);
                    if (!safe) throw rowErr;
                    refused.push({ sourceKey: w.row.sourceKey, businessKey: w.row.bk, reason: safe.reason, column: safe.column, detail: describeSafe(safe), row: toObject(w.row.values) });
                  }
                }
              }
            }
            const ledgerRows = written.map((w) => ({
              migration_id: req.migrationId,
              target_table: table,
              business_key: w.row.bk,
              action: w.pre ? 'updated' : 'inserted',
              pre_image: w.pre ? sealJson(w.pre, vaultKey, `preimage:${req.migrationId}:${table}:${w.row.bk}`) : null,
              batch_id: req.batchId,
              run_id: req.runId,
            }));
            for (let i = 0; i < ledgerRows.length; i += 5000) {
              // First write wins: the pre-image kept is the one from before this migration touched the row.
              await trx(`${ledger}.ledger`).insert(ledgerRows.slice(i, i + 5000)).onConflict(['migration_id', 'target_table', 'business_key']).ignore();
            }
            if (copied.length) {
              await trx(`${ledger}.files`)
                .insert(copied.map((f) => ({ migration_id: req.migrationId, entity: req.entity, bucket: f.bucket, object_key: f.objectKey, sha256: f.sha256 })))
                .onConflict(['migration_id', 'bucket', 'object_key'])
                .ignore();
            }
            // A batch loading at the same time took one of these keys first (its commit was visible only now):
            // this load would have overwritten its row. Undo, and the retry quarantines the duplicates.
            const late = await heldByOtherRows(trx, ledger, req.migrationId, req.entity, written.map((w) => w.row));
            if (late.size) throw ApplicationFailure.retryable(`load ${req.entity} batch ${req.batchId}: ${late.size} business key(s) were loaded by another batch meanwhile; retrying`, 'ConcurrentDuplicateKey');
            const refusedKeys = new Set(refused.map((r) => r.sourceKey));
            await recordKeys(
              trx,
              ledger,
              req.migrationId,
              req.entity,
              rows
                .filter((r) => !refusedKeys.has(r.sourceKey))
                .map((r) => ({
                  sourceKey: r.sourceKey,
                  businessKey: r.bk,
                  targetKey: targetKey ? (landed.get(r.bk) ?? (existing.has(r.bk) ? String(normalizeValue(existing.get(r.bk)![targetKey])) : null)) : null,
                })),
            );
            const counts = {
              inserted: written.filter((w) => !w.pre).length,
              updated: written.filter((w) => w.pre).length,
              unchanged,
              quarantined: refused.length,
            };
            // Quarantine before commit: if the commit fails, the retry finds and records the same rows.
            await writeQuarantine(ctx.deps.control, vaultKey, req, 'load', refused);
            // Rows quarantined by an earlier run that land now (their source was fixed) leave the quarantine.
            await resolveQuarantine(ctx.deps.control, req, 'load', rows.filter((r) => !refusedKeys.has(r.sourceKey)).map((r) => r.sourceKey));
            // Cancelled meanwhile (the migration is stopping its runs): nothing of this batch commits.
            throwIfCancelled();
            await trx(`${ledger}.batch_loads`).insert({ run_id: req.runId, batch_id: req.batchId, ...counts });
            return counts;
          })
          .catch((err) => withoutValues(`load ${req.entity} batch ${req.batchId} into ${table}`, err)),
      );
      // Recorded once per run and batch: a retried load finds the event already in the chain.
      await appendAudit(ctx.deps.control, await ctx.deps.keys.get('audit'), {
        migrationId: req.migrationId,
        actor: 'worker',
        action: 'batch-loaded',
        eventKey: `${req.migrationId}/${req.runId}/batch/${req.batchId}/loaded`,
        details: { entity: req.entity, batchId: req.batchId, ...result, detokenized: clear.size },
      });
      countLoaded({ migration: req.migrationId, entity: req.entity }, { ...result, detokenized: clear.size });
      return { migrationId: req.migrationId, entity: req.entity, batchId: req.batchId, ...result };
    },
  };
}
