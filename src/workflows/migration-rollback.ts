import { ApplicationFailure, isCancellation, patched } from '@temporalio/workflow';
import type { Compensation, RollbackRecord } from '../shared/migration';
import { audit, MigrationRun, MigrationState, rollbackMessage, RollbackRequested } from './migration-run';
import { ROLLBACK_DECIDED_BY_REQUEST } from './patches';
import { compensate } from './proxies';
import { innermost, runSaga, SagaPlan } from './saga';

/** How the running migration's rollback differs from the one after its end, by the patches its history carries. */
export interface InFlightOptions {
  /** Taken at the run's start (STOP_RUNS_BEFORE_ROLLBACK): close the fence first and wait where the target refuses an undo. */
  stopsRunsFirst: boolean;
  /** Whether the replication slot is still to drop: asked once the compensations are done. */
  holdsSlot: () => boolean;
}

/**
 * Registers the unload of each entity of a level about to start, each entity once. Most recent
 * first: children are undone before parents.
 */
export function registerUnloads(compensations: Compensation[], level: readonly string[]): void {
  for (const entity of level) if (!compensations.some((c) => c.kind === 'unload' && c.entity === entity)) compensations.unshift({ kind: 'unload', entity });
}

/**
 * The saga of a migration rolled back while it runs: the compensations it registered as it went
 * (most recent first), against the checksums it took before its first write. Before it got that
 * far it wrote nothing: then no fence, no checksums.
 */
export function inFlightSaga(migrationId: string, state: Pick<MigrationState, 'compensations' | 'prepared' | 'checksumsBefore'>, options: InFlightOptions): SagaPlan {
  return {
    migrationId,
    compensations: state.compensations,
    fence: options.stopsRunsFirst && state.prepared,
    waitWhenBlocked: options.stopsRunsFirst,
    holdsSlot: options.holdsSlot,
    prepared: state.prepared,
    before: state.checksumsBefore,
  };
}

/** The innermost message of a failure chain (a child's abort reason, say). */
function describe(err: unknown): string {
  const e = innermost(err);
  return `${e?.type ? `${e.type}: ` : ''}${e?.message ?? String(err)}`;
}

/** Why the migration rolls back: the operator's request (its runs' cancellation is its echo), or the failure. */
function rollbackReason(run: MigrationRun, err: unknown): string {
  if (err instanceof RollbackRequested) return err.message;
  if (run.asked.rollback && isCancellation(err)) return rollbackMessage(run);
  return describe(err);
}

/**
 * Rolls the running migration back through the saga and returns the failure the migration ends
 * with (`RolledBack`, its report in the details). A saga that fails itself is rethrown: the views
 * then say failed, and what it left is in the ledger.
 */
export async function rollBack(run: MigrationRun, err: unknown, options: InFlightOptions): Promise<ApplicationFailure> {
  const { report, view } = run;
  const reason = rollbackReason(run, err);
  view.setStatus('rolling-back');
  const record: RollbackRecord = { reason, requestedBy: run.asked.rollback?.requestedBy, steps: [], before: run.state.checksumsBefore, after: [], restored: false };
  // The record is published once there is something to read in it: a blocked step, or the verdict.
  // It names whoever asked for a rollback by then: a failure's rollback that an operator resumed
  // from a blocked step (or asked for meanwhile) is theirs from then on.
  const show = (status: 'rolling-back' | 'rollback-blocked' | 'verdict') => {
    record.requestedBy = run.asked.rollback?.requestedBy;
    if (status !== 'rolling-back') report.rollback = record;
    if (status !== 'verdict') view.setStatus(status);
  };
  const hooks = { audit: (action: string, actor: string, details: Record<string, string | number | boolean | null>) => audit(run, action, actor, details, compensate), show };
  try {
    await runSaga(inFlightSaga(run.input.migrationId, run.state, options), hooks, run.retry, record);
  } catch (sagaErr) {
    if (patched(ROLLBACK_DECIDED_BY_REQUEST)) view.setStatus('failed');
    throw sagaErr;
  }
  view.setStatus('rolled-back');
  return ApplicationFailure.create({
    type: 'RolledBack',
    nonRetryable: true,
    message: `rolled back (${record.restored ? 'target restored, checksums match' : 'TARGET CHECKSUMS DIFFER'}): ${reason}`,
    details: [report],
  });
}
