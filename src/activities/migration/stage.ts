import type { KeyRange, StagedBatch } from '../../shared/migration';
import { batchIdOf } from '../../core/batch-id';
import { extractSql } from '../../plan/source-sql';
import { MigrationContext } from '../../stores/migration-context';
import { withHeartbeat } from '../../stores/activity-runtime';
import { withoutValues } from '../../stores/errors';
import { stageExtracted } from '../../stores/staging';

export interface StageRequest extends KeyRange {
  migrationId: string;
  entity: string;
  /** The migration's run (its first run id): its stage writes hold the load fence. Absent from runs of older workflow code. */
  runId?: string;
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
