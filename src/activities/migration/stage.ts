import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { Knex } from 'knex';
import { CONTROL_SCHEMA } from '../../control/schema';
import { textArray } from '../../control/text-array';
import { sealJson } from '../../crypto/seal-json';
import { tokenize } from '../../crypto/vault';
import { ensureLoadFence, holdLoadFence } from '../../control/load-fence';
import { rowDigest } from '../../core/digest';
import { clearValuesByToken, mapRows, tokenizeRows, withoutSkipped } from '../../core/stage-rows';
import type { KeyRange, StagedBatch } from '../../shared/migration';
import { batchIdOf } from './batch-id';
import { extractSql, skipAlias } from '../../plan/source-sql';
import { inLanes } from '../../core/lanes';
import { encryptionContext, fileContext, LoadedPlan, MigrationContext, stagingKeys, withHeartbeat } from './context';
import { StagedFile, stageFile } from './files';
import { withoutValues } from './errors';
import { countStaged } from './metrics';
import type { Manifest, StagedRows } from './manifest';
import type { QuarantineRecord } from '../../core/quarantine-record';

export interface StageRequest extends KeyRange {
  migrationId: string;
  entity: string;
  /** The migration's run (its first run id): its stage writes hold the load fence. Absent from runs of older workflow code. */
  runId?: string;
}

export async function writeQuarantine(control: Knex, vaultKey: Uint8Array, ref: { migrationId: string; entity: string; batchId: string }, stage: 'stage' | 'load', records: QuarantineRecord[]): Promise<void> {
  if (!records.length) return;
  const rows = records.map((r) => ({
    migration_id: ref.migrationId,
    entity: ref.entity,
    source_key: r.sourceKey,
    batch_id: ref.batchId,
    stage,
    business_key: r.businessKey ?? null,
    reason: r.reason,
    column_name: r.column ?? null,
    detail: r.detail,
    payload: sealJson(r.row, vaultKey, `quarantine:${ref.migrationId}:${ref.entity}:${r.sourceKey}`),
  }));
  await control(`${CONTROL_SCHEMA}.quarantine`).insert(rows).onConflict(['migration_id', 'entity', 'source_key']).merge(['batch_id', 'stage', 'business_key', 'reason', 'column_name', 'detail', 'payload']);
}

/**
 * Clears quarantine entries of rows that have now gone through (an operator fixed the source
 * row and ran the migration again): at `stage`, entries recorded at staging; at `load`, any.
 * Returns how many entries were cleared.
 */
export async function resolveQuarantine(control: Knex, ref: { migrationId: string; entity: string }, step: 'stage' | 'load', sourceKeys: readonly string[]): Promise<number> {
  let cleared = 0;
  for (let i = 0; i < sourceKeys.length; i += 20_000) {
    const r = await control.raw(
      `delete from ${CONTROL_SCHEMA}.quarantine where migration_id = ? and entity = ? and source_key = any(?::text[])${step === 'stage' ? " and stage = 'stage'" : ''}`,
      [ref.migrationId, ref.entity, textArray(sourceKeys.slice(i, i + 20_000))],
    );
    cleared += r.rowCount ?? 0;
  }
  return cleared;
}

export function createStageActivities(ctx: MigrationContext) {
  return {
    /**
     * Extracts one keyset range in a read-only snapshot, maps it to the target's shape, replaces
     * personal data by tokens (originals go to the vault), and stages the rows and a manifest to
     * S3, each encrypted under its own KMS data key. Re-running writes the same objects.
     */
    async stageBatch(req: StageRequest): Promise<StagedBatch> {
      const loaded = await ctx.plan(req.migrationId);
      const { spec, mapper } = loaded.entity(req.entity);
      const batchId = batchIdOf(loaded.planHash, req.entity, req.afterKey, req.lastKey, req.level);

      const extract = extractSql(spec, mapper.sourceColumns, { afterKey: req.afterKey, lastKey: req.lastKey, level: req.level });
      const extracted: Record<string, unknown>[] = await withHeartbeat({ phase: 'extract', batchId }, () =>
        loaded.source
          .transaction(async (trx) => (await trx.raw(extract.sql, extract.bindings as never)).rows, { isolationLevel: 'repeatable read', readOnly: true })
          .catch((err) => withoutValues(`extract ${req.entity} batch ${batchId}`, err)),
      );
      return stageExtracted(ctx, loaded, { ...req, batchId }, extracted);
    },
  };
}

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
export async function stageExtracted(ctx: MigrationContext, loaded: LoadedPlan, req: StageJob, extracted: Record<string, unknown>[]): Promise<StagedBatch> {
  const { spec, mapper } = loaded.entity(req.entity);
  const batchId = req.batchId;
  const ref = { migrationId: req.migrationId, entity: req.entity, batchId };
  const [tokenKey, digestKey, vaultKey] = await Promise.all([ctx.deps.keys.get('token'), ctx.deps.keys.get('digest'), loaded.vaultKey()]);
  const filters = spec.source.skip ?? [];
  const { kept: sourceRows, skipped } = withoutSkipped(extracted, filters, skipAlias);
  const types = await loaded.targetTypes(req.entity).catch((err) => withoutValues(`stage ${req.entity} batch ${batchId} (the target's column types)`, err));

  // From the first vault write to the last object: the load fence is held (see load-fence.ts), so a
  // rollback waits for this stage to end and cleans up all it wrote; a stage after it is refused.
  const fence =
    req.runId === undefined
      ? undefined
      : await ensureLoadFence(loaded.target, loaded.plan.target.ledgerSchema)
          .then(() => loaded.target.transaction())
          .catch((err) => withoutValues(`stage ${req.entity} batch ${batchId} (load fence in the target)`, err));
  try {
    let stagedBytes = 0;
    if (fence) {
      await holdLoadFence(fence, loaded.plan.target.ledgerSchema, req.migrationId, req.runId!, `stage ${req.entity} batch ${batchId}`).catch((err) =>
        withoutValues(`stage ${req.entity} batch ${batchId} (load fence in the target)`, err),
      );
    }
    // First the mapping, and every personal value a token must stand for.
    const { mapped, quarantined, personal } = mapRows(spec, mapper, sourceRows);
    // One token per value, for ever: the vault settles collisions (one round trip per batch, more only on a collision).
    const tokens = await withHeartbeat({ phase: 'tokenize', batchId }, () => tokenize(ctx.deps.control, { token: tokenKey, vault: vaultKey }, req.migrationId, personal));
    const tokenized = tokenizeRows(spec, mapper, mapped, tokens, (expected) => rowDigest(digestKey, mapper.columns, expected, types));
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
            const { sha256, bytes } = await stageFile(ctx.deps.s3, loaded.cipher, { bucket: c.file!.sourceBucket, key: objectKey }, { bucket: loaded.bucket, key: stagedKey, sse: loaded.sseKmsKeyId }, fileContext(req.migrationId, req.entity, batchId, fileId));
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
    await withHeartbeat({ phase: 'stage', batchId }, async () => {
      const sse = loaded.sseKmsKeyId ? { ServerSideEncryption: 'aws:kms' as const, SSEKMSKeyId: loaded.sseKmsKeyId } : {};
      const rowsBody = await loaded.cipher.encrypt(gzipSync(Buffer.from(JSON.stringify(staged))), encryptionContext(req.migrationId, req.entity, batchId, 'rows'), keys.rows);
      const manifestBody = await loaded.cipher.encrypt(Buffer.from(JSON.stringify(manifest)), encryptionContext(req.migrationId, req.entity, batchId, 'manifest'), keys.manifest);
      stagedBytes = rowsBody.length + manifestBody.length + files.reduce((n, f) => n + f.bytes, 0);
      await ctx.deps.s3.send(new PutObjectCommand({ Bucket: loaded.bucket, Key: keys.rows, Body: rowsBody, ...sse }));
      await ctx.deps.s3.send(new PutObjectCommand({ Bucket: loaded.bucket, Key: keys.manifest, Body: manifestBody, ...sse }));
      await writeQuarantine(ctx.deps.control, vaultKey, ref, 'stage', quarantined);
      await resolveQuarantine(ctx.deps.control, ref, 'stage', staged.sourceKeys);
      await ctx.deps.control(`${CONTROL_SCHEMA}.batches`)
        .insert({
          batch_id: batchId,
          migration_id: req.migrationId,
          entity: req.entity,
          after_key: req.afterKey,
          last_key: req.lastKey,
          rows_extracted: sourceRows.length,
          rows_staged: staged.rows.length,
          rows_quarantined: quarantined.length,
          object_key: keys.rows,
          manifest_key: keys.manifest,
        })
        .onConflict('batch_id')
        .merge(['rows_extracted', 'rows_staged', 'rows_quarantined', 'staged_at']);
    });
    await fence?.commit();
    // A load of this batch on this worker opens no vault entry for these values (see StagedClearValues).
    if (req.runId !== undefined) ctx.stagedClearValues.put(req.runId, batchId, clearValuesByToken(personal, tokens));
    countStaged({ migration: req.migrationId, entity: req.entity }, { extracted: sourceRows.length, staged: staged.rows.length, quarantined: quarantined.length, bytes: stagedBytes });
    return { ...ref, extracted: sourceRows.length, staged: staged.rows.length, quarantined: quarantined.length, ...(filters.length ? { skipped } : {}) };
  } catch (err) {
    await fence?.rollback().catch(() => undefined);
    throw err;
  }
}
