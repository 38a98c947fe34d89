/** A validated, normalized migration plan. No secrets, no personal data: names and rules only. */

export const PII_KINDS = ['email', 'name', 'phone', 'text'] as const;
export type PiiKind = (typeof PII_KINDS)[number];

/** What the target receives for a personal-data column. */
export const PROTECTIONS = ['detokenize', 'keep_token', 'drop'] as const;
/** How a kept token is made: the vault's random token (default), or FF1 of the value's digits. */
export const TOKEN_SCHEMES = ['vault', 'format_preserving'] as const;
export type Protection = (typeof PROTECTIONS)[number];

/** A scalar a plan may write: a constant, an enum's code, a `case` result, a `null_if` value. */
export type Scalar = string | number | boolean | null;

/**
 * What a `case` arm gives: a constant, or `{ column }`, the value of one of the column's `from`
 * source columns (as read, before later steps). Text is always a constant: `"{email}"` is refused
 * by the validator, not filled in.
 */
export type CaseResult = Scalar | { column: string };

/** One arm of a `case`: when every named source column equals its value (or one of a list), the result is `then`. */
export interface CaseArm {
  when: Record<string, Scalar | Scalar[]>;
  then: CaseResult;
}

/** The source column a `case` result takes its value from, or undefined for a constant. */
export function caseResultColumn(r: CaseResult): string | undefined {
  return r !== null && typeof r === 'object' ? r.column : undefined;
}

/**
 * One step of a column's transform. Steps run in order, each on the previous step's result.
 * Multi-input steps (`combine`, `coalesce`, `template`, `case`) take all of the column's
 * `from` values and must come first; the others take one value. NULL passes through the
 * single-value steps (except `null_if`, `cast`, which see it too).
 */
export type Transform =
  | { kind: 'copy' }
  | { kind: 'trim' }
  | { kind: 'lowercase' }
  | { kind: 'uppercase' }
  | { kind: 'split'; separator: string; part: 'first' | 'last' | 'rest' | number }
  | { kind: 'combine'; separator: string }
  /** The first of the `from` values that is neither NULL nor empty text. */
  | { kind: 'coalesce' }
  /** Text with `{column}` placeholders filled from the `from` columns; NULL when any is NULL. */
  | { kind: 'template'; template: string }
  /** A value decided by several source columns: the first arm whose `when` holds, else `otherwise`. */
  | { kind: 'case'; arms: CaseArm[]; otherwise: CaseResult }
  | { kind: 'enum'; map: Record<string, string | number | boolean | null> }
  /** Values standing for "none" (compared as text: `''`, `0`, `'0'`) become NULL. */
  | { kind: 'null_if'; values: Scalar[] }
  | { kind: 'epoch_to_timestamp'; unit: 's' | 'ms' }
  /** Epoch seconds (or ms) to a calendar date, `YYYY-MM-DD` in UTC. */
  | { kind: 'epoch_to_date'; unit: 's' | 'ms' }
  | { kind: 'integer' }
  | { kind: 'boolean' }
  | { kind: 'json' }
  /** The value as a column of this PostgreSQL type stores it (`inet`, `numeric(10,5)`, `char(2)`, `date`, ...); one that does not fit is a conversion failure. */
  | { kind: 'cast'; type: string };

/** A personal value inside a JSON document, by its path (`actor.mbox` is ['actor', 'mbox']). */
export interface PiiPath {
  path: string[];
  kind: PiiKind;
}

export interface ColumnSpec {
  /** Target column name. */
  name: string;
  /** Source column(s) the value comes from; empty for a constant. */
  from: string[];
  constant?: string | number | boolean | null;
  /**
   * One step (`{ kind: 'copy' }` when the plan names none), or the steps in order. A single
   * step stays an object, as plans before step lists had it, so their hash (and migration id)
   * does not change; read it through `stepsOf`.
   */
  transform: Transform | Transform[];
  pii?: PiiKind;
  /** Personal values inside a JSON column (with the `json` transform). */
  piiPaths?: PiiPath[];
  protect?: Protection;
  /** `token: format_preserving`: a kept token of the value's shape (FF1, no vault entry; src/core/shaped-tokens.ts). Absent: the vault's token. */
  shapedTokens?: true;
  /** The value is a source key of another entity (or of this one: a tree): loaded as that row's target key. */
  reference?: { entity: string };
  /** The value is an object key: the object is copied (encrypted in staging) to the target bucket under the same key. */
  file?: { sourceBucket: string; targetBucket: string };
}

/**
 * Where an entity's rows come from: a table, or one read-only SELECT (joined rows) whose
 * result has the `key` column. Either way rows are read in keyset ranges of `key`, which must
 * be unique in the relation, in a read-only snapshot through the source's read-only role.
 */
export interface SourceSpec {
  schema: string;
  /** Set when the source is a table. */
  table?: string;
  /** Set when the source is a query: one SELECT (or WITH … SELECT), no semicolon. */
  query?: string;
  key: string;
  /** Row filters by name: an SQL boolean over the relation's columns; rows where it is true are skipped and counted by name. Absent: none. */
  skip?: { name: string; when: string }[];
  /** For poll sync: the column a writer sets on each change, as epoch (`unit`) or a timestamp. */
  change?: { column: string; unit: 's' | 'ms' };
}

export interface EntitySpec {
  name: string;
  source: SourceSpec;
  /** `key`: the target's own key column, which other entities' references receive. */
  target: { schema: string; table: string; businessKey: string[]; key?: string; softDelete?: Record<string, Scalar> };
  columns: ColumnSpec[];
  /** Overrides `settings.batchSize` for this entity. */
  batchSize?: number;
  /** Where this entity's data may be (see core/residency). */
  residency?: { region: string };
}

export interface Plan {
  version: 1;
  name: string;
  source: { urlEnv: string };
  target: { urlEnv: string; ledgerSchema: string };
  staging: { bucket?: string; prefix: string; sseKmsKeyId?: string };
  keys: { staging?: string; vault?: string };
  /** Where the migration's data may be (see core/residency): per entity too. */
  residency?: { region: string };
  settings: {
    batchSize: number;
    parallelism: number;
    /** Rows per second across the migration; 0 means unthrottled. */
    throttleRowsPerSecond: number;
    abort: { maxQuarantineRatio: number };
  };
  entities: EntitySpec[];
  /** Entities grouped in phases, in order; without `phases` in the file, one phase holds all. */
  phases: PhaseSpec[];
  /** After the full load, keep the target in step with the source until an operator cuts over. */
  sync?: SyncSpec;
  /**
   * Set only on a plan derived by `rehearsalPlan` (src/plan/rehearsal.ts), never in a plan file:
   * this migration is a rehearsal into a masked sandbox. Absent on every other plan, so their
   * hash (and migration id) is what it always was.
   */
  rehearsal?: RehearsalSpec;
}

/** What makes a plan a rehearsal: the real migration it rehearses, and where it loads instead. */
export interface RehearsalSpec {
  /** The migration id of the real plan it was derived from. */
  of: string;
  /** The environment variable naming the sandbox database (the rehearsal's `target.urlEnv`). */
  sandboxEnv: string;
  /** The real plan's target variable: a worker refuses the rehearsal when both name one database. */
  realTargetEnv: string;
}

export type ConflictPolicy = 'source_wins' | 'target_wins' | 'quarantine';

export interface SyncSpec {
  mode: 'logical' | 'poll';
  intervalSeconds: number;
  quietSeconds: number;
  conflict: ConflictPolicy;
  maxDeleteRatio: number;
  overlapSeconds: number;
  /** Poll: seconds between key-set comparisons (deletes, rows without a change value); absent: DEFAULT_KEY_SET_INTERVAL_SECONDS. */
  keySetIntervalSeconds?: number;
  slot: string;
  publication: string;
  maxRetainedWalMb: number;
}

export interface PhaseSpec {
  name: string;
  entities: string[];
  /** Wait for an operator's approval before the next phase. */
  gate?: { distinctApprover: boolean };
}

/** Rows per batch for an entity: its own setting, else the plan's. */
export function batchSizeOf(plan: Plan, entity: EntitySpec): number {
  return entity.batchSize ?? plan.settings.batchSize;
}

/** A column's transform steps, in order. */
export function stepsOf(column: ColumnSpec): Transform[] {
  return Array.isArray(column.transform) ? column.transform : [column.transform];
}

/** A name for the entity's source in messages: `public.mdl_user`, or `query of enrolments`. */
export function sourceLabel(entity: EntitySpec): string {
  return entity.source.table ? `${entity.source.schema}.${entity.source.table}` : `the source query of ${entity.name}`;
}

/** The column that makes an entity a tree (it references the entity itself), if any. */
export function treeColumnOf(entity: EntitySpec): ColumnSpec | undefined {
  return entity.columns.find((c) => c.reference?.entity === entity.name);
}

/** Poll: a round compares key sets when this long has passed since the last comparison (or the cutover is asked). */
export const DEFAULT_KEY_SET_INTERVAL_SECONDS = 30;
