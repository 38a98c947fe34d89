import type { ConflictPolicy } from '../plan/types';
import { WHOLE_ROW } from '../plan/target-sql';
import type { QuarantineRecord } from './quarantine-record';

/**
 * What a sync round does with one changed row, from keyed digests only (pure):
 * - `newDigest`: the row as the source has it now (in the target's form);
 * - `currentDigest`: the target's row now (undefined: the target has no such row);
 * - `writtenDigest`: the row as Cutover last wrote it (or accepted the target's version);
 * - `sourceDigest`: the source version Cutover last took account of.
 * A conflict is a row both sides changed: the source since Cutover took account of it, the
 * target since Cutover wrote it (someone else edited it: a pilot group on the new system).
 */
export type ChangeDecision = 'write' | 'skip' | 'conflict';

export function decideChange(d: { newDigest: string; currentDigest?: string; writtenDigest?: string | null; sourceDigest?: string | null }): ChangeDecision {
  if (d.currentDigest === undefined) return 'write';
  // Read again without a change (a poll round's overlap): nothing new from the source.
  if (d.sourceDigest && d.sourceDigest === d.newDigest) return 'skip';
  if (!d.writtenDigest || d.currentDigest === d.writtenDigest || d.currentDigest === d.newDigest) return 'write';
  return 'conflict';
}

/** A delete of a row the target has: a conflict when someone else changed the row since Cutover wrote it. */
export function decideDelete(d: { currentDigest?: string; writtenDigest?: string | null }): 'delete' | 'forget' | 'conflict' {
  if (d.currentDigest === undefined) return 'forget';
  if (!d.writtenDigest || d.currentDigest === d.writtenDigest) return 'delete';
  return 'conflict';
}

/** Whether the plan's policy applies the source's change to a conflicting row. */
export const sourceWins = (policy: ConflictPolicy) => policy === 'source_wins';

/** A row both sides changed, found by a sync round: keys only. */
export interface SyncConflict {
  sourceKey: string;
  businessKey: string;
  change: 'update' | 'delete';
  /** The source's change was applied (source_wins) or kept out (target_wins, quarantine). */
  applied: boolean;
}

/** A whole-row pre-image (format 2): every column as `to_jsonb` took it, so a rollback can insert the row again. */
export function wholeRowPreImage(pre: Record<string, unknown>): { v: 2; row: unknown } {
  return { v: 2, row: pre[WHOLE_ROW] };
}

export function conflictRecord(sourceKey: string, businessKey: string, change: 'update' | 'delete', row: Record<string, unknown>): QuarantineRecord {
  return {
    sourceKey,
    businessKey,
    reason: 'conflict',
    detail: `the target row was changed by someone else since Cutover wrote it, and the source ${change === 'delete' ? 'deleted it' : 'changed it too'}; sync.conflict is quarantine: the target keeps its row until an operator decides`,
    row,
  };
}
