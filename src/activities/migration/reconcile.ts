import type { TokenVault } from '../../stores/token-vault';
import { keyMapEntries } from '../../control/key-map';
import { businessKeyOf } from '../../core/mapping';
import { isClean, reconcileDigests, verificationOutcome } from '../../core/reconcile';
import { storedForm } from '../../core/target-types';
import { clearTargetsOf, tokensToOpen, withClearValues } from '../../core/detokenize';
import type { BatchRef, BatchReconcile } from '../../shared/migration';
import type { LoadedPlan } from '../../stores/plan-store';
import type { Stores } from '../../stores/stores';
import { withHeartbeat } from '../../stores/activity-runtime';
import { readTargetDigests } from '../../stores/target-digests';
import { inLanes } from '../../core/lanes';
import type { Manifest } from '../../stores/manifest';

/**
 * The columns in which rows differ from what was staged, named (never their values): the
 * staged rows are read again, detokenized where the plan detokenizes, and compared column by
 * column in the target's types. Only for the few rows a report shows.
 */
async function differingColumns(vault: TokenVault, tokenKey: Uint8Array, loaded: LoadedPlan, entity: string, manifest: Manifest, found: Map<string, unknown[]>): Promise<Map<string, string[]>> {
  const { spec, mapper } = loaded.entity(entity);
  const types = await loaded.targetTypes(entity);
  const staged = await loaded.staging.readRows(manifest);
  const wanted = staged.rows.map((values) => ({ values, bk: businessKeyOf(values, mapper.businessKeyIndexes) })).filter((r) => found.has(r.bk));
  const clearTargets = clearTargetsOf(spec);
  const tokens = tokensToOpen(wanted.map((r) => r.values), clearTargets);
  const clear = await vault.open({ vault: await loaded.vaultKey(), token: tokenKey, sealed: (await loaded.sealing()).sealedToken }, manifest.migrationId, tokens);
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

export function createReconcileActivities(stores: Pick<Stores, 'plans' | 'keys' | 'vault' | 'quarantine' | 'conflicts' | 'batches' | 'verification'>) {
  return {
    /**
     * Reads the batch's rows back from the target and compares them with the manifest: count,
     * and each row's keyed digest (computed on the clear values the target must hold, in the
     * target's column types). Rows are found by their business key as the target holds it
     * (references translated through the parents' key maps) and compared with references
     * mapped back to source keys, as staged.
     */
    async reconcileBatch(req: BatchRef): Promise<BatchReconcile> {
      const loaded = await stores.plans.plan(req.migrationId);
      const { spec } = loaded.entity(req.entity);
      const manifest = await loaded.staging.readManifest(req.migrationId, req.entity, req.batchId);
      const digestKey = await stores.keys.get('digest');
      const ledger = loaded.plan.target.ledgerSchema;
      // Rows the target refused (or whose parent was not loaded) are in quarantine, not missing.
      const refused = await stores.quarantine.refusedAtLoad(req);
      // A sync round's change kept out by the conflict policy: the target keeps its own row.
      if (manifest.delta) {
        const kept = await stores.conflicts.keptOut(req);
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
            const stored = await loaded.staging.checkLoadedFile(spec.columns.find((c) => c.name === f.column)!.file!.targetBucket, f);
            if (!stored.matches) badFiles.set(f.businessKey, f.column);
          },
        ),
      );
      for (const entry of found) if (badFiles.has(entry[0])) entry[1] = `file differs: ${entry[1]}`;
      const r = reconcileDigests(expected, found);
      // A change a conflict kept out in an earlier round, read again unchanged (a poll round's
      // overlap): the load skipped it and the target keeps its own row, accounted apart as in the
      // round that kept it out. The key map tells: the source version it took account of is not
      // the one written (until a later change of the row is written).
      if (manifest.delta && loaded.plan.sync && r.mismatched.length) {
        const sourceOf = new Map(manifest.digests.map(([bk, , sourceKey]) => [bk, sourceKey] as const));
        const entries = await keyMapEntries(loaded.target, ledger, req.migrationId, req.entity, r.mismatched.map((bk) => sourceOf.get(bk)).filter((k): k is string => k !== undefined));
        const keptOut = new Set([...entries].filter(([, e]) => e.sourceDigest && e.sourceDigest !== e.writtenDigest).map(([k]) => k));
        if (keptOut.size) {
          r.mismatched = r.mismatched.filter((bk) => !keptOut.has(sourceOf.get(bk) ?? ''));
          for (const k of keptOut) refusedSources.add(k);
        }
      }
      const stillThere: { sourceKey: string; businessKey: string }[] = [];
      // A sync round's deletes: a source key the source no longer has must be gone from the key map (its row deleted), unless the target refused.
      if (manifest.delta?.deleted.length) {
        const still = await keyMapEntries(loaded.target, ledger, req.migrationId, req.entity, manifest.delta.deleted.filter((k) => !refusedSources.has(k)));
        for (const [sourceKey, e] of still) stillThere.push({ sourceKey, businessKey: e.businessKey });
      }
      const stillPresent = stillThere.map((s) => `${s.businessKey} (deleted in the source as ${s.sourceKey}, still in the target)`);
      // What stays unverified until a later batch of the same keys, or the cutover, finds it right.
      const outcome = verificationOutcome({ staged: manifest.digests, result: r, refused: refusedSources, deleted: manifest.delta?.deleted, stillPresent: stillThere });
      await stores.verification.record(req, outcome.verified, outcome.failed);
      // A mismatch names its business key and the columns that differ (never a value).
      const sampled = r.mismatched.slice(0, 10);
      const columns = sampled.length ? await differingColumns(stores.vault, await stores.keys.get('token'), loaded, req.entity, manifest, new Map(sampled.map((bk) => [bk, foundValues.get(bk)!]))) : new Map<string, string[]>();
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
      await stores.batches.recordReconcile(req.batchId, result);
      return result;
    },
  };
}
