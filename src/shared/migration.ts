import type { Plan } from '../plan/types';

/** Everything here crosses Temporal: ids, keys of ranges, counts and business keys — no row data. */

export interface MigrationInput {
  plan: Plan;
  migrationId: string;
  planHash: string;
  /** Who started it (an operator id, never an email address). */
  startedBy: string;
}

export interface PreparedMigration {
  entities: { name: string; sourceRows: number }[];
  /** Plans with `residency`: the regions required (by field) and those the migration's data went to. */
  residency?: ResidencyRecord;
}

/** The regions a plan required and the ones its staging bucket, KMS keys and the worker's clients are in (all checked equal at prepare). */
export interface ResidencyRecord {
  required: { path: string; region: string }[];
  used: { bucket: string; keys: Record<string, string>; clients: Record<string, string> };
}

/** A keyset range of source keys: (afterKey, lastKey]. Keys travel as text. */
export interface KeyRange {
  afterKey: string | null;
  lastKey: string;
  rows: number;
  /** The batch's number within its entity (1-based), for summaries: "users batch 12/40". */
  seq?: number;
  /**
   * A tree's depth (an entity with a column referencing itself): every range of one level
   * loads before any of the next, so parents come before children whatever their ids; -1 for
   * rows no root reaches (a cycle), last. Absent for other entities.
   */
  level?: number;
}

export interface RangePage {
  ranges: KeyRange[];
  /** Where the next page starts; null when the entity has no more rows. */
  next: string | null;
  done: boolean;
}

export interface BatchRef {
  migrationId: string;
  entity: string;
  batchId: string;
}

export interface StagedBatch extends BatchRef {
  extracted: number;
  staged: number;
  quarantined: number;
  /** Rows a plan's skip filter left out, by filter name (absent from older workers). */
  skipped?: Record<string, number>;
}

export interface LoadedBatch extends BatchRef {
  inserted: number;
  updated: number;
  unchanged: number;
  quarantined: number;
  /** A sync round's deletes: rows deleted (or soft-deleted). */
  deleted?: number;
  /** A sync round's batch: rows both sides changed (handled by the plan's conflict policy). */
  conflicts?: number;
}

export interface BatchReconcile extends BatchRef {
  expected: number;
  found: number;
  missing: number;
  mismatched: number;
  duplicated: number;
  /** Up to 10 business keys of each kind, for the delta report. */
  sampleMissing: string[];
  sampleMismatched: string[];
  clean: boolean;
}

export interface EntityProgress {
  entity: string;
  sourceRows: number;
  batches: number;
  batchesDone: number;
  extracted: number;
  inserted: number;
  updated: number;
  unchanged: number;
  quarantined: number;
  /** Rows the plan's skip filters left out, by filter name: counted, never loaded. */
  skipped?: Record<string, number>;
  reconcile: { expected: number; found: number; missing: number; mismatched: number; duplicated: number; sampleMissing: string[]; sampleMismatched: string[] };
}

export interface Approval {
  phase: string;
  approver: string;
  decision: 'approve' | 'reject';
  decidedAt: string;
}

export interface RollbackRecord {
  reason: string;
  requestedBy?: string;
  steps: { step: string; result: Record<string, number> }[];
  /** Target tables' checksums before the migration and after the rollback. */
  before: TableChecksum[];
  after: TableChecksum[];
  restored: boolean;
  /** While the target refuses a compensation: the one line saying what blocks it and what to do. */
  blocked?: string;
  /** Set when the rollback ran after the migration had completed (its own workflow, `<workflow id>/rollback`). */
  afterCompletion?: boolean;
  /** For a run that ended without completing: when the rollback ran (`after the migration was cancelled`, say). */
  afterEnd?: string;
  /** The completed run of the migration workflow that a rollback after completion undid. */
  migrationRunId?: string;
  /** Tables whose checksums after the rollback differ from before the migration (the target changed meanwhile). */
  differs?: string[];
}

/** What an operator can change while a migration runs. */
export interface Controls {
  paused: boolean;
  /** The whole migration's rate limit (0: none); entities running together share it. */
  throttleRowsPerSecond: number;
  /** Rows per batch for batches not started yet; unset: the plan's. */
  batchSize?: number;
}

export function sameControls(a: Controls, b: Controls): boolean {
  return a.paused === b.paused && a.throttleRowsPerSecond === b.throttleRowsPerSecond && a.batchSize === b.batchSize;
}

export type MigrationStatus = 'running' | 'paused' | 'awaiting-approval' | 'syncing' | 'cutting-over' | 'completed' | 'failed' | 'cancelled' | 'rolling-back' | 'rollback-blocked' | 'rolled-back';

/** Where a sync's capture stands: poll watermarks per entity (epoch seconds), the slot's confirmed position. */
export interface SyncPositions {
  watermarks: Record<string, number | null>;
  confirmed?: string;
  /** Poll: when a round last compared the key sets (the source's clock, epoch seconds). */
  keySetsAt?: number;
}

/** How far the target is behind the source, as the last capture measured it. */
export interface SyncLag {
  /** Keys changed since the last round (what this round applies). */
  changes: number;
  /** Age of the oldest change not yet applied when it was captured. */
  seconds: number;
  /** Logical: WAL the slot holds back on the source, and whether it passed the plan's limit. */
  retainedWalBytes?: number;
  walAlarm?: boolean;
}

/** One round's capture: keys per entity (written to the control database), and where the next round starts. */
export interface CapturedRound {
  round: number;
  entities: { entity: string; keys: number; deletes: number; loaded: number; batchSize: number }[];
  total: number;
  positions: SyncPositions;
  /** Logical: the position the slot confirms once this round is applied. */
  advanceTo?: string;
  /** Logical: the round took its maximum; more changes are waiting. */
  more: boolean;
  lag: SyncLag;
}

/** The sync's tally, in the report. */
export interface SyncReport {
  mode: 'logical' | 'poll';
  rounds: number;
  /** Rows upserted or deleted by sync rounds. */
  applied: { inserted: number; updated: number; unchanged: number; deleted: number; quarantined: number };
  conflicts: { detected: number; sourceWon: number; targetKept: number; quarantined: number };
  /** Round reconciles that found differences (missing, mismatched or duplicated rows). */
  roundsUnclean: number;
  lag: SyncLag;
  lastRoundAt?: string;
  /** Set while a round waits for an operator (too many deletes). */
  held?: string;
  /**
   * What is verified (each row's target digest equal to the source row's after its last change),
   * as of the last applied round: per entity, rows loaded and rows whose last verification failed;
   * `upTo` the source position every change before which is applied (an LSN, or poll's watermark).
   */
  verified?: { upTo?: string; entities: { entity: string; loaded: number; unverified: number }[] };
}

/** The cutover: who asked, the quiet period, the final delta and the final reconcile. */
export interface CutoverRecord {
  requestedBy: string;
  requestedAt: string;
  completedAt?: string;
  /** From the request to completion, seconds: the window the source is frozen. */
  windowSeconds?: number;
  finalRounds: number;
  finalChanges: number;
  /** Seconds the final verification took (tail verification: the rows not verified, and the counts). */
  verifySeconds?: number;
  /** The final whole-entity reconcile: keys both ways and every row's digest. */
  verified?: FinalReconcile;
  /** Why the last attempt did not complete (the final reconcile found differences). */
  refused?: string;
}

/** Every source row against the target, by digest, and every loaded row against the source. */
export interface FinalReconcile {
  entities: {
    entity: string;
    sourceRows: number;
    compared: number;
    missing: number;
    mismatched: number;
    extra: number;
    quarantined: number;
    skipped: number;
    sampleMissing: string[];
    sampleMismatched: string[];
    /**
     * `tail`: the rows not verified since their last change compared again, and the counts both
     * ways (source rows not skipped against rows loaded plus quarantined); `full` (or absent, before
     * tail verification): every row compared, both ways.
     */
    scope?: 'tail' | 'full';
    /** With `tail`: rows the migration loaded of the entity. */
    loaded?: number;
  }[];
  clean: boolean;
}

export interface MigrationReport {
  migrationId: string;
  planHash: string;
  /** The plan's name (for listings). */
  plan?: string;
  status: MigrationStatus;
  phase?: string;
  controls?: Controls;
  startedBy: string;
  entities: EntityProgress[];
  phases: PhaseReconcile[];
  approvals: Approval[];
  rollback?: RollbackRecord;
  /**
   * The target tables' checksums taken at prepare, before anything was loaded; set at completion,
   * so that a rollback after completion can prove the target restored.
   */
  checksumsBefore?: TableChecksum[];
  /** True when every batch and phase reconciled with no difference. */
  clean: boolean;
  /** Plans with sync: the rounds after the full load. */
  sync?: SyncReport;
  cutover?: CutoverRecord;
  /** Plans with `residency`: where the data was allowed and where it went (checked at prepare). */
  residency?: ResidencyRecord;
}

/** One entity's run in a child workflow. */
export interface EntityRunInput {
  migrationId: string;
  entity: string;
  runId: string;
  /** The migration's workflow, which collects live progress. */
  rootWorkflowId: string;
  sourceRows: number;
  lanes: number;
  /** The controls when this run started; later changes arrive by signal. */
  controls: Controls;
  /** How many entity runs share the migration's throttle with this one. */
  throttleShare: number;
  maxQuarantineRatio: number;
  /** Set on a partition of a large entity: its share of the ranges, planned by the entity's run. */
  partition?: { index: number; of: number; ranges: KeyRange[] };
}

/** What an entity run carries over continue-as-new: the ranges still to do and the tally. */
export interface EntityRunState {
  planned: boolean;
  after: string | null;
  ranges: KeyRange[];
  progress: EntityProgress;
  controls: Controls;
}

export type Compensation = { kind: 'unload'; entity: string } | { kind: 'delete-staged' } | { kind: 'purge-vault' };

export function emptyProgress(entity: string, sourceRows: number): EntityProgress {
  return {
    entity,
    sourceRows,
    batches: 0,
    batchesDone: 0,
    extracted: 0,
    inserted: 0,
    updated: 0,
    unchanged: 0,
    quarantined: 0,
    reconcile: { expected: 0, found: 0, missing: 0, mismatched: 0, duplicated: 0, sampleMissing: [], sampleMismatched: [] },
  };
}

export interface TableChecksum {
  table: string;
  rows: number;
  md5: string;
}

export interface EntityPhaseReconcile {
  entity: string;
  sourceRows: number;
  quarantined: number;
  /** Source rows the plan's skip filters leave out, by filter name. */
  skipped?: Record<string, number>;
  /** Source rows neither loaded nor quarantined (nor skipped). */
  missing: number;
  /** Loaded rows whose source row is gone. */
  extra: number;
  sampleMissing: string[];
  sampleExtra: string[];
  /** Target rows whose reference points at no row of the parent table. */
  references: { column: string; parent: string; dangling: number }[];
  checksum: { rows: number; md5: string };
  clean: boolean;
}

export interface PhaseReconcile {
  phase: string;
  entities: EntityPhaseReconcile[];
  clean: boolean;
}
