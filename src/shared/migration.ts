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
}

/** A keyset range of source keys: (afterKey, lastKey]. Keys travel as text. */
export interface KeyRange {
  afterKey: string | null;
  lastKey: string;
  rows: number;
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
}

export interface LoadedBatch extends BatchRef {
  inserted: number;
  updated: number;
  unchanged: number;
  quarantined: number;
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
  reconcile: { expected: number; found: number; missing: number; mismatched: number; duplicated: number; sampleMissing: string[]; sampleMismatched: string[] };
}

export interface MigrationReport {
  migrationId: string;
  planHash: string;
  status: 'running' | 'completed' | 'failed';
  entities: EntityProgress[];
  /** True when every batch reconciled with no difference. */
  clean: boolean;
}

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
