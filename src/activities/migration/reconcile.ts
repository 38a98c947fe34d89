import { CONTROL_SCHEMA } from '../../control/schema';
import { normalizeValue, rowDigest } from '../../core/digest';
import { keyMapEntries, sourceKeysOf, targetKeysOf } from '../../control/key-map';
import { businessKeyOf } from '../../core/mapping';
import { isClean, reconcileDigests } from '../../core/reconcile';
import { storedForm } from '../../core/target-types';
import { clearTargetsOf, tokensToOpen, withClearValues } from '../../core/detokenize';
import { lookupTokens } from '../../crypto/vault';
import type { BatchRef, BatchReconcile } from '../../shared/migration';
import { LoadedPlan, MigrationContext, withHeartbeat } from './context';
import { withoutValues } from './errors';
import { readManifest, readStagedRows } from './staged-objects';
import { checkStoredFile } from './files';
import { inLanes } from '../../core/lanes';
import { rowsByKeySql } from '../../plan/target-sql';
import { targetRowsJson } from '../../core/target-rows';
import type { Manifest } from './manifest';

/** A business key's values, from its one-string form (see businessKeyOf). */
const componentsOf = (bk: string, width: number): string[] => (width === 1 ? [bk] : (JSON.parse(bk) as string[]));

/**
 * The columns in which rows differ from what was staged, named (never their values): the
 * staged rows are read again, detokenized where the plan detokenizes, and compared column by
 * column in the target's types. Only for the few rows a report shows.
 */
async function differingColumns(ctx: MigrationContext, loaded: LoadedPlan, entity: string, manifest: Manifest, found: Map<string, unknown[]>): Promise<Map<string, string[]>> {
  const { spec, mapper } = loaded.entity(entity);
  const types = await loaded.targetTypes(entity);
  const staged = await readStagedRows(ctx, loaded, manifest);
  const wanted = staged.rows.map((values) => ({ values, bk: businessKeyOf(values, mapper.businessKeyIndexes) })).filter((r) => found.has(r.bk));
  const clearTargets = clearTargetsOf(spec);
  const tokens = tokensToOpen(wanted.map((r) => r.values), clearTargets);
  const clear = await lookupTokens(ctx.deps.control, await loaded.vaultKey(), tokens);
  const out = new Map<string, string[]>();
  for (const { values, bk } of wanted) {
    const expected = withClearValues(values, clearTargets, clear);
    const got = found.get(bk)!;
    out.set(
      bk,
      mapper.columns.filter((_, i) => storedForm(types[i], expected[i]) !== storedForm(types[i], got[i])),
    );
  }
  return out;
}

/**
 * The target's rows of these business keys (as staged: references as source keys), each with
 * its keyed digest in the target's types, references mapped back to the source keys they were
 * loaded from. What reconcile compares with the digests a stage computed.
 */
export async function readTargetDigests(loaded: LoadedPlan, migrationId: string, entity: string, stagedKeys: readonly string[], digestKey: Uint8Array, what: string): Promise<{ found: [string, string][]; values: Map<string, unknown[]> }> {
  const { spec, mapper } = loaded.entity(entity);
  const types = await loaded.targetTypes(entity);
  const ledger = loaded.plan.target.ledgerSchema;
  const target = { schema: spec.target.schema, table: spec.target.table };
  const refColumns = spec.columns.map((c, i) => ({ c, i })).filter(({ c }) => c.reference);
  const bkWidth = mapper.businessKeyIndexes.length;
  // Business-key parts that are references: their source keys become the parents' target keys.
  const bkRefs = mapper.businessKeyIndexes.map((col, part) => ({ part, entity: spec.columns[col]!.reference?.entity })).filter((x) => x.entity !== undefined);
  const found: [string, string][] = [];
  const values = new Map<string, unknown[]>();
  const bkTypes = mapper.businessKeyIndexes.map((k) => types[k]);
  for (let i = 0; i < stagedKeys.length; i += 20_000) {
    const slice = stagedKeys.slice(i, i + 20_000).map((k) => componentsOf(k, bkWidth));
    for (const { part, entity: parent } of bkRefs) {
      const map = await targetKeysOf(loaded.target, ledger, migrationId, parent!, slice.map((k) => k[part]!));
      for (const k of slice) k[part] = map.get(k[part]!) ?? k[part]!;
    }
    const byKey = rowsByKeySql(target, mapper.columns, spec.target.businessKey, targetRowsJson(spec.target.businessKey, bkTypes, slice), false);
    const rows: Record<string, unknown>[] = await loaded.target
      .raw(byKey.sql, byKey.bindings as never)
      .then((r) => r.rows)
      .catch((err) => withoutValues(what, err));
    // A reference is right when its target key maps back to the source key the row had.
    const back = new Map<number, Map<string, string>>();
    for (const { c, i } of refColumns) {
      const keys = rows.map((r) => r[mapper.columns[i]!]).filter((v) => v !== null && v !== undefined).map((v) => String(normalizeValue(v)));
      back.set(i, await sourceKeysOf(loaded.target, ledger, migrationId, c.reference!.entity, keys));
    }
    for (const row of rows) {
      const vals = mapper.columns.map((c) => row[c]);
      for (const { i } of refColumns) {
        if (vals[i] === null || vals[i] === undefined) continue;
        const key = String(normalizeValue(vals[i]));
        vals[i] = back.get(i)!.get(key) ?? `unmapped target key ${key}`;
      }
      const bk = businessKeyOf(vals, mapper.businessKeyIndexes);
      found.push([bk, rowDigest(digestKey, mapper.columns, vals, types)]);
      values.set(bk, vals);
    }
  }
  return { found, values };
}

export function createReconcileActivities(ctx: MigrationContext) {
  return {
    /**
     * Reads the batch's rows back from the target and compares them with the manifest: count,
     * and each row's keyed digest (computed on the clear values the target must hold, in the
     * target's column types). Rows are found by their business key as the target holds it
     * (references translated through the parents' key maps) and compared with references
     * mapped back to source keys, as staged.
     */
    async reconcileBatch(req: BatchRef): Promise<BatchReconcile> {
      const loaded = await ctx.plan(req.migrationId);
      const { spec } = loaded.entity(req.entity);
      const manifest = await readManifest(ctx, loaded, req.migrationId, req.entity, req.batchId);
      const digestKey = await ctx.deps.keys.get('digest');
      const ledger = loaded.plan.target.ledgerSchema;
      // Rows the target refused (or whose parent was not loaded) are in quarantine, not missing.
      const refused = await ctx.deps.control(`${CONTROL_SCHEMA}.quarantine`).select('source_key', 'business_key').where({ migration_id: req.migrationId, entity: req.entity, batch_id: req.batchId, stage: 'load' });
      // A sync round's change kept out by the conflict policy: the target keeps its own row.
      if (manifest.delta) {
        const kept = await ctx.deps.control(`${CONTROL_SCHEMA}.sync_conflicts`).select('source_key', 'business_key').where({ migration_id: req.migrationId, entity: req.entity, batch_id: req.batchId, applied: false });
        refused.push(...kept);
      }
      const refusedSources = new Set(refused.map((r) => r.source_key as string));
      const refusedKeys = new Set(refused.map((r) => r.business_key as string));
      const expected = new Map(manifest.digests.filter(([bk, , sourceKey]) => (sourceKey === undefined ? !refusedKeys.has(bk) : !refusedSources.has(sourceKey))).map(([bk, digest]) => [bk, digest] as const));

      const found: [string, string][] = [];
      const foundValues = new Map<string, unknown[]>();
      await withHeartbeat({ phase: 'reconcile', batchId: req.batchId }, async () => {
        const read = await readTargetDigests(loaded, req.migrationId, req.entity, [...expected.keys()], digestKey, `reconcile ${req.entity} batch ${req.batchId}`);
        found.push(...read.found);
        for (const [k, v] of read.values) foundValues.set(k, v);
      });
      // Each file must be in its target bucket with the bytes it was staged with: checked on what
      // is stored (S3's own SHA-256, or read back and hashed), never on what a writer claimed.
      const badFiles = new Map<string, string>();
      await withHeartbeat({ phase: 'reconcile-files', batchId: req.batchId }, () =>
        inLanes(
          manifest.files.filter((x) => expected.has(x.businessKey)),
          4,
          async (f) => {
            const stored = await checkStoredFile(ctx.deps.s3, spec.columns.find((c) => c.name === f.column)!.file!.targetBucket, f.sourceKey, f);
            if (!stored.matches) badFiles.set(f.businessKey, f.column);
          },
        ),
      );
      for (const entry of found) if (badFiles.has(entry[0])) entry[1] = `file differs: ${entry[1]}`;
      const r = reconcileDigests(expected, found);
      const stillPresent: string[] = [];
      // A sync round's deletes: a source key the source no longer has must be gone from the key map (its row deleted), unless the target refused.
      if (manifest.delta?.deleted.length) {
        const still = await keyMapEntries(loaded.target, ledger, req.migrationId, req.entity, manifest.delta.deleted.filter((k) => !refusedSources.has(k)));
        for (const [sourceKey, e] of still) stillPresent.push(`${e.businessKey} (deleted in the source as ${sourceKey}, still in the target)`);
      }
      // A mismatch names its business key and the columns that differ (never a value).
      const sampled = r.mismatched.slice(0, 10);
      const columns = sampled.length ? await differingColumns(ctx, loaded, req.entity, manifest, new Map(sampled.map((bk) => [bk, foundValues.get(bk)!]))) : new Map<string, string[]>();
      const sampleMismatched = sampled.map((bk) => {
        const named = [...(columns.get(bk) ?? []), ...(badFiles.has(bk) ? [`file ${badFiles.get(bk)}`] : [])];
        return `${bk} (${named.length ? `columns: ${named.join(', ')}` : 'digest differs'})`;
      });
      const result: BatchReconcile = {
        ...req,
        expected: r.expected,
        found: r.found,
        missing: r.missing.length,
        mismatched: r.mismatched.length + stillPresent.length,
        duplicated: r.duplicated.length,
        sampleMissing: r.missing.slice(0, 10),
        sampleMismatched: [...sampleMismatched, ...stillPresent].slice(0, 10),
        clean: isClean(r) && stillPresent.length === 0,
      };
      await ctx.deps.control(`${CONTROL_SCHEMA}.batches`).where({ batch_id: req.batchId }).update({ reconcile: JSON.stringify(result) });
      return result;
    },
  };
}
