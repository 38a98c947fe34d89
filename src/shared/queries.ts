import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { Approval, Controls, CutoverRecord, EntityProgress, MigrationReport } from './migration';

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

export interface OperatorRequest {
  /** The operator's login (never an email address). */
  by: string;
  reason?: string;
  /** `resume` of a sync round held by the mass-delete guard: the source really lost those rows, apply the deletes. */
  confirmDeletes?: boolean;
  /** `cutover --full`: the final step compares every row of every entity, not only those not yet verified. */
  full?: boolean;
}

/**
 * The operator has frozen writes on the source: Cutover waits for a quiet period, applies the
 * final delta, runs the final reconcile and completes. Refused unless the migration is syncing.
 */
export const cutoverUpdate = defineUpdate<CutoverRecord, [OperatorRequest]>('cutover');

/** No new batch starts until `resume` (batches in flight finish). Refused when already paused or ended. */
export const pauseUpdate = defineUpdate<Controls, [OperatorRequest]>('pause');

/** Lets batches start again. Refused when not paused. */
export const resumeUpdate = defineUpdate<Controls, [OperatorRequest]>('resume');

export interface TuneRequest extends OperatorRequest {
  /** Rows per second for the whole migration; 0 lifts the limit. */
  throttleRowsPerSecond?: number;
  /** Rows per batch for every batch not started yet (1..100,000). */
  batchSize?: number;
}

/** Changes the throttle or the batch size of a running migration; the validator refuses bad values. */
export const tuneUpdate = defineUpdate<Controls, [TuneRequest]>('tune');

/** Internal: the migration passes its controls down to entity runs and their partitions. */
export const controlsSignal = defineSignal<[Controls]>('controls');

/** Internal: a partition reports its tally so far to its entity run, which holds the abort threshold against the whole entity. */
export const partitionTallySignal = defineSignal<[{ index: number; extracted: number; quarantined: number; skipped: number }]>('partitionTally');

/** Internal: an entity run (or one partition of it) reports its tally to the migration. */
export const entityProgressSignal = defineSignal<[{ entity: string; part: string; progress: EntityProgress }]>('entityProgress');
