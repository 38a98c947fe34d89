/**
 * A first plan, drafted from two catalogs: which source table feeds which target table, by
 * which key, column by column, with the transforms the types call for. The user edits it: the
 * YAML says, line by line, what was guessed and what to check (`# guessed: …`, `# TODO: …`),
 * and every table or column nothing matched is named.
 *
 * Pure: catalogs in, text out. What only the data can tell (codes of a status column, whether
 * a text column holds booleans, personal data) comes from the caller's samples through
 * `distinct` and `personal`; no sampled value is written except the codes of an `enum` map,
 * which a plan holds anyway.
 *
 * The heuristics, all general (no schema is known here):
 *
 * **Tables** are paired in passes, each over the tables still unpaired, a pair taken only when
 * it is the one candidate on both sides:
 * 1. the same name;
 * 2. the same name once legacy prefixes are stripped (`legacy_`, `old_`, `src_`, `source_`,
 *    `tbl_`, `tb_`, `mdl_`, `orig_`) and plural words made singular (`legacy_courses` → `courses`);
 * 3. one name is a whole-word start or end of the other (`legacy_results` →
 *    `assessment_results`, `legacy_xapi` → `xapi_statements`);
 * 4. the target has a unique column that names the source's key as a legacy key:
 *    `legacy_<key>`, `old_<key>`, `source_<key>`, `src_<key>`, `<key>_legacy`,
 *    `<key without _id>_legacy_id` (`legacy_users(user_id)` → `people(legacy_user_id)`);
 * 5. both names are words for the same kind of row (`user`, `person`, `people`, `learner`,
 *    `member`, …; `org`, `org_unit`, `department`, …), marked as a guess;
 * 6. last, when exactly one source and one target table are left and the target has a business
 *    key, they are paired, and the draft says so.
 * A source table needs a single-column key to be read in keyset batches: its primary key, else
 * a single-column unique constraint on a NOT NULL column; without one it is skipped and noted.
 *
 * **Entities** are named after their target table. The target key is its single-column
 * primary key; the business key is a unique constraint of the target without the primary key
 * whose columns are all mapped and not personal, preferring one fed by the source key, else a
 * mapped primary key of the target's own (no default), else a TODO on the column fed by the
 * source key (the plan validates; `prepare` will ask for a unique index).
 *
 * **Columns**: every target column but generated ones and a primary key with a default:
 * - a single-column FOREIGN KEY to the target key of another entity's table is a `reference`
 *   to it, fed by the source column the source table's own foreign key to that entity's source
 *   table names, else one of the target column's name, else one named as that entity's source
 *   key, else one of the target column's stem (`parent_id` ← `parent`), else `<its table>_id` /
 *   `<its table>id` / `<its table>` (`learner_id` ← `userid`); never the source's own key, and
 *   not a column another reference of the entity took. A foreign key to another table, or to
 *   another column than its entity's target key, is not a reference (a TODO, or a plain copy);
 * - the same name; the source key for a legacy-key name (`legacy_<key>`, `legacy_id`, …);
 * - then, over the source columns still unused: the same letters without underscores
 *   (`last_ip` ← `lastip`), the same stem (suffixes `_at`, `_on`, `_epoch`, `_time`, `_ts`,
 *   `_date`, `_code`, `_name`, …, a leading `time`/`date`, the table's own prefix, and verb
 *   endings off: `org_code` → `code` in an org-unit table, `created_epoch` → `created_at`,
 *   `timecreated` → `created_on`, `timestart` → `started_at`), then
 *   synonyms (`username` ← `login`, `title` ← `name`, `given_name` ← the first word of
 *   `full_name`, `family_name` ← the rest, …). Two candidates at one level are a TODO, not a
 *   guess.
 * - A NOT NULL column without a default that nothing feeds gets a constant (the plan's name for
 *   text, the first label of an enum, `false`, `0`), marked as a guess.
 *
 * **Transforms** by the types: an integer into a timestamp is `epoch_to_timestamp` (a date:
 * `epoch_to_date`; `{ unit: ms }` for a name in milliseconds); text or an integer into a
 * boolean is `boolean` when the sampled values are boolean words; text into json/jsonb is
 * `json`; codes into an enum are an `enum` map when each sampled code is one label by
 * case-insensitive equality or prefix (`A` → `active`), otherwise a TODO; text into inet or
 * uuid is a `cast`; a nullable reference whose sampled values hold `0` (a legacy "none") gets
 * `null_if: [0]`.
 *
 * **Personal data** comes from `personal`: `pii` of its kind, `pii_paths` for a JSON document
 * (with the `json` step). Only where the target holds text or a document (a code mapped to an
 * enum label, a number, a date is no longer the person's), never on a reference, and a
 * business key is never chosen among personal columns.
 *
 * **Phases**: one, `all`, its entities parents first; a cycle of references is broken by
 * leaving one of them out, as a TODO.
 */
import type { CatalogColumn, CatalogTable } from '../catalog/pg-catalog';
import { parseTargetType, type TargetType } from '../core/target-types';

type PlanPii = 'email' | 'name' | 'phone' | 'text';

export interface DraftInput {
  source: CatalogTable[];
  target: CatalogTable[];
  sourceUrlEnv: string;
  targetUrlEnv: string;
  name: string;
  /** personal data found in a source column (by the assessment's discovery; may be absent): plan kind and, for JSON documents, personal paths */
  personal?: (table: string, column: string) => { kind: PlanPii; paths?: { path: string; kind: PlanPii }[] } | undefined;
  /** up to ~20 distinct sampled values of a source column (for enum maps and boolean detection); absent when not sampled */
  distinct?: (table: string, column: string) => string[] | undefined;
}

export interface Draft {
  /** the plan as YAML text with comments saying what was guessed and what to check */
  yaml: string;
  /** the same as the file's object */
  plan: object;
  /** unmatched tables/columns, guesses */
  notes: string[];
}

// ---------------------------------------------------------------- the draft's own shapes

/** A transform step as the file writes it: a name, or `{ name: options }`. */
type Step = string | Record<string, unknown>;

/** A column rule as the file writes it (snake_case, keys in the file's order). */
interface Rule {
  from?: string;
  constant?: string | number | boolean;
  transform?: Step | Step[];
  pii?: PlanPii;
  pii_paths?: Record<string, PlanPii>;
  reference?: string;
}

/** A target column of an entity: its rule, or none (a TODO line), and what to say about it. */
interface DraftColumn {
  name: string;
  rule?: Rule;
  comment?: string;
}

interface Pair {
  source: CatalogTable;
  sourceKey: string;
  target: CatalogTable;
  /** Why they were paired, for the entity's comment. */
  why: string;
}

interface EntityDraft extends Pair {
  name: string;
  targetKey?: string;
  businessKey: string[];
  businessKeyComment?: string;
  columns: DraftColumn[];
  /** Comment lines above the entity. */
  header: string[];
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
const JSON_PATH = /^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*$/;

// ---------------------------------------------------------------- names

/** Prefixes legacy systems put on every table (`legacy_users`, `mdl_user`, `tbl_course`). */
const LEGACY_PREFIXES = ['legacy', 'old', 'src', 'source', 'tbl', 'tb', 'mdl', 'orig'];

const lower = (s: string) => s.toLowerCase();
const compact = (s: string) => lower(s).replace(/_/g, '');

/** `legacy_old_users` → `users`: leading legacy prefixes off, as long as something is left. */
function stripLegacy(name: string): string {
  let s = lower(name);
  for (let again = true; again; ) {
    again = false;
    for (const p of LEGACY_PREFIXES) {
      if (s.startsWith(`${p}_`) && s.length > p.length + 1) {
        s = s.slice(p.length + 1);
        again = true;
      }
    }
  }
  return s;
}

/** English singular of the last word: `categories` → `category`, `courses` → `course`, `status` stays. */
export function singular(name: string): string {
  const words = name.split('_');
  const last = words.pop()!;
  let w = last;
  if (/[^aeiou]ies$/.test(w)) w = `${w.slice(0, -3)}y`;
  else if (/(ss|x|ch|sh)es$/.test(w)) w = w.slice(0, -2);
  else if (/(ss|us|is)$/.test(w) || w.length <= 3) w = last;
  else if (w.endsWith('s')) w = w.slice(0, -1);
  return [...words, w].join('_');
}

/** A table's name as pairing compares it: legacy prefixes off, every word singular (`badges_issued` → `badge_issued`). */
const tableStem = (name: string) =>
  stripLegacy(name)
    .split('_')
    .map((w) => singular(w))
    .join('_');

/**
 * Words for the same kind of row (general naming knowledge): a legacy `users` table is a new
 * system's `people`, `learners` or `members`. Compared as a table's whole stem, underscores out.
 */
const TABLE_SYNONYMS: string[][] = [
  ['user', 'person', 'people', 'learner', 'student', 'member', 'employee', 'participant', 'staff', 'account'],
  ['org', 'orgunit', 'organisation', 'organization', 'organisationunit', 'organizationunit', 'department', 'dept', 'division'],
  ['course', 'class', 'training'],
];

/** `key` without a trailing `_id` / `id` (`user_id` → `user`), or undefined when nothing is left. */
function keyBase(key: string): string | undefined {
  const k = lower(key);
  const m = /^(.+?)_?id$/.exec(k);
  return m && m[1] !== '' ? m[1] : undefined;
}

/** Names a target column may have when it holds the source key as a legacy key. */
function legacyKeyNames(sourceKey: string): Set<string> {
  const k = lower(sourceKey);
  const base = keyBase(k);
  const names = [`legacy_${k}`, `old_${k}`, `source_${k}`, `src_${k}`, `${k}_legacy`, `orig_${k}`];
  if (base) names.push(`${base}_legacy_id`, `legacy_${base}_id`, `legacy_${base}`);
  if (k === 'id') names.push('legacy_id', 'source_id', 'old_id', 'src_id', 'legacy_key', 'orig_id');
  return new Set(names);
}

/** Suffixes that say how a value is stored, not what it is. */
const STORAGE_SUFFIX = /_(at|on|epoch|time|ts|tstamp|timestamp|date|dt|utc|code|cd|name|nm|flag|yn|ms|secs)$/;

/**
 * What a column is about, comparable across naming styles: the table's own prefix off
 * (`org_code` in org units → `code`), a leading `time`/`date` off (`timecreated` → `created`),
 * storage suffixes off (`created_epoch` → `created`), the last word singular, underscores out.
 */
function columnStem(column: string, table: string): string {
  let s = lower(column);
  const stem = tableStem(table);
  // The table's name or its first word, when what is left says more than how it is stored (`issued_on` in badges_issued stays).
  for (const w of [stem, stem.split('_')[0]!]) {
    const rest = s.slice(w.length + 1);
    if (w.length >= 2 && s.startsWith(`${w}_`) && rest !== '' && !/^(at|on|id|ts|date|time|epoch|utc)$/.test(rest)) {
      s = rest;
      break;
    }
  }
  s = s.replace(/^(time|date|dt)_?(?=[a-z]{3,})/, '');
  for (let m = STORAGE_SUFFIX.exec(s); m && m.index > 0; m = STORAGE_SUFFIX.exec(s)) s = s.slice(0, m.index);
  s = s.replace(/(?<=[a-z]{3})(date|time)$/, '');
  // Verb forms alike: `started` / `timestart`, `finished` / `timefinish`, `created` / `create`.
  return compact(singular(s)).replace(/(?<=[a-z]{3})ed$/, '').replace(/(?<=[a-z]{3})e$/, '');
}

/**
 * General synonyms: a target column (compact form) and the source names that may feed it.
 * Names of people are handled apart (a full name is split).
 */
const SYNONYMS: Record<string, string[]> = {
  username: ['login', 'loginname', 'logon', 'uname', 'accountname', 'userlogin'],
  email: ['mail', 'emailaddress', 'email1', 'emailaddr'],
  phone: ['phone1', 'telephone', 'tel', 'phonenumber', 'phoneno', 'mobile', 'mobilephone', 'cellphone'],
  givenname: ['firstname', 'forename', 'givenname'],
  firstname: ['givenname', 'forename', 'firstname'],
  familyname: ['lastname', 'surname', 'familyname'],
  lastname: ['familyname', 'surname', 'lastname'],
  surname: ['lastname', 'familyname'],
  title: ['name', 'fullname', 'label', 'caption', 'heading'],
  name: ['title', 'fullname', 'label', 'caption'],
  description: ['summary', 'descr', 'desc', 'details', 'about'],
  summary: ['description', 'descr', 'desc'],
  created: ['creation', 'inserted', 'ctime', 'create'],
  updated: ['modified', 'lastmodified', 'changed', 'mtime', 'update', 'modify'],
  modified: ['updated', 'lastmodified', 'changed', 'mtime'],
  status: ['state', 'stat'],
  state: ['status'],
  country: ['countrycode', 'nation'],
  city: ['town'],
};

/** Source names that hold a whole personal name, to be split into given and family names. */
const FULL_NAMES = ['fullname', 'name', 'displayname', 'personname', 'username_full'];
const GIVEN = new Set(['givenname', 'firstname', 'forename']);
const FAMILY = new Set(['familyname', 'lastname', 'surname']);

// ---------------------------------------------------------------- types

/** A type as the draft reasons about it: Cutover's target types, plus enums by their labels. */
function kindOf(c: CatalogColumn): TargetType['kind'] | 'enum' {
  if (c.enumLabels?.length) return 'enum';
  return parseTargetType(c.type)?.kind ?? 'other';
}

const isTextual = (c: CatalogColumn) => ['text', 'char'].includes(kindOf(c));
const lengthOf = (c: CatalogColumn): number | undefined => {
  const t = parseTargetType(c.type);
  return t?.kind === 'text' || t?.kind === 'char' ? t.length : undefined;
};
/** A `character(n)` of more than one character: values come padded with spaces. */
const padded = (c: CatalogColumn) => parseTargetType(c.type)?.kind === 'char' && (lengthOf(c) ?? 1) > 1;

const BOOLEAN_WORDS = new Set(['t', 'true', 'y', 'yes', '1', 'f', 'false', 'n', 'no', '0']);

// ---------------------------------------------------------------- the draft

/** Drafts a plan from the source's and the target's catalogs (see the module's comment). */
export function draftPlan(input: DraftInput): Draft {
  const notes: string[] = [];
  const { pairs, unpairedSource, unpairedTarget } = pairTables(input, notes);
  const entities = nameEntities(pairs);
  const byTarget = new Map(entities.map((e) => [`${e.target.schema}.${e.target.name}`, e]));
  for (const e of entities) {
    mapColumns(e, byTarget, input, notes);
    chooseBusinessKey(e, notes);
  }
  const drafted = entities.filter((e) => {
    if (e.columns.some((c) => c.rule) && e.businessKey.length) return true;
    notes.push(`${e.source.name} → ${e.target.name}: no column could be mapped: not drafted`);
    return false;
  });
  const ordered = dependencyOrder(drafted, notes);
  for (const e of ordered) {
    for (const c of e.columns) {
      const todo = c.comment?.match(/TODO: (.*)$/)?.[1];
      if (todo && !notes.some((n) => n.startsWith(`${e.name}.${c.name}:`))) notes.push(`${e.name}.${c.name}: ${todo}`);
    }
    if (e.businessKeyComment?.startsWith('TODO') && !notes.some((n) => n.startsWith(`${e.name}:`))) notes.push(`${e.name}: ${e.businessKeyComment}`);
  }
  for (const t of unpairedSource) notes.push(`source table ${t.name}: no target table matched it: not migrated`);
  for (const t of unpairedTarget) notes.push(`target table ${t.name}: no source table matched it: nothing feeds it`);
  const plan = planObject(input, ordered);
  const yaml = planYaml(input, ordered, unpairedSource, unpairedTarget);
  return { yaml, plan, notes };
}

/** The key batches walk: a single-column primary key, else a single-column unique on a NOT NULL column. */
function sourceKeyOf(t: CatalogTable): string | undefined {
  if (t.primaryKey.length === 1) return t.primaryKey[0];
  if (t.primaryKey.length > 1) return undefined;
  const notNull = new Set(t.columns.filter((c) => c.notNull).map((c) => c.name));
  return t.uniques.find((u) => u.columns.length === 1 && notNull.has(u.columns[0]!))?.columns[0];
}

/** Unique constraints of the target that do not contain its primary key: what a business key can be. */
const businessUniques = (t: CatalogTable) => t.uniques.filter((u) => u.columns.length > 0 && !u.columns.some((c) => t.primaryKey.includes(c)));

function pairTables(input: DraftInput, notes: string[]): { pairs: Pair[]; unpairedSource: CatalogTable[]; unpairedTarget: CatalogTable[] } {
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
function nameEntities(pairs: Pair[]): EntityDraft[] {
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

// ---------------------------------------------------------------- columns

interface Candidate {
  column: CatalogColumn;
  why?: string;
  split?: 'first' | 'rest';
}

function mapColumns(e: EntityDraft, byTarget: Map<string, EntityDraft>, input: DraftInput, notes: string[]): void {
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

/** The steps the types call for, from a source column into a target column. */
function typeSteps(s: CatalogColumn, t: CatalogColumn, source: string, target: string, distinct: string[] | undefined, steps: Step[], comments: string[]): void {
  const epochNamed = /(epoch|time|_ts$|tstamp|stamp|_at$|_on$|date|created|modified|updated)/i.test(s.name);
  const unit: Step[] = /(_ms|millis|msec)/i.test(s.name) ? [{ unit: 'ms' }] : [];
  const epochStep = (name: string): Step => (unit.length ? { [name]: unit[0] } : name);
  const nullIfZero = () => {
    if (!t.notNull && distinct?.includes('0')) {
      steps.push({ null_if: [0] });
      comments.push('guessed: 0 stands for none');
    }
  };
  if (target === 'timestamptz' || target === 'timestamp') {
    if (source === 'integer' || source === 'numeric') {
      nullIfZero();
      steps.push(epochStep('epoch_to_timestamp'));
      if (!epochNamed) comments.push(`guessed: ${s.type} as epoch seconds`);
    } else if (source === 'text' || source === 'char') comments.push('TODO: text into a timestamp: check its format (ISO 8601 loads as it is)');
    return;
  }
  if (target === 'date') {
    if (source === 'integer' || source === 'numeric') {
      nullIfZero();
      steps.push(epochStep('epoch_to_date'));
      if (!epochNamed) comments.push(`guessed: ${s.type} as epoch seconds`);
    }
    return;
  }
  if (target === 'boolean') {
    if (source === 'boolean') return;
    if (source === 'integer' || source === 'text' || source === 'char') {
      const values = distinct?.map((v) => v.trim().toLowerCase());
      if (values && !values.every((v) => BOOLEAN_WORDS.has(v))) {
        comments.push(`TODO: ${values.filter((v) => !BOOLEAN_WORDS.has(v)).length} sampled value(s) are not boolean words (t/f, y/n, yes/no, 1/0): map them (a case step)`);
        return;
      }
      steps.push('boolean');
      if (!values) comments.push('guessed: boolean words (values not sampled)');
    }
    return;
  }
  if (target === 'json') {
    if (source === 'text' || source === 'char') steps.push('json');
    return;
  }
  if (target === 'enum') {
    enumSteps(s, t, distinct, steps, comments);
    return;
  }
  if (target === 'integer' && (source === 'text' || source === 'char')) {
    steps.push('integer');
    comments.push('guessed: text holding whole numbers');
    return;
  }
  if ((target === 'inet' || target === 'uuid') && (source === 'text' || source === 'char')) {
    if (!t.notNull) steps.push({ null_if: [''] });
    steps.push({ cast: target });
    return;
  }
  if (padded(s) && (target === 'text' || target === 'char') && !padded(t)) {
    steps.push('trim');
    comments.push(`${s.type} pads with spaces: trimmed`);
  }
}

/** An enum map: each code one label, by case-insensitive equality, else by prefix (`A` → `active`); a TODO for the rest. */
function enumSteps(s: CatalogColumn, t: CatalogColumn, distinct: string[] | undefined, steps: Step[], comments: string[]): void {
  const labels = t.enumLabels!;
  const codes = s.enumLabels ?? (distinct ? [...new Set(distinct.map((v) => (padded(s) ? v.trim() : v)))] : undefined);
  if (s.enumLabels && s.enumLabels.every((l) => labels.includes(l))) return; // the same labels: copied as they are
  if (!codes) {
    comments.push(`TODO: values not sampled: map each source code to one of ${labels.join(', ')} (enum: { CODE: label })`);
    return;
  }
  const map: Record<string, string> = {};
  let ambiguous = 0;
  let unmatched = 0;
  for (const code of codes) {
    const c = code.trim().toLowerCase();
    const equal = labels.filter((l) => l.toLowerCase() === c);
    const prefixed = c === '' ? [] : labels.filter((l) => l.toLowerCase().startsWith(c));
    const match = equal.length === 1 ? equal : prefixed;
    if (match.length === 1) map[code] = match[0]!;
    else if (match.length > 1) ambiguous++;
    else unmatched++;
  }
  if (padded(s) && !s.enumLabels) steps.push('trim');
  // In the labels' order, the way a reader checks them.
  const ordered = Object.fromEntries(Object.entries(map).sort(([, a], [, b]) => labels.indexOf(a) - labels.indexOf(b)));
  if (Object.keys(ordered).length) steps.push({ enum: ordered });
  if (ambiguous || unmatched) {
    const what = [ambiguous ? `${ambiguous} sampled code(s) match several labels` : '', unmatched ? `${unmatched} match none` : ''].filter(Boolean).join(', ');
    comments.push(`TODO: ${what}: map them to one of ${labels.join(', ')}`);
  } else comments.push(`guessed: each ${s.enumLabels ? 'label' : 'sampled code'} by a label it equals or begins: check`);
}

// ---------------------------------------------------------------- keys and order

function chooseBusinessKey(e: EntityDraft, notes: string[]): void {
  const rules = new Map(e.columns.filter((c) => c.rule).map((c) => [c.name, c.rule!]));
  const mapped = (col: string) => rules.get(col)?.from !== undefined && !rules.get(col)?.pii && !rules.get(col)?.pii_paths;
  const usable = businessUniques(e.target).filter((u) => u.columns.every(mapped));
  const fedByKey = (u: { columns: string[] }) => u.columns.some((col) => rules.get(col)?.from === e.sourceKey);
  const unique = usable.find(fedByKey) ?? usable[0];
  if (unique) {
    e.businessKey = unique.columns;
    if (!fedByKey(unique)) e.businessKeyComment = `guessed: the unique ${unique.name}`;
    return;
  }
  if (e.target.primaryKey.length && e.target.primaryKey.every(mapped)) {
    e.businessKey = e.target.primaryKey;
    e.businessKeyComment = "guessed: the target's own primary key, fed from the source";
    return;
  }
  const personal = businessUniques(e.target).find((u) => u.columns.every((c) => rules.get(c)?.from !== undefined));
  // A unique some of whose columns nothing feeds yet: the business key once they are mapped.
  const pending = businessUniques(e.target).find((u) => u.columns.some(mapped));
  const fallback =
    e.columns.find((c) => pending?.columns.includes(c.name) && mapped(c.name)) ??
    e.columns.find((c) => c.rule?.from === e.sourceKey && mapped(c.name)) ??
    e.columns.find((c) => c.rule && mapped(c.name));
  if (!fallback) return;
  e.businessKey = [fallback.name];
  e.businessKeyComment = personal
    ? `TODO: the unique ${personal.name} holds personal data, which a business key cannot: add a surrogate (e.g. the legacy id) with a unique index`
    : pending
      ? `TODO: the unique ${pending.name} (${pending.columns.join(', ')}) is the business key once ${pending.columns.filter((c) => !mapped(c)).join(', ')} ${pending.columns.filter((c) => !mapped(c)).length === 1 ? 'is' : 'are'} mapped; ${fallback.name} alone is written so that the plan validates`
      : `TODO: no unique index of ${e.target.name} covers a mapped column: create one on ${fallback.name} (or name the columns rows are upserted by)`;
  notes.push(`${e.name}: no usable unique constraint for a business key: ${fallback.name} written, with a TODO`);
}

/**
 * Entities parents first, level by level as a phase runs them (each level's entities by
 * name); a cycle of references is broken by turning one of them into a TODO.
 */
function dependencyOrder(entities: EntityDraft[], notes: string[]): EntityDraft[] {
  const out: EntityDraft[] = [];
  const left = new Set(entities);
  const parents = (e: EntityDraft) => e.columns.flatMap((c) => (c.rule?.reference && c.rule.reference !== e.name ? [c.rule.reference] : []));
  while (left.size) {
    const done = new Set(out.map((e) => e.name));
    const ready = [...left].filter((e) => parents(e).every((p) => done.has(p))).sort((a, b) => (a.name < b.name ? -1 : 1));
    if (ready.length) {
      for (const e of ready) {
        out.push(e);
        left.delete(e);
      }
      continue;
    }
    // A cycle: drop a reference between the entities left, a nullable column first.
    const pending = new Set([...left].map((e) => e.name));
    const options = [...left].flatMap((e) =>
      e.columns.filter((c) => c.rule?.reference && c.rule.reference !== e.name && pending.has(c.rule.reference)).map((c) => ({ e, c, nullable: !e.target.columns.find((t) => t.name === c.name)?.notNull })),
    );
    const drop = options.find((o) => o.nullable) ?? options[0]!;
    notes.push(`${drop.e.name}.${drop.c.name}: its reference to ${drop.c.rule!.reference} closes a cycle: left out (load in two steps, or set it after)`);
    drop.c.comment = `TODO: references ${drop.c.rule!.reference}, which references back: left out to break the cycle`;
    delete drop.c.rule;
  }
  return out;
}

// ---------------------------------------------------------------- output

function ruleObject(r: Rule): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  if (r.from !== undefined) o.from = r.from;
  if (r.constant !== undefined) o.constant = r.constant;
  if (r.transform !== undefined) o.transform = r.transform;
  if (r.pii) o.pii = r.pii;
  if (r.pii_paths) o.pii_paths = r.pii_paths;
  if (r.reference) o.reference = r.reference;
  return o;
}

function sourceObject(e: EntityDraft): Record<string, unknown> {
  return { ...(e.source.schema !== 'public' ? { schema: e.source.schema } : {}), table: e.source.name, key: e.sourceKey };
}

function targetObject(e: EntityDraft): Record<string, unknown> {
  return { ...(e.target.schema !== 'public' ? { schema: e.target.schema } : {}), table: e.target.name, ...(e.targetKey ? { key: e.targetKey } : {}), business_key: e.businessKey };
}

function planObject(input: DraftInput, entities: EntityDraft[]): object {
  return {
    version: 1,
    name: input.name,
    source: { url_env: input.sourceUrlEnv },
    target: { url_env: input.targetUrlEnv },
    ...(entities.length ? { phases: [{ name: 'all', entities: entities.map((e) => e.name) }] } : {}),
    entities: Object.fromEntries(
      entities.map((e) => [e.name, { source: sourceObject(e), target: targetObject(e), columns: Object.fromEntries(e.columns.filter((c) => c.rule).map((c) => [c.name, ruleObject(c.rule!)])) }]),
    ),
  };
}

const RESERVED = /^(true|false|yes|no|on|off|y|n|null|~)$/i;

/** A scalar as YAML writes it in flow style: plain when that reads back as the same string, else double-quoted. */
function scalar(v: unknown): string {
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  const s = String(v);
  return /^[A-Za-z_][A-Za-z0-9_./-]*$/.test(s) && !RESERVED.test(s) ? s : JSON.stringify(s);
}

/** A value in YAML flow style: `{ a: 1, b: [x, y] }`. */
function flow(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(flow).join(', ')}]`;
  if (v !== null && typeof v === 'object') return `{ ${Object.entries(v).map(([k, x]) => `${scalar(k)}: ${flow(x)}`).join(', ')} }`;
  return scalar(v);
}

/** A comment's text on one line. */
const oneLine = (s: string) => s.replace(/\s+/g, ' ').trim();

function planYaml(input: DraftInput, entities: EntityDraft[], unpairedSource: CatalogTable[], unpairedTarget: CatalogTable[]): string {
  const schemas = (tables: CatalogTable[]) => [...new Set(tables.map((t) => t.schema))].join(', ') || 'public';
  const lines = [
    `# Drafted by \`cutover plan draft\` from the catalogs of the source (schema ${schemas(input.source)}) and the target (schema ${schemas(input.target)}).`,
    '# A proposal to edit, not a plan to run as it is: check every `guessed` and `TODO` comment, then',
    '# `cutover plan validate` it. Tables, keys, references and transforms were inferred from names, types',
    '# and sampled values; no sampled value is written here but the codes of enum maps.',
    input.personal
      ? '# Personal data: `pii` is marked where discovery found it in sampled values; a column it missed goes in clear.'
      : '# Personal data: NOT assessed. Mark every personal column: pii: email | name | phone | text.',
    '# Settings are the defaults (batch_size 1000, parallelism 2); see README.md, "Every field".',
    `version: 1`,
    `name: ${scalar(input.name)}`,
    `source: ${flow({ url_env: input.sourceUrlEnv })}`,
    `target: ${flow({ url_env: input.targetUrlEnv })}`,
  ];
  if (entities.length) {
    lines.push('', '# One phase, parents before the entities that reference them. Split it to gate a phase (gate: true).', 'phases:', '  - name: all', `    entities: ${flow(entities.map((e) => e.name))}`);
  }
  lines.push('', 'entities:');
  if (!entities.length) lines.push('  {}   # TODO: no source table could be paired with a target table');
  for (const e of entities) {
    for (const h of e.header) lines.push(`  # ${oneLine(h)}`);
    lines.push(`  ${e.name}:`, `    source: ${flow(sourceObject(e))}`);
    const target = `    target: ${flow(targetObject(e))}`;
    lines.push(e.businessKeyComment ? `${target}   # ${oneLine(e.businessKeyComment)}` : target, '    columns:');
    const body = e.columns.map((c) => (c.rule ? `      ${scalar(c.name)}: ${flow(ruleObject(c.rule))}` : `      # ${c.name}:`));
    const width = Math.min(90, Math.max(...body.map((b, i) => (e.columns[i]!.comment ? b.length : 0))));
    body.forEach((b, i) => {
      const comment = e.columns[i]!.comment;
      lines.push(comment ? `${b.padEnd(width)}   # ${oneLine(comment)}` : b);
    });
    lines.push('');
  }
  if (unpairedSource.length || unpairedTarget.length) {
    lines.push('# Not drafted (no table on the other side matched):');
    if (unpairedSource.length) lines.push(`#   source tables: ${unpairedSource.map((t) => t.name).join(', ')}`);
    if (unpairedTarget.length) lines.push(`#   target tables: ${unpairedTarget.map((t) => t.name).join(', ')}`);
  }
  while (lines[lines.length - 1] === '') lines.pop();
  return `${lines.join('\n')}\n`;
}
