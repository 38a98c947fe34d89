import { Client, WorkflowExecutionDescription, WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { decodeOptionalFailureToOptionalError } from '@temporalio/common/lib/internal-non-workflow';
import { withControl } from './clients/control';
import { createDb } from './clients/postgres';
import type { CutoverConfig } from './config';
import { configuredUrls, planConnectionUrl, workflowUrl } from './config';
import { CONTROL_SCHEMA } from './control/schema';
import { decideStatus, leftLoaded, ListedRollback, ListedRun, MigrationListing, MIGRATION_STATES, MigrationState, mergeListings, migrationIdFromWorkflow, rollbackWorkflowIdOf, ShreddedKeys, shreddedText } from './migration-status';
import type { Plan } from './plan/types';
import type { RehearsalSpec } from './plan/types';
import type { MigrationReport, MigrationStatus, RollbackRecord } from './shared/migration';
import { progressQuery } from './shared/queries';
import { CUTOVER_PERCENT, CUTOVER_PHASE, CUTOVER_PLAN, CUTOVER_ROWS_LOADED, CUTOVER_STATUS } from './shared/search-attributes';
import { ledgerCounts } from './control/ledger';
import { readShreddedKeys } from './crypto/migration-key-ring';

/** What an operator sees of one migration: Temporal's view of the workflow and, when it can be had, its report. */
export interface MigrationView {
  workflowId: string;
  migrationId: string;
  url: string;
  /** Temporal's execution status: RUNNING, COMPLETED, FAILED, CANCELLED, TERMINATED, … */
  execution: string;
  /** The migration's status, decided by `decideStatus` from the execution, `written`, the report and a rollback after the end. */
  status: MigrationState | string;
  /** The CutoverStatus search attribute as the workflow last wrote it (the Web UI's column). */
  written?: string;
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
  /** Once the run has ended: the run, and the rollback started after it ended (after completion, or after a failure, cancel, …). */
  afterEnd?: { migrationRunId: string; rollback?: RollbackAfterEnd };
  /** A migration that ended without undoing what it loaded: what is still in the target, and how to undo it. */
  leftBehind?: LeftBehind;
  /** Rows in quarantine now, per entity (the control database's, what `cutover quarantine` lists). */
  quarantinedNow?: Record<string, number>;
  /** Once its keys were shredded (`cutover close --shred`): when and by whom; nothing it sealed opens, and a rollback is refused. */
  keysShredded?: ShreddedKeys;
  /** What the report lacks and why (a closed workflow no worker could answer for, say). */
  missing?: string[];
}

/** The rollback workflow (`<workflow id>/rollback`) of a run that had ended: its report, live or final. */
export interface RollbackAfterEnd {
  workflowId: string;
  url: string;
  execution: string;
  written?: string;
  report?: MigrationReport;
}

/** The rows a migration left in the target (its ledger), by table, and the command that undoes them. */
export interface LeftBehind {
  tables: { table: string; inserted: number; updated: number }[];
  /** Objects it copied into target buckets. */
  files: number;
  /** `cutover rollback <id>`. */
  undo: string;
  /** Set when the ledger could not be read (then `tables` is empty and says nothing). */
  note?: string;
  /** Why `undo` is refused: the migration's keys were shredded, and its pre-images with them. */
  refused?: string;
}

/** When a migration's keys were shredded; undefined when they were not, or the control database cannot say. */
export async function keysShreddedOf(config: CutoverConfig, migrationId: string): Promise<ShreddedKeys | undefined> {
  if (!config.databases.controlUrl) return undefined;
  const state = await withControl(config, (control) => readShreddedKeys(control, migrationId), 'cutover-status').catch(() => undefined);
  return state?.shreddedAt ? { at: state.shreddedAt, by: state.shreddedBy } : undefined;
}

/** A rollback record that may say after which end it ran (a rollback after a failure, cancel, … rather than after completion). */
export type RollbackAfterEndRecord = RollbackRecord & { afterEnd?: string };


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

export const QUERY_DEADLINE_MS = 5000;

/**
 * Cutover's status from Temporal's execution status and the written search attribute alone (no
 * report, no rollback after the end): `decideStatus` with what a listing has.
 */
export function cutoverStatus(execution: string, written: string | undefined): MigrationState {
  return decideStatus({ execution, written });
}

/** The end a non-completed run had, in words: "cancelled", "timed out", … */
const endWords = (execution: string) => execution.toLowerCase().replace(/_/g, ' ');

/**
 * The rollback after the end of the migration's run `d`, if one was started: one started before
 * the run ended belongs to an earlier run of the same plan and is not it. Its report: live while
 * it runs (with a deadline), its result once it completed.
 */
export async function rollbackAfterEndOf(client: Client, config: CutoverConfig, workflowId: string, d: WorkflowExecutionDescription): Promise<RollbackAfterEnd | undefined> {
  if (d.status.name === 'RUNNING') return undefined;
  const id = rollbackWorkflowIdOf(workflowId);
  const handle = client.workflow.getHandle(id);
  const rb = await handle.describe().catch((err) => {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  });
  if (!rb || !d.closeTime || rb.startTime < d.closeTime) return undefined;
  const out: RollbackAfterEnd = { workflowId: id, url: workflowUrl(config, id), execution: rb.status.name, written: rb.typedSearchAttributes.get(CUTOVER_STATUS) ?? undefined };
  if (rb.status.name === 'RUNNING') out.report = await client.withDeadline(Date.now() + QUERY_DEADLINE_MS, () => handle.query(progressQuery)).catch(() => undefined);
  else if (rb.status.name === 'COMPLETED') out.report = (await handle.result()) as MigrationReport;
  if (out.report?.rollback?.migrationRunId && out.report.rollback.migrationRunId !== d.runId) return undefined;
  if (out.report?.rollback && d.status.name !== 'COMPLETED') out.report = afterEndReport(out.report, d.status.name);
  return out;
}

/**
 * A rollback workflow's report for a run that did not complete: the workflow says "after
 * completion" of every run it undoes; the views say after which end it ran.
 */
export function afterEndReport(report: MigrationReport, execution: string): MigrationReport {
  if (!report.rollback || execution === 'COMPLETED') return report;
  const ended = endWords(execution);
  const rollback: RollbackAfterEndRecord = { ...report.rollback, afterEnd: ended, reason: report.rollback.reason.replace('rollback after completion', `rollback after the migration ${ended === 'failed' ? 'failed' : `was ${ended}`}`) };
  return { ...report, rollback };
}

/** The URL an environment variable names here, as the worker resolves it (the configured target for CUTOVER_TARGET_URL). */
function targetUrlOf(config: CutoverConfig, plan: Plan): string | undefined {
  return planConnectionUrl(plan.target.urlEnv, configuredUrls(config, 'target'));
}

/**
 * What a migration left in the target: its ledger (in the target, under the plan's ledger schema;
 * the plan as the control database registered it), rows by table and action, and files copied.
 */
export async function leftBehindOf(config: CutoverConfig, migrationId: string): Promise<LeftBehind> {
  const undo = `cutover rollback ${migrationId}`;
  const none = (note: string): LeftBehind => ({ tables: [], files: 0, undo, note });
  if (!config.databases.controlUrl) return none('not known: no control database (set CUTOVER_CONTROL_URL)');
  const registered = await withControl(config, (control) => control(`${CONTROL_SCHEMA}.migrations`).where({ migration_id: migrationId }).first(), 'cutover-status').catch((err: Error) => ({ error: err }));
  if (registered && 'error' in registered) return none(`not known: the control database answered ${(registered.error.message ?? '').split('\n')[0]}`);
  if (!registered) return none('nothing was registered: the migration did not get as far as loading');
  const plan = registered.plan as Plan;
  const url = targetUrlOf(config, plan);
  if (!url) return none(`not known: $${plan.target.urlEnv} (the plan's target) is not set here`);
  const db = createDb(url, { max: 1, applicationName: 'cutover-status' });
  try {
    const schema = plan.target.ledgerSchema;
    const present = await db.raw('select to_regclass(?) is not null as files', [`${schema}.files`]);
    const tables = await ledgerCounts(db, schema, migrationId);
    const files = present.rows[0].files ? Number((await db.raw(`select count(*)::int as n from ??.files where migration_id = ?`, [schema, migrationId])).rows[0].n) : 0;
    return { tables, files, undo };
  } catch (err) {
    return none(`not known: the target answered ${((err as Error).message ?? '').split('\n')[0]}`);
  } finally {
    await db.destroy();
  }
}

/** Rows in quarantine now, per entity, as `cutover quarantine` reads them; undefined when the control database cannot be read. */
export async function quarantinedNowOf(config: CutoverConfig, migrationId: string): Promise<Record<string, number> | undefined> {
  if (!config.databases.controlUrl) return undefined;
  return withControl(
    config,
    async (control) => {
      const present = await control.raw('select to_regclass(?) is not null as q', [`${CONTROL_SCHEMA}.quarantine`]);
      if (!present.rows[0].q) return {};
      const rows = await control.raw(`select entity, count(*)::int as n from ${CONTROL_SCHEMA}.quarantine where migration_id = ? group by entity`, [migrationId]);
      return Object.fromEntries((rows.rows as { entity: string; n: number }[]).map((r) => [r.entity, Number(r.n)]));
    },
    'cutover-status',
  ).catch(() => undefined);
}

/** The report carried by a failure: a RolledBack failure's details[0]; and the failure in one line. */
async function failureOf(handle: ReturnType<Client['workflow']['getHandle']>): Promise<{ report?: MigrationReport; failure?: string }> {
  try {
    await handle.result();
    return {};
  } catch (err) {
    let cause: unknown = err instanceof WorkflowFailedError ? err.cause : err;
    while (cause instanceof Error && cause.cause instanceof Error && !(cause instanceof ApplicationFailure && cause.details?.length)) cause = cause.cause;
    const report = cause instanceof ApplicationFailure && cause.details?.[0] ? (cause.details[0] as MigrationReport) : undefined;
    const message = (cause as Error | undefined)?.message;
    return { report, failure: message ? `${cause instanceof ApplicationFailure && cause.type ? `${cause.type}: ` : ''}${message}` : undefined };
  }
}

/**
 * Reads a migration's state; never hangs on a workflow no worker is serving (every query has a
 * deadline). Its status is decided by `decideStatus`, the same function `cutover list` uses; once
 * the run has ended, a rollback started after that takes its report's place. With `details`
 * (the default), a migration that ended without undoing says what it left in the target, and the
 * quarantine is counted as it is now.
 */
export async function migrationView(client: Client, config: CutoverConfig, workflowId: string, options: { details?: boolean } = {}): Promise<MigrationView> {
  const handle = client.workflow.getHandle(workflowId);
  const d = await handle.describe();
  const sa = d.typedSearchAttributes;
  const written = sa.get(CUTOVER_STATUS) ?? undefined;
  const execution = d.status.name;
  const view: MigrationView = {
    workflowId,
    migrationId: migrationIdFromWorkflow(workflowId),
    url: workflowUrl(config, workflowId),
    execution,
    status: cutoverStatus(execution, written),
    written,
    phase: sa.get(CUTOVER_PHASE) ?? undefined,
    percent: sa.get(CUTOVER_PERCENT) ?? undefined,
    rowsLoaded: sa.get(CUTOVER_ROWS_LOADED) ?? undefined,
    plan: sa.get(CUTOVER_PLAN) ?? undefined,
    startTime: d.startTime.toISOString(),
    closeTime: d.closeTime?.toISOString(),
  };
  const ask = () => client.withDeadline(Date.now() + QUERY_DEADLINE_MS, () => handle.query(progressQuery));
  if (execution === 'RUNNING') {
    try {
      view.report = await ask();
    } catch (err) {
      view.note = `no live progress (is a worker running on task queue ${d.taskQueue}?): ${(err as Error).message.split('\n')[0]}`;
    }
    view.retrying = await retryingActivities(client, workflowId).catch(() => undefined);
  } else if (execution === 'COMPLETED') {
    view.report = (await handle.result()) as MigrationReport;
  } else {
    if (execution === 'FAILED') Object.assign(view, await failureOf(handle));
    if (!view.report) {
      // A closed workflow still answers a query when a worker replays it: the report it had when it ended.
      try {
        view.report = await ask();
      } catch (err) {
        view.missing = [`per-entity progress, reconcile and approvals: the workflow ended ${endWords(execution)} without a report, and no worker answered a query of it (is one running on task queue ${d.taskQueue}?): ${(err as Error).message.split('\n')[0]}`];
      }
    }
  }
  if (execution !== 'RUNNING') {
    const rollback = await rollbackAfterEndOf(client, config, workflowId, d);
    view.afterEnd = { migrationRunId: d.runId, rollback };
    if (rollback?.report) {
      view.report = rollback.report;
      view.missing = undefined;
    }
  }
  const rb = view.afterEnd?.rollback;
  view.status = decideStatus({ execution, written, report: rb ? undefined : view.report, rollback: rb && { execution: rb.execution, written: rb.written, report: rb.report } });
  if (view.report) {
    // The report says the decided status: a closed workflow's last live report may still say running.
    if (view.report.status !== view.status) view.report = { ...view.report, status: view.status as MigrationStatus };
    view.phase = rb ? undefined : view.report.phase;
  }
  if (options.details !== false && config.databases.controlUrl) {
    const [left, quarantined, shredded] = await Promise.all([
      leftLoaded(view.status) ? leftBehindOf(config, view.migrationId) : undefined,
      quarantinedNowOf(config, view.migrationId),
      execution === 'RUNNING' ? undefined : keysShreddedOf(config, view.migrationId),
    ]);
    if (left) view.leftBehind = shredded ? { ...left, refused: shreddedText(shredded) } : left;
    if (quarantined) view.quarantinedNow = quarantined;
    if (shredded) view.keysShredded = shredded;
  }
  return view;
}

/** Every status `list --status` accepts. */
export const LISTABLE_STATUSES: MigrationState[] = [...MIGRATION_STATES];

export type { MigrationListing } from './migration-status';

/**
 * Migrations in the namespace, one per migration id (its newest run; `runs` counts them), newest
 * first, from the visibility store (search attributes; no worker needed). A rollback after a run
 * ended (`<id>/rollback`) is listed with it and decides its status, with the same `decideStatus`
 * as `cutover status`; `status` filters on that merged status.
 */
export async function listMigrations(client: Client, options: { status?: string; limit?: number; scan?: number } = {}): Promise<MigrationListing[]> {
  if (options.status && !LISTABLE_STATUSES.includes(options.status as MigrationState)) {
    throw new Error(`unknown status ${JSON.stringify(options.status)}: expected one of ${LISTABLE_STATUSES.join(', ')}`);
  }
  const scan = options.scan ?? 2000;
  const runs: ListedRun[] = [];
  for await (const w of client.workflow.list({ query: "WorkflowType = 'migrate' AND ExecutionStatus != 'ContinuedAsNew'" })) {
    const sa = w.typedSearchAttributes;
    runs.push({
      workflowId: w.workflowId,
      execution: w.status.name,
      written: sa.get(CUTOVER_STATUS) ?? undefined,
      plan: sa.get(CUTOVER_PLAN) ?? undefined,
      phase: sa.get(CUTOVER_PHASE) ?? undefined,
      percent: sa.get(CUTOVER_PERCENT) ?? undefined,
      rowsLoaded: sa.get(CUTOVER_ROWS_LOADED) ?? undefined,
      startTime: w.startTime.toISOString(),
      closeTime: w.closeTime?.toISOString(),
    });
    if (runs.length >= scan) break;
  }
  const rollbacks: ListedRollback[] = [];
  for await (const w of client.workflow.list({ query: "WorkflowType = 'rollbackCompleted'" })) {
    rollbacks.push({ workflowId: w.workflowId, execution: w.status.name, written: w.typedSearchAttributes.get(CUTOVER_STATUS) ?? undefined, startTime: w.startTime.toISOString(), closeTime: w.closeTime?.toISOString() });
    if (rollbacks.length >= scan) break;
  }
  const merged = mergeListings(runs, rollbacks).filter((m) => !options.status || m.status === options.status);
  return merged.slice(0, options.limit ?? 100);
}
