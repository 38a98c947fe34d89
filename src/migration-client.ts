import { userInfo } from 'node:os';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { connectClient } from './clients/temporal';
import { CutoverConfig, workflowUrl } from './config';
import { migrationId as idOf, planHash } from './plan/hash';
import type { Plan } from './plan/types';
import type { MigrationReport } from './shared/migration';
import { approveUpdate, rollbackSignal } from './shared/queries';
import type { Approval } from './shared/migration';
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
    let handle;
    try {
      handle = await client.workflow.start(migrate, {
        workflowId,
        taskQueue: options.taskQueue ?? config.temporal.taskQueue,
        args: [{ plan, migrationId, planHash: hash, startedBy: options.startedBy ?? defaultOperator() }],
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
export async function decideGate(config: CutoverConfig, workflowId: string, phase: string, approver: string, decision: 'approve' | 'reject' = 'approve'): Promise<Approval> {
  const { client, connection } = await connectClient(config);
  try {
    return await client.workflow.getHandle(workflowId).executeUpdate(approveUpdate, { args: [{ phase, approver, decision }] });
  } finally {
    await connection.close();
  }
}

/** Asks a running migration to stop and undo everything it did. */
export async function requestRollback(config: CutoverConfig, workflowId: string, requestedBy: string, reason?: string): Promise<void> {
  const { client, connection } = await connectClient(config);
  try {
    await client.workflow.getHandle(workflowId).signal(rollbackSignal, { requestedBy, reason });
  } finally {
    await connection.close();
  }
}
