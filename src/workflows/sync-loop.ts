import { allHandlersFinished, CancellationScope, condition, continueAsNew, patched, sleep, workflowInfo } from '@temporalio/workflow';
import { deletesOverLimit } from '../core/sync-keys';
import type { SyncSpec } from '../plan/types';
import type { FinalReconcile } from '../shared/migration';
import { thousands } from '../shared/progress';
import { workflowIso, workflowNow } from './clock';
import type { migrate } from './migration';
import { audit, MigrationRun, mustRollBack, rollbackAsked, rollbackMessage, RollbackRequested } from './migration-run';
import { CUTOVER_VERIFIES_TAIL, SYNC_FOLLOWS_SLOT, SYNC_INTERVAL_FROM_ROUND_START } from './patches';
import { follow, slow } from './proxies';
import { addRound, applyRound } from './sync-round';

type Captured = Awaited<ReturnType<typeof slow.captureChanges>>;

/**
 * After the full load: rounds of capture → stage → load → reconcile, one every interval (from
 * round start to round start; a round longer than the interval is followed at once), until an
 * operator asks for the cutover; then rounds until nothing arrives for the quiet period, the
 * final reconcile (every row, both ways), and completion. Rollback and pause act between rounds.
 */
export async function runSync(run: MigrationRun): Promise<void> {
  // Logical: the slot's follower runs beside the rounds, until sync ends (returns, throws, or continues as new).
  const following = run.input.plan.sync!.mode === 'logical' && patched(SYNC_FOLLOWS_SLOT) ? new CancellationScope() : undefined;
  // Its end is the workflow's doing (cancelled) or the slot's (gone: the rounds say so): nothing to wait for.
  if (following) void following.run(() => follow.followChanges.executeWithOptions({ summary: `sync: follow the slot ${run.input.plan.sync!.slot} (kept changes for the rounds)` }, [{ migrationId: run.input.migrationId }])).catch(() => undefined);
  try {
    await syncRounds(run);
  } finally {
    following?.cancel();
  }
}

async function syncRounds(run: MigrationRun): Promise<void> {
  const { plan } = run.input;
  const sync = plan.sync!;
  const s = run.state.sync!;
  run.view.startSyncing();
  run.report.sync ??= { mode: sync.mode, rounds: 0, applied: { inserted: 0, updated: 0, unchanged: 0, deleted: 0, quarantined: 0 }, conflicts: { detected: 0, sourceWon: 0, targetKept: 0, quarantined: 0 }, roundsUnclean: 0, lag: { changes: 0, seconds: 0 } };
  run.view.setStatus('running');
  for (;;) {
    await condition(() => !run.controls.paused || run.asked.rollback !== undefined);
    if (rollbackAsked(run)) throw new RollbackRequested(rollbackMessage(run, ' during sync'));
    const round = s.round + 1;
    const roundStartedAt = workflowNow();
    const captured = await slow.captureChanges.executeWithOptions({ summary: `sync round ${round}: capture the source's changes` }, [{ migrationId: run.input.migrationId, round, positions: s.positions, final: s.cutoverAsked !== undefined }]);
    run.report.sync.lag = captured.lag;
    if (await holdsMassDelete(run, round, captured, sync)) continue;
    const changed = await applyCaptured(run, round, captured);
    const advanced = await slow.advanceCapture.executeWithOptions({ summary: `sync round ${round}: confirm the applied changes to the source` }, [
      { migrationId: run.input.migrationId, round, ...(captured.advanceTo ? { advanceTo: captured.advanceTo } : {}) },
    ]);
    s.round = round;
    s.positions = captured.positions;
    run.report.sync.rounds = round;
    run.report.sync.lastRoundAt = workflowIso();
    // Histories recorded before advanceCapture returned it have no verification state.
    if (advanced.verification) run.report.sync.verified = { upTo: positionOf(sync, captured, advanced.confirmed) ?? run.report.sync.verified?.upTo, entities: advanced.verification };
    run.view.refresh();
    if (s.cutoverAsked) {
      if (patched(CUTOVER_VERIFIES_TAIL)) {
        if (await cutOverAtTheTail(run, changed, captured, roundStartedAt)) return;
      } else {
        if (await cutOverWhenQuiet(run, changed, captured)) return;
        if (!captured.more) await sleep(1000);
      }
    } else if (!captured.more) {
      const interval = sync.intervalSeconds * 1000;
      const wait = patched(SYNC_INTERVAL_FROM_ROUND_START) ? interval - (workflowNow() - roundStartedAt) : interval;
      if (wait > 0) await condition(() => s.cutoverAsked !== undefined || run.asked.rollback !== undefined || run.controls.paused, wait);
    }
    if (workflowInfo().continueAsNewSuggested) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof migrate>(run.input, run.state);
    }
  }
}

/**
 * A partial read of the source looks exactly like a mass delete: a round that would delete more
 * than the plan allows pauses the migration for an operator to decide (unless one already has).
 */
async function holdsMassDelete(run: MigrationRun, round: number, captured: Captured, sync: SyncSpec): Promise<boolean> {
  const over = deletesOverLimit(captured.entities, sync.maxDeleteRatio);
  if (over.length && !run.asked.deletesConfirmed) {
    run.report.sync!.held = `round ${round} would delete ${over.map((e) => `${thousands(e.deletes)} of ${thousands(e.loaded)} ${e.entity}`).join(', ')} (over sync.max_delete_ratio ${sync.maxDeleteRatio}); check the source, then \`cutover resume ${run.input.migrationId} --confirm-deletes\` applies them (a plain resume captures again)`;
    run.controls.paused = true;
    run.view.setStatus('running');
    await audit(run, 'sync-held', 'cutover', { round, deletes: over.reduce((n, e) => n + e.deletes, 0) });
    return true;
  }
  run.asked.deletesConfirmed = false;
  run.report.sync!.held = undefined;
  return false;
}

/** Applies a round; returns the rows it changed in the target (what a quiet period waits to be none: a poll round's overlap reads rows again). */
async function applyCaptured(run: MigrationRun, round: number, captured: Captured): Promise<number> {
  if (!captured.total) return 0;
  const { plan, migrationId } = run.input;
  const result = await applyRound(plan, migrationId, workflowInfo().firstExecutionRunId, captured);
  addRound(run.report.sync!, result, plan.sync!.conflict);
  if (!result.clean) await audit(run, 'sync-round-unclean', 'cutover', { round });
  return result.inserted + result.updated + result.deleted + result.quarantined + result.conflicts;
}

/** Where the applied changes reach in the source: the slot's confirmed LSN, or poll's oldest watermark (as a time). */
function positionOf(sync: SyncSpec, captured: Captured, confirmed: string | null): string | undefined {
  if (sync.mode === 'logical') return confirmed ? `LSN ${confirmed}` : captured.advanceTo ? `LSN ${captured.advanceTo}` : undefined;
  const marks = Object.values(captured.positions.watermarks).filter((w): w is number => typeof w === 'number');
  return marks.length ? `changes before ${workflowIso(Math.min(...marks) * 1000)}` : undefined;
}

/**
 * Once the cutover is asked (CUTOVER_VERIFIES_TAIL): each round goes at once, without waiting; a
 * round that changed rows is the final delta still arriving. The first round begun after the
 * request that captured all there was and changed nothing shows the source frozen and its last
 * change applied and verified; then the rows not verified are compared again and the counts
 * checked (or, with --full, every row), and a clean result completes the cutover (true).
 */
async function cutOverAtTheTail(run: MigrationRun, changed: number, captured: Captured, roundStartedAt: number): Promise<boolean> {
  const asked = run.state.sync!.cutoverAsked!;
  const k = run.report.cutover!;
  if (changed) {
    k.finalRounds++;
    k.finalChanges += changed;
    return false;
  }
  if (captured.more || roundStartedAt < asked.at) return false;
  const { plan, migrationId } = run.input;
  const verifiedAt = workflowNow();
  const entities = await Promise.all(
    plan.entities.map((e) =>
      asked.full
        ? slow.verifyEntity.executeWithOptions({ summary: `cutover: final reconcile of ${e.name} (every row, both ways)` }, [{ migrationId, entity: e.name }])
        : slow.verifyTail.executeWithOptions({ summary: `cutover: verify ${e.name}'s rows not verified since their last change, and its counts both ways` }, [{ migrationId, entity: e.name }]),
    ),
  );
  k.verifySeconds = Math.round((workflowNow() - verifiedAt) / 100) / 10;
  return settleCutover(run, entities);
}

/**
 * Once the cutover is asked: a round that changed rows restarts the quiet period; a quiet period
 * long enough runs the final reconcile, and a clean one completes the cutover (true). One that is
 * not clean is refused, and sync goes on.
 */
async function cutOverWhenQuiet(run: MigrationRun, changed: number, captured: Captured): Promise<boolean> {
  const { plan, migrationId } = run.input;
  const s = run.state.sync!;
  const asked = s.cutoverAsked!;
  const k = run.report.cutover!;
  if (changed) {
    k.finalRounds++;
    k.finalChanges += changed;
    s.quietSince = workflowNow();
    return false;
  }
  if (captured.more || workflowNow() - (s.quietSince ?? asked.at) < plan.sync!.quietSeconds * 1000) return false;
  const entities = await Promise.all(plan.entities.map((e) => slow.verifyEntity.executeWithOptions({ summary: `cutover: final reconcile of ${e.name} (every row, both ways)` }, [{ migrationId, entity: e.name }])));
  return settleCutover(run, entities);
}

/** The final step's result: clean completes the cutover (true); otherwise it is refused, and sync goes on. */
async function settleCutover(run: MigrationRun, entities: FinalReconcile['entities']): Promise<boolean> {
  const { migrationId } = run.input;
  const s = run.state.sync!;
  const asked = s.cutoverAsked!;
  const k = run.report.cutover!;
  const clean = entities.every((e) => e.missing === 0 && e.mismatched === 0 && e.extra === 0);
  k.verified = { entities, clean };
  if (mustRollBack(run)) throw new RollbackRequested(rollbackMessage(run, ' during the cutover'));
  if (clean) {
    k.completedAt = workflowIso();
    k.windowSeconds = Math.round((workflowNow() - asked.at) / 100) / 10;
    k.refused = undefined;
    await audit(run, 'cut-over', asked.by, { rounds: k.finalRounds, changes: k.finalChanges, windowSeconds: k.windowSeconds, rows: entities.reduce((n, e) => n + e.compared, 0) });
    await slow.endCapture({ migrationId });
    return true;
  }
  // Not the target the source is: the operator sees why, sync goes on, and the cutover can be asked again.
  refuseCutover(run, entities);
  await audit(run, 'cutover-refused', 'cutover', { reason: k.refused!.slice(0, 500) });
  s.cutoverAsked = undefined;
  run.view.setStatus('running');
  return false;
}

function refuseCutover(run: MigrationRun, entities: readonly FinalReconcile['entities'][number][]): void {
  const bad = entities.filter((e) => e.missing || e.mismatched || e.extra);
  const samples = (e: FinalReconcile['entities'][number]) => [...e.sampleMissing, ...e.sampleMismatched].slice(0, 3);
  run.report.cutover!.refused = `the final ${bad.every((e) => e.scope === 'tail') ? 'verification' : 'reconcile'} found ${bad
    .map((e) => `${e.entity}: ${e.missing} missing, ${e.mismatched} mismatched, ${e.extra} extra${samples(e).length ? ` (${samples(e).join('; ')})` : ''}`)
    .join('; ')}`;
  run.report.clean = false;
}
