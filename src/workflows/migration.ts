import {
  ApplicationFailure,
  CancellationScope,
  condition,
  ContinueAsNew,
  continueAsNew,
  executeChild,
  isCancellation,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import { phaseLevels } from '../plan/order';
import { Compensation, emptyProgress, MigrationInput, MigrationReport, TableChecksum } from '../shared/migration';
import { ApproveRequest, approveUpdate, progressQuery, rollbackSignal } from '../shared/queries';
import { compensate, slow } from './proxies';
import { migrateEntity } from './entity';

/** What the migration carries over continue-as-new (between phases). */
export interface MigrationState {
  phaseIndex: number;
  prepared: boolean;
  report: MigrationReport;
  /** Undo steps, most recent first: running them in order undoes children before parents. */
  compensations: Compensation[];
  checksumsBefore: TableChecksum[];
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
    report: { migrationId, planHash: input.planHash, status: 'running', startedBy: input.startedBy, entities: [], phases: [], approvals: [], clean: true },
    compensations: [],
    checksumsBefore: [],
  };
  const report = state.report;
  let awaitingGate: { phase: string; distinctApprover: boolean } | undefined;
  let decision: ApproveRequest | undefined;
  let rollbackRequested: { requestedBy: string; reason?: string } | undefined;

  setHandler(progressQuery, () => report);
  setHandler(rollbackSignal, (req) => {
    rollbackRequested ??= req;
  });
  setHandler(
    approveUpdate,
    async (req) => {
      decision = req;
      const recorded = await slow.recordApproval({ migrationId, phase: req.phase, approver: req.approver, decision: req.decision ?? 'approve' });
      const approval = { phase: req.phase, approver: req.approver, decision: req.decision ?? 'approve', decidedAt: recorded.decidedAt } as const;
      report.approvals.push(approval);
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

  try {
    if (!state.prepared) {
      const prepared = await slow.prepareMigration(input);
      report.entities = prepared.entities.map((e) => emptyProgress(e.name, e.sourceRows));
      state.checksumsBefore = await slow.checksumTargets({ migrationId });
      // Registered first, so they run last: staged objects and vault entries go after the rows.
      state.compensations.unshift({ kind: 'purge-vault' }, { kind: 'delete-staged' });
      state.prepared = true;
    }
    for (; state.phaseIndex < plan.phases.length; state.phaseIndex++) {
      const phase = plan.phases[state.phaseIndex]!;
      report.phase = phase.name;
      for (const level of phaseLevels(plan, phase.name)) {
        // Registered before starting: a half-loaded entity is undone too (the ledger knows what it did).
        for (const entity of level) if (!state.compensations.some((c) => c.kind === 'unload' && c.entity === entity)) state.compensations.unshift({ kind: 'unload', entity });
        const scope = new CancellationScope();
        const lanes = Math.max(1, Math.floor(plan.settings.parallelism / level.length));
        const children = scope.run(() =>
          Promise.all(
            level.map((entity) =>
              executeChild(migrateEntity, {
                workflowId: `${workflowInfo().workflowId}/${entity}`,
                args: [
                  {
                    migrationId,
                    entity,
                    runId: workflowInfo().firstExecutionRunId,
                    sourceRows: report.entities.find((e) => e.entity === entity)?.sourceRows ?? 0,
                    lanes,
                    throttleRowsPerSecond: Math.floor(plan.settings.throttleRowsPerSecond / level.length),
                    maxQuarantineRatio: plan.settings.abort.maxQuarantineRatio,
                  },
                ],
              }),
            ),
          ),
        );
        await Promise.race([children, condition(() => rollbackRequested !== undefined)]);
        if (rollbackRequested) {
          scope.cancel();
          await children.catch(() => undefined);
          throw new RollbackRequested(`rollback requested by ${rollbackRequested.requestedBy}${rollbackRequested.reason ? `: ${rollbackRequested.reason}` : ''}`);
        }
        for (const progress of await children) {
          const i = report.entities.findIndex((e) => e.entity === progress.entity);
          report.entities[i] = progress;
        }
      }
      const checked = await slow.reconcilePhase({ migrationId, phase: phase.name, entities: phase.entities });
      report.phases.push(checked);
      if (!checked.clean) {
        report.clean = false;
        const bad = checked.entities.filter((e) => !e.clean);
        throw ApplicationFailure.create({
          type: 'ReconcileMismatch',
          nonRetryable: true,
          message: `phase ${phase.name} does not reconcile: ${bad.map((e) => `${e.entity} ${e.missing} missing, ${e.extra} extra, ${e.references.reduce((n, r) => n + r.dangling, 0)} dangling references`).join('; ')}`,
        });
      }
      if (phase.gate) {
        report.status = 'awaiting-approval';
        awaitingGate = { phase: phase.name, distinctApprover: phase.gate.distinctApprover };
        decision = undefined;
        await condition(() => (decision !== undefined && report.approvals.some((a) => a.phase === phase.name)) || rollbackRequested !== undefined);
        awaitingGate = undefined;
        report.status = 'running';
        if (rollbackRequested) throw new RollbackRequested(`rollback requested by ${rollbackRequested.requestedBy} at the gate of ${phase.name}`);
        if (decision!.decision === 'reject') throw ApplicationFailure.create({ type: 'GateRefused', nonRetryable: true, message: `the gate of phase ${phase.name} was refused by ${decision!.approver}` });
      }
      if (workflowInfo().continueAsNewSuggested && state.phaseIndex + 1 < plan.phases.length) {
        await continueAsNew<typeof migrate>(input, { ...state, phaseIndex: state.phaseIndex + 1 });
      }
    }
    report.status = 'completed';
    report.phase = undefined;
    return report;
  } catch (err) {
    // Continue-as-new is thrown, not a failure; cancel stops the migration (rollback is its own decision).
    if (err instanceof ContinueAsNew || isCancellation(err)) throw err;
    const reason = err instanceof RollbackRequested ? err.message : describe(err);
    report.status = 'rolling-back';
    await CancellationScope.nonCancellable(async () => {
      const steps: { step: string; result: Record<string, number> }[] = [];
      for (const c of state.compensations) {
        if (c.kind === 'unload') steps.push({ step: `unload ${c.entity}`, result: await compensate.unloadEntity({ migrationId, entity: c.entity }) });
        else if (c.kind === 'delete-staged') steps.push({ step: 'delete staged objects', result: await compensate.deleteStaged({ migrationId }) });
        else steps.push({ step: 'purge vault entries', result: await compensate.purgeVault({ migrationId }) });
      }
      const after = state.prepared ? await compensate.checksumTargets({ migrationId }) : [];
      const restored = after.length === state.checksumsBefore.length && after.every((a, i) => a.md5 === state.checksumsBefore[i]!.md5 && a.rows === state.checksumsBefore[i]!.rows);
      report.rollback = { reason, requestedBy: rollbackRequested?.requestedBy, steps, before: state.checksumsBefore, after, restored };
    });
    report.status = 'rolled-back';
    throw ApplicationFailure.create({
      type: 'RolledBack',
      nonRetryable: true,
      message: `rolled back (${report.rollback!.restored ? 'target restored, checksums match' : 'TARGET CHECKSUMS DIFFER'}): ${reason}`,
      details: [report],
    });
  }
}

/** The innermost message of a failure chain (a child's abort reason, say). */
function describe(err: unknown): string {
  let e = err as { message?: string; cause?: unknown; type?: string };
  while (e?.cause && typeof e.cause === 'object') e = e.cause as typeof e;
  return `${e?.type ? `${e.type}: ` : ''}${e?.message ?? String(err)}`;
}
