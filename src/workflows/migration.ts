import {
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  ChildWorkflowHandle,
  condition,
  ContinueAsNew,
  continueAsNew,
  isCancellation,
  patched,
  setCurrentDetails,
  setHandler,
  sleep,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { phaseLevels } from '../plan/order';
import { Compensation, Controls, emptyProgress, sameControls, EntityProgress, MigrationInput, MigrationReport, MigrationStatus, SyncPositions, TableChecksum } from '../shared/migration';
import { percentDone, progressMarkdown, rowsLoaded, thousands } from '../shared/progress';
import {
  ApproveRequest,
  approveUpdate,
  controlsSignal,
  cutoverUpdate,
  entityProgressSignal,
  OperatorRequest,
  pauseUpdate,
  progressQuery,
  resumeUpdate,
  rollbackSignal,
  tuneUpdate,
} from '../shared/queries';
import { CUTOVER_PERCENT, CUTOVER_PHASE, CUTOVER_ROWS_LOADED, CUTOVER_STATUS } from '../shared/search-attributes';
import { compensate, slow } from './proxies';
import { migrateEntity } from './entity';
import { validateTune } from './tune';
import { END_CAPTURE_STARTED, ROLLBACK_DECIDED_BY_REQUEST, STOP_RUNS_BEFORE_ROLLBACK } from './patches';
import { addRound, applyRound } from './sync-round';
import { deletesOverLimit } from '../core/sync-keys';
import { workflowIso, workflowNow } from './clock';

/** What the migration carries over continue-as-new (between phases). */
export interface MigrationState {
  phaseIndex: number;
  prepared: boolean;
  report: MigrationReport;
  /** Undo steps, most recent first: running them in order undoes children before parents. */
  compensations: Compensation[];
  checksumsBefore: TableChecksum[];
  controls: Controls;
  /** Plans with sync: where capture stands, the last round applied, and the cutover once asked. */
  sync?: { positions: SyncPositions; round: number; quietSince?: number; cutoverAsked?: { by: string; at: number } };
}

class RollbackRequested extends Error {}

/**
 * A whole migration: prepare, then each phase in order, its entities level by level (parents
 * before children, the entities of a level in parallel as child workflows), a whole-phase
 * reconcile, and the phase's gate. Any failure, a refused gate or the `rollback` signal runs
 * the compensations in reverse order, in a scope nothing can cancel, and proves the target
 * restored by checksum. Passes references only.
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
  let awaitingGate: { phase: string; distinctApprover: boolean } | undefined;
  let decision: ApproveRequest | undefined;
  let rollbackRequested: { requestedBy: string; reason?: string } | undefined;
  /** Entity runs in flight: they hear control changes and report live progress. */
  const running = new Map<string, ChildWorkflowHandle<typeof migrateEntity>>();
  /** Live tallies of running entities, by entity and then by run or partition. */
  const live = new Map<string, Map<string, EntityProgress>>();
  const ended = () => ['completed', 'rolling-back', 'rollback-blocked', 'rolled-back', 'failed'].includes(report.status);

  let shown: { status?: string; phase?: string; percent?: number } = {};
  /** Keeps the Web UI current: details always, search attributes when status, phase or whole percent change. */
  const refresh = () => {
    setCurrentDetails(progressMarkdown(report));
    const percent = percentDone(report);
    if (shown.status === report.status && shown.phase === report.phase && Math.floor(shown.percent ?? -1) === Math.floor(percent)) return;
    shown = { status: report.status, phase: report.phase, percent };
    upsertSearchAttributes([
      { key: CUTOVER_STATUS, value: report.status },
      { key: CUTOVER_PHASE, value: report.phase ?? null },
      { key: CUTOVER_PERCENT, value: percent },
      { key: CUTOVER_ROWS_LOADED, value: rowsLoaded(report) },
    ]);
  };
  /** Set once every phase has loaded and the sync runs: `running` then reads as syncing or cutting over. */
  let syncing = false;
  const setStatus = (status: MigrationStatus) => {
    report.status = status === 'running' && controls.paused ? 'paused' : status === 'running' && syncing ? (state.sync?.cutoverAsked ? 'cutting-over' : 'syncing') : status;
    refresh();
  };
  let deletesConfirmed = false;
  const broadcast = () => Promise.all([...running.values()].map((child) => child.signal(controlsSignal, { ...controls }).catch(() => undefined)));
  const audit = (action: string, actor: string, details: Record<string, string | number | boolean | null>, via: typeof slow = slow) =>
    via.recordAudit({ migrationId, actor, action, eventKey: `${migrationId}/${workflowInfo().runId}/${action}/${workflowInfo().historyLength}`, details });

  // Read through a function: handlers set it while the main flow awaits (TypeScript cannot see that).
  const rollbackAsked = () => rollbackRequested;
  const rollbackMessage = (where = '') => `rollback requested by ${rollbackRequested?.requestedBy}${where}${rollbackRequested?.reason ? `: ${rollbackRequested.reason}` : ''}`;
  /**
   * Whether a rollback was asked for and must be carried out here (runs that recorded their
   * history before the patch go on as they ran). Called only once a rollback has been asked for,
   * so the patch marker is written exactly where the decision is taken.
   */
  const mustRollBack = () => rollbackRequested !== undefined && patched(ROLLBACK_DECIDED_BY_REQUEST);

  setHandler(progressQuery, () => report);
  /** A `rollback` while a compensation is blocked: the operator has acted, run the rest again. */
  let retryBlocked: { requestedBy: string; reason?: string } | undefined;
  setHandler(rollbackSignal, (req) => {
    if (report.status === 'rollback-blocked') retryBlocked = req;
    rollbackRequested ??= req;
  });
  setHandler(entityProgressSignal, ({ entity, part, progress }) => {
    if (!running.has(entity)) return; // a late report of a run that has ended: its result counts
    const parts = live.get(entity) ?? new Map<string, EntityProgress>();
    live.set(entity, parts);
    parts.set(part, progress);
    const i = report.entities.findIndex((e) => e.entity === entity);
    if (i >= 0) report.entities[i] = sumProgress(report.entities[i]!, [...parts.values()]);
    refresh();
  });
  setHandler(
    approveUpdate,
    async (req) => {
      decision = req;
      awaitingGate = undefined; // decided: a second approval is refused by the validator
      const recorded = await slow.recordApproval({ migrationId, phase: req.phase, approver: req.approver, decision: req.decision ?? 'approve' });
      const approval = { phase: req.phase, approver: req.approver, decision: req.decision ?? 'approve', decidedAt: recorded.decidedAt } as const;
      report.approvals.push(approval);
      await audit(approval.decision === 'approve' ? 'approved' : 'rejected', req.approver, { phase: req.phase });
      refresh();
      return approval;
    },
    {
      validator: (req) => {
        if (!awaitingGate) throw new Error('no phase is waiting for approval');
        if (req.phase !== awaitingGate.phase) throw new Error(`phase ${awaitingGate.phase} is waiting for approval, not ${req.phase}`);
        if (!req.approver) throw new Error('an approver is required');
        if (awaitingGate.distinctApprover && req.approver === input.startedBy) {
          throw new Error(`phase ${req.phase} needs a second person: ${req.approver} started this migration and cannot approve it`);
        }
      },
    },
  );
  const operatorValidator = (req: OperatorRequest) => {
    if (!req?.by) throw new Error('the operator is required (by)');
    if (ended()) throw new Error(`migration ${migrationId} is ${report.status}`);
  };
  // Pause and resume: the same update but for the state it sets (the validator refuses a no-op).
  for (const [update, paused, action] of [
    [pauseUpdate, true, 'paused'],
    [resumeUpdate, false, 'resumed'],
  ] as const) {
    setHandler(
      update,
      async (req) => {
        controls.paused = paused;
        if (!paused && req.confirmDeletes) deletesConfirmed = true;
        if (['running', 'paused', 'syncing', 'cutting-over'].includes(report.status)) setStatus('running');
        else refresh();
        await broadcast();
        await audit(action, req.by, { reason: req.reason ?? null });
        return { ...controls };
      },
      {
        validator: (req) => {
          operatorValidator(req);
          if (controls.paused === paused) throw new Error(`migration ${migrationId} is ${paused ? 'already paused' : 'not paused'}`);
        },
      },
    );
  }
  setHandler(
    tuneUpdate,
    async (req) => {
      const before = { ...controls };
      if (req.throttleRowsPerSecond !== undefined) controls.throttleRowsPerSecond = req.throttleRowsPerSecond;
      if (req.batchSize !== undefined) controls.batchSize = req.batchSize;
      await broadcast();
      await audit('tuned', req.by, {
        throttleBefore: before.throttleRowsPerSecond,
        throttleAfter: controls.throttleRowsPerSecond,
        batchSizeBefore: before.batchSize ?? null,
        batchSizeAfter: controls.batchSize ?? null,
      });
      refresh();
      return { ...controls };
    },
    {
      validator: (req) => {
        operatorValidator(req);
        validateTune(req);
      },
    },
  );

  setHandler(
    cutoverUpdate,
    async (req) => {
      const at = workflowNow();
      state.sync!.cutoverAsked = { by: req.by, at };
      state.sync!.quietSince = at;
      report.cutover = { requestedBy: req.by, requestedAt: workflowIso(at), finalRounds: 0, finalChanges: 0 };
      setStatus('running');
      await audit('cutover-requested', req.by, { reason: req.reason ?? null });
      return report.cutover;
    },
    {
      validator: (req) => {
        operatorValidator(req);
        if (!plan.sync) throw new Error(`migration ${migrationId} has no sync: it completes after its full load (add a sync section to the plan)`);
        if (!syncing) throw new Error(`migration ${migrationId} is still loading (${report.status}); cutover is possible once it is syncing`);
        if (state.sync?.cutoverAsked) throw new Error(`migration ${migrationId} is already cutting over (asked by ${state.sync.cutoverAsked.by})`);
      },
    },
  );

  /**
   * After the full load: rounds of capture → stage → load → reconcile, every interval, until an
   * operator asks for the cutover; then rounds until nothing arrives for the quiet period, the
   * final reconcile (every row, both ways), and completion. Rollback and pause act between rounds.
   */
  const runSync = async () => {
    const sync = plan.sync!;
    const s = state.sync!;
    syncing = true;
    report.sync ??= { mode: sync.mode, rounds: 0, applied: { inserted: 0, updated: 0, unchanged: 0, deleted: 0, quarantined: 0 }, conflicts: { detected: 0, sourceWon: 0, targetKept: 0, quarantined: 0 }, roundsUnclean: 0, lag: { changes: 0, seconds: 0 } };
    setStatus('running');
    for (;;) {
      await condition(() => !controls.paused || rollbackRequested !== undefined);
      if (rollbackAsked()) throw new RollbackRequested(rollbackMessage(' during sync'));
      const round = s.round + 1;
      const captured = await slow.captureChanges.executeWithOptions({ summary: `sync round ${round}: capture the source's changes` }, [{ migrationId, round, positions: s.positions }]);
      report.sync.lag = captured.lag;
      const over = deletesOverLimit(captured.entities, sync.maxDeleteRatio);
      if (over.length && !deletesConfirmed) {
        // A partial read of the source looks exactly like a mass delete: an operator decides.
        report.sync.held = `round ${round} would delete ${over.map((e) => `${thousands(e.deletes)} of ${thousands(e.loaded)} ${e.entity}`).join(', ')} (over sync.max_delete_ratio ${sync.maxDeleteRatio}); check the source, then \`cutover resume ${migrationId} --confirm-deletes\` applies them (a plain resume captures again)`;
        controls.paused = true;
        setStatus('running');
        await audit('sync-held', 'cutover', { round, deletes: over.reduce((n, e) => n + e.deletes, 0) });
        continue;
      }
      deletesConfirmed = false;
      report.sync.held = undefined;
      /** Rows the round changed in the target: what a quiet period waits to be none (a poll round's overlap reads rows again). */
      let changed = 0;
      if (captured.total) {
        const result = await applyRound(plan, migrationId, workflowInfo().firstExecutionRunId, captured);
        addRound(report.sync, result, sync.conflict);
        changed = result.inserted + result.updated + result.deleted + result.quarantined + result.conflicts;
        if (!result.clean) await audit('sync-round-unclean', 'cutover', { round });
      }
      await slow.advanceCapture.executeWithOptions({ summary: `sync round ${round}: confirm the applied changes to the source` }, [{ migrationId, round, ...(captured.advanceTo ? { advanceTo: captured.advanceTo } : {}) }]);
      s.round = round;
      s.positions = captured.positions;
      report.sync.rounds = round;
      report.sync.lastRoundAt = workflowIso();
      refresh();
      if (s.cutoverAsked) {
        const k = report.cutover!;
        if (changed) {
          k.finalRounds++;
          k.finalChanges += changed;
          s.quietSince = workflowNow();
        } else if (!captured.more && workflowNow() - (s.quietSince ?? s.cutoverAsked.at) >= sync.quietSeconds * 1000) {
          const entities = await Promise.all(plan.entities.map((e) => slow.verifyEntity.executeWithOptions({ summary: `cutover: final reconcile of ${e.name} (every row, both ways)` }, [{ migrationId, entity: e.name }])));
          const clean = entities.every((e) => e.missing === 0 && e.mismatched === 0 && e.extra === 0);
          k.verified = { entities, clean };
          if (mustRollBack()) throw new RollbackRequested(rollbackMessage(' during the cutover'));
          if (clean) {
            k.completedAt = workflowIso();
            k.windowSeconds = Math.round((workflowNow() - s.cutoverAsked.at) / 100) / 10;
            k.refused = undefined;
            await audit('cut-over', s.cutoverAsked.by, { rounds: k.finalRounds, changes: k.finalChanges, windowSeconds: k.windowSeconds, rows: entities.reduce((n, e) => n + e.compared, 0) });
            await slow.endCapture({ migrationId });
            return;
          }
          // Not the target the source is: the operator sees why, sync goes on, and the cutover can be asked again.
          const bad = entities.filter((e) => e.missing || e.mismatched || e.extra);
          k.refused = `the final reconcile found ${bad.map((e) => `${e.entity}: ${e.missing} missing, ${e.mismatched} mismatched, ${e.extra} extra`).join('; ')}`;
          report.clean = false;
          await audit('cutover-refused', 'cutover', { reason: k.refused.slice(0, 500) });
          s.cutoverAsked = undefined;
          setStatus('running');
        }
        if (!captured.more) await sleep(1000);
      } else if (!captured.more) {
        await condition(() => s.cutoverAsked !== undefined || rollbackRequested !== undefined || controls.paused, sync.intervalSeconds * 1000);
      }
      if (workflowInfo().continueAsNewSuggested) {
        await condition(allHandlersFinished);
        await continueAsNew<typeof migrate>(input, state);
      }
    }
  };

  /** Set once startCapture is scheduled: a slot may exist before it returns (a cancel or failure meanwhile must drop it too). */
  let captureStarted = false;
  /** Whether the replication slot must be dropped on the way out: once capture began, even if it never returned. */
  const holdsSlot = () => state.sync !== undefined || (captureStarted && patched(END_CAPTURE_STARTED));
  try {
    if (!state.prepared) {
      const prepared = await slow.prepareMigration(stopsRunsFirst ? { ...input, runId: workflowInfo().firstExecutionRunId } : input);
      report.entities = prepared.entities.map((e) => emptyProgress(e.name, e.sourceRows));
      // Before the first read of the full load: every change from here on is in the capture (see startCapture).
      if (plan.sync) {
        captureStarted = true;
        state.sync = { positions: await slow.startCapture({ migrationId }), round: 0 };
      }
      // Before this migration's first write: a later run of the same plan still rolls back to it.
      state.checksumsBefore = await slow.checksumTargets({ migrationId, before: true });
      // Registered first, so they run last: staged objects and vault entries go after the rows.
      state.compensations.unshift({ kind: 'purge-vault' }, { kind: 'delete-staged' });
      state.prepared = true;
      await audit('started', input.startedBy, { plan: plan.name, planHash: input.planHash, entities: plan.entities.length, phases: plan.phases.length });
    }
    setStatus(report.status === 'paused' ? 'running' : report.status);
    for (; state.phaseIndex < plan.phases.length; state.phaseIndex++) {
      const phase = plan.phases[state.phaseIndex]!;
      report.phase = phase.name;
      refresh();
      for (const level of phaseLevels(plan, phase.name)) {
        // A paused migration starts no new entity either.
        await condition(() => !controls.paused || rollbackRequested !== undefined);
        if (rollbackAsked()) throw new RollbackRequested(rollbackMessage());
        // Registered before starting: a half-loaded entity is undone too (the ledger knows what it did).
        for (const entity of level) if (!state.compensations.some((c) => c.kind === 'unload' && c.entity === entity)) state.compensations.unshift({ kind: 'unload', entity });
        const scope = new CancellationScope();
        const lanes = Math.max(1, Math.floor(plan.settings.parallelism / level.length));
        const runs = scope.run(() =>
          Promise.resolve(
            level.map(async (entity) => {
              const passed = { ...controls };
              const child = await startChild(migrateEntity, {
                workflowId: `${workflowInfo().workflowId}/${entity}`,
                staticSummary: `${entity}: extract, tokenize, stage, load and reconcile (phase ${phase.name})`,
                args: [
                  {
                    migrationId,
                    entity,
                    runId: workflowInfo().firstExecutionRunId,
                    rootWorkflowId: workflowInfo().workflowId,
                    sourceRows: report.entities.find((e) => e.entity === entity)?.sourceRows ?? 0,
                    lanes,
                    controls: passed,
                    throttleShare: level.length,
                    maxQuarantineRatio: plan.settings.abort.maxQuarantineRatio,
                  },
                ],
              });
              running.set(entity, child);
              // Controls changed while it was starting: the broadcast did not reach it yet.
              if (!sameControls(passed, controls)) await child.signal(controlsSignal, { ...controls }).catch(() => undefined);
              try {
                return await child.result();
              } finally {
                running.delete(entity);
                live.delete(entity);
              }
            }),
          ),
        );
        const children = runs.then((r) => Promise.all(r));
        if (stopsRunsFirst) {
          // The first failure, or a rollback, stops every run of the level, and waits until each
          // has ended: nothing of theirs is still loading when the compensations start.
          let failure: { error: unknown } | undefined;
          const firstFailure = children.then(
            () => undefined,
            (error) => void (failure = { error }),
          );
          await Promise.race([firstFailure, condition(() => rollbackRequested !== undefined)]);
          if (failure || rollbackAsked()) {
            scope.cancel();
            await runs.then((r) => Promise.allSettled(r));
            // The runs' cancellation is the echo of the rollback's own cancel: the request decides.
            if (failure && !mustRollBack()) throw failure.error;
            throw new RollbackRequested(rollbackMessage());
          }
        } else {
          await Promise.race([children, condition(() => rollbackRequested !== undefined)]);
          if (rollbackAsked()) {
            scope.cancel();
            await children.catch(() => undefined);
            throw new RollbackRequested(rollbackMessage());
          }
        }
        for (const progress of await children) {
          const i = report.entities.findIndex((e) => e.entity === progress.entity);
          report.entities[i] = progress;
        }
        refresh();
      }
      const checked = await slow.reconcilePhase({ migrationId, phase: phase.name, entities: phase.entities });
      report.phases.push(checked);
      refresh();
      if (mustRollBack()) throw new RollbackRequested(rollbackMessage(` while phase ${phase.name} reconciled`));
      await audit('phase-reconciled', 'cutover', { phase: phase.name, clean: checked.clean });
      // With sync, the source moves on while it loads: what a phase finds missing or extra is the sync's to
      // settle, and the cutover's final reconcile (every row, both ways) decides.
      if (!checked.clean && !plan.sync) {
        report.clean = false;
        const bad = checked.entities.filter((e) => !e.clean);
        throw ApplicationFailure.create({
          type: 'ReconcileMismatch',
          nonRetryable: true,
          message: `phase ${phase.name} does not reconcile: ${bad.map((e) => `${e.entity} ${e.missing} missing, ${e.extra} extra, ${e.references.reduce((n, r) => n + r.dangling, 0)} dangling references`).join('; ')}`,
        });
      }
      if (phase.gate) {
        setStatus('awaiting-approval');
        awaitingGate = { phase: phase.name, distinctApprover: phase.gate.distinctApprover };
        decision = undefined;
        await condition(() => (decision !== undefined && report.approvals.some((a) => a.phase === phase.name)) || rollbackRequested !== undefined);
        awaitingGate = undefined;
        setStatus('running');
        if (rollbackAsked()) throw new RollbackRequested(rollbackMessage(` at the gate of ${phase.name}`));
        if (decision!.decision === 'reject') throw ApplicationFailure.create({ type: 'GateRefused', nonRetryable: true, message: `the gate of phase ${phase.name} was refused by ${decision!.approver}` });
      }
      if (workflowInfo().continueAsNewSuggested && state.phaseIndex + 1 < plan.phases.length) {
        await condition(allHandlersFinished);
        await continueAsNew<typeof migrate>(input, { ...state, phaseIndex: state.phaseIndex + 1 });
      }
    }
    report.phase = undefined;
    if (plan.sync) await runSync();
    if (mustRollBack()) throw new RollbackRequested(rollbackMessage(' as the migration completed'));
    // For a rollback after completion (a result, not a command: replays as before).
    report.checksumsBefore = state.checksumsBefore;
    await audit('completed', 'cutover', { rowsLoaded: rowsLoaded(report), clean: report.clean });
    setStatus('completed');
    await condition(allHandlersFinished);
    // A rollback that arrived with the completion: done here, not lost (the server hands the
    // signal to this task before it lets the run complete).
    if (mustRollBack()) throw new RollbackRequested(rollbackMessage(' as the migration completed'));
    return report;
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
      if (patched(ROLLBACK_DECIDED_BY_REQUEST)) setStatus('cancelled');
      throw err;
    }
    const reason = err instanceof RollbackRequested ? err.message : rollbackRequested && isCancellation(err) ? rollbackMessage() : describe(err);
    setStatus('rolling-back');
    const saga = CancellationScope.nonCancellable(async () => {
      await audit('rollback-started', rollbackRequested?.requestedBy ?? 'cutover', { reason: reason.slice(0, 500) }, compensate);
      const steps: { step: string; result: Record<string, number> }[] = [];
      // No load or stage can commit once the fence is closed: what the compensations undo is all there is.
      if (stopsRunsFirst && state.prepared) steps.push({ step: 'close the load fence', result: await compensate.fenceLoads({ migrationId }) });
      const undo = async (c: Compensation): Promise<Record<string, number>> => {
        if (c.kind === 'unload') return compensate.unloadEntity({ migrationId, entity: c.entity });
        if (c.kind === 'delete-staged') return compensate.deleteStaged({ migrationId });
        return compensate.purgeVault({ migrationId });
      };
      const stepName = (c: Compensation) => (c.kind === 'unload' ? `unload ${c.entity}` : c.kind === 'delete-staged' ? 'delete staged objects' : 'purge vault entries');
      for (const c of state.compensations) {
        for (;;) {
          try {
            steps.push({ step: stepName(c), result: await undo(c) });
            break;
          } catch (err) {
            // The target refuses an undo no retry can fix: say so, keep the rest, wait for the operator.
            const root = innermost(err);
            if (!stopsRunsFirst || root?.type !== 'RollbackBlocked') throw err;
            const blocked = root.message ?? '';
            report.rollback = { reason, requestedBy: rollbackRequested?.requestedBy, steps: [...steps], before: state.checksumsBefore, after: [], restored: false, blocked };
            retryBlocked = undefined;
            setStatus('rollback-blocked');
            await audit('rollback-blocked', 'cutover', { step: stepName(c), blocked: blocked.slice(0, 500) }, compensate);
            await condition(() => retryBlocked !== undefined);
            await audit('rollback-resumed', retryBlocked!.requestedBy, { step: stepName(c) }, compensate);
            setStatus('rolling-back');
          }
        }
      }
      if (holdsSlot()) steps.push({ step: 'drop the replication slot', result: await compensate.endCapture({ migrationId }).then((r) => ({ slotDropped: r.slotDropped ? 1 : 0 })) });
      const after = state.prepared ? await compensate.checksumTargets({ migrationId }) : [];
      const restored = after.length === state.checksumsBefore.length && after.every((a, i) => a.md5 === state.checksumsBefore[i]!.md5 && a.rows === state.checksumsBefore[i]!.rows);
      report.rollback = { reason, requestedBy: rollbackRequested?.requestedBy, steps, before: state.checksumsBefore, after, restored };
      await audit('rolled-back', rollbackRequested?.requestedBy ?? 'cutover', { restored, steps: steps.length }, compensate);
    });
    try {
      await saga;
    } catch (sagaErr) {
      // The rollback itself failed: the views say failed, not rolling-back, and what it left is in the ledger.
      if (patched(ROLLBACK_DECIDED_BY_REQUEST)) setStatus('failed');
      throw sagaErr;
    }
    setStatus('rolled-back');
    throw ApplicationFailure.create({
      type: 'RolledBack',
      nonRetryable: true,
      message: `rolled back (${report.rollback!.restored ? 'target restored, checksums match' : 'TARGET CHECKSUMS DIFFER'}): ${reason}`,
      details: [report],
    });
  }
}

/** An entity's tally from its runs' (or partitions') live reports; source rows stay the prepared count. */
function sumProgress(current: EntityProgress, parts: EntityProgress[]): EntityProgress {
  const total = emptyProgress(current.entity, current.sourceRows);
  for (const p of parts) {
    for (const k of ['batches', 'batchesDone', 'extracted', 'inserted', 'updated', 'unchanged', 'quarantined'] as const) total[k] += p[k];
    for (const k of ['expected', 'found', 'missing', 'mismatched', 'duplicated'] as const) total.reconcile[k] += p.reconcile[k];
    for (const [name, n] of Object.entries(p.skipped ?? {})) (total.skipped ??= {})[name] = (total.skipped[name] ?? 0) + n;
    // The business keys (and columns) a reconcile found wrong: status and the report name them.
    total.reconcile.sampleMissing = [...total.reconcile.sampleMissing, ...p.reconcile.sampleMissing].slice(0, 10);
    total.reconcile.sampleMismatched = [...total.reconcile.sampleMismatched, ...p.reconcile.sampleMismatched].slice(0, 10);
  }
  total.batches = Math.max(total.batches, current.batches);
  return total;
}

/** The innermost failure of a chain (an activity's ApplicationFailure inside a child's failure, say). */
function innermost(err: unknown): { message?: string; type?: string } | undefined {
  let e = err as { message?: string; cause?: unknown; type?: string } | undefined;
  while (e?.cause && typeof e.cause === 'object') e = e.cause as typeof e;
  return e;
}

/** The innermost message of a failure chain (a child's abort reason, say). */
function describe(err: unknown): string {
  const e = innermost(err);
  return `${e?.type ? `${e.type}: ` : ''}${e?.message ?? String(err)}`;
}
