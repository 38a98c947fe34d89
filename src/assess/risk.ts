/**
 * The assessment's risk score, 1 (nothing to worry about) to 5 (personal data copied in
 * clear): how sensitive a column's personal data is, times what the plan does with it. Pure.
 *
 * **Sensitivity** (of a column's findings, the most sensitive one counting):
 *
 * | sensitivity | findings |
 * |---|---|
 * | 5 | a national id (SSN, NINO, passport, ...); free text or a JSON document holding one |
 * | 4 | an email, a phone number, a date of birth; free text containing any of those; a JSON document with personal paths |
 * | 3 | a person's name, a login built from one (a person identifier), an IP address; free text containing only IP addresses |
 * | 2 | free text by its column's name only (no personal data found in it) |
 * | 1 | nothing personal |
 *
 * Weak evidence lowers a finding's sensitivity by 1, to no less than 2: a finding whose
 * confidence is below 0.5 (a `description` column, a title-like `fullname`). Each finding is
 * judged on its own confidence, so a weak hint beside a strong finding does not raise the column.
 *
 * **Score** (sensitivity s, by what the target gets):
 *
 * | treatment | score |
 * |---|---|
 * | `clear`: copied as it is | s + 1 (at most 5) when s ≥ 3, else s |
 * | `detokenize`: `pii` declared, tokenized in staging, clear only in the target | s − 2 (at least 1) |
 * | `keep_token`: the target keeps the token | 1 |
 * | `drop`: the target gets NULL | 1 |
 * | `not_migrated`: no target column reads it; it stays in the source | s − 2 (at least 1) |
 *
 * So email-like values in `users.notes` copied in clear score 5, the same declared `pii: email`
 * score 2, and with `protect: keep_token` 1. A table scores its highest column. A JSON column
 * whose plan declares only some of its personal paths is scored as copied in clear: the paths
 * not declared reach the target as they are (see {@link treatmentOfJson}).
 */
import type { PiiFinding, SensitiveKind } from './pii-detect';
import { planKindOf } from './pii-detect';

export type Treatment = 'detokenize' | 'keep_token' | 'drop' | 'clear' | 'not_migrated';
export type Score = 1 | 2 | 3 | 4 | 5;

/** Columns scoring above this fail `--strict` (exit 1). */
export const DEFAULT_STRICT_THRESHOLD = 3;

/** A finding's confidence below this is weak evidence, worth one sensitivity level less. */
export const WEAK_CONFIDENCE = 0.5;

const KIND_SENSITIVITY: Record<SensitiveKind, Score> = {
  national_id: 5,
  email: 4,
  phone: 4,
  date_of_birth: 4,
  json_personal: 4,
  person_name: 3,
  person_identifier: 3,
  ip_address: 3,
  // Free text is scored by what was found in it (below); by its name alone it is a 2.
  free_text: 2,
};

function clamp(n: number): Score {
  return Math.min(5, Math.max(1, Math.round(n))) as Score;
}

/** One finding's sensitivity, before its confidence is weighed. */
function findingSensitivity(f: PiiFinding): Score {
  if (f.kind === 'free_text') {
    const inside = (f.inside ?? []).map((k) => KIND_SENSITIVITY[k]);
    return inside.length ? clamp(Math.max(...inside)) : 2;
  }
  if (f.kind === 'json_personal') {
    // A national id inside a document is as sensitive as one in a column of its own.
    return (f.paths ?? []).some((p) => p.kind === 'national_id') ? 5 : 4;
  }
  return KIND_SENSITIVITY[f.kind];
}

/** Sensitivity 1..5 of a set of findings (1: nothing personal); see the module's scale. */
export function sensitivityOf(findings: readonly PiiFinding[]): Score {
  let s: Score = 1;
  for (const f of findings) {
    const base = findingSensitivity(f);
    const weighed = f.confidence < WEAK_CONFIDENCE ? Math.max(2, base - 1) : base;
    if (weighed > s) s = weighed as Score;
  }
  return s;
}

/** The score of a sensitivity under a treatment; see the module's scale. */
export function scoreOf(sensitivity: Score, treatment: Treatment): Score {
  switch (treatment) {
    case 'clear':
      return sensitivity >= 3 ? clamp(sensitivity + 1) : sensitivity;
    case 'detokenize':
    case 'not_migrated':
      return clamp(sensitivity - 2);
    case 'keep_token':
    case 'drop':
      return 1;
  }
}

export interface ColumnRisk {
  score: Score;
  sensitivity: Score;
  treatment: Treatment;
  /**
   * What would bring the score down, in words a program manager reads, naming the plan field:
   * e.g. "declare pii: email on target column notes (tokenized in staging; add protect:
   * keep_token to keep it a token in the target)". Absent when the score is 1 or nothing
   * better exists.
   */
  control?: string;
}

export interface ColumnPlace {
  /** The target column the plan writes it to, named in the control. */
  targetColumn?: string;
  /**
   * For a JSON column: the paths the plan's `pii_paths` declares, dotted. When given, the
   * treatment passed is the column's `protect`, and personal paths found but not declared make
   * the column `clear` (see {@link treatmentOfJson}).
   */
  declaredPaths?: readonly string[];
  /**
   * The column feeds the entity's business key in clear: `keyColumn`, the target column of the
   * key it feeds; `sourceKey`, the entity's source key when that is another column. The plan refuses `pii` on a business key (keys
   * are stored in clear in the ledger, the key map and the quarantine, and appear in reports),
   * so the control says to key the entity on a column that is not personal first.
   */
  businessKey?: { keyColumn: string; sourceKey?: string };
}

export interface JsonTreatment {
  treatment: Treatment;
  /** Personal paths found that the plan does not declare: they reach the target as they are. */
  uncovered: { path: string; kind: SensitiveKind }[];
}

/**
 * What a plan does with a JSON column's personal paths. A path found and not declared is copied
 * in clear, whatever the column's `protect` (which acts on declared paths only: `drop` nulls
 * those, not the document), so any such path makes the column `clear`. Declared paths get the
 * column's `protect`. A column no target reads stays `not_migrated`, and a column already
 * treated as `clear` (no `pii_paths`) stays so.
 *
 * Paths match as dotted text; a path with a `*` (a key discovery would not print, such as an
 * address used as a key) cannot be declared, so it is always uncovered.
 */
export function treatmentOfJson(found: readonly { path: string; kind: SensitiveKind }[], declared: readonly string[], protect: Treatment): JsonTreatment {
  if (protect === 'not_migrated') return { treatment: protect, uncovered: [] };
  const have = new Set(declared);
  const uncovered = protect === 'clear' ? [...found] : found.filter((p) => !have.has(p.path));
  return { treatment: uncovered.length > 0 ? 'clear' : protect, uncovered };
}

/**
 * A column's risk from its findings and the plan's treatment of it. With `where.declaredPaths`
 * (a JSON column with `pii_paths`), `treatment` is the column's `protect` and the paths found
 * but not declared decide as {@link treatmentOfJson} says; the returned treatment is the
 * effective one.
 */
export function scoreColumn(findings: readonly PiiFinding[], treatment: Treatment, where: ColumnPlace = {}): ColumnRisk {
  const found = findings.flatMap((f) => f.paths ?? []);
  const json = where.declaredPaths !== undefined && found.length > 0 ? treatmentOfJson(found, where.declaredPaths, treatment) : undefined;
  const effective = json?.treatment ?? treatment;
  const sensitivity = sensitivityOf(findings);
  const score = scoreOf(sensitivity, effective);
  // Only paths the plan left out are named when it declares some: the rest need nothing.
  const partly = json !== undefined && json.uncovered.length < found.length ? json.uncovered : undefined;
  const control = score > 1 ? controlOf(findings, sensitivity, effective, where, partly) : undefined;
  return { score, sensitivity, treatment: effective, ...(control ? { control } : {}) };
}

/** A table's score: the highest of its columns' (1 with none). */
export function tableScore(columns: readonly { score: number }[]): Score {
  let s = 1;
  for (const c of columns) s = Math.max(s, c.score);
  return clamp(s);
}

/**
 * The columns that fail `--strict`: those scoring above the threshold, highest first (input
 * order among equals). Strict mode exits 1 while this is not empty.
 *
 * At the default threshold (3) only exposed columns can be above it: copied in clear, or a JSON
 * column with personal paths its `pii_paths` does not cover (scored `clear` by
 * {@link scoreColumn}); every protected treatment scores at most 3 (a national id, 5, less 2).
 * A lower threshold also fails protected columns whose clear value still reaches the target
 * (`detokenize`) or stays in the source (`not_migrated`).
 *
 * Works on anything with a score, so a caller can keep its own table and column names beside
 * it: `unprotected(columns.map((c) => ({ table, column: c.name, ...c.risk })))`.
 */
export function unprotected<T extends { score: number }>(columns: readonly T[], threshold: number = DEFAULT_STRICT_THRESHOLD): T[] {
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > 5) throw new RangeError(`the strict threshold must be a whole number from 1 to 5, got ${String(threshold)}`);
  return columns
    .map((c, i) => ({ c, i }))
    .filter(({ c }) => c.score > threshold)
    .sort((a, b) => b.c.score - a.c.score || a.i - b.i)
    .map(({ c }) => c);
}

// ---------------------------------------------------------------------------------------------
// Controls

/** How many paths a control lists before "and N more". */
const PATHS_LISTED = 6;

/** The finding whose kind the column would be declared as: the most sensitive, then the most certain. */
function leadingFinding(findings: readonly PiiFinding[]): PiiFinding | undefined {
  let best: PiiFinding | undefined;
  for (const f of findings) {
    if (f.kind === 'json_personal') continue;
    if (!best || findingSensitivity(f) > findingSensitivity(best) || (findingSensitivity(f) === findingSensitivity(best) && f.confidence > best.confidence)) best = f;
  }
  return best;
}

/** The control for a column; `uncovered`: the personal paths left out when the plan declares some of them. */
function controlOf(findings: readonly PiiFinding[], sensitivity: Score, treatment: Treatment, where: ColumnPlace, uncovered: readonly { path: string; kind: SensitiveKind }[] | undefined): string | undefined {
  const on = where.targetColumn !== undefined ? `on target column ${where.targetColumn}` : 'on its target column';
  const protectedScore = scoreOf(sensitivity, 'detokenize');
  const keepToken = protectedScore > 1 ? `: score ${protectedScore}; add protect: keep_token to keep it a token in the target, or drop to leave it out: score 1` : ': score 1';
  switch (treatment) {
    case 'clear': {
      const paths = uncovered ?? findings.flatMap((f) => f.paths ?? []);
      if (paths.length > 0) return jsonControl(paths, on, protectedScore, uncovered !== undefined);
      const lead = leadingFinding(findings);
      if (!lead) return undefined;
      if (where.businessKey) return businessKeyControl(planKindOf(lead.kind), where.businessKey, keepToken);
      return `declare pii: ${planKindOf(lead.kind)} ${on} (tokenized in staging, the clear value only in the target${keepToken})`;
    }
    case 'detokenize':
      return `add protect: keep_token ${on} to keep it a token in the target (or protect: drop to leave it out): score 1`;
    // keep_token and drop score 1; a column left in the source is outside what the plan can change.
    default:
      return undefined;
  }
}

/**
 * The control for personal data in a business key, in what the plan accepts: a business key
 * cannot be `pii` (nor can the plan key rows on a keyed digest of a value), so the entity is
 * first keyed on a column that is not personal (the source key, mapped to a new target column
 * with a unique constraint), and the personal column then declared `pii` like any other.
 */
function businessKeyControl(kind: string, key: { keyColumn: string; sourceKey?: string }, keepToken: string): string {
  const column = key.keyColumn;
  const rekey =
    key.sourceKey !== undefined
      ? `add legacy_id: { from: ${key.sourceKey} } (a unique constraint on it in the target) and set business_key: [legacy_id]`
      : 'map a column that is not personal and is unique per row (a surrogate such as the row id) to a target column with a unique constraint, and make it the business_key';
  return `it feeds the business key ${column}, which the plan cannot tokenize (a business key is kept in clear in the ledger, key map and quarantine, and appears in reports): key the entity on a column that is not personal instead: ${rekey}; then declare pii: ${kind} on target column ${column} (tokenized in staging, the clear value only in the target${keepToken})`;
}

function jsonControl(paths: readonly { path: string; kind: SensitiveKind }[], on: string, protectedScore: Score, some: boolean): string {
  const named = paths.filter((p) => !p.path.split('.').includes('*'));
  const unnamed = paths.length - named.length;
  const listed = named.slice(0, PATHS_LISTED).map((p) => `${p.path}: ${planKindOf(p.kind)}`);
  const more = named.length > PATHS_LISTED ? `, and ${named.length - PATHS_LISTED} more` : '';
  const after = `tokenized in staging: score ${protectedScore}; add protect: keep_token to keep them tokens in the target: score 1`;
  if (named.length === 0) {
    return `its personal data sits under keys that vary by document (shown as *), which pii_paths cannot name: leave the column out of the plan (it then stays in the source: score ${protectedScore})`;
  }
  const rest = unnamed > 0 ? `; ${unnamed} path(s) under keys that vary by document (shown as *) cannot be declared by path` : '';
  return `declare pii_paths: { ${listed.join(', ')}${more} } ${on}${some ? ' (beside the paths already declared)' : ''}, with a json step (${after})${rest}`;
}
