import { normalizeValue } from './digest';
import { duplicateOf, type LoadRow } from './load-rows';
import type { Value } from './mapping';
import type { QuarantineRecord } from './quarantine-record';
import { conflictRecord, decideChange, sourceWins, type SyncConflict } from './sync-conflict';
import { storedForm, type TargetType } from './target-types';
import type { ConflictPolicy } from '../plan/types';

/**
 * What a load decides per row, pure: the database reads (rows already in the target, business
 * keys other batches hold, the key map) come in, the decisions go out; the load writes them.
 */

type Row = Record<string, Value>;

/** A row to write: an insert without `pre`, an update of `pre` (the target's row, locked) with it. */
export interface Write {
  row: LoadRow;
  pre?: Row;
}

/**
 * Inserts, updates and unchanged rows: a row the target already holds with every column equal in
 * the target's stored form is unchanged (not written, not ledgered); the others are written.
 */
export function splitUnchanged(loadable: readonly LoadRow[], existing: ReadonlyMap<string, Row>, columns: readonly string[], types: readonly (TargetType | undefined)[]): { writes: Write[]; unchanged: number } {
  const writes: Write[] = [];
  let unchanged = 0;
  for (const row of loadable) {
    const pre = existing.get(row.bk);
    if (pre && columns.every((c, i) => storedForm(types[i], pre[c]) === storedForm(types[i], row.values[i]))) unchanged++;
    else writes.push({ row, pre });
  }
  return { writes, unchanged };
}

/** What the key map knows of a source row: its digests as Cutover last wrote it and as the source had it. */
export interface KnownRow {
  writtenDigest?: string | null;
  sourceDigest?: string | null;
}

/** A change a conflict kept out of the target (target_wins, quarantine): what the key map records for it. */
export interface KeptByConflict {
  sourceKey: string;
  bk: string;
  newDigest: string;
  current: string;
}

/**
 * A sync round's writes under the plan's conflict policy: a row whose source did not change since
 * Cutover took account of it is skipped (counted unchanged, its key map entry and any quarantine
 * of it left as they are: `skippedKeys`); a row both sides changed is a conflict, applied under
 * source_wins and kept out otherwise.
 */
export function decideSyncWrites(
  writes: readonly Write[],
  known: ReadonlyMap<string, KnownRow>,
  digestOf: (values: readonly unknown[]) => string,
  columns: readonly string[],
  policy: ConflictPolicy,
): { writes: Write[]; skipped: number; skippedKeys: string[]; conflicts: SyncConflict[]; kept: KeptByConflict[] } {
  const go: Write[] = [];
  const conflicts: SyncConflict[] = [];
  const kept: KeptByConflict[] = [];
  const skippedKeys: string[] = [];
  let skipped = 0;
  for (const w of writes) {
    const entry = known.get(w.row.sourceKey);
    const newDigest = digestOf(w.row.values);
    const current = w.pre ? digestOf(columns.map((c) => w.pre![c])) : undefined;
    const decision = decideChange({ newDigest, currentDigest: current, writtenDigest: entry?.writtenDigest, sourceDigest: entry?.sourceDigest });
    if (decision === 'skip') {
      skipped++;
      skippedKeys.push(w.row.sourceKey);
      continue;
    }
    if (decision === 'conflict') {
      const applied = sourceWins(policy);
      conflicts.push({ sourceKey: w.row.sourceKey, businessKey: w.row.bk, change: 'update', applied });
      if (!applied) {
        kept.push({ sourceKey: w.row.sourceKey, bk: w.row.bk, newDigest, current: current! });
        continue;
      }
    }
    go.push(w);
  }
  return { writes: go, skipped, skippedKeys, conflicts, kept };
}

/**
 * The rows a load quarantines before writing, in this order: refused while preparing (orphans,
 * duplicates within the batch, bad JSON), business keys another batch's row holds (duplicates),
 * business keys the key columns' types refuse, and, under sync.conflict quarantine, the changes
 * a conflict kept out. Rows the target refuses while writing are added after these.
 */
export function refusedBeforeWrite(d: {
  prepared: readonly QuarantineRecord[];
  rows: readonly LoadRow[];
  held: ReadonlyMap<string, string>;
  businessKey: readonly string[];
  badKeys: readonly QuarantineRecord[];
  kept: readonly KeptByConflict[];
  policy?: ConflictPolicy;
  toObject: (values: Value[]) => Row;
}): QuarantineRecord[] {
  const refused = [...d.prepared, ...d.rows.filter((r) => d.held.has(r.sourceKey)).map((r) => duplicateOf(r, d.held.get(r.sourceKey)!, d.businessKey)), ...d.badKeys];
  if (d.policy === 'quarantine') refused.push(...d.kept.map((k) => conflictRecord(k.sourceKey, k.bk, 'update', d.toObject(d.rows.find((r) => r.sourceKey === k.sourceKey)!.values))));
  return refused;
}

/** One key-map row: where a source row landed in the target, and (plans with sync) its digests. */
export interface KeyMapRow {
  sourceKey: string;
  businessKey: string;
  targetKey: string | null;
  sourceDigest?: string | null;
  writtenDigest?: string | null;
}

/**
 * What the key map records after a load: every row not refused (and every change a conflict kept
 * out) with the target key it landed under (from RETURNING, else the existing row's), and with
 * sync, its digests: a kept-out change is taken account of as the source's version, and under
 * target_wins the target's row is accepted as written.
 */
export function keyMapRows(d: {
  rows: readonly LoadRow[];
  refused: readonly QuarantineRecord[];
  kept: readonly KeptByConflict[];
  targetKey?: string;
  landed: ReadonlyMap<string, string>;
  existing: ReadonlyMap<string, Row>;
  /** Present for plans with sync. */
  digestOf?: (values: readonly unknown[]) => string;
  policy?: ConflictPolicy;
}): KeyMapRow[] {
  const refusedKeys = new Set(d.refused.map((r) => r.sourceKey));
  const kept = new Map(d.kept.map((k) => [k.sourceKey, k]));
  const targetKey = d.targetKey;
  return d.rows
    .filter((r) => !refusedKeys.has(r.sourceKey) || kept.has(r.sourceKey))
    .map((r) => {
      const k = kept.get(r.sourceKey);
      const digests = !d.digestOf ? {} : k ? { sourceDigest: k.newDigest, writtenDigest: d.policy === 'target_wins' ? k.current : null } : { sourceDigest: d.digestOf(r.values), writtenDigest: d.digestOf(r.values) };
      return {
        sourceKey: r.sourceKey,
        businessKey: r.bk,
        targetKey: targetKey ? (d.landed.get(r.bk) ?? (d.existing.has(r.bk) ? String(normalizeValue(d.existing.get(r.bk)![targetKey])) : null)) : null,
        ...digests,
      };
    });
}
