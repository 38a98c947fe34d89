import { patched, setCurrentDetails, setHandler, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import { phaseLevels } from '../plan/order';
import type { Plan } from '../plan/types';
import type { Compensation, MigrationReport, MigrationStatus, RollbackRecord } from '../shared/migration';
import { progressQuery, rollbackSignal } from '../shared/queries';
import { CUTOVER_PHASE, CUTOVER_STATUS } from '../shared/search-attributes';
import { compensate } from './proxies';
import { AFTER_END_UNDO_ORDER } from './patches';
import { BlockedRetry, runSaga, SagaPlan } from './saga';

/** What a rollback after completion needs: references and names only, no row data. */
export interface RollbackAfterCompletionInput {
  migrationId: string;
  /** The plan the migration ran (as its prepare registered it): its phases give the undo order. */
  plan: Plan;
  /** The completed run of the migration workflow this undoes. */
  migrationRunId: string;
  /** The completed migration's result: its `checksumsBefore` are what the target must match again. */
  report: MigrationReport;
  /** Who asked (an operator id, never an email address). */
  requestedBy: string;
  reason?: string;
  /** How the run being undone ended, when not by completing (`cancelled`, `failed`, …): the wording says so. */
  ended?: string;
}

/**
 * The entities in the order to unload them: the reverse of the order they loaded in (phases in
 * order, each phase's levels in order), so children go before their parents. The same order as
 * the migration's own compensations, which it registers level by level, most recent first.
 */
export function unloadOrder(plan: Plan): string[] {
  return plan.phases.flatMap((p) => phaseLevels(plan, p.name).flat()).reverse();
}

export { differingTables } from '../core/rollback-verdict';

/**
 * The saga of a rollback after the migration ended: every entity of the plan unloaded, fence
 * first, an operator awaited where the target refuses an undo, checked against the checksums the
 * migration's report carries. No slot to drop: the run that ended dropped its own.
 */
export function afterEndSaga(input: Pick<RollbackAfterCompletionInput, 'migrationId' | 'plan' | 'migrationRunId' | 'report'>, options: { runningOrder: boolean } = { runningOrder: true }): SagaPlan {
  // The running migration's order (see AFTER_END_UNDO_ORDER); runs begun before it replay the old one.
  const last: Compensation[] = options.runningOrder ? [{ kind: 'purge-vault' }, { kind: 'delete-staged' }] : [{ kind: 'delete-staged' }, { kind: 'purge-vault' }];
  return {
    migrationId: input.migrationId,
    compensations: [...unloadOrder(input.plan).map((entity): Compensation => ({ kind: 'unload', entity })), ...last],
    fence: true,
    waitWhenBlocked: true,
    holdsSlot: () => false,
    prepared: true,
    before: input.report.checksumsBefore ?? [],
    auditTags: { afterCompletion: true },
    startDetails: { migrationRunId: input.migrationRunId },
  };
}

function detailsMarkdown(report: MigrationReport): string {
  const rb = report.rollback!;
  const verdict =
    report.status === 'rolled-back'
      ? rb.restored
        ? 'target restored (checksums match)'
        : rb.before.length === 0
          ? 'target NOT verified: no checksums from before the migration'
          : `TARGET CHECKSUMS DIFFER: ${(rb.differs ?? []).join(', ')}`
      : report.status === 'rollback-blocked'
        ? `BLOCKED: ${rb.blocked ?? ''}`
        : 'rolling back';
  return [
    `### Rollback of migration ${report.plan ?? report.migrationId} ${report.rollback?.afterEnd ?? 'after completion'}: ${report.status}`,
    '',
    `${rb.reason} · ${verdict}`,
    '',
    '| step | result |',
    '|---|---|',
    ...rb.steps.map((s) => `| ${s.step} | ${Object.entries(s.result).map(([k, v]) => `${k} ${v}`).join(', ') || '–'} |`),
  ].join('\n');
}

/**
 * Rolls back a migration that has completed (`<migration workflow id>/rollback`): the same
 * compensations its own rollback runs, from the ledger the target still holds — close the load
 * fence, unload every entity children before parents (rows inserted deleted, rows updated
 * restored from their sealed pre-images), delete its staged objects, purge its vault entries —
 * then compares the target's checksums with those taken before the migration. Where the target
 * refuses an undo no retry can fix (rows the new system created since reference migrated rows),
 * it waits as `rollback-blocked` with one line until `cutover rollback` asks again. Returns the
 * migration's report with the rollback in it; `restored` is true only when every table's checksum
 * equals before.
 */
export async function rollbackCompleted(input: RollbackAfterCompletionInput): Promise<MigrationReport> {
  const { migrationId, requestedBy } = input;
  const after = input.ended ? `after the migration ${['failed', 'timed out'].includes(input.ended) ? input.ended : `was ${input.ended}`}` : 'after completion';
  const reason = `rollback ${after} requested by ${requestedBy}${input.reason ? `: ${input.reason}` : ''}`;
  const before = input.report.checksumsBefore ?? [];
  const steps: RollbackRecord['steps'] = [];
  const report: MigrationReport = {
    ...input.report,
    status: 'rolling-back',
    phase: undefined,
    rollback: { reason, requestedBy, steps, before, after: [], restored: false, afterCompletion: true, ...(input.ended ? { afterEnd: after } : {}), migrationRunId: input.migrationRunId },
  };
  const retry = new BlockedRetry();
  setHandler(progressQuery, () => report);
  setHandler(rollbackSignal, (req) => retry.ask(req));
  const setStatus = (status: MigrationStatus) => {
    report.status = status;
    setCurrentDetails(detailsMarkdown(report));
    upsertSearchAttributes([
      { key: CUTOVER_STATUS, value: status },
      { key: CUTOVER_PHASE, value: null },
    ]);
  };
  const audit = (action: string, actor: string, details: Record<string, string | number | boolean | null>) =>
    compensate.recordAudit({ migrationId, actor, action, eventKey: `${migrationId}/${workflowInfo().runId}/${action}/${workflowInfo().historyLength}`, details });

  setStatus('rolling-back');
  // The saga fills report.rollback itself; the verdict is shown with the rolled-back status below.
  const show = (status: 'rolling-back' | 'rollback-blocked' | 'verdict') => {
    if (status !== 'verdict') setStatus(status);
  };
  await runSaga(afterEndSaga(input, { runningOrder: patched(AFTER_END_UNDO_ORDER) }), { audit, show }, retry, report.rollback!);
  setStatus('rolled-back');
  return report;
}
