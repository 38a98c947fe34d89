import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { Approval, EntityProgress, MigrationReport } from './migration';

/** The migration's current progress: counts and reconcile results per entity, no data. */
export const progressQuery = defineQuery<MigrationReport>('progress');

/** One entity's progress, from its child workflow. */
export const entityProgressQuery = defineQuery<EntityProgress>('entityProgress');

export interface ApproveRequest {
  phase: string;
  /** The operator's login (never an email address). */
  approver: string;
  decision?: 'approve' | 'reject';
}

/** Decides the gate a phase waits at; the validator refuses a wrong phase or a forbidden approver. */
export const approveUpdate = defineUpdate<Approval, [ApproveRequest]>('approve');

/** Asks for the migration to stop and roll back everything it did. */
export const rollbackSignal = defineSignal<[{ requestedBy: string; reason?: string }]>('rollback');
