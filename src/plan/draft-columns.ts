// Columns: which source column feeds each target column (same name, legacy key, stem, synonym,
// reference), and the rule written for it.
import type { CatalogColumn, CatalogTable } from '../catalog/pg-catalog';
import { type DraftColumn, type DraftInput, type EntityDraft, IDENT, JSON_PATH, type Rule, type Step } from './draft-model';
import { columnStem, compact, FAMILY, FULL_NAMES, GIVEN, legacyKeyNames, lower, SYNONYMS, tableStem } from './draft-names';
import { isTextual, kindOf, lengthOf, typeSteps } from './draft-transforms';

interface Candidate {
  column: CatalogColumn;
  why?: string;
  split?: 'first' | 'rest';
}

export function mapColumns(e: EntityDraft, byTarget: Map<string, EntityDraft>, input: DraftInput, notes: string[]): void {
  const src = e.source;
  const sourceCol = new Map(src.columns.map((c) => [lower(c.name), c]));
  const used = new Set<string>();
  /** Source columns a reference of this entity took: two references are rarely fed by one column. */
  const referenced = new Set<string>();
  const chosen = new Map<string, DraftColumn>();
  const targets = e.target.columns.filter((c) => {
    if (c.generated) return false;
    if (e.target.primaryKey.includes(c.name) && c.hasDefault) return false;
    if (!IDENT.test(c.name)) {
      notes.push(`${e.name}: target column ${JSON.stringify(c.name)} is not an SQL identifier a plan can name: not mapped`);
      return false;
    }
    return true;
  });
  const at = (c: CatalogColumn, candidate: Candidate | undefined, extra: { reference?: string; comment?: string } = {}) => {
    if (!candidate) return;
    used.add(candidate.column.name);
    chosen.set(c.name, columnRule(e, c, candidate, extra, input));
  };

  // Strong evidence first: foreign keys, the same name, a legacy key.
  const legacy = legacyKeyNames(e.sourceKey);
  for (const c of targets) {
    const fk = e.target.foreignKeys.find((f) => f.columns.length === 1 && f.columns[0] === c.name);
    if (fk) {
      chosen.set(c.name, referenceRule(e, c, fk, byTarget, input, used, referenced, notes));
      continue;
    }
    const same = sourceCol.get(lower(c.name));
    if (same) at(c, { column: same });
    else if (legacy.has(lower(c.name))) at(c, { column: sourceCol.get(lower(e.sourceKey))!, why: 'the source key, by its legacy name' });
  }
  // Then, over the source columns still free: letters, stems, synonyms, split names.
  for (const c of targets) {
    if (chosen.has(c.name)) continue;
    const free = src.columns.filter((s) => !used.has(s.name));
    const levels: [string, (s: CatalogColumn) => boolean][] = [
      ['the same name without underscores', (s) => compact(s.name) === compact(c.name)],
      ['the same stem', (s) => columnStem(s.name, src.name) === columnStem(c.name, e.target.name)],
      [
        'a synonym',
        (s) => {
          const names = [compact(c.name), columnStem(c.name, e.target.name)].flatMap((n) => SYNONYMS[n] ?? []);
          return names.includes(compact(s.name)) || names.includes(columnStem(s.name, src.name));
        },
      ],
    ];
    let decided = false;
    for (const [why, test] of levels) {
      const found = free.filter(test);
      if (found.length === 1) {
        at(c, { column: found[0]!, why: `guessed: ${why}` });
        decided = true;
        break;
      }
      if (found.length > 1) {
        chosen.set(c.name, { name: c.name, comment: `TODO: several source columns could feed it (${found.map((f) => f.name).join(', ')}): choose one` });
        notes.push(`${e.name}.${c.name}: several source columns could feed it (${found.map((f) => f.name).join(', ')}): not mapped`);
        decided = true;
        break;
      }
    }
    if (decided) continue;
    const stem = columnStem(c.name, e.target.name);
    const part = GIVEN.has(compact(c.name)) || GIVEN.has(stem) ? 'first' : FAMILY.has(compact(c.name)) || FAMILY.has(stem) ? 'rest' : undefined;
    if (part) {
      // A whole name may be used twice: its first word for the given name, the rest for the family name.
      const whole = src.columns.filter((s) => FULL_NAMES.includes(compact(s.name)) && isTextual(s));
      if (whole.length === 1) at(c, { column: whole[0]!, split: part, why: `guessed: the ${part === 'first' ? 'first word' : 'words after the first'} of ${whole[0]!.name}` });
    }
  }
  // What nothing feeds: a constant where the target insists, else a TODO line.
  for (const c of targets) {
    if (chosen.has(c.name)) continue;
    const constant = c.notNull && !c.hasDefault ? constantFor(c, input.name) : undefined;
    if (constant) {
      chosen.set(c.name, { name: c.name, rule: { constant: constant.value }, comment: `guessed: NOT NULL and no source column matched: ${constant.why}` });
      notes.push(`${e.name}.${c.name}: no source column matched; NOT NULL, so a guessed constant: check`);
    } else {
      const why = c.notNull && !c.hasDefault ? 'NOT NULL without a default: every row would be refused until it is fed' : c.hasDefault ? 'left to its default' : 'left NULL';
      chosen.set(c.name, { name: c.name, comment: `TODO: no source column matched (${why})` });
      if (!c.hasDefault) notes.push(`${e.name}.${c.name}: no source column matched: not mapped`);
    }
  }
  e.columns = targets.map((c) => chosen.get(c.name)!);
  const unused = src.columns.filter((s) => !used.has(s.name) && !e.columns.some((c) => c.rule?.from === s.name)).map((s) => s.name);
  e.header.push(`${src.name} → ${e.target.name}: ${e.why}`);
  if (unused.length) {
    e.header.push(`source columns not migrated: ${unused.join(', ')}`);
    notes.push(`${e.name}: source columns not migrated: ${unused.join(', ')}`);
  }
}

/** A reference to the entity of the table a foreign key points at, fed by the source column that holds that entity's source key. */
function referenceRule(
  e: EntityDraft,
  c: CatalogColumn,
  fk: CatalogTable['foreignKeys'][number],
  byTarget: Map<string, EntityDraft>,
  input: DraftInput,
  used: Set<string>,
  referenced: Set<string>,
  notes: string[],
): DraftColumn {
  const parent = byTarget.get(`${fk.refSchema}.${fk.refTable}`);
  if (!parent) {
    notes.push(`${e.name}.${c.name}: references ${fk.refTable}, which no entity loads: not mapped`);
    return { name: c.name, comment: `TODO: references ${fk.refTable}, which no entity of this draft loads: add it, or map this column` };
  }
  const src = e.source;
  // The source's own key is never the reference: not to another table, nor to its own row in a tree.
  const eligible = src.columns.filter((s) => s.name !== e.sourceKey);
  const byName = (n: string) => eligible.find((s) => lower(s.name) === lower(n));
  const declared = src.foreignKeys.find((f) => f.columns.length === 1 && f.refTable === parent.source.name && f.refSchema === parent.source.schema);
  const targetStem = columnStem(c.name.replace(/_?id$/i, '') || c.name, e.target.name);
  const parentNames = [tableStem(parent.source.name), tableStem(parent.target.name)].flatMap((s) => [`${s}_id`, `${s}id`, s, `${s}_${parent.sourceKey}`]);
  // Strongest evidence first; a column another reference of this entity took is passed over.
  const candidates = [
    declared && byName(declared.columns[0]!),
    byName(c.name),
    eligible.find((s) => compact(s.name) === compact(c.name)),
    byName(parent.sourceKey),
    eligible.find((s) => columnStem(s.name, src.name) === targetStem),
    ...parentNames.map(byName),
  ];
  const column = candidates.find((s): s is CatalogColumn => s !== undefined && !referenced.has(s.name));
  if (!column) {
    notes.push(`${e.name}.${c.name}: references ${parent.name}, but no source column holds its source key ${parent.sourceKey}: not mapped`);
    return { name: c.name, comment: `TODO: references ${parent.name}: name the source column that holds its source key (${parent.sourceKey})` };
  }
  used.add(column.name);
  referenced.add(column.name);
  if (fk.refColumns.length !== 1 || fk.refColumns[0] !== parent.targetKey) {
    // The foreign key points at another column than the target key references receive: the value goes as it is.
    return columnRule(e, c, { column, why: `guessed: references ${fk.refTable}.${fk.refColumns.join(', ')}, not its key: copied as it is` }, {}, input);
  }
  return columnRule(e, c, { column }, { reference: parent.name }, input);
}

/** A constant for a NOT NULL column nothing feeds, or undefined when no value can stand in. */
function constantFor(c: CatalogColumn, planName: string): { value: string | number | boolean; why: string } | undefined {
  const kind = kindOf(c);
  if (kind === 'enum') return { value: c.enumLabels![0]!, why: 'its first label' };
  if (kind === 'text' || kind === 'char') {
    const max = lengthOf(c);
    return { value: max ? planName.slice(0, max) : planName, why: "the plan's name (the source system's name is not known here)" };
  }
  if (kind === 'boolean') return { value: false, why: 'false' };
  if (kind === 'integer' || kind === 'numeric' || kind === 'float') return { value: 0, why: '0' };
  return undefined;
}

/** The rule of a target column fed by one source column: transforms by the types, personal data. */
function columnRule(e: EntityDraft, t: CatalogColumn, candidate: Candidate, extra: { reference?: string }, input: DraftInput): DraftColumn {
  const s = candidate.column;
  const steps: Step[] = [];
  const comments: string[] = [];
  if (candidate.why) comments.push(candidate.why);
  if (candidate.split) steps.push({ split: { separator: ' ', part: candidate.split } });
  const distinct = input.distinct?.(e.source.name, s.name);
  const target = kindOf(t);
  const source = kindOf(s);
  if (extra.reference) {
    if (!t.notNull && distinct?.includes('0')) {
      steps.push({ null_if: [0] });
      comments.push('guessed: 0 stands for none');
    }
  } else if (!candidate.split) {
    typeSteps(s, t, source, target, distinct, steps, comments);
  }
  if (!extra.reference && t.notNull && !s.notNull && !t.hasDefault) comments.push('the source allows NULL: such rows would be refused');
  const sourceLength = lengthOf(s);
  const targetLength = lengthOf(t);
  const passesText = !steps.some((x) => typeof x === 'object' && ('enum' in x || 'split' in x)) && (target === 'text' || target === 'char');
  if (passesText && targetLength !== undefined && (sourceLength === undefined ? source === 'text' : sourceLength > targetLength)) {
    comments.push(`the source is longer (${s.type} into ${t.type}): longer values are refused`);
  }
  const rule: Rule = { from: s.name };
  // Tokens are text: a value mapped to a number, a boolean, a date or an enum label is no longer the person's.
  const holdsText = target === 'text' || target === 'char' || target === 'json' || target === 'other';
  const found = !extra.reference && holdsText && !steps.some((x) => typeof x === 'object' && 'enum' in x) ? input.personal?.(e.source.name, s.name) : undefined;
  if (found) {
    const paths = Object.fromEntries((found.paths ?? []).filter((p) => JSON_PATH.test(p.path)).map((p) => [p.path, p.kind]));
    const unnamed = (found.paths ?? []).filter((p) => !JSON_PATH.test(p.path)).length;
    if (Object.keys(paths).length && (target === 'json' || steps.includes('json'))) {
      if (!steps.includes('json')) steps.push('json');
      rule.pii_paths = paths;
      if (unnamed) comments.push(`TODO: ${unnamed} more personal path(s) found that a path cannot name: check the documents`);
    } else {
      rule.pii = found.kind;
    }
  }
  if (steps.length) rule.transform = steps.length === 1 ? steps[0]! : steps;
  if (extra.reference) rule.reference = extra.reference;
  // One `guessed:` is enough for a line.
  const said = comments.map((c, i) => (i > 0 && c.startsWith('guessed: ') && comments.slice(0, i).some((p) => p.startsWith('guessed')) ? c.slice('guessed: '.length) : c));
  return { name: t.name, rule, ...(said.length ? { comment: said.join('; ') } : {}) };
}
