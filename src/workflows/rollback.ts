import { CancellationScope, condition, setCurrentDetails, setHandler, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import { phaseLevels } from '../plan/order';
import type { Plan } from '../plan/types';
import type { MigrationReport, MigrationStatus, RollbackRecord, TableChecksum } from '../shared/migration';
import { progressQuery, rollbackSignal } from '../shared/queries';
import { CUTOVER_PHASE, CUTOVER_STATUS } from '../shared/search-attributes';
import { compensate } from './proxies';

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

/** Tables whose checksum after differs from before (or that only one side has). */
export function differingTables(before: readonly TableChecksum[], after: readonly TableChecksum[]): string[] {
  const tables = [...new Set([...before.map((c) => c.table), ...after.map((c) => c.table)])];
  return tables.filter((table) => {
    const b = before.find((c) => c.table === table);
    const a = after.find((c) => c.table === table);
    return !a || !b || a.rows !== b.rows || a.md5 !== b.md5;
  });
}

/** The innermost failure of a chain (the activity's ApplicationFailure inside an ActivityFailure). */
function innermost(err: unknown): { message?: string; type?: string } | undefined {
  let e = err as { message?: string; cause?: unknown; type?: string } | undefined;
  while (e?.cause && typeof e.cause === 'object') e = e.cause as typeof e;
  return e;
}

type Step = { kind: 'unload'; entity: string } | { kind: 'delete-staged' } | { kind: 'purge-vault' };
const stepName = (s: Step) => (s.kind === 'unload' ? `unload ${s.entity}` : s.kind === 'delete-staged' ? 'delete staged objects' : 'purge vault entries');

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
  /** A `rollback` while a compensation is blocked: the operator has acted, run the rest again. */
  let retryBlocked: { requestedBy: string; reason?: string } | undefined;
  setHandler(progressQuery, () => report);
  setHandler(rollbackSignal, (req) => {
    if (report.status === 'rollback-blocked') retryBlocked = req;
  });
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

  await CancellationScope.nonCancellable(async () => {
    setStatus('rolling-back');
    await audit('rollback-started', requestedBy, { reason: reason.slice(0, 500), afterCompletion: true, migrationRunId: input.migrationRunId });
    // No load or stage can commit once the fence is closed (a run of the same plan started meanwhile included).
    steps.push({ step: 'close the load fence', result: await compensate.fenceLoads({ migrationId }) });
    const undo: Step[] = [...unloadOrder(input.plan).map((entity): Step => ({ kind: 'unload', entity })), { kind: 'delete-staged' }, { kind: 'purge-vault' }];
    for (const s of undo) {
      for (;;) {
        try {
          const result =
            s.kind === 'unload' ? await compensate.unloadEntity({ migrationId, entity: s.entity }) : s.kind === 'delete-staged' ? await compensate.deleteStaged({ migrationId }) : await compensate.purgeVault({ migrationId });
          steps.push({ step: stepName(s), result });
          break;
        } catch (err) {
          // The target refuses an undo no retry can fix: say so in one line, keep the rest, wait for the operator.
          const root = innermost(err);
          if (root?.type !== 'RollbackBlocked') throw err;
          report.rollback!.blocked = root.message ?? '';
          retryBlocked = undefined;
          setStatus('rollback-blocked');
          await audit('rollback-blocked', 'cutover', { step: stepName(s), blocked: (root.message ?? '').slice(0, 500), afterCompletion: true });
          await condition(() => retryBlocked !== undefined);
          await audit('rollback-resumed', retryBlocked!.requestedBy, { step: stepName(s), afterCompletion: true });
          delete report.rollback!.blocked;
          setStatus('rolling-back');
        }
      }
    }
    const after = await compensate.checksumTargets({ migrationId });
    const differs = before.length ? differingTables(before, after) : [];
    const restored = before.length > 0 && differs.length === 0;
    report.rollback = { ...report.rollback!, steps, after, restored, differs };
    delete report.rollback.blocked;
    await audit('rolled-back', requestedBy, { restored, steps: steps.length, afterCompletion: true, differs: differs.length ? differs.join(', ').slice(0, 500) : null });
    setStatus('rolled-back');
  });
  return report;
}
