import { normalizeValue } from './digest';
import { ClearTargets, withClearValues } from './detokenize';
import { businessKeyOf, Value } from './mapping';
import type { QuarantineRecord } from './quarantine-record';
import { invalidJsonColumn } from './target-rows';
import type { TargetType } from './target-types';

/** A staged row ready to write: `stagedBk` as staged (references as source keys), `bk` as the target holds it. */
export interface LoadRow {
  sourceKey: string;
  stagedBk: string;
  bk: string;
  values: Value[];
}

/** A reference column and what the load knows of its parents' rows. */
export interface ReferenceKeys {
  /** Index of the column in the mapped row. */
  index: number;
  column: string;
  entity: string;
  /** Parent source key → the target key it was loaded under. */
  targetKeys: ReadonlyMap<string, string>;
  /** Parent source keys that are quarantined (told apart from true orphans). */
  quarantined: ReadonlySet<string>;
}

export interface LoadShape {
  columns: readonly string[];
  types: readonly (TargetType | undefined)[];
  businessKeyIndexes: readonly number[];
  businessKey: readonly string[];
  clearTargets: ClearTargets;
}

/** The quarantine record of a row whose business key another source row holds. Keys only, never values. */
export function duplicateOf(row: { sourceKey: string; bk: string }, holder: string, bkColumns: readonly string[]): QuarantineRecord {
  return {
    sourceKey: row.sourceKey,
    businessKey: row.bk,
    reason: 'duplicate_business_key',
    column: bkColumns.join(', '),
    detail: `source row ${holder} has the same business key (${bkColumns.join(', ')}); one target row cannot hold both`,
    row: {},
  };
}

/**
 * The pure part of a load: each staged row with its clear values put back, its references
 * translated to the parents' target keys, and its business key as the target holds it.
 * Refused here, with a reason: a reference to a parent not loaded (`parent_quarantined` or
 * `orphan_reference`), a second row with a business key another row of the batch has (the
 * first in key order loads), a json column holding text that is not JSON.
 */
export function prepareLoadRows(shape: LoadShape, staged: readonly (readonly Value[])[], sourceKeys: readonly string[], clear: ReadonlyMap<string, string>, references: readonly ReferenceKeys[]): { rows: LoadRow[]; refused: QuarantineRecord[] } {
  const refused: QuarantineRecord[] = [];
  const rows: LoadRow[] = [];
  const firstWith = new Map<string, string>();
  staged.forEach((values, r) => {
    const out = withClearValues(values, shape.clearTargets, clear);
    const sourceKey = sourceKeys[r]!;
    const stagedBk = businessKeyOf(out, shape.businessKeyIndexes);
    for (const ref of references) {
      const v = out[ref.index];
      if (v === null || v === undefined) continue;
      const parentKey = String(normalizeValue(v));
      const target = ref.targetKeys.get(parentKey);
      if (target === undefined) {
        const quarantinedParent = ref.quarantined.has(parentKey);
        refused.push({
          sourceKey,
          businessKey: stagedBk,
          reason: quarantinedParent ? 'parent_quarantined' : 'orphan_reference',
          column: ref.column,
          detail: quarantinedParent ? `its ${ref.entity} row is quarantined: fix that row and run the plan again` : `no ${ref.entity} row was loaded for the referenced source key`,
          row: {},
        });
        return;
      }
      out[ref.index] = target;
    }
    const bk = businessKeyOf(out, shape.businessKeyIndexes);
    const first = firstWith.get(bk);
    if (first !== undefined) {
      refused.push(duplicateOf({ sourceKey, bk }, first, shape.businessKey));
      return;
    }
    firstWith.set(bk, sourceKey);
    const badJson = invalidJsonColumn(shape.columns, shape.types, out);
    if (badJson !== undefined) {
      refused.push({ sourceKey, businessKey: bk, reason: 'invalid_text_representation', column: badJson, detail: `column ${badJson}: the value is not JSON text`, row: {} });
      return;
    }
    rows.push({ sourceKey, stagedBk, bk, values: out });
  });
  return { rows, refused };
}

/** Each reference column's parent source keys in these staged rows (after detokenizing none: references are never personal). */
export function referencedKeys(staged: readonly (readonly Value[])[], index: number): string[] {
  const keys = new Set<string>();
  for (const row of staged) {
    const v = row[index];
    if (v !== null && v !== undefined) keys.add(String(normalizeValue(v)));
  }
  return [...keys];
}
