import { CONTROL_SCHEMA } from '../../control/schema';
import { normalizeValue, rowDigest } from '../../core/digest';
import { sourceKeysOf } from '../../control/key-map';
import { businessKeyOf } from '../../core/mapping';
import { isClean, reconcileDigests } from '../../core/reconcile';
import type { BatchRef, BatchReconcile } from '../../shared/migration';
import { MigrationContext, withHeartbeat } from './context';
import { withoutValues } from './errors';
import { readManifest } from './staged-objects';
import { checkStoredFile } from './files';
import { inLanes } from '../../core/lanes';

export function createReconcileActivities(ctx: MigrationContext) {
  return {
    /**
     * Reads the batch's rows back from the target and compares them with the manifest: count,
     * and each row's keyed digest (computed on the clear values the target must hold).
     */
    async reconcileBatch(req: BatchRef): Promise<BatchReconcile> {
      const loaded = await ctx.plan(req.migrationId);
      const { spec, mapper } = loaded.entity(req.entity);
      const manifest = await readManifest(ctx, loaded, req.migrationId, req.entity, req.batchId);
      const digestKey = await ctx.deps.keys.get('digest');
      const refused = await ctx.deps.control(`${CONTROL_SCHEMA}.quarantine`).select('business_key').where({ migration_id: req.migrationId, entity: req.entity, batch_id: req.batchId, stage: 'load' });
      const refusedKeys = new Set(refused.map((r) => r.business_key as string));
      const expected = new Map(manifest.digests.filter(([bk]) => !refusedKeys.has(bk)));

      const table = `${spec.target.schema}.${spec.target.table}`;
      const refColumns = spec.columns.map((c, i) => ({ c, i })).filter(({ c }) => c.reference);
      const found: [string, string][] = [];
      await withHeartbeat({ phase: 'reconcile', batchId: req.batchId }, async () => {
        const keys = [...expected.keys()];
        for (let i = 0; i < keys.length; i += 5000) {
          const slice = keys.slice(i, i + 5000);
          const q = loaded.target(table).select(mapper.columns);
          if (spec.target.businessKey.length === 1) q.whereIn(spec.target.businessKey[0]!, slice);
          else q.whereIn(spec.target.businessKey, slice.map((k) => JSON.parse(k) as string[]));
          const rows = await q.catch((err) => withoutValues(`reconcile ${req.entity} batch ${req.batchId}`, err));
          // A reference is right when its target key maps back to the source key the row had.
          const back = new Map<number, Map<string, string>>();
          for (const { c, i } of refColumns) {
            const keys = rows.map((r) => r[mapper.columns[i]!]).filter((v) => v !== null && v !== undefined).map((v) => String(normalizeValue(v)));
            back.set(i, await sourceKeysOf(loaded.target, loaded.plan.target.ledgerSchema, req.migrationId, c.reference!.entity, keys));
          }
          for (const row of rows) {
            const values = mapper.columns.map((c) => row[c]);
            for (const { i } of refColumns) {
              if (values[i] === null || values[i] === undefined) continue;
              const key = String(normalizeValue(values[i]));
              values[i] = back.get(i)!.get(key) ?? `unmapped target key ${key}`;
            }
            found.push([businessKeyOf(values, mapper.businessKeyIndexes), rowDigest(digestKey, mapper.columns, values)]);
          }
        }
      });
      // Each file must be in its target bucket with the bytes it was staged with: checked on what
      // is stored (S3's own SHA-256, or read back and hashed), never on what a writer claimed.
      const badFiles = new Set<string>();
      await withHeartbeat({ phase: 'reconcile-files', batchId: req.batchId }, () =>
        inLanes(
          manifest.files.filter((x) => expected.has(x.businessKey)),
          4,
          async (f) => {
            const stored = await checkStoredFile(ctx.deps.s3, spec.columns.find((c) => c.name === f.column)!.file!.targetBucket, f.sourceKey, f);
            if (!stored.matches) badFiles.add(f.businessKey);
          },
        ),
      );
      for (const entry of found) if (badFiles.has(entry[0])) entry[1] = `file differs: ${entry[1]}`;
      const r = reconcileDigests(expected, found);
      const result: BatchReconcile = {
        ...req,
        expected: r.expected,
        found: r.found,
        missing: r.missing.length,
        mismatched: r.mismatched.length,
        duplicated: r.duplicated.length,
        sampleMissing: r.missing.slice(0, 10),
        sampleMismatched: r.mismatched.slice(0, 10),
        clean: isClean(r),
      };
      await ctx.deps.control(`${CONTROL_SCHEMA}.batches`).where({ batch_id: req.batchId }).update({ reconcile: JSON.stringify(result) });
      return result;
    },
  };
}
