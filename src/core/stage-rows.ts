import type { EntitySpec, PiiKind } from '../plan/types';
import { replaceAtPaths, stringsAtPath } from './json-paths';
import { businessKeyOf, RowMapper, Value } from './mapping';
import type { QuarantineRecord } from './quarantine-record';
import { canShape } from './shaped-tokens';
import { valueId } from './token-assignment';

/** Empty is not personal: NULL and '' are never tokenized. */
const isEmpty = (v: unknown) => v === null || v === undefined || v === '';

/** A value that gets a shaped token (FF1 of its digits) rather than the vault's: its column asks for one, and it has digits enough. */
const shaped = (c: { shapedTokens?: true; protect?: string }, value: string) => c.shapedTokens === true && c.protect === 'keep_token' && canShape(value);

/** Makes the shaped tokens of a batch's values of one kind, in order (src/core/shaped-tokens.ts). */
export type ShapeTokens = (kind: PiiKind, values: readonly string[]) => string[];

/** A personal value a token must stand for; `clear`: the target wants the value back (detokenized at load). */
export interface PersonalValue {
  kind: PiiKind;
  value: string;
  clear: boolean;
}

export interface MappedRow {
  sourceKey: string;
  values: Value[];
}

/** Rows a skip filter holds for are counted by the filter's name, never staged. */
export function withoutSkipped(rows: Record<string, unknown>[], filters: readonly { name: string }[], alias: (i: number) => string): { kept: Record<string, unknown>[]; skipped: Record<string, number> } {
  const skipped: Record<string, number> = {};
  if (!filters.length) return { kept: rows, skipped };
  const kept = rows.filter((row) => {
    const hit = filters.findIndex((_, i) => row[alias(i)] === true);
    if (hit < 0) return true;
    skipped[filters[hit]!.name] = (skipped[filters[hit]!.name] ?? 0) + 1;
    return false;
  });
  return { kept, skipped };
}

/**
 * Maps source rows to the target's shape; a row that cannot be mapped is quarantined with its
 * reason. Lists every personal value a token must stand for (dropped ones need none; values
 * that get a shaped token need no vault's).
 */
export function mapRows(spec: EntitySpec, mapper: RowMapper, sourceRows: readonly Record<string, unknown>[]): { mapped: MappedRow[]; quarantined: QuarantineRecord[]; personal: PersonalValue[] } {
  const piiColumns = spec.columns.map((c, i) => ({ c, i })).filter(({ c }) => c.pii && c.protect !== 'drop');
  const jsonPiiColumns = spec.columns.map((c, i) => ({ c, i })).filter(({ c }) => c.piiPaths?.length && c.protect !== 'drop');
  const mapped: MappedRow[] = [];
  const quarantined: QuarantineRecord[] = [];
  const personal: PersonalValue[] = [];
  for (const row of sourceRows) {
    const sourceKey = String(row[spec.source.key]);
    const m = mapper.map(row);
    if (!m.ok) {
      quarantined.push({ sourceKey, reason: m.problem.reason, column: m.problem.column, detail: m.problem.detail, row });
      continue;
    }
    mapped.push({ sourceKey, values: m.values });
    for (const { c, i } of piiColumns) if (!isEmpty(m.values[i]) && !shaped(c, String(m.values[i]))) personal.push({ kind: c.pii!, value: String(m.values[i]), clear: c.protect === 'detokenize' });
    for (const { c, i } of jsonPiiColumns) {
      const doc = m.values[i];
      if (doc === null || typeof doc !== 'object') continue;
      for (const p of c.piiPaths!) {
        for (const value of stringsAtPath(doc, p.path)) if (value !== '') personal.push({ kind: p.kind, value, clear: c.protect === 'detokenize' });
      }
    }
  }
  return { mapped, quarantined, personal };
}

/**
 * The rows as staged (personal values replaced by their tokens, dropped ones by null) and, for
 * each, [business key, digest of the row the target must hold, source key]. The digest is of
 * the values the target gets: clear where the plan detokenizes, the token where it keeps it.
 * `tokens` maps `valueId(kind, value)` to the value's token; `shape` makes the shaped tokens of
 * columns with `token: format_preserving`, one call per kind for the whole batch.
 */
export function tokenizeRows(
  spec: EntitySpec,
  mapper: RowMapper,
  mapped: readonly MappedRow[],
  tokens: ReadonlyMap<string, string>,
  digestOf: (expected: readonly Value[]) => string,
  shape: ShapeTokens,
): { rows: Value[][]; sourceKeys: string[]; digests: [string, string, string][] } {
  const piiColumns = spec.columns.map((c, i) => ({ c, i })).filter(({ c }) => c.pii);
  const jsonPiiColumns = spec.columns.map((c, i) => ({ c, i })).filter(({ c }) => c.piiPaths?.length);
  const tokenOf = (kind: PiiKind, value: string) => tokens.get(valueId(kind, value))!;
  // Shaped tokens, a batch call per kind.
  const shapedOf = new Map<string, string>();
  const toShape = new Map<PiiKind, Set<string>>();
  for (const { c, i } of piiColumns) {
    if (!c.shapedTokens) continue;
    for (const { values } of mapped) if (!isEmpty(values[i]) && shaped(c, String(values[i]))) toShape.set(c.pii!, (toShape.get(c.pii!) ?? new Set()).add(String(values[i])));
  }
  for (const [kind, values] of toShape) {
    const list = [...values];
    shape(kind, list).forEach((t, j) => shapedOf.set(valueId(kind, list[j]!), t));
  }
  const rows: Value[][] = [];
  const sourceKeys: string[] = [];
  const digests: [string, string, string][] = [];
  for (const { sourceKey, values } of mapped) {
    const stagedValues: Value[] = [...values];
    // What the target must hold: the mapped row, but with the tokens a kept-token column holds.
    let expected: Value[] = values;
    const expect = (i: number, v: Value) => {
      if (expected === values) expected = [...values];
      expected[i] = v;
    };
    for (const { c, i } of piiColumns) {
      const value = values[i];
      // Empty is not personal: '' stays '' (a token would make it look like a value).
      if (isEmpty(value)) continue;
      if (c.protect === 'drop') {
        stagedValues[i] = null;
        expect(i, null);
        continue;
      }
      stagedValues[i] = shaped(c, String(value)) ? shapedOf.get(valueId(c.pii!, String(value)))! : tokenOf(c.pii!, String(value));
      if (c.protect === 'keep_token') expect(i, stagedValues[i]!);
    }
    for (const { c, i } of jsonPiiColumns) {
      const doc = values[i];
      if (doc === null || typeof doc !== 'object') continue;
      const stagedDoc = structuredClone(doc);
      replaceAtPaths(stagedDoc, c.piiPaths!, (value, p) => (value === '' ? '' : c.protect === 'drop' ? null : tokenOf(p.kind, value)));
      stagedValues[i] = stagedDoc;
      if (c.protect !== 'detokenize') expect(i, structuredClone(stagedDoc));
    }
    rows.push(stagedValues);
    sourceKeys.push(sourceKey);
    digests.push([businessKeyOf(values, mapper.businessKeyIndexes), digestOf(expected), sourceKey]);
  }
  return { rows, sourceKeys, digests };
}

/** Token → clear value of the personal values the target wants back: what a load on this worker needs. */
export function clearValuesByToken(personal: readonly PersonalValue[], tokens: ReadonlyMap<string, string>): Map<string, string> {
  const out = new Map<string, string>();
  for (const p of personal) if (p.clear) out.set(tokens.get(valueId(p.kind, p.value))!, p.value);
  return out;
}
