// Tables: which source table feeds which target table, by which key (see draft.ts), and the
// entities named after them.
import type { CatalogTable } from '../catalog/pg-catalog';
import { type DraftInput, type EntityDraft, IDENT, type Pair } from './draft-model';
import { compact, legacyKeyNames, lower, TABLE_SYNONYMS, tableStem } from './draft-names';

/** The key batches walk: a single-column primary key, else a single-column unique on a NOT NULL column. */
function sourceKeyOf(t: CatalogTable): string | undefined {
  if (t.primaryKey.length === 1) return t.primaryKey[0];
  if (t.primaryKey.length > 1) return undefined;
  const notNull = new Set(t.columns.filter((c) => c.notNull).map((c) => c.name));
  return t.uniques.find((u) => u.columns.length === 1 && notNull.has(u.columns[0]!))?.columns[0];
}

/** Unique constraints of the target that do not contain its primary key: what a business key can be. */
export const businessUniques = (t: CatalogTable) => t.uniques.filter((u) => u.columns.length > 0 && !u.columns.some((c) => t.primaryKey.includes(c)));

export function pairTables(input: DraftInput, notes: string[]): { pairs: Pair[]; unpairedSource: CatalogTable[]; unpairedTarget: CatalogTable[] } {
  const sources: { table: CatalogTable; key: string }[] = [];
  for (const t of input.source) {
    if (!IDENT.test(t.name)) {
      notes.push(`source table ${JSON.stringify(t.name)}: its name is not an SQL identifier a plan can name: not drafted`);
      continue;
    }
    const key = sourceKeyOf(t);
    if (!key) notes.push(`source table ${t.name}: no single-column primary key (or unique NOT NULL column) to read it in batches by: not drafted (write its entity with source.key, or a source.query)`);
    else if (t.primaryKey.length === 0) {
      notes.push(`source table ${t.name}: no primary key; its unique NOT NULL column ${key} is the key batches walk`);
      sources.push({ table: t, key });
    } else sources.push({ table: t, key });
  }
  const targets = input.target.filter((t) => {
    if (IDENT.test(t.name)) return true;
    notes.push(`target table ${JSON.stringify(t.name)}: its name is not an SQL identifier a plan can name: not drafted`);
    return false;
  });
  const pairs: Pair[] = [];
  const pairedSources = new Set<CatalogTable>();
  const pairedTargets = new Set<CatalogTable>();
  const pass = (why: (s: { table: CatalogTable; key: string }, t: CatalogTable) => string | undefined) => {
    const candidates = new Map<CatalogTable, { target: CatalogTable; why: string }[]>();
    const claims = new Map<CatalogTable, number>();
    for (const s of sources) {
      if (pairedSources.has(s.table)) continue;
      for (const t of targets) {
        if (pairedTargets.has(t)) continue;
        const reason = why(s, t);
        if (!reason) continue;
        candidates.set(s.table, [...(candidates.get(s.table) ?? []), { target: t, why: reason }]);
        claims.set(t, (claims.get(t) ?? 0) + 1);
      }
    }
    for (const s of sources) {
      const found = candidates.get(s.table);
      if (!found) continue;
      if (found.length === 1 && claims.get(found[0]!.target) === 1) {
        pairs.push({ source: s.table, sourceKey: s.key, target: found[0]!.target, why: found[0]!.why });
        pairedSources.add(s.table);
        pairedTargets.add(found[0]!.target);
      }
    }
  };
  pass((s, t) => (lower(s.table.name) === lower(t.name) ? 'the same name' : undefined));
  pass((s, t) => (tableStem(s.table.name) === tableStem(t.name) ? 'the same name without its legacy prefix' : undefined));
  pass((s, t) => {
    const a = tableStem(s.table.name);
    const b = tableStem(t.name);
    const within = (whole: string, part: string) => whole.startsWith(`${part}_`) || whole.endsWith(`_${part}`);
    return within(b, a) || within(a, b) ? 'one name is part of the other' : undefined;
  });
  pass((s, t) => {
    const legacy = legacyKeyNames(s.key);
    const column = businessUniques(t).find((u) => u.columns.length === 1 && legacy.has(lower(u.columns[0]!)))?.columns[0];
    return column ? `its unique ${column} names the source key ${s.key}` : undefined;
  });
  pass((s, t) => {
    const a = compact(tableStem(s.table.name));
    const b = compact(tableStem(t.name));
    return TABLE_SYNONYMS.some((group) => group.includes(a) && group.includes(b)) ? `guessed: ${a} and ${b} name the same kind of row` : undefined;
  });
  const leftSources = sources.filter((s) => !pairedSources.has(s.table));
  const leftTargets = targets.filter((t) => !pairedTargets.has(t));
  if (leftSources.length === 1 && leftTargets.length === 1 && businessUniques(leftTargets[0]!).length > 0) {
    const s = leftSources[0]!;
    const t = leftTargets[0]!;
    pairs.push({ source: s.table, sourceKey: s.key, target: t, why: 'GUESSED: the only tables left on either side; check that they hold the same rows' });
    notes.push(`${s.table.name} → ${t.name}: paired only because they were the last tables left: check`);
    pairedSources.add(s.table);
    pairedTargets.add(t);
  }
  return {
    pairs,
    unpairedSource: sources.filter((s) => !pairedSources.has(s.table)).map((s) => s.table),
    unpairedTarget: targets.filter((t) => !pairedTargets.has(t)),
  };
}

/** Entity names from target tables: lower-case letters, digits, `_` and `-`, at most 40, each its own. */
export function nameEntities(pairs: Pair[]): EntityDraft[] {
  const used = new Set<string>();
  return pairs.map((p) => {
    let base = lower(p.target.name).replace(/[^a-z0-9_-]/g, '_');
    if (!/^[a-z]/.test(base)) base = `e_${base}`;
    base = base.slice(0, 40);
    let name = base;
    for (let n = 2; used.has(name); n++) name = `${base.slice(0, 40 - String(n).length - 1)}_${n}`;
    used.add(name);
    const key = p.target.primaryKey.length === 1 ? p.target.primaryKey[0] : undefined;
    return { ...p, name, ...(key ? { targetKey: key } : {}), businessKey: [], columns: [], header: [] };
  });
}
