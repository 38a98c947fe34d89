/** A validated, normalized migration plan. No secrets, no personal data: names and rules only. */

export const PII_KINDS = ['email', 'name', 'phone', 'text'] as const;
export type PiiKind = (typeof PII_KINDS)[number];

/** What the target receives for a personal-data column. */
export const PROTECTIONS = ['detokenize', 'keep_token', 'drop'] as const;
export type Protection = (typeof PROTECTIONS)[number];

export type Transform =
  | { kind: 'copy' }
  | { kind: 'trim' }
  | { kind: 'lowercase' }
  | { kind: 'uppercase' }
  | { kind: 'split'; separator: string; part: 'first' | 'last' | 'rest' | number }
  | { kind: 'combine'; separator: string }
  | { kind: 'enum'; map: Record<string, string | number | boolean | null> }
  | { kind: 'epoch_to_timestamp'; unit: 's' | 'ms' }
  | { kind: 'integer' }
  | { kind: 'boolean' }
  | { kind: 'json' };

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
  transform: Transform;
  pii?: PiiKind;
  /** Personal values inside a JSON column (with the `json` transform). */
  piiPaths?: PiiPath[];
  protect?: Protection;
  /** The value is a source key of another entity: loaded as that row's target key. */
  reference?: { entity: string };
  /** The value is an object key: the object is copied (encrypted in staging) to the target bucket under the same key. */
  file?: { sourceBucket: string; targetBucket: string };
}

export interface EntitySpec {
  name: string;
  source: { schema: string; table: string; key: string };
  /** `key`: the target's own key column, which other entities' references receive. */
  target: { schema: string; table: string; businessKey: string[]; key?: string };
  columns: ColumnSpec[];
  /** Overrides `settings.batchSize` for this entity. */
  batchSize?: number;
}

export interface Plan {
  version: 1;
  name: string;
  source: { urlEnv: string };
  target: { urlEnv: string; ledgerSchema: string };
  staging: { bucket?: string; prefix: string; sseKmsKeyId?: string };
  keys: { staging?: string; vault?: string };
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
