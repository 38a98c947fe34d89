import type { EntitySpec, PiiPath } from '../plan/types';
import { replaceAtPaths, stringsAtPath } from './json-paths';
import type { Value } from './mapping';

/** Where a staged row holds tokens the target wants in clear: whole columns, and paths inside JSON documents. */
export interface ClearTargets {
  columns: number[];
  docs: { i: number; paths: PiiPath[] }[];
}

export function clearTargetsOf(spec: EntitySpec): ClearTargets {
  const detokenized = spec.columns.map((c, i) => ({ c, i })).filter(({ c }) => c.protect === 'detokenize');
  return {
    columns: detokenized.filter(({ c }) => c.pii).map(({ i }) => i),
    docs: detokenized.filter(({ c }) => c.piiPaths?.length).map(({ c, i }) => ({ i, paths: c.piiPaths! })),
  };
}

/** The tokens these staged rows carry where the target wants clear values ('' was never tokenized). */
export function tokensToOpen(rows: Iterable<readonly Value[]>, t: ClearTargets): Set<string> {
  const tokens = new Set<string>();
  for (const row of rows) {
    for (const i of t.columns) if (typeof row[i] === 'string' && row[i] !== '') tokens.add(row[i] as string);
    for (const { i, paths } of t.docs) {
      for (const p of paths) {
        for (const v of stringsAtPath(row[i], p.path)) if (v !== '') tokens.add(v);
      }
    }
  }
  return tokens;
}

/** A copy of a staged row with its tokens replaced by the clear values the vault opened. */
export function withClearValues(row: readonly Value[], t: ClearTargets, clear: ReadonlyMap<string, string>): Value[] {
  const out = [...row];
  for (const i of t.columns) if (typeof out[i] === 'string' && out[i] !== '') out[i] = clear.get(out[i] as string)!;
  for (const { i, paths } of t.docs) {
    if (out[i] === null || typeof out[i] !== 'object') continue;
    out[i] = structuredClone(out[i]);
    replaceAtPaths(out[i], paths, (token) => clear.get(token) ?? token);
  }
  return out;
}
