import { setHandler } from '@temporalio/workflow';
import type { EntityProgress } from '../shared/migration';
import { approveUpdate, ApproveRequest, cutoverUpdate, entityProgressSignal, OperatorRequest, pauseUpdate, progressQuery, resumeUpdate, rollbackSignal, tuneUpdate } from '../shared/queries';
import { workflowIso, workflowNow } from './clock';
import { audit, broadcast, hasEnded, MigrationRun } from './migration-run';
import { liveTally } from './presentation';
import { slow } from './proxies';
import { validateTune } from './tune';

/**
 * The operator's controls of a running migration: the progress query, the rollback and progress
 * signals, and the updates (approve, pause, resume, tune, cutover) with their validators. Handlers
 * only record what was asked (in `run.asked`) or change the controls; the main flow acts on it.
 */
export function registerControls(run: MigrationRun): void {
  setHandler(progressQuery, () => run.report);
  setHandler(rollbackSignal, (req) => {
    run.retry.ask(req);
    run.asked.rollback ??= req;
  });
  setHandler(entityProgressSignal, ({ entity, part, progress }) => showLiveProgress(run, entity, part, progress));
  setHandler(approveUpdate, (req) => approve(run, req), { validator: (req) => validateApproval(run, req) });
  registerPauseAndResume(run);
  setHandler(
    tuneUpdate,
    async (req) => {
      const before = { ...run.controls };
      if (req.throttleRowsPerSecond !== undefined) run.controls.throttleRowsPerSecond = req.throttleRowsPerSecond;
      if (req.batchSize !== undefined) run.controls.batchSize = req.batchSize;
      await broadcast(run);
      await audit(run, 'tuned', req.by, {
        throttleBefore: before.throttleRowsPerSecond,
        throttleAfter: run.controls.throttleRowsPerSecond,
        batchSizeBefore: before.batchSize ?? null,
        batchSizeAfter: run.controls.batchSize ?? null,
      });
      run.view.refresh();
      return { ...run.controls };
    },
    {
      validator: (req) => {
        validateOperator(run, req);
        validateTune(req);
      },
    },
  );
  setHandler(cutoverUpdate, (req) => askCutover(run, req), { validator: (req) => validateCutover(run, req) });
}

function showLiveProgress(run: MigrationRun, entity: string, part: string, progress: EntityProgress): void {
  if (!run.running.has(entity)) return; // a late report of a run that has ended: its result counts
  const parts = run.live.get(entity) ?? new Map<string, EntityProgress>();
  run.live.set(entity, parts);
  parts.set(part, progress);
  const i = run.report.entities.findIndex((e) => e.entity === entity);
  if (i >= 0) run.report.entities[i] = liveTally(run.report.entities[i]!, [...parts.values()]);
  run.view.refresh();
}

async function approve(run: MigrationRun, req: ApproveRequest) {
  run.asked.decision = req;
  run.asked.gate = undefined; // decided: a second approval is refused by the validator
  const decision = req.decision ?? 'approve';
  const recorded = await slow.recordApproval({ migrationId: run.input.migrationId, phase: req.phase, approver: req.approver, decision });
  const approval = { phase: req.phase, approver: req.approver, decision, decidedAt: recorded.decidedAt } as const;
  run.report.approvals.push(approval);
  await audit(run, approval.decision === 'approve' ? 'approved' : 'rejected', req.approver, { phase: req.phase });
  run.view.refresh();
  return approval;
}

function validateApproval(run: MigrationRun, req: ApproveRequest): void {
  const gate = run.asked.gate;
  if (!gate) throw new Error('no phase is waiting for approval');
  if (req.phase !== gate.phase) throw new Error(`phase ${gate.phase} is waiting for approval, not ${req.phase}`);
  if (!req.approver) throw new Error('an approver is required');
  if (gate.distinctApprover && req.approver === run.input.startedBy) {
    throw new Error(`phase ${req.phase} needs a second person: ${req.approver} started this migration and cannot approve it`);
  }
}

function validateOperator(run: MigrationRun, req: OperatorRequest): void {
  if (!req?.by) throw new Error('the operator is required (by)');
  if (hasEnded(run.report)) throw new Error(`migration ${run.input.migrationId} is ${run.report.status}`);
}

/** Pause and resume: the same update but for the state it sets (the validator refuses a no-op). */
function registerPauseAndResume(run: MigrationRun): void {
  for (const [update, paused, action] of [
    [pauseUpdate, true, 'paused'],
    [resumeUpdate, false, 'resumed'],
  ] as const) {
    setHandler(
      update,
      async (req) => {
        run.controls.paused = paused;
        if (!paused && req.confirmDeletes) run.asked.deletesConfirmed = true;
        if (['running', 'paused', 'syncing', 'cutting-over'].includes(run.report.status)) run.view.setStatus('running');
        else run.view.refresh();
        await broadcast(run);
        await audit(run, action, req.by, { reason: req.reason ?? null });
        return { ...run.controls };
      },
      {
        validator: (req) => {
          validateOperator(run, req);
          if (run.controls.paused === paused) throw new Error(`migration ${run.input.migrationId} is ${paused ? 'already paused' : 'not paused'}`);
        },
      },
    );
  }
}

async function askCutover(run: MigrationRun, req: OperatorRequest) {
  const at = workflowNow();
  run.state.sync!.cutoverAsked = { by: req.by, at, ...(req.full ? { full: true } : {}) };
  run.state.sync!.quietSince = at;
  run.report.cutover = { requestedBy: req.by, requestedAt: workflowIso(at), finalRounds: 0, finalChanges: 0 };
  run.view.setStatus('running');
  await audit(run, 'cutover-requested', req.by, { reason: req.reason ?? null });
  return run.report.cutover;
}

function validateCutover(run: MigrationRun, req: OperatorRequest): void {
  const { migrationId, plan } = run.input;
  validateOperator(run, req);
  if (!plan.sync) throw new Error(`migration ${migrationId} has no sync: it completes after its full load (add a sync section to the plan)`);
  if (!run.view.syncing) throw new Error(`migration ${migrationId} is still loading (${run.report.status}); cutover is possible once it is syncing`);
  if (run.state.sync?.cutoverAsked) throw new Error(`migration ${migrationId} is already cutting over (asked by ${run.state.sync.cutoverAsked.by})`);
}
