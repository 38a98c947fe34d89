import { userInfo } from 'node:os';
import { Client, WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { connectClient } from './clients/temporal';
import { withControl } from './clients/control';
import { CutoverConfig, workflowUrl, operatorFromEnv } from './config';
import { keysShredded, shreddedKeys } from './crypto/migration-key-ring';
import { migrationView, MigrationView, QUERY_DEADLINE_MS } from './migration-view';
import { migrationIdFromWorkflow, rollbackWorkflowIdOf } from './migration-status';
import { migrationId as idOf, planHash } from './plan/hash';
import type { Plan } from './plan/types';
import type { Controls, CutoverRecord, MigrationReport } from './shared/migration';
import { approveUpdate, cutoverUpdate, pauseUpdate, progressQuery, resumeUpdate, rollbackSignal, TuneRequest, tuneUpdate } from './shared/queries';
import type { Approval } from './shared/migration';
import { CUTOVER_PERCENT, CUTOVER_PHASE, CUTOVER_PLAN, CUTOVER_ROWS_LOADED, CUTOVER_STATUS } from './shared/search-attributes';
import { migrate } from './workflows';

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
    super(`no migration ${migrationIdFromWorkflow(workflowId)}: workflow ${workflowId} is not in namespace ${namespace} (\`cutover list\` shows the migrations)`);
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
  return `migration ${migrationIdFromWorkflow(workflowId)} has ended (${execution.toLowerCase().replace(/_/g, ' ')}) and takes no more requests; \`cutover status\` shows how it ended`;
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
  return operatorFromEnv() ?? userInfo().username;
}

/**
 * Starts (or, after it ended, starts again) the migration of a plan. The workflow id comes from
 * the plan's name and hash, so the same plan is the same migration: a second run converges.
 */
export async function startMigration(config: CutoverConfig, plan: Plan, options: { wait?: boolean; taskQueue?: string; startedBy?: string } = {}): Promise<StartedMigration> {
  const hash = planHash(plan);
  const migrationId = idOf(plan);
  const workflowId = workflowIdOf(migrationId);
  // A migration whose keys were shredded is over for good: the same plan would be the same migration.
  const shredded = await withControl(config, (control) => shreddedKeys(control, migrationId), 'cutover-start');
  if (shredded) throw new RefusedError(keysShredded(migrationId, shredded, 'it cannot be started again (give the plan another name to start a new migration)').message);
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

/** Asks a running migration to stop and undo everything it did (see `rollbackMigration` in rollback-client.ts for one that has ended). */
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
export function requestCutover(config: CutoverConfig, workflowId: string, by: string, reason?: string, full = false): Promise<CutoverRecord> {
  return withClient(config, workflowId, (client) => client.workflow.getHandle(workflowId).executeUpdate(cutoverUpdate, { args: [{ by, reason, ...(full ? { full } : {}) }] }));
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
