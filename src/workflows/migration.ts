import {
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  ContinueAsNew,
  continueAsNew,
  isCancellation,
  patched,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import { phaseLevels } from '../plan/order';
import type { PhaseSpec } from '../plan/types';
import { emptyProgress, sameControls, EntityProgress, MigrationInput, MigrationReport } from '../shared/migration';
import { rowsLoaded } from '../shared/progress';
import { controlsSignal } from '../shared/queries';
import { registerControls } from './controls';
import { migrateEntity } from './entity';
import { audit, MigrationRun, MigrationState, mustRollBack, rollbackAsked, rollbackMessage, RollbackRequested } from './migration-run';
import { registerUnloads, rollBack } from './migration-rollback';
import { END_CAPTURE_STARTED, ROLLBACK_DECIDED_BY_REQUEST, STOP_RUNS_BEFORE_ROLLBACK } from './patches';
import { createPresentation } from './presentation';
import { compensate, slow } from './proxies';
import { BlockedRetry } from './saga';
import { runSync } from './sync-loop';

export type { MigrationState } from './migration-run';

/**
 * A whole migration: prepare, then each phase in order, its entities level by level (parents
 * before children, the entities of a level in parallel as child workflows), a whole-phase
 * reconcile, and the phase's gate. Any failure, a refused gate or the `rollback` signal runs
 * the compensations in reverse order, in a scope nothing can cancel, and proves the target
 * restored by checksum. Passes references only.
 *
 * The concerns live in files of their own: the operator's controls (controls.ts), how the run is
 * shown (presentation.ts), the delta sync after the load (sync-loop.ts) and the saga, shared with
 * the rollback after the migration's end (saga.ts, migration-rollback.ts).
 */
export async function migrate(input: MigrationInput, carried?: MigrationState): Promise<MigrationReport> {
  const { plan, migrationId } = input;
  const state: MigrationState = carried ?? {
    phaseIndex: 0,
    prepared: false,
    report: { migrationId, planHash: input.planHash, plan: plan.name, status: 'running', startedBy: input.startedBy, entities: [], phases: [], approvals: [], clean: true },
    compensations: [],
    checksumsBefore: [],
    controls: { paused: false, throttleRowsPerSecond: plan.settings.throttleRowsPerSecond },
  };
  const { report, controls } = state;
  // A failing entity stops its siblings and waits for them, and the rollback closes the load
  // fence first, then waits for an operator where the target refuses an undo. Runs started
  // before this replay as they ran.
  const stopsRunsFirst = patched(STOP_RUNS_BEFORE_ROLLBACK);
  report.controls = controls;
  const run: MigrationRun = {
    input,
    state,
    report,
    controls,
    asked: { deletesConfirmed: false },
    retry: new BlockedRetry(),
    running: new Map(),
    live: new Map(),
    view: createPresentation(report, state),
  };
  registerControls(run);

  /** Set once startCapture is scheduled: a slot may exist before it returns (a cancel or failure meanwhile must drop it too). */
  let captureStarted = false;
  /** Whether the replication slot must be dropped on the way out: once capture began, even if it never returned. */
  const holdsSlot = () => state.sync !== undefined || (captureStarted && patched(END_CAPTURE_STARTED));
  try {
    if (!state.prepared) await prepare(run, stopsRunsFirst, () => (captureStarted = true));
    run.view.setStatus(report.status === 'paused' ? 'running' : report.status);
    for (; state.phaseIndex < plan.phases.length; state.phaseIndex++) {
      await runPhase(run, plan.phases[state.phaseIndex]!, stopsRunsFirst);
      if (workflowInfo().continueAsNewSuggested && state.phaseIndex + 1 < plan.phases.length) {
        await condition(allHandlersFinished);
        await continueAsNew<typeof migrate>(input, { ...state, phaseIndex: state.phaseIndex + 1 });
      }
    }
    report.phase = undefined;
    if (plan.sync) await runSync(run);
    return await complete(run);
  } catch (err) {
    // Continue-as-new is thrown, not a failure; cancel stops the migration (rollback is its own decision).
    if (err instanceof ContinueAsNew) throw err;
    // Only a cancel of the migration itself skips the compensations: a cancellation that surfaces
    // while a rollback was asked for (its runs' echo) or that no one asked of the migration (a
    // child cancelled from outside) is a failure to undo.
    if (isCancellation(err) && (CancellationScope.current().consideredCancelled || !patched(ROLLBACK_DECIDED_BY_REQUEST))) {
      // A cancelled migration keeps no slot on the source.
      if (holdsSlot()) await CancellationScope.nonCancellable(() => compensate.endCapture({ migrationId }));
      // Every view reads the same end: the search attributes too, not the last status before it.
      if (patched(ROLLBACK_DECIDED_BY_REQUEST)) run.view.setStatus('cancelled');
      throw err;
    }
    throw await rollBack(run, err, { stopsRunsFirst, holdsSlot });
  }
}

/**
 * Counts the source, starts the capture (plans with sync), takes the target's checksums before
 * the first write and registers the compensations that undo staging and the vault.
 */
async function prepare(run: MigrationRun, stopsRunsFirst: boolean, markCaptureStarted: () => void): Promise<void> {
  const { input, state, report } = run;
  const { plan, migrationId } = input;
  const prepared = await slow.prepareMigration(stopsRunsFirst ? { ...input, runId: workflowInfo().firstExecutionRunId } : input);
  report.entities = prepared.entities.map((e) => emptyProgress(e.name, e.sourceRows));
  if (prepared.residency) report.residency = prepared.residency;
  // Before the first read of the full load: every change from here on is in the capture (see startCapture).
  if (plan.sync) {
    markCaptureStarted();
    state.sync = { positions: await slow.startCapture({ migrationId }), round: 0 };
  }
  // Before this migration's first write: a later run of the same plan still rolls back to it.
  state.checksumsBefore = await slow.checksumTargets({ migrationId, before: true });
  // Registered first, so they run last: staged objects and vault entries go after the rows.
  state.compensations.unshift({ kind: 'purge-vault' }, { kind: 'delete-staged' });
  state.prepared = true;
  await audit(run, 'started', input.startedBy, { plan: plan.name, planHash: input.planHash, entities: plan.entities.length, phases: plan.phases.length });
}

/** One phase: its levels in order, the whole-phase reconcile, then its gate. */
async function runPhase(run: MigrationRun, phase: PhaseSpec, stopsRunsFirst: boolean): Promise<void> {
  const { report, input } = run;
  report.phase = phase.name;
  run.view.refresh();
  for (const level of phaseLevels(input.plan, phase.name)) {
    // A paused migration starts no new entity either.
    await condition(() => !run.controls.paused || run.asked.rollback !== undefined);
    if (rollbackAsked(run)) throw new RollbackRequested(rollbackMessage(run));
    // Registered before starting: a half-loaded entity is undone too (the ledger knows what it did).
    registerUnloads(run.state.compensations, level);
    for (const progress of await runLevel(run, phase, level, stopsRunsFirst)) {
      const i = report.entities.findIndex((e) => e.entity === progress.entity);
      report.entities[i] = progress;
    }
    run.view.refresh();
  }
  await reconcilePhase(run, phase);
  if (phase.gate) await passGate(run, phase);
}

/** Runs one entity as a child workflow; while it runs it hears control changes and reports progress. */
async function runEntity(run: MigrationRun, phase: PhaseSpec, entity: string, level: readonly string[]): Promise<EntityProgress> {
  const { input, report, controls } = run;
  const passed = { ...controls };
  const child = await startChild(migrateEntity, {
    workflowId: `${workflowInfo().workflowId}/${entity}`,
    staticSummary: `${entity}: extract, tokenize, stage, load and reconcile (phase ${phase.name})`,
    args: [
      {
        migrationId: input.migrationId,
        entity,
        runId: workflowInfo().firstExecutionRunId,
        rootWorkflowId: workflowInfo().workflowId,
        sourceRows: report.entities.find((e) => e.entity === entity)?.sourceRows ?? 0,
        lanes: Math.max(1, Math.floor(input.plan.settings.parallelism / level.length)),
        controls: passed,
        throttleShare: level.length,
        maxQuarantineRatio: input.plan.settings.abort.maxQuarantineRatio,
      },
    ],
  });
  run.running.set(entity, child);
  // Controls changed while it was starting: the broadcast did not reach it yet.
  if (!sameControls(passed, controls)) await child.signal(controlsSignal, { ...controls }).catch(() => undefined);
  try {
    return await child.result();
  } finally {
    run.running.delete(entity);
    run.live.delete(entity);
  }
}

/** The entities of a level, in parallel; a failure or a rollback stops them all before anything is undone. */
async function runLevel(run: MigrationRun, phase: PhaseSpec, level: readonly string[], stopsRunsFirst: boolean): Promise<EntityProgress[]> {
  const scope = new CancellationScope();
  const runs = scope.run(() => Promise.resolve(level.map((entity) => runEntity(run, phase, entity, level))));
  const children = runs.then((r) => Promise.all(r));
  if (stopsRunsFirst) {
    // The first failure, or a rollback, stops every run of the level, and waits until each
    // has ended: nothing of theirs is still loading when the compensations start.
    let failure: { error: unknown } | undefined;
    const firstFailure = children.then(
      () => undefined,
      (error) => void (failure = { error }),
    );
    await Promise.race([firstFailure, condition(() => run.asked.rollback !== undefined)]);
    if (failure || rollbackAsked(run)) {
      scope.cancel();
      await runs.then((r) => Promise.allSettled(r));
      // The runs' cancellation is the echo of the rollback's own cancel: the request decides.
      if (failure && !mustRollBack(run)) throw failure.error;
      throw new RollbackRequested(rollbackMessage(run));
    }
  } else {
    await Promise.race([children, condition(() => run.asked.rollback !== undefined)]);
    if (rollbackAsked(run)) {
      scope.cancel();
      await children.catch(() => undefined);
      throw new RollbackRequested(rollbackMessage(run));
    }
  }
  return children;
}

/**
 * The whole-phase reconcile. With sync, the source moves on while it loads: what a phase finds
 * missing or extra is the sync's to settle, and the cutover's final reconcile (every row, both ways) decides.
 */
async function reconcilePhase(run: MigrationRun, phase: PhaseSpec): Promise<void> {
  const { report, input } = run;
  const checked = await slow.reconcilePhase({ migrationId: input.migrationId, phase: phase.name, entities: phase.entities });
  report.phases.push(checked);
  run.view.refresh();
  if (mustRollBack(run)) throw new RollbackRequested(rollbackMessage(run, ` while phase ${phase.name} reconciled`));
  await audit(run, 'phase-reconciled', 'cutover', { phase: phase.name, clean: checked.clean });
  if (!checked.clean && !input.plan.sync) {
    report.clean = false;
    const bad = checked.entities.filter((e) => !e.clean);
    throw ApplicationFailure.create({
      type: 'ReconcileMismatch',
      nonRetryable: true,
      message: `phase ${phase.name} does not reconcile: ${bad.map((e) => `${e.entity} ${e.missing} missing, ${e.extra} extra, ${e.references.reduce((n, r) => n + r.dangling, 0)} dangling references`).join('; ')}`,
    });
  }
}

/** Waits at the phase's gate for an approval (a rejection fails the migration; a rollback rolls it back). */
async function passGate(run: MigrationRun, phase: PhaseSpec): Promise<void> {
  const { asked, report } = run;
  run.view.setStatus('awaiting-approval');
  asked.gate = { phase: phase.name, distinctApprover: phase.gate!.distinctApprover };
  asked.decision = undefined;
  await condition(() => (asked.decision !== undefined && report.approvals.some((a) => a.phase === phase.name)) || asked.rollback !== undefined);
  asked.gate = undefined;
  run.view.setStatus('running');
  if (rollbackAsked(run)) throw new RollbackRequested(rollbackMessage(run, ` at the gate of ${phase.name}`));
  const decision = asked.decision!;
  if (decision.decision === 'reject') throw ApplicationFailure.create({ type: 'GateRefused', nonRetryable: true, message: `the gate of phase ${phase.name} was refused by ${decision.approver}` });
}

/** Every phase loaded (and, with sync, cut over): the report carries the checksums a later rollback needs. */
async function complete(run: MigrationRun): Promise<MigrationReport> {
  const { report, state } = run;
  if (mustRollBack(run)) throw new RollbackRequested(rollbackMessage(run, ' as the migration completed'));
  // For a rollback after completion (a result, not a command: replays as before).
  report.checksumsBefore = state.checksumsBefore;
  await audit(run, 'completed', 'cutover', { rowsLoaded: rowsLoaded(report), clean: report.clean });
  run.view.setStatus('completed');
  await condition(allHandlersFinished);
  // A rollback that arrived with the completion: done here, not lost (the server hands the
  // signal to this task before it lets the run complete).
  if (mustRollBack(run)) throw new RollbackRequested(rollbackMessage(run, ' as the migration completed'));
  return report;
}
