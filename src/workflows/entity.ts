import { ApplicationFailure, continueAsNew, executeChild, setHandler, sleep, workflowInfo } from '@temporalio/workflow';
import { quarantineAbortReason } from '../core/abort';
import { emptyProgress, EntityProgress, EntityRunInput, EntityRunState, RangePage } from '../shared/migration';
import { entityProgressQuery } from '../shared/queries';
import { batch } from './proxies';
import { inLanes } from '../core/lanes';

const RANGES_PER_PAGE = 500;
/** An entity with at least this many batches is split into partitions, one child workflow each. */
export const PARTITION_MIN_BATCHES = 40;

/**
 * One entity, as a child workflow: split the source into keyset ranges, then stage → load →
 * reconcile each, `lanes` at a time. Before its history grows large it continues as new,
 * carrying only the ranges still to do and the tally.
 */
export async function migrateEntity(input: EntityRunInput, carried?: EntityRunState): Promise<EntityProgress> {
  const { migrationId, entity } = input;
  const state: EntityRunState = carried ?? {
    planned: input.partition !== undefined,
    after: null,
    ranges: input.partition?.ranges ?? [],
    progress: { ...emptyProgress(entity, input.sourceRows), batches: input.partition?.ranges.length ?? 0 },
  };
  const progress = state.progress;
  setHandler(entityProgressQuery, () => progress);

  while (!state.planned) {
    const page: RangePage = await batch.planRanges({ migrationId, entity, after: state.after, maxRanges: RANGES_PER_PAGE });
    state.ranges.push(...page.ranges);
    progress.batches += page.ranges.length;
    state.planned = page.done;
    state.after = page.next;
  }

  // A large entity runs as partitions: contiguous slices of its ranges, each a child workflow.
  if (!input.partition && !carried && input.lanes > 1 && state.ranges.length >= PARTITION_MIN_BATCHES) {
    const of = input.lanes;
    const size = Math.ceil(state.ranges.length / of);
    const parts = await Promise.all(
      Array.from({ length: of }, (_, index) =>
        executeChild(migrateEntity, {
          workflowId: `${workflowInfo().workflowId}/part-${index}`,
          args: [{ ...input, lanes: 1, throttleRowsPerSecond: Math.floor(input.throttleRowsPerSecond / of), partition: { index, of, ranges: state.ranges.slice(index * size, (index + 1) * size) } }],
        }),
      ),
    );
    for (const p of parts) add(progress, p);
    progress.batches = state.ranges.length;
    checkReconcile(entity, progress);
    return progress;
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
  checkReconcile(entity, progress);
  return progress;
}

function checkReconcile(entity: string, progress: EntityProgress): void {
  const r = progress.reconcile;
  if (r.missing || r.mismatched || r.duplicated || r.found !== r.expected) {
    throw ApplicationFailure.create({
      message: `${entity}: reconcile found ${r.missing} missing, ${r.mismatched} mismatched, ${r.duplicated} duplicated of ${r.expected} expected rows`,
      type: 'ReconcileMismatch',
      nonRetryable: true,
    });
  }
}

/** Adds a partition's tally to its entity's. */
function add(total: EntityProgress, part: EntityProgress): void {
  for (const k of ['batchesDone', 'extracted', 'inserted', 'updated', 'unchanged', 'quarantined'] as const) total[k] += part[k];
  const r = total.reconcile;
  const p = part.reconcile;
  for (const k of ['expected', 'found', 'missing', 'mismatched', 'duplicated'] as const) r[k] += p[k];
  r.sampleMissing = [...r.sampleMissing, ...p.sampleMissing].slice(0, 10);
  r.sampleMismatched = [...r.sampleMismatched, ...p.sampleMismatched].slice(0, 10);
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
