import type { Knex } from 'knex';
import { sealJson } from '../../crypto/seal-json';
import { lookupTokens } from '../../crypto/vault';
import { normalizeValue } from '../../core/digest';
import { businessKeyOf, Value } from '../../core/mapping';
import type { BatchRef, LoadedBatch } from '../../shared/migration';
import { MigrationContext, withHeartbeat } from './context';
import { describeSafe, safeDbError, withoutValues } from './errors';
import { readManifest, readStagedRows } from './staged-objects';
import { QuarantineRecord, writeQuarantine } from './stage';

export interface LoadRequest extends BatchRef {
  /** The workflow run this load belongs to: counts are recorded once per run and batch. */
  runId: string;
}

type Row = Record<string, Value>;

/** Largest number of rows per INSERT that stays under PostgreSQL's 65,535 parameters. */
function chunkSize(columns: number): number {
  return Math.max(1, Math.floor(60_000 / Math.max(1, columns)));
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
      const vaultKey = await ctx.deps.keys.get('vault');

      // Detokenize the columns the target needs in clear.
      const clearColumns = spec.columns.map((c, i) => ({ c, i })).filter(({ c }) => c.pii && c.protect === 'detokenize');
      const tokens = new Set<string>();
      for (const row of staged.rows) for (const { i } of clearColumns) if (typeof row[i] === 'string') tokens.add(row[i] as string);
      const clear = await withHeartbeat({ phase: 'detokenize', batchId: req.batchId }, () => lookupTokens(ctx.deps.control, vaultKey, tokens));
      const rows: { sourceKey: string; bk: string; values: Value[] }[] = staged.rows.map((values, r) => {
        const out = [...values];
        for (const { i } of clearColumns) if (typeof out[i] === 'string') out[i] = clear.get(out[i] as string)!;
        return { sourceKey: staged.sourceKeys[r]!, bk: businessKeyOf(out, mapper.businessKeyIndexes), values: out };
      });

      const columns = mapper.columns;
      const bkColumns = spec.target.businessKey;
      const table = `${spec.target.schema}.${spec.target.table}`;
      const ledger = loaded.plan.target.ledgerSchema;
      const toObject = (values: Value[]): Row => Object.fromEntries(columns.map((c, i) => [c, values[i] ?? null]));

      const result = await withHeartbeat({ phase: 'load', batchId: req.batchId }, () =>
        loaded.target
          .transaction(async (trx) => {
            const prior = await trx(`${ledger}.batch_loads`).where({ run_id: req.runId, batch_id: req.batchId }).first();
            if (prior) return { inserted: prior.inserted, updated: prior.updated, unchanged: prior.unchanged, quarantined: prior.quarantined };

            // Pre-images of rows already in the target, locked for the rest of the transaction.
            const existing = new Map<string, Row>();
            for (let i = 0; i < rows.length; i += 5000) {
              const slice = rows.slice(i, i + 5000);
              const q = trx(table).select(columns).forUpdate();
              if (bkColumns.length === 1) q.whereIn(bkColumns[0]!, slice.map((r) => r.values[mapper.businessKeyIndexes[0]!] as string));
              else q.whereIn(bkColumns, slice.map((r) => mapper.businessKeyIndexes.map((k) => r.values[k] as string)));
              for (const found of await q) existing.set(businessKeyOf(columns.map((c) => found[c]), mapper.businessKeyIndexes), found);
            }
            const writes: { row: (typeof rows)[number]; pre?: Row }[] = [];
            let unchanged = 0;
            for (const row of rows) {
              const pre = existing.get(row.bk);
              if (pre && columns.every((c, i) => normalizeValue(pre[c]) === normalizeValue(row.values[i]))) unchanged++;
              else writes.push({ row, pre });
            }

            const upsert = (db: Knex.Transaction, batch: typeof writes) => {
              const q = db(table).insert(batch.map((w) => toObject(w.row.values))).onConflict(bkColumns);
              const updatable = columns.filter((c) => !bkColumns.includes(c));
              return updatable.length ? q.merge(updatable) : q.ignore();
            };
            const written: typeof writes = [];
            const refused: QuarantineRecord[] = [];
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
            const counts = {
              inserted: written.filter((w) => !w.pre).length,
              updated: written.filter((w) => w.pre).length,
              unchanged,
              quarantined: refused.length,
            };
            // Quarantine before commit: if the commit fails, the retry finds and records the same rows.
            await writeQuarantine(ctx.deps.control, vaultKey, req, 'load', refused);
            await trx(`${ledger}.batch_loads`).insert({ run_id: req.runId, batch_id: req.batchId, ...counts });
            return counts;
          })
          .catch((err) => withoutValues(`load ${req.entity} batch ${req.batchId} into ${table}`, err)),
      );
      return { migrationId: req.migrationId, entity: req.entity, batchId: req.batchId, ...result };
    },
  };
}
