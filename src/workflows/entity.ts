import { ApplicationFailure, continueAsNew, setHandler, sleep, workflowInfo } from '@temporalio/workflow';
import { quarantineAbortReason } from '../core/abort';
import { emptyProgress, EntityProgress, EntityRunInput, EntityRunState, RangePage } from '../shared/migration';
import { entityProgressQuery } from '../shared/queries';
import { batch } from './proxies';
import { inLanes } from '../core/lanes';

const RANGES_PER_PAGE = 500;

/**
 * One entity, as a child workflow: split the source into keyset ranges, then stage → load →
 * reconcile each, `lanes` at a time. Before its history grows large it continues as new,
 * carrying only the ranges still to do and the tally.
 */
export async function migrateEntity(input: EntityRunInput, carried?: EntityRunState): Promise<EntityProgress> {
  const { migrationId, entity } = input;
  const state: EntityRunState = carried ?? { planned: false, after: null, ranges: [], progress: emptyProgress(entity, input.sourceRows) };
  const progress = state.progress;
  setHandler(entityProgressQuery, () => progress);

  while (!state.planned) {
    const page: RangePage = await batch.planRanges({ migrationId, entity, after: state.after, maxRanges: RANGES_PER_PAGE });
    state.ranges.push(...page.ranges);
    progress.batches += page.ranges.length;
    state.planned = page.done;
    state.after = page.next;
  }

  let abortReason: string | undefined;
  const taken = await inLanes(
    state.ranges,
    input.lanes,
    async (range) => {
      const staged = await batch.stageBatch({ migrationId, entity, ...range });
      const loaded = await batch.loadBatch({ migrationId, entity, batchId: staged.batchId, runId: input.runId });
      const checked = await batch.reconcileBatch({ migrationId, entity, batchId: staged.batchId });
      record(progress, staged.extracted, staged.quarantined, loaded, checked);
      abortReason ??= quarantineAbortReason({ entity, processed: progress.extracted, quarantined: progress.quarantined }, input.maxQuarantineRatio);
      if (input.throttleRowsPerSecond > 0) {
        // Each lane gets its share of the rate: pause as long as this batch's share of a second.
        await sleep(Math.ceil((staged.extracted * input.lanes * 1000) / input.throttleRowsPerSecond));
      }
    },
    () => abortReason !== undefined || workflowInfo().continueAsNewSuggested,
  );
  if (abortReason) throw ApplicationFailure.create({ message: abortReason, type: 'AbortThresholdExceeded', nonRetryable: true });
  if (taken < state.ranges.length) {
    await continueAsNew<typeof migrateEntity>(input, { ...state, ranges: state.ranges.slice(taken) });
  }
  const r = progress.reconcile;
  if (r.missing || r.mismatched || r.duplicated || r.found !== r.expected) {
    throw ApplicationFailure.create({
      message: `${entity}: reconcile found ${r.missing} missing, ${r.mismatched} mismatched, ${r.duplicated} duplicated of ${r.expected} expected rows`,
      type: 'ReconcileMismatch',
      nonRetryable: true,
    });
  }
  return progress;
}

function record(p: EntityProgress, extracted: number, stageQuarantined: number, loaded: { inserted: number; updated: number; unchanged: number; quarantined: number }, checked: { expected: number; found: number; missing: number; mismatched: number; duplicated: number; sampleMissing: string[]; sampleMismatched: string[] }): void {
  p.batchesDone++;
  p.extracted += extracted;
  p.inserted += loaded.inserted;
  p.updated += loaded.updated;
  p.unchanged += loaded.unchanged;
  p.quarantined += stageQuarantined + loaded.quarantined;
  const r = p.reconcile;
  r.expected += checked.expected;
  r.found += checked.found;
  r.missing += checked.missing;
  r.mismatched += checked.mismatched;
  r.duplicated += checked.duplicated;
  r.sampleMissing = [...r.sampleMissing, ...checked.sampleMissing].slice(0, 10);
  r.sampleMismatched = [...r.sampleMismatched, ...checked.sampleMismatched].slice(0, 10);
}
