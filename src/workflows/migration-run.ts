import { ChildWorkflowHandle, patched, workflowInfo } from '@temporalio/workflow';
import type { Compensation, Controls, EntityProgress, MigrationInput, MigrationReport, SyncPositions, TableChecksum } from '../shared/migration';
import { ApproveRequest, controlsSignal } from '../shared/queries';
import type { migrateEntity } from './entity';
import { ROLLBACK_DECIDED_BY_REQUEST } from './patches';
import type { Presentation } from './presentation';
import { slow } from './proxies';
import type { BlockedRetry } from './saga';

/** What the migration carries over continue-as-new (between phases). */
export interface MigrationState {
  phaseIndex: number;
  prepared: boolean;
  report: MigrationReport;
  /** Undo steps, most recent first: running them in order undoes children before parents. */
  compensations: Compensation[];
  checksumsBefore: TableChecksum[];
  controls: Controls;
  /** Plans with sync: where capture stands, the last round applied, and the cutover once asked. */
  sync?: { positions: SyncPositions; round: number; quietSince?: number; cutoverAsked?: { by: string; at: number; full?: boolean } };
}

/** What operators have asked of the run, set by its handlers while the main flow awaits. */
export interface OperatorRequests {
  /** The first `rollback` asked for: from then on the migration rolls back at its next step. */
  rollback?: { requestedBy: string; reason?: string };
  /** The phase whose gate waits for a decision (the approve validator refuses any other). */
  gate?: { phase: string; distinctApprover: boolean };
  decision?: ApproveRequest;
  /** A `resume --confirm-deletes`: the held sync round may apply its deletes. */
  deletesConfirmed: boolean;
}

/** What the concerns of a running migration (controls, presentation, sync, saga) share. */
export interface MigrationRun {
  input: MigrationInput;
  state: MigrationState;
  report: MigrationReport;
  controls: Controls;
  asked: OperatorRequests;
  /** A `rollback` while a compensation is blocked goes here. */
  retry: BlockedRetry;
  /** Entity runs in flight: they hear control changes and report live progress. */
  running: Map<string, ChildWorkflowHandle<typeof migrateEntity>>;
  /** Live tallies of running entities, by entity and then by run or partition. */
  live: Map<string, Map<string, EntityProgress>>;
  view: Presentation;
}

/** Thrown where the main flow meets an operator's rollback: the saga runs next. */
export class RollbackRequested extends Error {}

type AuditDetails = Record<string, string | number | boolean | null>;

/** Records an audit event; the key makes a retried activity write it once. */
export function audit(run: MigrationRun, action: string, actor: string, details: AuditDetails, via: typeof slow = slow): Promise<unknown> {
  const { migrationId } = run.input;
  return via.recordAudit({ migrationId, actor, action, eventKey: `${migrationId}/${workflowInfo().runId}/${action}/${workflowInfo().historyLength}`, details });
}

/** Hands the current controls to every running entity (one that has just ended is not an error). */
export function broadcast(run: MigrationRun): Promise<unknown> {
  return Promise.all([...run.running.values()].map((child) => child.signal(controlsSignal, { ...run.controls }).catch(() => undefined)));
}

export function hasEnded(report: MigrationReport): boolean {
  return ['completed', 'rolling-back', 'rollback-blocked', 'rolled-back', 'failed'].includes(report.status);
}

/** Read through a function: handlers set it while the main flow awaits (TypeScript cannot see that). */
export function rollbackAsked(run: MigrationRun): OperatorRequests['rollback'] {
  return run.asked.rollback;
}

export function rollbackMessage(run: MigrationRun, where = ''): string {
  const asked = run.asked.rollback;
  return `rollback requested by ${asked?.requestedBy}${where}${asked?.reason ? `: ${asked.reason}` : ''}`;
}

/**
 * Whether a rollback was asked for and must be carried out here (runs that recorded their
 * history before the patch go on as they ran). Called only once a rollback has been asked for,
 * so the patch marker is written exactly where the decision is taken.
 */
export function mustRollBack(run: MigrationRun): boolean {
  return run.asked.rollback !== undefined && patched(ROLLBACK_DECIDED_BY_REQUEST);
}
