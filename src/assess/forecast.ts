import { createHash } from 'node:crypto';
import type { EntitySpec } from '../plan/types';
import { clearTargetsOf } from '../core/detokenize';
import { prepareLoadRows, duplicateOf, type LoadRow, type ReferenceKeys } from '../core/load-rows';
import type { RowMapper } from '../core/mapping';
import type { QuarantineRecord } from '../core/quarantine-record';
import { clearValuesByToken, mapRows, tokenizeRows } from '../core/stage-rows';
import { tokenShape } from '../core/tokens';
import { valueId } from '../core/token-assignment';
import type { TargetType } from '../core/target-types';

/**
 * The pre-flight's forecast of a migration's quarantine, without writing anything: each batch
 * goes through the same pure steps the stage and the load run (mapping, tokens, references,
 * duplicate business keys, JSON text), in the same order; what only the target can decide
 * (types, NOT NULL, CHECK) is asked of it read-only by the caller (see target-check.ts).
 * Pure: no I/O. Tokens here are placeholders of the real tokens' shape (an unkeyed hash,
 * in memory only), so lengths and CHECKs see what the target will see.
 */

/** Why a row would be quarantined: the reason the run records, and where. Names only, never values. */
export interface Refusal {
  reason: string;
  column?: string;
  constraint?: string;
  detail?: string;
}

/** What the forecast knows of an entity as its batches go by: the source keys that would load, and those quarantined. */
export interface EntityOutcome {
  /** Source key → a stand-in for the target key the row would get (distinct per row, valid for the referencing column's type). */
  loaded: Map<string, string>;
  quarantined: Map<string, Refusal>;
  /** Business key (as the target would hold it) → the source key that holds it. */
  held: Map<string, string>;
  skipped: Record<string, number>;
  rowsRead: number;
}

export function emptyOutcome(): EntityOutcome {
  return { loaded: new Map(), quarantined: new Map(), held: new Map(), skipped: {}, rowsRead: 0 };
}

/** A placeholder token: the real token's shape and length, distinct per value. */
function placeholderToken(kind: Parameters<typeof tokenShape>[0], value: string): string {
  return tokenShape(kind, createHash('sha256').update(kind).update('\0').update(value).digest());
}

const UUID_PREFIX = '00000000-0000-4000-8000-';

/** A stand-in target key (the n-th row loaded) valid for a column of this type. */
export function standInKey(n: number, type: TargetType | undefined): string {
  if (type?.kind === 'uuid') return `${UUID_PREFIX}${n.toString(16).padStart(12, '0')}`;
  return String(n);
}

/** One batch before the target's checks: the rows the load would write, and those it refuses before writing. */
export interface BatchForecast {
  candidates: LoadRow[];
  refused: QuarantineRecord[];
}

/**
 * Maps a batch's source rows as the stage does (rows a skip filter holds are already counted
 * and removed by the caller), then prepares them as the load does: references through the
 * parents' outcomes, duplicates within the batch and against earlier batches.
 */
export function forecastBatch(spec: EntitySpec, mapper: RowMapper, types: readonly (TargetType | undefined)[], sourceRows: readonly Record<string, unknown>[], outcomes: ReadonlyMap<string, EntityOutcome>, self: EntityOutcome): BatchForecast {
  const { mapped, quarantined, personal } = mapRows(spec, mapper, sourceRows);
  const tokens = new Map<string, string>();
  for (const p of personal) {
    const id = valueId(p.kind, p.value);
    if (!tokens.has(id)) tokens.set(id, placeholderToken(p.kind, p.value));
  }
  // A shaped token has its value's shape and length: the value itself stands for it in a forecast (no key needed).
  const staged = tokenizeRows(spec, mapper, mapped, tokens, () => '', (_kind, values) => [...values]);
  const clear = clearValuesByToken(personal, tokens);
  const references: ReferenceKeys[] = [];
  spec.columns.forEach((c, i) => {
    if (!c.reference) return;
    const parent = c.reference.entity === spec.name ? self : outcomes.get(c.reference.entity);
    references.push({ index: i, column: c.name, entity: c.reference.entity, targetKeys: parent?.loaded ?? new Map(), quarantined: new Set(parent?.quarantined.keys() ?? []) });
  });
  const shape = { columns: mapper.columns, types, businessKeyIndexes: mapper.businessKeyIndexes, businessKey: spec.target.businessKey, clearTargets: clearTargetsOf(spec) };
  const { rows, refused } = prepareLoadRows(shape, staged.rows, staged.sourceKeys, clear, references);
  // A business key an earlier batch's row already holds: the load's key-map check.
  const candidates: LoadRow[] = [];
  for (const row of rows) {
    const holder = self.held.get(row.bk);
    if (holder !== undefined && holder !== row.sourceKey) refused.push(duplicateOf(row, holder, spec.target.businessKey));
    else candidates.push(row);
  }
  return { candidates, refused: [...quarantined, ...refused] };
}

/** Records a batch's fate: refused rows quarantined, the others loaded under stand-in keys. */
export function settleBatch(self: EntityOutcome, candidates: readonly LoadRow[], refused: readonly QuarantineRecord[], targetRefused: ReadonlyMap<number, Refusal>, keyType: TargetType | undefined): void {
  for (const r of refused) self.quarantined.set(r.sourceKey, { reason: r.reason, column: r.column, detail: r.detail });
  candidates.forEach((row, i) => {
    const no = targetRefused.get(i);
    if (no) {
      self.quarantined.set(row.sourceKey, no);
      return;
    }
    // A row quarantined by an earlier batch's forecast cannot be read twice: keys are unique in the source.
    self.loaded.set(row.sourceKey, standInKey(self.loaded.size + 1, keyType));
    self.held.set(row.bk, row.sourceKey);
  });
}

/** Counts of an entity's forecast quarantine by reason and place, largest first. */
export interface ReasonCount extends Refusal {
  count: number;
}

export function countByReason(outcome: EntityOutcome): ReasonCount[] {
  const counts = new Map<string, ReasonCount>();
  for (const r of outcome.quarantined.values()) {
    const key = JSON.stringify([r.reason, r.column ?? null, r.constraint ?? null]);
    const c = counts.get(key);
    if (c) c.count++;
    else counts.set(key, { ...r, count: 1 });
  }
  return [...counts.values()].sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason));
}
