import { createHash } from 'node:crypto';
import { rowDigest } from '../core/digest';
import { shapedTokenKey, shapeTokens } from '../core/shaped-tokens';
import type { PiiKind } from '../plan/types';
import { clearValuesByToken, mapRows, tokenizeRows, withoutSkipped } from '../core/stage-rows';
import type { StagedBatch } from '../shared/migration';
import { skipAlias } from '../plan/source-sql';
import { inLanes } from '../core/lanes';
import { stagingKeys } from '../core/staging-keys';
import type { LoadedPlan } from '../stores/plan-store';
import type { Stores } from '../stores/stores';
import { withHeartbeat } from '../stores/activity-runtime';
import type { StagedFile } from '../stores/staged-files';
import { withoutValues } from '../stores/errors';
import { countStaged, timed } from '../stores/metrics';
import type { Manifest, StagedRows } from '../stores/manifest';

/** The stores a stage uses. */
export type StageStores = Pick<Stores, 'keys' | 'vault' | 'quarantine' | 'batches' | 'stagedClearValues'>;

/** A batch to stage: its rows' keyset range (or a sync round's key list), and its identity. */
export interface StageJob {
  migrationId: string;
  entity: string;
  batchId: string;
  afterKey: string | null;
  lastKey: string;
  level?: number;
  runId?: string;
  /** A sync round's batch: the source keys it covers that are gone from the source (or now skipped). */
  delta?: { round: number; deleted: string[] };
}

/**
 * Stages extracted source rows: skip filters, mapping, tokens (originals to the vault), digests,
 * files, and the encrypted rows and manifest in S3, under the load fence. Re-running writes the
 * same objects.
 */
export async function stageExtracted(stores: StageStores, loaded: LoadedPlan, req: StageJob, extracted: Record<string, unknown>[]): Promise<StagedBatch> {
  const { spec, mapper } = loaded.entity(req.entity);
  const batchId = req.batchId;
  const ref = { migrationId: req.migrationId, entity: req.entity, batchId };
  const tags = { migration: req.migrationId, entity: req.entity };
  const [tokenKey, digestKey, vaultKey, sealing] = await Promise.all([stores.keys.get('token'), stores.keys.get('digest'), loaded.vaultKey(), loaded.sealing()]);
  const filters = spec.source.skip ?? [];
  const { kept: sourceRows, skipped } = withoutSkipped(extracted, filters, skipAlias);
  const types = await loaded.targetTypes(req.entity).catch((err) => withoutValues(`stage ${req.entity} batch ${batchId} (the target's column types)`, err));

  // From the first vault write to the last object: the load fence is held (see load-fence.ts), so a
  // rollback waits for this stage to end and cleans up all it wrote; a stage after it is refused.
  const stage = async (): Promise<{ committed: () => void; result: StagedBatch }> => {
    // First the mapping, and every personal value a token must stand for.
    const { mapped, quarantined, personal } = await timed(tags, 'map', () => mapRows(spec, mapper, sourceRows));
    // One token per value, for ever: the vault settles collisions (one round trip per batch, more only on a collision).
    const tokens = await withHeartbeat({ phase: 'tokenize', batchId }, () => timed(tags, 'tokens', () => stores.vault.tokenize({ token: tokenKey, vault: vaultKey, sealed: sealing.sealedToken }, req.migrationId, personal)));
    const shape = (kind: PiiKind, values: readonly string[]) => shapeTokens(shapedTokenKey(tokenKey), kind, values);
    const tokenized = await timed(tags, 'rows and digests', () => tokenizeRows(spec, mapper, mapped, tokens, (expected) => rowDigest(digestKey, mapper.columns, expected, types), shape));
    const staged: StagedRows = { columns: mapper.columns, rows: tokenized.rows, sourceKeys: tokenized.sourceKeys };
    const digests: [string, string, string?][] = tokenized.digests;
    const keys = stagingKeys(loaded.plan, req.migrationId, req.entity, batchId);
    // Files: each object a row names is streamed, hashed and encrypted into staging.
    const files: StagedFile[] = [];
    const fileColumns = spec.columns.map((c, i) => ({ c, i })).filter(({ c }) => c.file);
    if (fileColumns.length) {
      const missing = new Set<number>();
      const jobs = staged.rows.flatMap((row, r) => fileColumns.filter(({ i }) => typeof row[i] === 'string').map(({ c, i }) => ({ r, c, objectKey: row[i] as string })));
      await withHeartbeat({ phase: 'stage-files', batchId }, () =>
        inLanes(jobs, 4, async ({ r, c, objectKey }) => {
          const fileId = createHash('sha256').update(`${c.name}\0${objectKey}`).digest('hex').slice(0, 32);
          const stagedKey = keys.file(fileId);
          try {
            const { sha256, bytes } = await loaded.staging.stageFile({ ...ref, fileId }, { bucket: c.file!.sourceBucket, key: objectKey }, stagedKey);
            files.push({ fileId, column: c.name, businessKey: digests[r]![0], sourceKey: objectKey, stagedKey, sha256, bytes });
          } catch (err) {
            if ((err as Error).name !== 'NoSuchKey') throw err;
            missing.add(r);
            quarantined.push({ sourceKey: staged.sourceKeys[r]!, businessKey: digests[r]![0], reason: 'missing_file', column: c.name, detail: `the object is not in bucket ${c.file!.sourceBucket}`, row: {} });
          }
        }),
      );
      if (missing.size) {
        const keep = (_: unknown, r: number) => !missing.has(r);
        staged.rows = staged.rows.filter(keep);
        staged.sourceKeys = staged.sourceKeys.filter(keep);
        digests.splice(0, digests.length, ...digests.filter(keep));
        files.splice(0, files.length, ...files.filter((f) => digests.some(([bk]) => bk === f.businessKey)));
      }
    }
    const manifest: Manifest = {
      version: 1,
      migrationId: req.migrationId,
      entity: req.entity,
      batchId,
      planHash: loaded.planHash,
      afterKey: req.afterKey,
      lastKey: req.lastKey,
      columns: mapper.columns,
      businessKey: spec.target.businessKey,
      rowCount: staged.rows.length,
      quarantined: quarantined.length,
      digests,
      files,
      ...(filters.length ? { skipped } : {}),
      ...(req.level !== undefined ? { level: req.level } : {}),
      ...(req.delta ? { delta: req.delta } : {}),
    };
    let stagedBytes = 0;
    await withHeartbeat({ phase: 'stage', batchId }, async () => {
      stagedBytes = (await timed(tags, 'serialize, compress, encrypt, put', () => loaded.staging.putBatch(manifest, staged))) + files.reduce((n, f) => n + f.bytes, 0);
      await timed(tags, 'stage records', async () => {
        await stores.quarantine.write(sealing.quarantine, ref, 'stage', quarantined);
        await stores.quarantine.resolve(ref, 'stage', staged.sourceKeys);
        await stores.batches.recordStaged({ ...ref, afterKey: req.afterKey, lastKey: req.lastKey, extracted: sourceRows.length, staged: staged.rows.length, quarantined: quarantined.length, objectKey: keys.rows, manifestKey: keys.manifest });
      });
    });
    // Once committed: a load of this batch on this worker opens no vault entry for these values (see StagedClearValues).
    const committed = () => {
      if (req.runId !== undefined) stores.stagedClearValues.put(req.runId, batchId, clearValuesByToken(personal, tokens));
      countStaged({ migration: req.migrationId, entity: req.entity }, { extracted: sourceRows.length, staged: staged.rows.length, quarantined: quarantined.length, bytes: stagedBytes });
    };
    return { committed, result: { ...ref, extracted: sourceRows.length, staged: staged.rows.length, quarantined: quarantined.length, ...(filters.length ? { skipped } : {}) } };
  };
  const { committed, result } = req.runId === undefined ? await stage() : await loaded.writer.fenced({ migrationId: req.migrationId, runId: req.runId, what: `stage ${req.entity} batch ${batchId}` }, stage);
  committed();
  return result;
}
