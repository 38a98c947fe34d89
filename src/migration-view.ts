import { Client, WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { decodeOptionalFailureToOptionalError } from '@temporalio/common/lib/internal-non-workflow';
import type { CutoverConfig } from './config';
import { workflowUrl } from './config';
import type { RehearsalSpec } from './plan/types';
import type { MigrationReport, MigrationStatus } from './shared/migration';
import { progressQuery } from './shared/queries';
import { CUTOVER_PERCENT, CUTOVER_PHASE, CUTOVER_PLAN, CUTOVER_ROWS_LOADED, CUTOVER_STATUS } from './shared/search-attributes';

/** What an operator sees of one migration: Temporal's view of the workflow and, when it can be had, its report. */
export interface MigrationView {
  workflowId: string;
  migrationId: string;
  url: string;
  /** Temporal's execution status: RUNNING, COMPLETED, FAILED, CANCELLED, TERMINATED, … */
  execution: string;
  /** Cutover's status (from the report, or the search attribute when no worker answers). */
  status: string;
  phase?: string;
  percent?: number;
  rowsLoaded?: number;
  plan?: string;
  startTime?: string;
  closeTime?: string;
  /** The workflow's own report: live (query) while it runs, its result or failure details after. */
  report?: MigrationReport;
  /** The failure, when it ended by one (a rollback says why). */
  failure?: string;
  /** Why there is no report (no worker answering, say). */
  note?: string;
  /** Activities that failed and are being retried, in the migration and its entity runs. */
  retrying?: RetryingActivity[];
  /** Set when the migration is a rehearsal into a masked sandbox (`start --rehearsal`). */
  rehearsal?: RehearsalSpec;
}


export interface RetryingActivity {
  workflowId: string;
  activity: string;
  attempt: number;
  /** The last failure's message (database errors are already reduced to codes and names). */
  lastFailure?: string;
}

/**
 * Activities being retried after a failure, in a running migration's workflows (the parent,
 * its entity runs and their partitions): what an operator needs during an outage.
 */
async function retryingActivities(client: Client, workflowId: string): Promise<RetryingActivity[]> {
  const ids = [workflowId];
  for await (const w of client.workflow.list({ query: `RootWorkflowId = '${workflowId.replace(/'/g, "''")}' AND ExecutionStatus = 'Running'` })) {
    if (w.workflowId !== workflowId) ids.push(w.workflowId);
    if (ids.length > 50) break;
  }
  const out: RetryingActivity[] = [];
  for (const id of ids) {
    const d = await client.workflow.getHandle(id).describe().catch(() => undefined);
    for (const a of d?.raw.pendingActivities ?? []) {
      if ((a.attempt ?? 1) <= 1 && !a.lastFailure) continue;
      const err = await decodeOptionalFailureToOptionalError(client.workflow.options.loadedDataConverter, a.lastFailure).catch(() => undefined);
      out.push({ workflowId: id, activity: a.activityType?.name ?? '?', attempt: a.attempt ?? 0, lastFailure: err?.message?.split('\n')[0] });
    }
  }
  return out;
}

const QUERY_DEADLINE_MS = 5000;

/**
 * Cutover's status as last written by the workflow, unless Temporal ended it from outside
 * (terminated, cancelled, timed out): then that, since the workflow could not say so.
 */
export function cutoverStatus(execution: string, written: string | undefined): string {
  if (execution === 'RUNNING' || execution === 'COMPLETED' || execution === 'FAILED' || execution === 'CONTINUED_AS_NEW') return written ?? execution.toLowerCase();
  return execution.toLowerCase().replace('_', '-');
}

/** Reads a migration's state; never hangs on a workflow no worker is serving (the query has a deadline). */
export async function migrationView(client: Client, config: CutoverConfig, workflowId: string): Promise<MigrationView> {
  const handle = client.workflow.getHandle(workflowId);
  const d = await handle.describe();
  const sa = d.typedSearchAttributes;
  const view: MigrationView = {
    workflowId,
    migrationId: workflowId.replace(/^cutover-/, ''),
    url: workflowUrl(config, workflowId),
    execution: d.status.name,
    status: cutoverStatus(d.status.name, sa.get(CUTOVER_STATUS) ?? undefined),
    phase: sa.get(CUTOVER_PHASE) ?? undefined,
    percent: sa.get(CUTOVER_PERCENT) ?? undefined,
    rowsLoaded: sa.get(CUTOVER_ROWS_LOADED) ?? undefined,
    plan: sa.get(CUTOVER_PLAN) ?? undefined,
    startTime: d.startTime.toISOString(),
    closeTime: d.closeTime?.toISOString(),
  };
  if (d.status.name === 'RUNNING') {
    try {
      view.report = await client.withDeadline(Date.now() + QUERY_DEADLINE_MS, () => handle.query(progressQuery));
    } catch (err) {
      view.note = `no live progress (is a worker running on task queue ${d.taskQueue}?): ${(err as Error).message.split('\n')[0]}`;
    }
    view.retrying = await retryingActivities(client, workflowId).catch(() => undefined);
  } else if (d.status.name === 'COMPLETED') {
    view.report = (await handle.result()) as MigrationReport;
  } else if (d.status.name === 'FAILED') {
    try {
      await handle.result();
    } catch (err) {
      let cause: unknown = err instanceof WorkflowFailedError ? err.cause : err;
      while (cause instanceof Error && cause.cause instanceof Error && !(cause instanceof ApplicationFailure && cause.details?.length)) cause = cause.cause;
      if (cause instanceof ApplicationFailure && cause.details?.[0]) view.report = cause.details[0] as MigrationReport;
      view.failure = `${cause instanceof ApplicationFailure && cause.type ? `${cause.type}: ` : ''}${(cause as Error).message}`;
    }
  } else {
    view.note = `the workflow is ${d.status.name.toLowerCase()}: no report`;
  }
  if (view.report) {
    view.status = view.report.status;
    view.phase = view.report.phase;
  }
  return view;
}

export const LISTABLE_STATUSES: MigrationStatus[] = ['running', 'paused', 'awaiting-approval', 'syncing', 'cutting-over', 'completed', 'rolling-back', 'rollback-blocked', 'rolled-back', 'failed'];

export interface MigrationListing {
  workflowId: string;
  migrationId: string;
  plan?: string;
  execution: string;
  status?: string;
  phase?: string;
  percent?: number;
  rowsLoaded?: number;
  startTime: string;
  closeTime?: string;
}

/** Migrations in the namespace, newest first, from the visibility store (search attributes; no worker needed). */
export async function listMigrations(client: Client, options: { status?: string; limit?: number } = {}): Promise<MigrationListing[]> {
  if (options.status && !LISTABLE_STATUSES.includes(options.status as MigrationStatus)) {
    throw new Error(`unknown status ${JSON.stringify(options.status)}: expected one of ${LISTABLE_STATUSES.join(', ')}`);
  }
  // A terminated workflow keeps the status it last wrote: in-flight statuses also need a running execution.
  const inFlight = ['running', 'paused', 'awaiting-approval', 'rolling-back', 'rollback-blocked'].includes(options.status ?? '');
  const query = `WorkflowType = 'migrate' AND ExecutionStatus != 'ContinuedAsNew'${options.status ? ` AND CutoverStatus = '${options.status}'` : ''}${inFlight ? " AND ExecutionStatus = 'Running'" : ''}`;
  const out: MigrationListing[] = [];
  for await (const w of client.workflow.list({ query })) {
    const sa = w.typedSearchAttributes;
    out.push({
      workflowId: w.workflowId,
      migrationId: w.workflowId.replace(/^cutover-/, ''),
      plan: sa.get(CUTOVER_PLAN) ?? undefined,
      execution: w.status.name,
      status: cutoverStatus(w.status.name, sa.get(CUTOVER_STATUS) ?? undefined),
      phase: sa.get(CUTOVER_PHASE) ?? undefined,
      percent: sa.get(CUTOVER_PERCENT) ?? undefined,
      rowsLoaded: sa.get(CUTOVER_ROWS_LOADED) ?? undefined,
      startTime: w.startTime.toISOString(),
      closeTime: w.closeTime?.toISOString(),
    });
    if (out.length >= (options.limit ?? 100)) break;
  }
  return out;
}
