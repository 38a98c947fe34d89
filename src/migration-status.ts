import type { MigrationReport, MigrationStatus } from './shared/migration';

/**
 * A migration's status as every view tells it (`start --wait`, `status`, `list`, `list --status`,
 * `report`): Cutover's statuses, plus the two ends only Temporal can say (terminated, timed out).
 */
export type MigrationState = MigrationStatus | 'terminated' | 'timed-out';

/** Every status `list --status` accepts. */
export const MIGRATION_STATES: readonly MigrationState[] = [
  'running',
  'paused',
  'awaiting-approval',
  'syncing',
  'cutting-over',
  'completed',
  'rolling-back',
  'rollback-blocked',
  'rolled-back',
  'failed',
  'cancelled',
  'terminated',
  'timed-out',
];

/** Statuses of a migration that ended without undoing what it loaded: its rows are still in the target. */
export const ENDED_WITHOUT_ROLLBACK: readonly MigrationState[] = ['failed', 'cancelled', 'terminated', 'timed-out'];

/** The rollback workflow (`<workflow id>/rollback`) started after the migration's run ended, if any. */
export interface RollbackAfterEndFacts {
  /** Temporal's execution status of the rollback workflow. */
  execution: string;
  /** Its CutoverStatus search attribute (rolling-back, rollback-blocked, rolled-back). */
  written?: string;
  /** Its report, when one could be had (live query or result). */
  report?: Pick<MigrationReport, 'status'>;
}

/** What the status is decided from: nothing here does I/O. */
export interface StatusFacts {
  /** Temporal's execution status of the migration's newest run: RUNNING, COMPLETED, FAILED, CANCELLED, TERMINATED, TIMED_OUT, CONTINUED_AS_NEW. */
  execution: string;
  /** The CutoverStatus search attribute the workflow last wrote. */
  written?: string;
  /** The migration's report: live while it runs, its result, or the report a RolledBack failure carries. */
  report?: Pick<MigrationReport, 'status'>;
  /** The rollback after the run ended (after completion, or after a failure, cancel, termination or time-out). */
  rollback?: RollbackAfterEndFacts;
}

const IN_FLIGHT: readonly string[] = ['running', 'paused', 'awaiting-approval', 'syncing', 'cutting-over', 'rolling-back', 'rollback-blocked'];

/**
 * The one decision of a migration's status, shared by every view.
 *
 * - A rollback after the run ended speaks last: rolled-back once it completed; rolling-back or
 *   rollback-blocked while it runs; failed when it ended any other way (the target is half undone,
 *   and `cutover rollback` carries on).
 * - Running: the live report's status, else the written one.
 * - Completed: completed (a completed run's report says so).
 * - Failed: rolled-back when the run rolled itself back (its RolledBack failure carries the report,
 *   or it wrote rolled-back); otherwise failed — never the in-flight status it last wrote.
 * - Cancelled, terminated, timed out: that, whatever it last wrote.
 */
export function decideStatus(f: StatusFacts): MigrationState {
  const rb = f.rollback;
  if (rb) {
    if (rb.execution === 'COMPLETED') return 'rolled-back';
    if (rb.execution === 'RUNNING') {
      const s = rb.report?.status ?? rb.written;
      return s === 'rollback-blocked' ? 'rollback-blocked' : 'rolling-back';
    }
    return 'failed';
  }
  switch (f.execution) {
    case 'RUNNING':
    case 'CONTINUED_AS_NEW': {
      const s = f.report?.status ?? f.written;
      return s && (MIGRATION_STATES as readonly string[]).includes(s) ? (s as MigrationState) : 'running';
    }
    case 'COMPLETED':
      return f.report?.status === 'rolled-back' ? 'rolled-back' : 'completed';
    case 'FAILED':
      return f.report?.status === 'rolled-back' || (!f.report && f.written === 'rolled-back') ? 'rolled-back' : 'failed';
    case 'CANCELLED':
      return 'cancelled';
    case 'TERMINATED':
      return 'terminated';
    case 'TIMED_OUT':
      return 'timed-out';
    default:
      return 'failed';
  }
}

/** Whether a status is one a migration (or its rollback) is still moving through. */
export function inFlight(status: string): boolean {
  return IN_FLIGHT.includes(status);
}

/** A status that left the migration's rows in the target with nothing undone. */
export function leftLoaded(status: string): boolean {
  return (ENDED_WITHOUT_ROLLBACK as readonly string[]).includes(status);
}

/** What `cutover status`, `start --wait` and `report` say of an end that left rows behind, in a few words. */
export function endedText(status: string): string {
  switch (status) {
    case 'cancelled':
      return 'cancelled by an operator: nothing was undone';
    case 'terminated':
      return 'terminated from outside Temporal: nothing was undone';
    case 'timed-out':
      return 'timed out: nothing was undone';
    default:
      return 'failed: nothing was undone';
  }
}

/** One execution of a migration workflow, as the visibility store lists it (no worker needed). */
export interface ListedRun {
  workflowId: string;
  execution: string;
  written?: string;
  startTime: string;
  closeTime?: string;
  plan?: string;
  phase?: string;
  percent?: number;
  rowsLoaded?: number;
}

/** One execution of a rollback workflow (`<migration workflow id>/rollback`). */
export interface ListedRollback {
  workflowId: string;
  execution: string;
  written?: string;
  startTime: string;
  closeTime?: string;
}

/** A migration in `cutover list`: its newest run, merged with a rollback after that run ended. */
export interface MigrationListing {
  workflowId: string;
  migrationId: string;
  plan?: string;
  /** Temporal's execution status of the newest run. */
  execution: string;
  status: MigrationState;
  phase?: string;
  percent?: number;
  rowsLoaded?: number;
  startTime: string;
  closeTime?: string;
  /** Runs of the migration (starts of the same plan), continue-as-new not counted. */
  runs: number;
  /** The rollback after the newest run ended, when there is one. */
  rollback?: { workflowId: string; execution: string; status?: string; startTime: string; closeTime?: string };
}

/** When a migration's keys were shredded (`cutover close --shred`), and by whom. */
export interface ShreddedKeys {
  at: string;
  by?: string;
}

/** What a shredded migration can no longer do, in one phrase (the same wherever it is shown). */
export const shreddedText = (k: ShreddedKeys) => `its keys were shredded by ${k.by ?? 'unknown'} at ${k.at}: nothing it staged, no pre-image and no quarantined row opens any more`;

/** The migration id of a migration workflow (cutover-lms-0882549636e5 → lms-0882549636e5). */
export function migrationIdFromWorkflow(workflowId: string): string {
  return workflowId.replace(/^cutover-/, '');
}

/** The rollback workflow of a migration workflow. */
export function rollbackWorkflowIdOf(workflowId: string): string {
  return `${workflowId}/rollback`;
}

/**
 * Whether a rollback workflow run belongs to a migration run: the migration run had ended when it
 * started (one started earlier undid an earlier run of the same plan).
 */
export function rollbackBelongsTo(run: { execution: string; closeTime?: string }, rollback: { startTime: string }): boolean {
  return run.execution !== 'RUNNING' && !!run.closeTime && rollback.startTime >= run.closeTime;
}

/**
 * One listing per migration id, newest first: the newest run of each workflow id with how many
 * runs it had, its status decided with the rollback after that run ended (if any).
 */
export function mergeListings(runs: readonly ListedRun[], rollbacks: readonly ListedRollback[]): MigrationListing[] {
  const newest = new Map<string, { run: ListedRun; runs: number }>();
  for (const r of runs) {
    const seen = newest.get(r.workflowId);
    if (!seen) newest.set(r.workflowId, { run: r, runs: 1 });
    else {
      seen.runs++;
      if (r.startTime > seen.run.startTime) seen.run = r;
    }
  }
  const rollbackOf = new Map<string, ListedRollback>();
  for (const b of rollbacks) {
    const seen = rollbackOf.get(b.workflowId);
    if (!seen || b.startTime > seen.startTime) rollbackOf.set(b.workflowId, b);
  }
  const out: MigrationListing[] = [];
  for (const { run, runs: count } of newest.values()) {
    const b = rollbackOf.get(rollbackWorkflowIdOf(run.workflowId));
    const rb = b && rollbackBelongsTo(run, b) ? b : undefined;
    out.push({
      workflowId: run.workflowId,
      migrationId: migrationIdFromWorkflow(run.workflowId),
      plan: run.plan,
      execution: run.execution,
      status: decideStatus({ execution: run.execution, written: run.written, rollback: rb && { execution: rb.execution, written: rb.written } }),
      phase: rb ? undefined : run.phase,
      percent: run.percent,
      rowsLoaded: run.rowsLoaded,
      startTime: run.startTime,
      closeTime: run.closeTime,
      runs: count,
      ...(rb ? { rollback: { workflowId: rb.workflowId, execution: rb.execution, status: rb.written, startTime: rb.startTime, closeTime: rb.closeTime } } : {}),
    });
  }
  return out.sort((a, b) => (a.startTime < b.startTime ? 1 : a.startTime > b.startTime ? -1 : 0));
}
