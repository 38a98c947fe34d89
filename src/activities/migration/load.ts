import { ApplicationFailure } from '@temporalio/activity';
import { packLedgerRecord } from '../../core/ledger-record';
import { clearTargetsOf, tokensToOpen } from '../../core/detokenize';
import { prepareLoadRows, ReferenceKeys, referencedKeys } from '../../core/load-rows';
import { decideSyncWrites, keyMapRows, KeptByConflict, refusedBeforeWrite, splitUnchanged, Write } from '../../core/load-decisions';
import type { QuarantineRecord } from '../../core/quarantine-record';
import { normalizeValue, rowDigest } from '../../core/digest';
import { businessKeyOf, Value } from '../../core/mapping';
import { SyncConflict, wholeRowPreImage } from '../../core/sync-conflict';
import { inLanes } from '../../core/lanes';
import type { BatchRef, LoadedBatch } from '../../shared/migration';
import type { Stores } from '../../stores/stores';
import type { LoadTable, Row, RowWriter } from '../../stores/target-writer';
import { throwIfCancelled, withHeartbeat } from '../../stores/activity-runtime';
import { describeSafe, withoutValues } from '../../stores/errors';
import { countLoaded, timed } from '../../stores/metrics';
import { applyInHalves } from '../../stores/halving';
import { applyDeletes } from '../../steps/apply-deletes';

/** The stores a load uses. */
export type LoadStores = Pick<Stores, 'plans' | 'keys' | 'vault' | 'quarantine' | 'audit' | 'conflicts' | 'stagedClearValues'>;

export interface LoadRequest extends BatchRef {
  /** The workflow run this load belongs to: counts are recorded once per run and batch. */
  runId: string;
  /** A sync round's batch is applied in two steps: its upserts (parents first), then its deletes (children first). */
  apply?: 'upserts' | 'deletes';
}

/** Rows per upsert statement (one JSON parameter each); a refused row is found by halving the chunk. */
const UPSERT_CHUNK = 5000;

export function createLoadActivities(stores: LoadStores) {
  return {
    /**
     * Loads one staged batch in one target transaction: verify and decrypt, detokenize what the
     * plan wants in clear, upsert on the business key, record one ledger record for
     * the batch (inserted keys, sealed pre-images), quarantine rows the target refuses. Re-running changes nothing.
     */
    async loadBatch(req: LoadRequest): Promise<LoadedBatch> {
      const loaded = await stores.plans.plan(req.migrationId);
      const { spec, mapper } = loaded.entity(req.entity);
      const tags = { migration: req.migrationId, entity: req.entity };
      const manifest = await timed(tags, 'get, decrypt', () => loaded.staging.readManifest(req.migrationId, req.entity, req.batchId));
      if (manifest.delta && req.apply === 'deletes') return applyDeletes(stores, loaded, req, manifest);
      const staged = await timed(tags, 'get, decrypt', () => loaded.staging.readRows(manifest));
      const [vaultKey, sealing] = await Promise.all([loaded.vaultKey(), loaded.sealing()]);
      const types = await loaded.targetTypes(req.entity);

      // Detokenize what the target needs in clear: whole columns and paths inside JSON documents.
      // This worker's stage of the batch left its values in memory; any other reads the vault.
      const clearTargets = clearTargetsOf(spec);
      const tokens = tokensToOpen(staged.rows, clearTargets);
      const stagedHere = stores.stagedClearValues.take(req.runId, req.batchId);
      const clear = await withHeartbeat({ phase: 'detokenize', batchId: req.batchId }, async () => timed(tags, 'detokenize', async () => stores.vault.open({ vault: vaultKey, token: await stores.keys.get('token'), sealed: sealing.sealedToken }, req.migrationId, tokens, stagedHere)));
      const writer = loaded.writer;
      await writer.prepare(0);

      // References: a parent's source key becomes the target key it was loaded under.
      const references: ReferenceKeys[] = [];
      for (const [i, c] of spec.columns.entries()) {
        if (!c.reference) continue;
        const keys = referencedKeys(staged.rows, i);
        const parent = c.reference.entity;
        const targetKeys = await timed(tags, 'references', () => writer.targetKeysOf(req.migrationId, parent, keys));
        const missing = keys.filter((k) => !targetKeys.has(k));
        const quarantined = missing.length ? await stores.quarantine.keysOf(req.migrationId, c.reference.entity, missing) : new Set<string>();
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
            const outcome = await loaded.staging.loadFile(req, f, target);
            if (outcome === 'copied') copied.push({ bucket: target, objectKey: f.sourceKey, sha256: f.sha256 });
          },
        ),
      );

      const columns = mapper.columns;
      const bkColumns = spec.target.businessKey;
      const table = `${spec.target.schema}.${spec.target.table}`;
      const targetKey = spec.target.key;
      const toObject = (values: Value[]): Row => Object.fromEntries(columns.map((c, i) => [c, values[i] ?? null]));
      // Plans with sync keep each row's digest as written (conflicts are found by it) and pre-images of whole rows (a sync delete can be undone).
      const sync = loaded.plan.sync;
      const digestKey = sync ? await stores.keys.get('digest') : undefined;
      const loadTable: LoadTable = { schema: spec.target.schema, table: spec.target.table, columns, types, businessKey: bkColumns, businessKeyIndexes: mapper.businessKeyIndexes, key: targetKey, wholeRow: sync !== undefined };
      const digestOf = (values: readonly unknown[]) => rowDigest(digestKey!, columns, values, types);
      const conflicts: SyncConflict[] = [];

      const result = await withHeartbeat({ phase: 'load', batchId: req.batchId }, () =>
        timed(tags, 'transaction', () => writer
          .inLoad({ migrationId: req.migrationId, runId: req.runId, what: `load ${req.entity} batch ${req.batchId}` }, async (tx) => {
            const prior = await tx.priorLoad(req.runId, req.batchId);
            if (prior) return { ...prior, ...(manifest.delta ? { conflicts: await stores.conflicts.count(req) } : {}) };

            // A business key another source row already loaded (an earlier batch) is a duplicate too.
            const held = await timed(tags, 'key map', () => tx.heldByOtherRows(req.migrationId, req.entity, rows));
            // Pre-images of rows already in the target, locked for the rest of the transaction. A business
            // key the key columns' types refuse (text too long, not a number) is the row's fault: found by
            // halving, it is quarantined like any refused row, not retried for ever.
            const existing = new Map<string, Row>();
            const badKeys: QuarantineRecord[] = [];
            const lookup = rows.filter((r) => !held.has(r.sourceKey));
            for (let i = 0; i < lookup.length; i += 20_000) {
              await applyInHalves(
                tx.savepoint,
                lookup.slice(i, i + 20_000),
                async (sp: RowWriter, chunk) => {
                  const found = await timed(tags, 'lock rows', () => sp.lockRows(loadTable, chunk.map((r) => mapper.businessKeyIndexes.map((k) => r.values[k]!))));
                  for (const f of found) existing.set(businessKeyOf(columns.map((c) => f[c]), mapper.businessKeyIndexes), f);
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
            // Read again with nothing new from the source (a poll round's overlap): what Cutover recorded of them stands.
            let readAgain = new Set<string>();
            if (manifest.delta && sync) {
              const entries = await tx.keyMapEntries(req.migrationId, req.entity, writes.filter((w) => w.pre).map((w) => w.row.sourceKey));
              const decided = decideSyncWrites(writes, entries, digestOf, columns, sync.conflict);
              writes = decided.writes;
              unchanged += decided.skipped;
              conflicts.push(...decided.conflicts);
              keptByConflict = decided.kept;
              readAgain = new Set(decided.skippedKeys);
            }

            // Where each written row landed (its target key), from RETURNING.
            const landed = new Map<string, string>();
            const upsert = async (sp: RowWriter, batch: readonly Write[]) => {
              const returned = await timed(tags, 'upsert', () => sp.upsert(loadTable, batch.map((w) => w.row.values)));
              if (targetKey) for (const r of returned) landed.set(businessKeyOf(bkColumns.map((c) => r[c]), bkColumns.map((_, i) => i)), String(normalizeValue(r[targetKey])));
            };
            const written: Write[] = [];
            const refused = refusedBeforeWrite({ prepared: orphans, rows, held, businessKey: spec.target.businessKey, badKeys, kept: keptByConflict, policy: sync?.conflict, toObject });
            // A chunk the target refuses is halved until the refused rows stand alone; the others still load.
            for (let i = 0; i < writes.length; i += UPSERT_CHUNK) {
              await applyInHalves(
                tx.savepoint,
                writes.slice(i, i + UPSERT_CHUNK),
                upsert,
                (chunk) => written.push(...chunk),
                (w, safe) => refused.push({ sourceKey: w.row.sourceKey, businessKey: w.row.bk, reason: safe.reason, column: safe.column, detail: describeSafe(safe), row: toObject(w.row.values) }),
              );
            }
            // One ledger record for the batch: the keys it inserted, the pre-images of the rows it changed, sealed together.
            const at = { migrationId: req.migrationId, table, runId: req.runId, batchId: req.batchId };
            const ledgered = {
              inserted: written.filter((w) => !w.pre).map((w) => w.row.bk),
              updated: written.filter((w) => w.pre).map((w) => ({ businessKey: w.row.bk, preImage: sync ? wholeRowPreImage(w.pre!) : w.pre })),
            };
            await timed(tags, 'ledger', () => tx.appendLedger(at, packLedgerRecord(ledgered, sealing.preimage, at)));
            await tx.recordFiles(req.migrationId, req.entity, copied);
            // A batch loading at the same time took one of these keys first (its commit was visible only now):
            // this load would have overwritten its row. Undo, and the retry quarantines the duplicates.
            const late = await timed(tags, 'key map', () => tx.heldByOtherRows(req.migrationId, req.entity, written.map((w) => w.row)));
            if (late.size) throw ApplicationFailure.retryable(`load ${req.entity} batch ${req.batchId}: ${late.size} business key(s) were loaded by another batch meanwhile; retrying`, 'ConcurrentDuplicateKey');
            const refusedKeys = new Set(refused.map((r) => r.sourceKey));
            await timed(tags, 'key map', () => tx.recordKeys(req.migrationId, req.entity, keyMapRows({ rows: rows.filter((r) => !readAgain.has(r.sourceKey)), refused, kept: keptByConflict, targetKey, landed, existing, digestOf: digestKey ? digestOf : undefined, policy: sync?.conflict })));
            await stores.conflicts.record(req, sync?.conflict, conflicts);
            const counts = {
              inserted: written.filter((w) => !w.pre).length,
              updated: written.filter((w) => w.pre).length,
              unchanged,
              quarantined: refused.length,
              ...(manifest.delta ? { conflicts: conflicts.length } : {}),
            };
            // Quarantine before commit: if the commit fails, the retry finds and records the same rows.
            await timed(tags, 'quarantine', async () => {
              await stores.quarantine.write(sealing.quarantine, req, 'load', refused);
              // Rows quarantined by an earlier run that land now (their source was fixed) leave the quarantine.
              // (Not one read again unchanged: a change a conflict kept out stays quarantined.)
              await stores.quarantine.resolve(req, 'load', rows.filter((r) => !refusedKeys.has(r.sourceKey) && !readAgain.has(r.sourceKey)).map((r) => r.sourceKey));
            });
            // Cancelled meanwhile (the migration is stopping its runs): nothing of this batch commits.
            throwIfCancelled();
            await tx.recordBatchLoad(req.runId, req.batchId, { inserted: counts.inserted, updated: counts.updated, unchanged: counts.unchanged, quarantined: counts.quarantined });
            return counts;
          })
          .catch((err) => withoutValues(`load ${req.entity} batch ${req.batchId} into ${table}`, err))),
      );
      await writer.prepare(result.inserted + result.updated + result.unchanged);
      // Recorded once per run and batch: a retried load finds the event already in the chain.
      await stores.audit.append({
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
