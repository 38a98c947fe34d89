import {
  allHandlersFinished,
  ApplicationFailure,
  ChildWorkflowHandle,
  condition,
  continueAsNew,
  CancellationScope,
  getExternalWorkflowHandle,
  patched,
  setCurrentDetails,
  setHandler,
  sleep,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import { quarantineAbortReason } from '../core/abort';
import { Controls, emptyProgress, sameControls, EntityProgress, EntityRunInput, EntityRunState, KeyRange, RangePage } from '../shared/migration';
import { addTally, loadedRows, skippedRows, thousands } from '../shared/progress';
import { controlsSignal, entityProgressQuery, entityProgressSignal, partitionTallySignal } from '../shared/queries';
import { batch as batchTryingCancel, batchWaitingOnCancel } from './proxies';
import { inLanes } from '../core/lanes';
import { QUARANTINE_ABORT_ON_WHOLE, STOP_RUNS_BEFORE_ROLLBACK } from './patches';

const RANGES_PER_PAGE = 500;
/** An entity with at least this many batches is split into partitions, one child workflow each. */
export const PARTITION_MIN_BATCHES = 40;
/** Each run reports its tally to the migration about this many times (bounds the migration's history). */
const REPORTS_PER_RUN = 25;

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
    controls: input.controls,
  };
  const { progress, controls } = state;
  // A failing batch or partition stops the others and waits for them (see the migration's patch).
  const stopsRunsFirst = patched(STOP_RUNS_BEFORE_ROLLBACK);
  const batch = stopsRunsFirst ? batchWaitingOnCancel : batchTryingCancel;
  // The abort threshold against the entity's whole (see the patch): decided the same way whatever the order of its batches.
  const abortsOnWhole = patched(QUARANTINE_ABORT_ON_WHOLE);
  /** Once every row of the entity was read (not in a partition: its entity decides on all of them). */
  const abortOnAll = () => {
    const reason = abortsOnWhole && !input.partition ? quarantineAbortReason({ entity, processed: progress.extracted, quarantined: progress.quarantined }, input.maxQuarantineRatio) : undefined;
    if (reason) throw ApplicationFailure.create({ message: reason, type: 'AbortThresholdExceeded', nonRetryable: true });
  };
  const part = input.partition ? `${entity}/part-${input.partition.index}` : entity;
  const partitions: ChildWorkflowHandle<typeof migrateEntity>[] = [];
  const showDetails = () =>
    setCurrentDetails(
      `**${part}**: batch ${progress.batchesDone}/${progress.batches} · ${thousands(progress.extracted)} extracted · ${thousands(loadedRows(progress))} loaded · ${thousands(progress.quarantined)} quarantined` +
        (controls.paused ? ' · **PAUSED**' : ''),
    );
  const reportProgress = () => getExternalWorkflowHandle(input.rootWorkflowId).signal(entityProgressSignal, { entity, part, progress }).catch(() => undefined);
  // Handlers last: a signal buffered before the run started is delivered as soon as its handler is set.
  setHandler(entityProgressQuery, () => progress);
  /** Set when an operator changed the batch size: the ranges not yet taken are planned again. */
  let replan = false;
  setHandler(controlsSignal, async (next: Controls) => {
    if (next.batchSize !== undefined && next.batchSize !== controls.batchSize && state.planned) replan = true;
    Object.assign(controls, next);
    showDetails();
    // Partitions started before the change hear it from here.
    await Promise.all(partitions.map((p) => p.signal(controlsSignal, next).catch(() => undefined)));
  });
  showDetails();

  while (!state.planned) {
    const page: RangePage = await batch.planRanges.executeWithOptions({ summary: `${entity}: plan batches (keyset ranges of the source key)` }, [
      { migrationId, entity, after: state.after, maxRanges: RANGES_PER_PAGE, batchSize: controls.batchSize },
    ]);
    state.ranges.push(...page.ranges.map((r, i) => ({ ...r, seq: progress.batches + i + 1 })));
    progress.batches += page.ranges.length;
    state.planned = page.done;
    state.after = page.next;
  }

  // A tree loads level by level (parents before children): one run, each level's ranges in lanes.
  const levelled = state.ranges.some((r) => r.level !== undefined);
  // A large entity runs as partitions: contiguous slices of its ranges, each a child workflow.
  if (!input.partition && !carried && !levelled && input.lanes > 1 && state.ranges.length >= PARTITION_MIN_BATCHES) {
    const of = input.lanes;
    const size = Math.ceil(state.ranges.length / of);
    const scope = new CancellationScope();
    // The partitions' tallies together against the entity's count: the first to make the whole
    // entity's share sure to pass the threshold stops them all.
    let partsAbort: string | undefined;
    if (abortsOnWhole) {
      const tallies = new Map<number, { extracted: number; quarantined: number; skipped: number }>();
      setHandler(partitionTallySignal, (t) => {
        tallies.set(t.index, t);
        if (partsAbort) return;
        const sum = (k: 'extracted' | 'quarantined' | 'skipped') => [...tallies.values()].reduce((a, x) => a + x[k], 0);
        partsAbort = quarantineAbortReason({ entity, processed: sum('extracted'), quarantined: sum('quarantined'), atMost: input.sourceRows - sum('skipped') }, input.maxQuarantineRatio);
        if (partsAbort) scope.cancel();
      });
    }
    await scope.run(async () => {
      for (let index = 0; index < of; index++) {
        const ranges = state.ranges.slice(index * size, (index + 1) * size);
        const passed = { ...controls };
        const part = await startChild(migrateEntity, {
          workflowId: `${workflowInfo().workflowId}/part-${index}`,
          staticSummary: `${entity} partition ${index + 1}/${of}: batches ${ranges[0]?.seq ?? '-'}–${ranges[ranges.length - 1]?.seq ?? '-'}`,
          args: [{ ...input, lanes: 1, controls: passed, throttleShare: input.throttleShare * of, partition: { index, of, ranges } }],
        });
        partitions.push(part);
        // Controls changed while it was starting: the forwarding did not reach it yet.
        if (!sameControls(passed, controls)) await part.signal(controlsSignal, { ...controls }).catch(() => undefined);
      }
    });
    const results = scope.run(() => Promise.resolve(partitions.map((p) => p.result())));
    const all = results.then((r) => Promise.all(r));
    if (stopsRunsFirst) {
      // The first failing partition stops the others; the entity fails once none is running.
      const failed = await all.then(
        () => undefined,
        (error) => ({ error }),
      );
      if (failed) {
        scope.cancel();
        await results.then((r) => Promise.allSettled(r));
        if (partsAbort) throw ApplicationFailure.create({ message: partsAbort, type: 'AbortThresholdExceeded', nonRetryable: true });
        throw failed.error;
      }
    }
    const parts = await all;
    for (const p of parts) addTally(progress, p);
    progress.batches = state.ranges.length;
    showDetails();
    await condition(allHandlersFinished);
    abortOnAll();
    checkReconcile(entity, progress);
    return progress;
  }

  /** The ranges not taken yet, planned again at the new batch size: same keys, other boundaries. */
  const replanRanges = async (rest: KeyRange[]): Promise<KeyRange[]> => {
    const upTo = rest[rest.length - 1]!.lastKey;
    const out: KeyRange[] = [];
    let after = rest[0]!.afterKey;
    for (;;) {
      const page: RangePage = await batch.planRanges.executeWithOptions({ summary: `${part}: plan the remaining batches again at ${thousands(controls.batchSize ?? 0)} rows` }, [
        { migrationId, entity, after, upTo, maxRanges: RANGES_PER_PAGE, batchSize: controls.batchSize },
      ]);
      out.push(...page.ranges.map((r, i) => ({ ...r, seq: progress.batchesDone + out.length + i + 1 })));
      if (page.done) return out;
      after = page.next;
    }
  };

  const reportEvery = Math.max(1, Math.ceil(progress.batches / REPORTS_PER_RUN));
  let abortReason: string | undefined;
  for (;;) {
    // A tree takes one level at a time: every batch of a level has loaded before the next starts.
    const group = levelled ? sameLevelPrefix(state.ranges) : state.ranges.length;
    const taken = await inLanes(
      levelled ? state.ranges.slice(0, group) : state.ranges,
      input.lanes,
      async (range: KeyRange) => {
        const label = `${entity} batch ${range.seq ?? '?'}/${progress.batches}`;
        const staged = await batch.stageBatch.executeWithOptions({ summary: `${label}: extract, tokenize and stage ${thousands(range.rows)} rows` }, [
          { migrationId, entity, ...range, ...(stopsRunsFirst ? { runId: input.runId } : {}) },
        ]);
        const loaded = await batch.loadBatch.executeWithOptions({ summary: `${label}: load ${thousands(staged.staged)} rows (${thousands(staged.quarantined)} quarantined at staging)` }, [
          { migrationId, entity, batchId: staged.batchId, runId: input.runId },
        ]);
        const checked = await batch.reconcileBatch.executeWithOptions({ summary: `${label}: reconcile ${thousands(staged.staged)} rows against the manifest` }, [{ migrationId, entity, batchId: staged.batchId }]);
        record(progress, staged.extracted, staged.quarantined, loaded, checked, staged.skipped);
        showDetails();
        if (progress.batchesDone % reportEvery === 0) {
          await reportProgress();
          // A partition's tally goes to its entity run too, which judges the abort threshold on all of them.
          if (abortsOnWhole && input.partition && workflowInfo().parent) {
            const tally = { index: input.partition.index, extracted: progress.extracted, quarantined: progress.quarantined, skipped: skippedRows(progress) };
            await getExternalWorkflowHandle(workflowInfo().parent!.workflowId).signal(partitionTallySignal, tally).catch(() => undefined);
          }
        }
        // A partition's own rows against the entity's count: the least the entity's final share can be.
        const atMost = abortsOnWhole ? { atMost: input.sourceRows - skippedRows(progress) } : {};
        abortReason ??= quarantineAbortReason({ entity, processed: progress.extracted, quarantined: progress.quarantined, ...atMost }, input.maxQuarantineRatio);
        const rate = controls.throttleRowsPerSecond / input.throttleShare;
        if (rate > 0) {
          // Each lane gets its share of the rate: pause as long as this batch's share of a second.
          await sleep(Math.ceil((staged.extracted * input.lanes * 1000) / rate));
        }
      },
      () => abortReason !== undefined || replan || workflowInfo().continueAsNewSuggested,
      // A paused migration starts no new batch; the ones in flight finish.
      () => condition(() => !controls.paused),
      stopsRunsFirst ? 'settle' : 'propagate',
    );
    if (abortReason) throw ApplicationFailure.create({ message: abortReason, type: 'AbortThresholdExceeded', nonRetryable: true });
    state.ranges = state.ranges.slice(taken);
    if (levelled) {
      // A tree's ranges are levels of its walk, not spans of keys: a new batch size applies to the next plan.
      replan = false;
      if (taken === group && state.ranges.length && !workflowInfo().continueAsNewSuggested) continue;
      break;
    }
    if (!replan || !state.ranges.length) break;
    replan = false;
    state.ranges = await replanRanges(state.ranges);
    progress.batches = progress.batchesDone + state.ranges.length;
    showDetails();
  }
  await condition(allHandlersFinished);
  if (state.ranges.length) {
    await continueAsNew<typeof migrateEntity>(input, state);
  }
  await reportProgress();
  abortOnAll();
  checkReconcile(entity, progress);
  return progress;
}

/** How many ranges at the head of the list are of the first one's level. */
function sameLevelPrefix(ranges: readonly KeyRange[]): number {
  const level = ranges[0]?.level;
  const n = ranges.findIndex((r) => r.level !== level);
  return n < 0 ? ranges.length : n;
}

function checkReconcile(entity: string, progress: EntityProgress): void {
  const r = progress.reconcile;
  if (r.missing || r.mismatched || r.duplicated || r.found !== r.expected) {
    throw ApplicationFailure.create({
      message:
        `${entity}: reconcile found ${r.missing} missing, ${r.mismatched} mismatched, ${r.duplicated} duplicated of ${r.expected} expected rows` +
        (r.sampleMismatched.length ? `; mismatched: ${r.sampleMismatched.slice(0, 3).join('; ')}` : '') +
        (r.sampleMissing.length ? `; missing business keys: ${r.sampleMissing.slice(0, 3).join(', ')}` : ''),
      type: 'ReconcileMismatch',
      nonRetryable: true,
    });
  }
}

/** A batch's counts (staged, loaded, reconciled) added to its run's tally. */
function record(
  p: EntityProgress,
  extracted: number,
  stageQuarantined: number,
  loaded: { inserted: number; updated: number; unchanged: number; quarantined: number },
  checked: { expected: number; found: number; missing: number; mismatched: number; duplicated: number; sampleMissing: string[]; sampleMismatched: string[] },
  skipped?: Record<string, number>,
): void {
  addTally(p, { batchesDone: 1, extracted, inserted: loaded.inserted, updated: loaded.updated, unchanged: loaded.unchanged, quarantined: stageQuarantined + loaded.quarantined, skipped, reconcile: checked });
}
