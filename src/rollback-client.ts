// After a migration's end: the rollback window of a completed run, the rollback of a migration
// that ended (completed, failed, cancelled, …) by a workflow of its own, and what `status` shows
// of both. A running migration's rollback is a signal (requestRollback in migration-client.ts).
import { Client, WorkflowExecutionDescription } from '@temporalio/client';
import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow';
import type { Knex } from 'knex';
import { appendAudit } from './audit/store';
import { withControl } from './clients/control';
import { CutoverConfig, workflowUrl } from './config';
import { CONTROL_SCHEMA, ensureControlSchema } from './control/schema';
import { keysShredded, shreddedKeys } from './crypto/migration-key-ring';
import { RefusedError, withClient } from './migration-client';
import { migrationIdFromWorkflow, rollbackWorkflowIdOf } from './migration-status';
import { afterEndReport, migrationView, MigrationView, QUERY_DEADLINE_MS, RollbackAfterEnd, rollbackAfterEndOf } from './migration-view';
import type { Plan } from './plan/types';
import { headline } from './report/headline';
import type { MigrationReport, MigrationStatus, TableChecksum } from './shared/migration';
import { progressQuery, rollbackSignal } from './shared/queries';
import { CUTOVER_PLAN, CUTOVER_STATUS } from './shared/search-attributes';
import { rollbackCompleted } from './workflows';

/** The workflow that rolls back a migration after it ended (completed, failed, cancelled, …): `<migration workflow id>/rollback`. */
export { rollbackWorkflowIdOf };

/** Whether a completed migration can still be rolled back: open until an operator closes it. */
export interface RollbackWindow {
  state: 'open' | 'closed';
  closedBy?: string;
  /** ISO time. */
  closedAt?: string;
  reason?: string;
}

/** An ended migration's state after its end: a completed run's rollback window, and a rollback after the end, if one was started. */
export interface AfterCompletion {
  /** The run of the migration workflow that ended (the window is this run's). */
  migrationRunId: string;
  /** A completed run's window; unset for other ends, or when the control database could not be read (then `note` says why). */
  window?: RollbackWindow;
  /** The rollback after the end of this run, when one was started: its workflow and its report (live or final). */
  rollback?: RollbackAfterEnd;
  note?: string;
}

/** One decision at a time per migration: a rollback, a close and a shredding cannot cross. */
export async function lockWindow(trx: Knex.Transaction, migrationId: string): Promise<void> {
  await trx.raw('select pg_advisory_xact_lock(hashtext(?))', [`cutover.rollback-window:${migrationId}`]);
}

/** The window of a migration's completed run (the caller has ensured the control schema). */
export async function readWindow(control: Knex, migrationId: string, runId: string): Promise<RollbackWindow> {
  const row = await control(`${CONTROL_SCHEMA}.rollback_windows`).where({ migration_id: migrationId, run_id: runId }).first();
  if (!row) return { state: 'open' };
  return { state: 'closed', closedBy: row.closed_by, closedAt: new Date(row.closed_at).toISOString(), reason: row.reason ?? undefined };
}

function closedMessage(migrationId: string, w: RollbackWindow): string {
  return `the rollback window of migration ${migrationId} was closed by ${w.closedBy} at ${w.closedAt}${w.reason ? ` (${w.reason})` : ''}: it can no longer be rolled back`;
}

/** What a finished rollback after completion found, in a few words. */
function rollbackVerdict(report: MigrationReport | undefined): string {
  const rb = report?.rollback;
  if (!rb) return report?.status ?? 'unknown';
  if (report.status === 'rollback-blocked') return 'blocked';
  if (rb.restored) return 'target restored';
  return rb.before.length ? `TARGET CHECKSUMS DIFFER: ${(rb.differs ?? []).join(', ')}` : 'target not verified';
}

/** The rollback after the end of the migration's run `d`, if one was started (see `rollbackAfterEndOf`). */
function rollbackOf(client: Client, config: CutoverConfig, workflowId: string, d: WorkflowExecutionDescription): Promise<AfterCompletion['rollback']> {
  return rollbackAfterEndOf(client, config, workflowId, d);
}

/**
 * The target checksums a migration's prepare took (the first `checksumTargets` activity of the
 * first run of its chain), read from its history: for a run that completed before its report
 * carried them. Undefined when the history does not have them.
 */
export async function checksumsFromHistory(
  client: Pick<Client, 'workflow'>,
  workflowId: string,
  firstRunId: string,
): Promise<TableChecksum[] | undefined> {
  const history = await client.workflow.getHandle(workflowId, firstRunId).fetchHistory();
  const events = history.events ?? [];
  const scheduled = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'checksumTargets');
  if (!scheduled?.eventId) return undefined;
  const done = events.find((e) => e.activityTaskCompletedEventAttributes && String(e.activityTaskCompletedEventAttributes.scheduledEventId) === String(scheduled.eventId));
  const payloads = done?.activityTaskCompletedEventAttributes?.result?.payloads;
  if (!payloads?.length) return undefined;
  const checksums = await decodeFromPayloadsAtIndex<TableChecksum[]>(client.workflow.options.loadedDataConverter, 0, payloads);
  return Array.isArray(checksums) ? checksums : undefined;
}

/**
 * An ended migration's rollback after the end (the view's, when given) and, for a completed run,
 * its rollback window (undefined while it runs). The window needs the control database; without
 * it, `note` says so and the rest is still given.
 */
export async function afterCompletionOf(client: Client, config: CutoverConfig, workflowId: string, view?: MigrationView): Promise<AfterCompletion | undefined> {
  const d = await client.workflow.getHandle(workflowId).describe();
  if (d.status.name === 'RUNNING') return undefined;
  const rollback = view?.afterEnd?.migrationRunId === d.runId ? view.afterEnd.rollback : await rollbackOf(client, config, workflowId, d);
  const out: AfterCompletion = { migrationRunId: d.runId, rollback };
  if (d.status.name !== 'COMPLETED') return out;
  if (!config.databases.controlUrl) out.note = 'rollback window unknown: no control database (set CUTOVER_CONTROL_URL)';
  else {
    try {
      out.window = await withControl(
        config,
        async (control) => {
          await ensureControlSchema(control);
          return readWindow(control, migrationIdFromWorkflow(workflowId), d.runId);
        },
        'cutover-status',
      );
    } catch (err) {
      out.note = `rollback window unknown: ${((err as Error).message ?? String(err)).split('\n')[0]}`;
    }
  }
  return out;
}

/**
 * The view of an ended migration with what happened after its end: its rollback window (a
 * completed run's) and the rollback after the end (whose report `migrationView` has already put
 * in the migration's place, and whose status it has decided).
 */
export function withAfterCompletion<V extends MigrationView>(view: V, after: AfterCompletion | undefined): V & { afterCompletion?: AfterCompletion } {
  if (!after) return view;
  const { report, ...rollback } = after.rollback ?? {};
  void report;
  return { ...view, afterCompletion: { ...after, rollback: after.rollback ? (rollback as NonNullable<AfterCompletion['rollback']>) : undefined } };
}

export type RollbackOutcome =
  /** A running migration was asked to roll back (its own workflow does it). */
  | { kind: 'requested'; workflowId: string }
  /** A completed migration: its rollback after completion, started now, resumed or already running. */
  | {
      kind: 'after-completion';
      workflowId: string;
      url: string;
      action: 'started' | 'resumed' | 'attached';
      /** Temporal's status of the rollback workflow when this returned (RUNNING unless waited for to the end). */
      execution: string;
      report?: MigrationReport;
    };

/**
 * Rolls a migration back. A running one is signalled (it rolls back itself). One that has ended
 * without rolling back — completed, failed, cancelled, terminated, timed out — is undone by a
 * workflow of its own, `<workflow id>/rollback` on the same task queue, from the ledger the target
 * keeps (checksums from before: the report's, else the first run's history) — unless an operator
 * closed a completed run's rollback window (refused), or it was rolled back already, in flight or
 * after its end (refused, saying so). A rollback after the end that is blocked is told to carry
 * on. With `wait`, returns once the rollback after the end has ended or is blocked.
 */
export async function rollbackMigration(
  config: CutoverConfig,
  workflowId: string,
  requestedBy: string,
  reason?: string,
  options: { wait?: boolean; pollMs?: number; onStarted?: (o: { workflowId: string; url: string; action: string; after: string }) => void; onNote?: (note: string) => void } = {},
): Promise<RollbackOutcome> {
  return withClient(config, workflowId, async (client) => {
    const handle = client.workflow.getHandle(workflowId);
    const d = await handle.describe();
    if (d.status.name === 'RUNNING') {
      await handle.signal(rollbackSignal, { requestedBy, reason });
      return { kind: 'requested', workflowId };
    }
    const migrationId = migrationIdFromWorkflow(workflowId);
    const id = rollbackWorkflowIdOf(workflowId);
    const rb = client.workflow.getHandle(id);
    const execution = d.status.name;
    const ended = execution.toLowerCase().replace(/_/g, ' ');
    // A run that did not complete (failed, cancelled, terminated, timed out) is undone the same way, unless it rolled itself back.
    const view = execution === 'COMPLETED' ? undefined : await migrationView(client, config, workflowId, { details: false });
    if (view && !view.afterEnd?.rollback && view.status === 'rolled-back') {
      throw new RefusedError(`migration ${migrationId} was already rolled back when it ended (${view.report ? headline(view.report) : 'rolled back'}): there is nothing left to undo; \`cutover status ${migrationId}\` shows it`);
    }
    const found = execution === 'COMPLETED' ? ((await handle.result()) as MigrationReport) : view?.report && !view.afterEnd?.rollback ? view.report : undefined;
    const action = await withControl(
      config,
      async (control) => {
        await ensureControlSchema(control);
        const registered = await control(`${CONTROL_SCHEMA}.migrations`).where({ migration_id: migrationId }).first();
        if (!registered) {
          if (execution !== 'COMPLETED') throw new RefusedError(`migration ${migrationId} ended (${ended}) before it registered its plan: it loaded nothing, there is nothing to undo`);
          throw new RefusedError(`migration ${migrationId} is not registered in the control database: there is no plan to undo it by`);
        }
        // A migration whose keys were shredded has no pre-image left to restore from.
        const shredded = await shreddedKeys(control, migrationId);
        if (shredded) throw new RefusedError(keysShredded(migrationId, shredded, 'it cannot be rolled back').message);
        // What the rollback workflow starts from: the run's report (its result, or what a failed run had), else the little there is.
        const report: MigrationReport = found
          ? { ...found }
          : { migrationId, planHash: registered.plan_hash, plan: registered.plan_name, status: (view?.status ?? 'failed') as MigrationStatus, startedBy: registered.started_by ?? 'unknown', entities: [], phases: [], approvals: [], clean: false };
        // A run that completed before reports carried the checksums from before, or one that did not complete: its history has them.
        const firstRunId = d.raw.workflowExecutionInfo?.firstRunId;
        if (!report.checksumsBefore && firstRunId) report.checksumsBefore = await checksumsFromHistory(client, workflowId, firstRunId).catch(() => undefined);
        // One decision at a time per migration: a rollback and a close cannot both win.
        return control.transaction(async (trx) => {
          await lockWindow(trx, migrationId);
          const window = await readWindow(trx, migrationId, d.runId);
          if (window.state === 'closed') throw new RefusedError(closedMessage(migrationId, window));
          const existing = await rollbackOf(client, config, workflowId, d);
          if (existing?.execution === 'RUNNING') {
            if (existing.report?.status !== 'rollback-blocked') return 'attached' as const;
            await rb.signal(rollbackSignal, { requestedBy, reason });
            return 'resumed' as const;
          }
          if (existing?.execution === 'COMPLETED') {
            const when = execution === 'COMPLETED' ? 'after completion' : `after it ended (${ended})`;
            throw new RefusedError(`migration ${migrationId} was already rolled back ${when} (${rollbackVerdict(existing.report)}); \`cutover status ${migrationId}\` shows it`);
          }
          await client.workflow.start(rollbackCompleted, {
            workflowId: id,
            taskQueue: d.taskQueue,
            args: [{ migrationId, plan: registered.plan as Plan, migrationRunId: d.runId, report, requestedBy, reason, ...(execution === 'COMPLETED' ? {} : { ended }) }],
            typedSearchAttributes: [
              ...(report.plan ? [{ key: CUTOVER_PLAN, value: report.plan }] : []),
              { key: CUTOVER_STATUS, value: 'rolling-back' },
            ],
            staticSummary: `Rollback of ${execution === 'COMPLETED' ? 'completed' : ended} migration ${migrationId}, requested by ${requestedBy}`,
            staticDetails: `Undoes migration \`${migrationId}\` (run \`${d.runId}\`, ${ended}) from the target's ledger, children before parents, and compares the target's checksums with those taken before it.`,
          });
          return 'started' as const;
        });
      },
      'cutover-rollback',
    );
    const url = workflowUrl(config, id);
    options.onStarted?.({ workflowId: id, url, action, after: execution === 'COMPLETED' ? 'completion' : `it ended (${ended})` });
    if (!options.wait) return { kind: 'after-completion', workflowId: id, url, action, execution: 'RUNNING' };
    const pollMs = options.pollMs ?? 1000;
    const begun = Date.now();
    let noted = false;
    // A resumed rollback shows `rollback-blocked` until the workflow takes the signal: not the answer.
    let waitingForResume = action === 'resumed';
    for (;;) {
      const state = await rb.describe();
      if (state.status.name !== 'RUNNING') {
        const final = state.status.name === 'COMPLETED' ? afterEndReport((await rb.result()) as MigrationReport, execution) : undefined;
        return { kind: 'after-completion', workflowId: id, url, action, execution: state.status.name, report: final };
      }
      const live = await client.withDeadline(Date.now() + QUERY_DEADLINE_MS, () => rb.query(progressQuery)).catch(() => undefined);
      if (live?.status === 'rollback-blocked' && !(waitingForResume && Date.now() - begun < 30_000)) return { kind: 'after-completion', workflowId: id, url, action, execution: 'RUNNING', report: afterEndReport(live, execution) };
      if (live && live.status !== 'rollback-blocked') waitingForResume = false;
      if (!live && !noted && Date.now() - begun > 15_000) {
        noted = true;
        options.onNote?.(`no answer from ${id} yet: is a worker running on task queue ${d.taskQueue}?`);
      }
      await new Promise((r) => setTimeout(r, pollMs));
    }
  });
}

/**
 * Records a completed run's rollback window as closed, and in the same transaction the audit event
 * (the caller holds `lockWindow` and has found the window open).
 */
export async function recordWindowClosed(trx: Knex.Transaction, auditKey: Buffer, migrationId: string, runId: string, by: string, reason: string | null): Promise<RollbackWindow & { state: 'closed' }> {
  const [row] = await trx(`${CONTROL_SCHEMA}.rollback_windows`).insert({ migration_id: migrationId, run_id: runId, closed_by: by, reason }).returning(['closed_by', 'closed_at', 'reason']);
  await appendAudit(trx, auditKey, { migrationId, actor: by, action: 'rollback-window-closed', eventKey: `${migrationId}/rollback-window-closed/${runId}`, details: { reason } });
  return { state: 'closed', closedBy: row.closed_by as string, closedAt: new Date(row.closed_at).toISOString(), reason: row.reason ?? undefined };
}

/**
 * Closes a completed migration's rollback window: recorded in the control database and, in the
 * same transaction, in the audit chain. Later rollbacks are refused, naming who closed it and when.
 */
export async function closeRollbackWindow(config: CutoverConfig, workflowId: string, by: string, reason?: string): Promise<RollbackWindow & { migrationId: string }> {
  return withClient(config, workflowId, async (client) => {
    const d = await client.workflow.getHandle(workflowId).describe();
    const migrationId = migrationIdFromWorkflow(workflowId);
    if (d.status.name === 'RUNNING') throw new RefusedError(`migration ${migrationId} is still running: its rollback window opens when it completes`);
    if (d.status.name !== 'COMPLETED') throw new RefusedError(`migration ${migrationId} has ended (${d.status.name.toLowerCase().replace(/_/g, ' ')}): only a completed migration has a rollback window`);
    return withControl(
      config,
      async (control, keys) => {
        await ensureControlSchema(control);
        const key = await keys().get('audit');
        return control.transaction(async (trx) => {
          await lockWindow(trx, migrationId);
          const window = await readWindow(trx, migrationId, d.runId);
          if (window.state === 'closed') throw new RefusedError(`the rollback window of migration ${migrationId} was already closed by ${window.closedBy} at ${window.closedAt}`);
          const rollback = await rollbackOf(client, config, workflowId, d);
          if (rollback?.execution === 'RUNNING') throw new RefusedError(`a rollback of migration ${migrationId} after completion is under way (${rollback.report?.status ?? 'running'}): its window cannot be closed now`);
          if (rollback?.execution === 'COMPLETED') throw new RefusedError(`migration ${migrationId} was rolled back after completion: it has no rollback window to close`);
          return { migrationId, ...(await recordWindowClosed(trx, key, migrationId, d.runId, by, reason ?? null)) };
        });
      },
      'cutover-close',
    );
  });
}
