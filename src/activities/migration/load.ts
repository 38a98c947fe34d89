import type { Knex } from 'knex';
import { sealJson } from '../../crypto/seal-json';
import { lookupTokens } from '../../crypto/vault';
import { heldByOtherRows, keepKeyMapStatistics, recordKeys, targetKeysOf } from '../../control/key-map';
import { ApplicationFailure } from '@temporalio/activity';
import { clearTargetsOf, tokensToOpen } from '../../core/detokenize';
import { prepareLoadRows, ReferenceKeys, referencedKeys } from '../../core/load-rows';
import { decideSyncWrites, keyMapRows, KeptByConflict, refusedBeforeWrite, splitUnchanged, Write } from '../../core/load-decisions';
import { targetRowsJson } from '../../core/target-rows';
import { rowsByKeySql, upsertSql } from '../../plan/target-sql';
import { appendLedger } from '../../control/ledger';
import type { QuarantineRecord } from '../../core/quarantine-record';
import { normalizeValue } from '../../core/digest';
import { quarantinedKeys } from '../../control/quarantine';
import { businessKeyOf, Value } from '../../core/mapping';
import type { BatchRef, LoadedBatch } from '../../shared/migration';
import { MigrationContext } from '../../stores/migration-context';
import { fileContext } from '../../core/staging-keys';
import { throwIfCancelled, withHeartbeat } from '../../stores/activity-runtime';
import { ensureLoadFence, holdLoadFence } from '../../control/load-fence';
import { describeSafe, withoutValues } from '../../stores/errors';
import { integrityFailure, readManifest, readStagedRows } from '../../stores/staged-objects';
import { loadFile } from '../../stores/staged-files';
import { inLanes } from '../../core/lanes';
import { resolveQuarantine, writeQuarantine } from '../../control/quarantine-store';
import { appendAudit } from '../../audit/store';
import { countLoaded } from '../../stores/metrics';
import { applyInHalves } from '../../stores/halving';
import { rowDigest } from '../../core/digest';
import { keyMapEntries } from '../../control/key-map';
import { SyncConflict, wholeRowPreImage } from '../../core/sync-conflict';
import { countConflicts, recordConflicts } from '../../control/sync-conflicts';
import { applyDeletes } from '../../stores/sync-deletes';

export interface LoadRequest extends BatchRef {
  /** The workflow run this load belongs to: counts are recorded once per run and batch. */
  runId: string;
  /** A sync round's batch is applied in two steps: its upserts (parents first), then its deletes (children first). */
  apply?: 'upserts' | 'deletes';
}

type Row = Record<string, Value>;

/** Rows per upsert statement (one JSON parameter each); a refused row is found by halving the chunk. */
const UPSERT_CHUNK = 5000;

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
      if (manifest.delta && req.apply === 'deletes') return applyDeletes(ctx, loaded, req, manifest);
      const staged = await readStagedRows(ctx, loaded, manifest);
      const vaultKey = await loaded.vaultKey();
      const types = await loaded.targetTypes(req.entity);

      // Detokenize what the target needs in clear: whole columns and paths inside JSON documents.
      // This worker's stage of the batch left its values in memory; any other reads the vault.
      const clearTargets = clearTargetsOf(spec);
      const tokens = tokensToOpen(staged.rows, clearTargets);
      const stagedHere = ctx.stagedClearValues.take(req.runId, req.batchId);
      const clear = await withHeartbeat({ phase: 'detokenize', batchId: req.batchId }, () => lookupTokens(ctx.deps.control, vaultKey, tokens, stagedHere));
      const ledger = loaded.plan.target.ledgerSchema;
      await ensureLoadFence(loaded.target, ledger);
      await keepKeyMapStatistics(loaded.target, ledger, 0);

      // References: a parent's source key becomes the target key it was loaded under.
      const references: ReferenceKeys[] = [];
      for (const [i, c] of spec.columns.entries()) {
        if (!c.reference) continue;
        const keys = referencedKeys(staged.rows, i);
        const targetKeys = await targetKeysOf(loaded.target, ledger, req.migrationId, c.reference.entity, keys);
        const missing = keys.filter((k) => !targetKeys.has(k));
        const quarantined = missing.length ? await quarantinedKeys(ctx.deps.control, req.migrationId, c.reference.entity, missing) : new Set<string>();
        references.push({ index: i, column: c.name, entity: c.reference.entity, targetKeys, quarantined });
      }
      const shape = { columns: mapper.columns, types, businessKeyIndexes: mapper.businessKeyIndexes, businessKey: spec.target.businessKey, clearTargets };
      const { rows, refused: orphans } = prepareLoadRows(shape, staged.rows, staged.sourceKeys, clear, references);

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
      const target = { schema: spec.target.schema, table: spec.target.table };
      const targetKey = spec.target.key;
      const selected = targetKey && !columns.includes(targetKey) ? [...columns, targetKey] : columns;
      const toObject = (values: Value[]): Row => Object.fromEntries(columns.map((c, i) => [c, values[i] ?? null]));
      // Plans with sync keep each row's digest as written (conflicts are found by it) and pre-images of whole rows (a sync delete can be undone).
      const sync = loaded.plan.sync;
      const digestKey = sync ? await ctx.deps.keys.get('digest') : undefined;
      const digestOf = (values: readonly unknown[]) => rowDigest(digestKey!, columns, values, types);
      const conflicts: SyncConflict[] = [];

      const result = await withHeartbeat({ phase: 'load', batchId: req.batchId }, () =>
        loaded.target
          .transaction(async (trx) => {
            // Held until commit: a rollback waits for this load to end, and a load after it is refused.
            await holdLoadFence(trx, ledger, req.migrationId, req.runId, `load ${req.entity} batch ${req.batchId}`);
            const prior = await trx(`${ledger}.batch_loads`).where({ run_id: req.runId, batch_id: req.batchId }).first();
            if (prior) return { inserted: prior.inserted, updated: prior.updated, unchanged: prior.unchanged, quarantined: prior.quarantined, ...(manifest.delta ? { conflicts: await countConflicts(ctx.deps.control, req) } : {}) };

            // A business key another source row already loaded (an earlier batch) is a duplicate too.
            const held = await heldByOtherRows(trx, ledger, req.migrationId, req.entity, rows);
            // Pre-images of rows already in the target, locked for the rest of the transaction. A business
            // key the key columns' types refuse (text too long, not a number) is the row's fault: found by
            // halving, it is quarantined like any refused row, not retried for ever.
            const existing = new Map<string, Row>();
            const badKeys: QuarantineRecord[] = [];
            const bkTypes = mapper.businessKeyIndexes.map((k) => types[k]);
            const lookup = rows.filter((r) => !held.has(r.sourceKey));
            for (let i = 0; i < lookup.length; i += 20_000) {
              await applyInHalves(
                trx,
                lookup.slice(i, i + 20_000),
                async (sp, chunk) => {
                  const keys = targetRowsJson(bkColumns, bkTypes, chunk.map((r) => mapper.businessKeyIndexes.map((k) => r.values[k]!)));
                  const locked = rowsByKeySql(target, selected, bkColumns, keys, true, sync !== undefined);
                  const { rows: found } = await sp.raw(locked.sql, locked.bindings as never);
                  for (const f of found as Row[]) existing.set(businessKeyOf(columns.map((c) => f[c]), mapper.businessKeyIndexes), f);
                },
                () => undefined,
                (r, safe) => badKeys.push({ sourceKey: r.sourceKey, businessKey: r.bk, reason: safe.reason, column: safe.column ?? bkColumns.join(', '), detail: describeSafe(safe), row: toObject(r.values) }),
              );
            }
            const badKeySet = new Set(badKeys.map((b) => b.sourceKey));
            const loadable = lookup.filter((r) => !badKeySet.has(r.sourceKey));
            let { writes, unchanged } = splitUnchanged(loadable, existing, columns, types);
            // A sync round's change to a row someone else edited since Cutover wrote it: the plan's policy decides.
            let keptByConflict: KeptByConflict[] = [];
            if (manifest.delta && sync) {
              const entries = await keyMapEntries(trx, ledger, req.migrationId, req.entity, writes.filter((w) => w.pre).map((w) => w.row.sourceKey));
              const decided = decideSyncWrites(writes, entries, digestOf, columns, sync.conflict);
              writes = decided.writes;
              unchanged += decided.skipped;
              conflicts.push(...decided.conflicts);
              keptByConflict = decided.kept;
            }

            // Where each written row landed (its target key), from RETURNING.
            const landed = new Map<string, string>();
            const upsert = async (db: Knex.Transaction, batch: typeof writes) => {
              const q = upsertSql(target, columns, bkColumns, targetKey ? [targetKey, ...bkColumns] : bkColumns, targetRowsJson(columns, types, batch.map((w) => w.row.values)));
              const { rows: returned } = await db.raw(q.sql, q.bindings as never);
              if (targetKey) for (const r of returned as Row[]) landed.set(businessKeyOf(bkColumns.map((c) => r[c]), bkColumns.map((_, i) => i)), String(normalizeValue(r[targetKey])));
            };
            const written: Write[] = [];
            const refused = refusedBeforeWrite({ prepared: orphans, rows, held, businessKey: spec.target.businessKey, badKeys, kept: keptByConflict, policy: sync?.conflict, toObject });
            // A chunk the target refuses is halved until the refused rows stand alone; the others still load.
            for (let i = 0; i < writes.length; i += UPSERT_CHUNK) {
              await applyInHalves(
                trx,
                writes.slice(i, i + UPSERT_CHUNK),
                (sp, chunk) => upsert(sp, [...chunk]),
                (chunk) => written.push(...chunk),
                (w, safe) => refused.push({ sourceKey: w.row.sourceKey, businessKey: w.row.bk, reason: safe.reason, column: safe.column, detail: describeSafe(safe), row: toObject(w.row.values) }),
              );
            }
            // First write wins: the pre-image kept is the one from before this migration touched the row.
            await appendLedger(trx, ledger, { migrationId: req.migrationId, table, batchId: req.batchId, runId: req.runId }, written.map((w) => ({
              businessKey: w.row.bk,
              preImage: w.pre ? sealJson(sync ? wholeRowPreImage(w.pre) : w.pre, vaultKey, `preimage:${req.migrationId}:${table}:${w.row.bk}`) : null,
            })));
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
            await recordKeys(trx, ledger, req.migrationId, req.entity, keyMapRows({ rows, refused, kept: keptByConflict, targetKey, landed, existing, digestOf: digestKey ? digestOf : undefined, policy: sync?.conflict }));
            await recordConflicts(ctx.deps.control, req, sync?.conflict, conflicts);
            const counts = {
              inserted: written.filter((w) => !w.pre).length,
              updated: written.filter((w) => w.pre).length,
              unchanged,
              quarantined: refused.length,
              ...(manifest.delta ? { conflicts: conflicts.length } : {}),
            };
            // Quarantine before commit: if the commit fails, the retry finds and records the same rows.
            await writeQuarantine(ctx.deps.control, vaultKey, req, 'load', refused);
            // Rows quarantined by an earlier run that land now (their source was fixed) leave the quarantine.
            await resolveQuarantine(ctx.deps.control, req, 'load', rows.filter((r) => !refusedKeys.has(r.sourceKey)).map((r) => r.sourceKey));
            // Cancelled meanwhile (the migration is stopping its runs): nothing of this batch commits.
            throwIfCancelled();
            await trx(`${ledger}.batch_loads`).insert({ run_id: req.runId, batch_id: req.batchId, inserted: counts.inserted, updated: counts.updated, unchanged: counts.unchanged, quarantined: counts.quarantined });
            return counts;
          })
          .catch((err) => withoutValues(`load ${req.entity} batch ${req.batchId} into ${table}`, err)),
      );
      await keepKeyMapStatistics(loaded.target, ledger, result.inserted + result.updated + result.unchanged);
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
