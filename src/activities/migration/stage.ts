import type { KeyRange, StagedBatch } from '../../shared/migration';
import { batchIdOf } from '../../core/batch-id';
import type { Stores } from '../../stores/stores';
import { withHeartbeat } from '../../stores/activity-runtime';
import { timed } from '../../stores/metrics';
import { stageExtracted, StageStores } from '../../steps/stage-extracted';

export interface StageRequest extends KeyRange {
  migrationId: string;
  entity: string;
  /** The migration's run (its first run id): its stage writes hold the load fence. Absent from runs of older workflow code. */
  runId?: string;
}

export function createStageActivities(stores: StageStores & Pick<Stores, 'plans'>) {
  return {
    /**
     * Extracts one keyset range in a read-only snapshot, maps it to the target's shape, replaces
     * personal data by tokens (originals go to the vault), and stages the rows and a manifest to
     * S3, each encrypted under its own KMS data key. Re-running writes the same objects.
     */
    async stageBatch(req: StageRequest): Promise<StagedBatch> {
      const loaded = await stores.plans.plan(req.migrationId);
      const { spec, mapper } = loaded.entity(req.entity);
      const batchId = batchIdOf(loaded.planHash, req.entity, req.afterKey, req.lastKey, req.level);
      const range = { afterKey: req.afterKey, lastKey: req.lastKey, level: req.level };
      const tags = { migration: req.migrationId, entity: req.entity };
      const extracted = await withHeartbeat({ phase: 'extract', batchId }, () => timed(tags, 'extract', () => loaded.reader.extract(spec, mapper.sourceColumns, range, `extract ${req.entity} batch ${batchId}`)));
      return stageExtracted(stores, loaded, { ...req, batchId }, extracted);
    },
  };
}
