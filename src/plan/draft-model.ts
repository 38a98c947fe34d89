// The shapes a plan draft is made of (see draft.ts): its input, its output, and the entities,
// columns and rules it builds on the way.
import type { CatalogTable } from '../catalog/pg-catalog';

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
export type Step = string | Record<string, unknown>;

/** A column rule as the file writes it (snake_case, keys in the file's order). */
export interface Rule {
  from?: string;
  constant?: string | number | boolean;
  transform?: Step | Step[];
  pii?: PlanPii;
  pii_paths?: Record<string, PlanPii>;
  reference?: string;
}

/** A target column of an entity: its rule, or none (a TODO line), and what to say about it. */
export interface DraftColumn {
  name: string;
  rule?: Rule;
  comment?: string;
}

export interface Pair {
  source: CatalogTable;
  sourceKey: string;
  target: CatalogTable;
  /** Why they were paired, for the entity's comment. */
  why: string;
}

export interface EntityDraft extends Pair {
  name: string;
  targetKey?: string;
  businessKey: string[];
  businessKeyComment?: string;
  columns: DraftColumn[];
  /** Comment lines above the entity. */
  header: string[];
}

export const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
export const JSON_PATH = /^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*$/;
