import { userInfo } from 'node:os';
import { Client, WorkflowExecutionAlreadyStartedError, WorkflowExecutionDescription, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow';
import type { Knex } from 'knex';
import { appendAudit } from './audit/store';
import { withControl } from './clients/control';
import { connectClient } from './clients/temporal';
import { CutoverConfig, workflowUrl } from './config';
import { CONTROL_SCHEMA, ensureControlSchema } from './control/schema';
import { afterEndReport, migrationView, MigrationView, QUERY_DEADLINE_MS, RollbackAfterEnd, rollbackAfterEndOf } from './migration-view';
import { rollbackWorkflowIdOf } from './migration-status';
import { migrationId as idOf, planHash } from './plan/hash';
import type { Plan } from './plan/types';
import type { Controls, CutoverRecord, MigrationReport, MigrationStatus, TableChecksum } from './shared/migration';
import { approveUpdate, cutoverUpdate, pauseUpdate, progressQuery, resumeUpdate, rollbackSignal, TuneRequest, tuneUpdate } from './shared/queries';
import type { Approval } from './shared/migration';
import { CUTOVER_PERCENT, CUTOVER_PHASE, CUTOVER_PLAN, CUTOVER_ROWS_LOADED, CUTOVER_STATUS } from './shared/search-attributes';
import { headline } from './report/headline';
import { migrate, rollbackCompleted } from './workflows';

export interface StartedMigration {
  migrationId: string;
  workflowId: string;
  runId: string;
  url: string;
  report?: MigrationReport;
}

export class MigrationAlreadyRunningError extends Error {
  constructor(readonly workflowId: string) {
    super(`migration ${workflowId} is already running: watch it, or wait for it to end before starting it again`);
    this.name = 'MigrationAlreadyRunningError';
  }
}

export function workflowIdOf(migrationId: string): string {
  return `cutover-${migrationId}`;
}

/** A migration named by its id (lms-0882549636e5) or its workflow id (cutover-lms-…). */
export function workflowIdFrom(id: string): string {
  return id.startsWith('cutover-') ? id : workflowIdOf(id);
}

export class MigrationNotFoundError extends Error {
  constructor(readonly workflowId: string, namespace: string) {
    super(`no migration ${workflowId.replace(/^cutover-/, '')}: workflow ${workflowId} is not in namespace ${namespace} (\`cutover list\` shows the migrations)`);
    this.name = 'MigrationNotFoundError';
  }
}

/** The workflow refused an operator's request (its validator said why). */
export class RefusedError extends Error {
  constructor(message: string) {
    super(`refused: ${message}`);
    this.name = 'RefusedError';
  }
}

function endedMessage(workflowId: string, execution: string): string {
  return `migration ${workflowId.replace(/^cutover-/, '')} has ended (${execution.toLowerCase().replace(/_/g, ' ')}) and takes no more requests; \`cutover status\` shows how it ended`;
}

/** Runs `fn` with a client; closes the connection; turns "not found" and refused updates into clear errors. */
export async function withClient<T>(config: CutoverConfig, workflowId: string | undefined, fn: (client: Client) => Promise<T>, options: { codec?: boolean } = {}): Promise<T> {
  const { client, connection } = await connectClient(config, undefined, options);
  try {
    return await fn(client);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError && workflowId) {
      // Temporal says "not found" for an update or signal to a workflow that has ended, too.
      const ended = await client.workflow
        .getHandle(workflowId)
        .describe()
        .then((d) => d.status.name, () => undefined);
      if (ended && ended !== 'RUNNING') throw new RefusedError(endedMessage(workflowId, ended));
      throw new MigrationNotFoundError(workflowId, config.temporal.namespace);
    }
    if (err instanceof WorkflowUpdateFailedError) throw new RefusedError((err.cause as Error | undefined)?.message ?? err.message);
    throw err;
  } finally {
    await connection.close();
  }
}

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/** A one-line summary and a Markdown description shown by the Web UI from the start. */
function startMetadata(plan: Plan, hash: string, startedBy: string): { staticSummary: string; staticDetails: string } {
  const rows = plan.phases.map((p) => `| ${p.name} | ${p.entities.join(', ')} | ${p.gate ? (p.gate.distinctApprover ? 'approval by a second person' : 'approval') : '–'} |`);
  const r = plan.rehearsal;
  return {
    staticSummary: `Cutover ${r ? 'REHEARSAL' : 'migration'} ${plan.name}: ${plural(plan.entities.length, 'entity', 'entities')} in ${plural(plan.phases.length, 'phase', 'phases')}, started by ${startedBy}`,
    staticDetails: [
      ...(r ? [`**REHEARSAL** of \`${r.of}\` into the masked sandbox \`$${r.sandboxEnv}\`: nothing detokenized, files not copied`, ''] : []),
      `**Plan** \`${plan.name}\` (hash \`${hash.slice(0, 12)}\`) · source \`$${plan.source.urlEnv}\` → target \`$${plan.target.urlEnv}\``,
      '',
      `Batch size ${plan.settings.batchSize} · parallelism ${plan.settings.parallelism} · throttle ${plan.settings.throttleRowsPerSecond || 'none'} · abort above ${(plan.settings.abort.maxQuarantineRatio * 100).toFixed(1)} % quarantined`,
      '',
      '| phase | entities | gate |',
      '|---|---|---|',
      ...rows,
    ].join('\n'),
  };
}

/** The operator, as recorded: a login name, never an email address. */
export function defaultOperator(): string {
  return process.env.CUTOVER_OPERATOR || userInfo().username;
}

/**
 * Starts (or, after it ended, starts again) the migration of a plan. The workflow id comes from
 * the plan's name and hash, so the same plan is the same migration: a second run converges.
 */
export async function startMigration(config: CutoverConfig, plan: Plan, options: { wait?: boolean; taskQueue?: string; startedBy?: string } = {}): Promise<StartedMigration> {
  const hash = planHash(plan);
  const migrationId = idOf(plan);
  const workflowId = workflowIdOf(migrationId);
  const { client, connection } = await connectClient(config);
  try {
    // A rollback after completion of this migration is undoing it: a new run would load beside it.
    const undoing = await client.workflow
      .getHandle(rollbackWorkflowIdOf(workflowId))
      .describe()
      .then((d) => d.status.name, () => undefined);
    if (undoing === 'RUNNING') throw new RefusedError(`a rollback of migration ${migrationId} after completion is running (${rollbackWorkflowIdOf(workflowId)}): start it again once that has ended`);
    let handle;
    try {
      const startedBy = options.startedBy ?? defaultOperator();
      handle = await client.workflow.start(migrate, {
        workflowId,
        taskQueue: options.taskQueue ?? config.temporal.taskQueue,
        args: [{ plan, migrationId, planHash: hash, startedBy }],
        typedSearchAttributes: [
          { key: CUTOVER_PLAN, value: plan.name },
          { key: CUTOVER_STATUS, value: 'running' },
          { key: CUTOVER_PHASE, value: plan.phases[0]!.name },
          { key: CUTOVER_ROWS_LOADED, value: 0 },
          { key: CUTOVER_PERCENT, value: 0 },
        ],
        ...startMetadata(plan, hash, startedBy),
      });
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) throw new MigrationAlreadyRunningError(workflowId);
      throw err;
    }
    const started: StartedMigration = { migrationId, workflowId, runId: handle.firstExecutionRunId, url: workflowUrl(config, workflowId) };
    if (options.wait) started.report = await handle.result();
    return started;
  } finally {
    await connection.close();
  }
}

/** Approves (or rejects) the gate a migration waits at; the workflow refuses a forbidden approver. */
export function decideGate(config: CutoverConfig, workflowId: string, phase: string, approver: string, decision: 'approve' | 'reject' = 'approve'): Promise<Approval> {
  return withClient(config, workflowId, (client) => client.workflow.getHandle(workflowId).executeUpdate(approveUpdate, { args: [{ phase, approver, decision }] }));
}

/** Asks a running migration to stop and undo everything it did (see `rollbackMigration` for a completed one). */
export function requestRollback(config: CutoverConfig, workflowId: string, requestedBy: string, reason?: string): Promise<void> {
  return withClient(config, workflowId, (client) => client.workflow.getHandle(workflowId).signal(rollbackSignal, { requestedBy, reason }));
}

/** No new batch starts until resumed; batches in flight finish. */
export function pauseMigration(config: CutoverConfig, workflowId: string, by: string, reason?: string): Promise<Controls> {
  return withClient(config, workflowId, (client) => client.workflow.getHandle(workflowId).executeUpdate(pauseUpdate, { args: [{ by, reason }] }));
}

export function resumeMigration(config: CutoverConfig, workflowId: string, by: string, reason?: string, confirmDeletes?: boolean): Promise<Controls> {
  return withClient(config, workflowId, (client) => client.workflow.getHandle(workflowId).executeUpdate(resumeUpdate, { args: [{ by, reason, ...(confirmDeletes ? { confirmDeletes } : {}) }] }));
}

/** Asks a syncing migration to cut over (the source is frozen); the validator refuses one that is not syncing. */
export function requestCutover(config: CutoverConfig, workflowId: string, by: string, reason?: string): Promise<CutoverRecord> {
  return withClient(config, workflowId, (client) => client.workflow.getHandle(workflowId).executeUpdate(cutoverUpdate, { args: [{ by, reason }] }));
}

/** Changes the throttle and/or the batch size of a running migration; refused values throw RefusedError. */
export function tuneMigration(config: CutoverConfig, workflowId: string, request: TuneRequest): Promise<Controls> {
  return withClient(config, workflowId, (client) => client.workflow.getHandle(workflowId).executeUpdate(tuneUpdate, { args: [request] }));
}

/** Stops a migration without undoing anything (`rollback` undoes); its entity runs are cancelled too. */
export function cancelMigration(config: CutoverConfig, workflowId: string): Promise<void> {
  return withClient(config, workflowId, async (client) => {
    const handle = client.workflow.getHandle(workflowId);
    await handle.describe(); // a clear "not found" before anything else
    await handle.cancel();
  });
}

// ---------------------------------------------------------------------------------------------
// After completion: the rollback window, a rollback of a completed migration, waiting for a run.

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
const migrationIdFromWorkflow = (workflowId: string) => workflowId.replace(/^cutover-/, '');

async function lockWindow(trx: Knex.Transaction, migrationId: string): Promise<void> {
  await trx.raw('select pg_advisory_xact_lock(hashtext(?))', [`cutover.rollback-window:${migrationId}`]);
}

/** The window of a migration's completed run (the caller has ensured the control schema). */
async function readWindow(control: Knex, migrationId: string, runId: string): Promise<RollbackWindow> {
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
          const [row] = await trx(`${CONTROL_SCHEMA}.rollback_windows`).insert({ migration_id: migrationId, run_id: d.runId, closed_by: by, reason: reason ?? null }).returning(['closed_by', 'closed_at', 'reason']);
          await appendAudit(trx, key, { migrationId, actor: by, action: 'rollback-window-closed', eventKey: `${migrationId}/rollback-window-closed/${d.runId}`, details: { reason: reason ?? null } });
          return { migrationId, state: 'closed' as const, closedBy: row.closed_by as string, closedAt: new Date(row.closed_at).toISOString(), reason: row.reason ?? undefined };
        });
      },
      'cutover-close',
    );
  });
}

/** A migration's report now: live from its workflow while it runs, its result once it has ended. */
export async function migrationReport(config: CutoverConfig, workflowId: string): Promise<MigrationReport> {
  return withClient(config, workflowId, async (client) => {
    const view = await migrationView(client, config, workflowId, { details: false });
    if (!view.report) throw new Error(`${workflowId}: no report yet (no worker answered)`);
    return view.report;
  });
}

/**
 * Waits for a migration to end, calling `onProgress` with its live report every `intervalMs`
 * (when a worker answers); returns the final view (report, failure).
 */
export async function waitForMigration(config: CutoverConfig, workflowId: string, onProgress: (report: MigrationReport) => void, intervalMs = 3000): Promise<MigrationView> {
  return withClient(config, workflowId, async (client) => {
    const handle = client.workflow.getHandle(workflowId);
    let ended = false;
    const result = handle.result().then(
      () => void (ended = true),
      () => void (ended = true),
    );
    while (!ended) {
      const live = await client.withDeadline(Date.now() + QUERY_DEADLINE_MS, () => handle.query(progressQuery)).catch(() => undefined);
      if (live && !ended) onProgress(live);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([result, new Promise((r) => (timer = setTimeout(r, intervalMs)))]);
      clearTimeout(timer);
    }
    return migrationView(client, config, workflowId);
  });
}
