import { caseResultColumn, stepsOf, type EntitySpec, type Transform } from '../plan/types';
import type { Treatment } from './risk';

/**
 * What a plan does with each source column of an entity, for the risk score: the treatment
 * of the target columns it feeds, the most exposed one winning (copied in clear, then
 * tokenized and detokenized, then token kept, then dropped). A column no target column reads
 * stays behind (`not_migrated`). Pure.
 */
export interface SourceColumnUse {
  treatment: Treatment;
  /** Target columns it feeds. */
  targets: string[];
  /** For a JSON column: the paths the plan declares personal (dotted), and what it does with them. */
  declaredPaths?: string[];
  /**
   * It feeds the business key in clear: the first such key column, and the entity's source key
   * when that is another column (a business key cannot be declared `pii`, so the risk's control
   * says to key the entity on a column that is not personal first).
   */
  businessKey?: { keyColumn: string; sourceKey?: string };
}

const EXPOSURE: Treatment[] = ['clear', 'detokenize', 'keep_token', 'drop', 'not_migrated'];

/** Steps whose result is one of the plan's own constants or a parsed scalar: no source text passes through them. */
const REPLACING: ReadonlySet<Transform['kind']> = new Set(['enum', 'case', 'boolean', 'integer', 'epoch_to_timestamp', 'epoch_to_date']);

/** Source columns a `case` passes through as its result (`then`/`else: { column: name }`): their text reaches the target. */
function caseResultColumns(c: EntitySpec['columns'][number]): Set<string> {
  const out = new Set<string>();
  for (const s of stepsOf(c)) {
    if (s.kind !== 'case') continue;
    for (const r of [...s.arms.map((a) => a.then), s.otherwise]) {
      const column = caseResultColumn(r);
      if (column) out.add(column);
    }
  }
  return out;
}

/** What the target column `c` does with the text of its source column `from`. */
function treatmentOfTarget(c: EntitySpec['columns'][number], from: string): Treatment {
  if (c.pii || c.piiPaths?.length) return c.protect ?? 'detokenize';
  if (caseResultColumns(c).has(from)) return 'clear';
  // A code mapped through an enum or a case carries none of the source's text into the target.
  return stepsOf(c).some((s) => REPLACING.has(s.kind)) ? 'drop' : 'clear';
}

export function sourceColumnUses(spec: EntitySpec): Map<string, SourceColumnUse> {
  const uses = new Map<string, SourceColumnUse>();
  for (const c of spec.columns) {
    for (const from of c.from) {
      const t = treatmentOfTarget(c, from);
      const u = uses.get(from);
      const key = t === 'clear' && spec.target.businessKey.includes(c.name) ? { businessKey: { keyColumn: c.name, ...(spec.source.key !== from ? { sourceKey: spec.source.key } : {}) } } : {};
      if (!u) uses.set(from, { treatment: t, targets: [c.name], ...(c.piiPaths?.length ? { declaredPaths: c.piiPaths.map((p) => p.path.join('.')) } : {}), ...key });
      else {
        if (!u.businessKey && key.businessKey) u.businessKey = key.businessKey;
        u.targets.push(c.name);
        if (EXPOSURE.indexOf(t) < EXPOSURE.indexOf(u.treatment)) u.treatment = t;
        if (c.piiPaths?.length) u.declaredPaths = [...new Set([...(u.declaredPaths ?? []), ...c.piiPaths.map((p) => p.path.join('.'))])];
      }
    }
  }
  return uses;
}

/** The use of a source column: as the plan says, or left behind. */
export function useOf(uses: ReadonlyMap<string, SourceColumnUse>, column: string): SourceColumnUse {
  return uses.get(column) ?? { treatment: 'not_migrated', targets: [] };
}
