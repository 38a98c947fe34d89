import { caseResultColumn, stepsOf, type CaseResult, type ColumnSpec, type EntitySpec, type Scalar, type Transform } from '../plan/types';
import { castTo, parseTargetType, TypeMismatch, utcDate } from './target-types';
import { normalizeValue } from './digest';

/** A value as staged and loaded: JSON-safe (timestamps as ISO strings; JSON documents as objects). */
export type Value = string | number | boolean | null | JsonDocument;
export interface JsonDocument {
  [key: string]: unknown;
}

/** Why a row cannot be migrated. Codes and column names only: never the value. */
export interface RowProblem {
  reason: 'conversion_failed' | 'missing_business_key';
  column: string;
  detail: string;
}

export type Mapped = { ok: true; values: Value[] } | { ok: false; problem: RowProblem };

class ConversionError extends Error {}

function asText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (v instanceof Date) return v.toISOString();
  throw new ConversionError(`expected text, got ${v === null ? 'null' : typeof v}`);
}

/** Equality of a source value and a plan's scalar, as text (`0`, `'0'` and `0.0` are not all equal: `'0'` and `0` are). */
function sameScalar(v: unknown, s: Scalar): boolean {
  if (v === null || v === undefined || s === null) return (v === null || v === undefined) && s === null;
  if (v instanceof Date || (typeof v === 'object' && !Buffer.isBuffer(v))) return false;
  return asText(v) === String(s);
}

function epochMs(first: unknown, unit: 's' | 'ms'): number {
  const n = typeof first === 'number' ? first : Number(asText(first));
  if (!Number.isFinite(n)) throw new ConversionError('not a number of seconds');
  const ms = unit === 's' ? n * 1000 : n;
  if (Math.abs(ms) > 8.64e15) throw new ConversionError('out of the timestamp range');
  return ms;
}

/** Multi-input steps: they take all of the column's source values (and come first). */
const MULTI = new Set<Transform['kind']>(['combine', 'coalesce', 'template', 'case']);

function applyMulti(t: Transform, inputs: unknown[], from: readonly string[]): unknown {
  switch (t.kind) {
    case 'combine': {
      const parts = inputs.filter((v) => v !== null && v !== undefined).map(asText);
      return parts.length ? parts.join(t.separator) : null;
    }
    case 'coalesce':
      return inputs.find((v) => v !== null && v !== undefined && !(typeof v === 'string' && v === '')) ?? null;
    case 'template': {
      let missing = false;
      const out = t.template.replace(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
        const v = inputs[from.indexOf(name)];
        if (v === null || v === undefined) missing = true;
        return missing ? '' : asText(v);
      });
      return missing ? null : out;
    }
    case 'case': {
      const valueOf = (name: string) => inputs[from.indexOf(name)];
      // A `{ column }` result is that source column's value (the validator keeps it among `from`).
      const result = (r: CaseResult) => {
        const column = caseResultColumn(r);
        return column === undefined ? r : valueOf(column);
      };
      for (const arm of t.arms) {
        const holds = Object.entries(arm.when).every(([col, want]) => (Array.isArray(want) ? want : [want]).some((w) => sameScalar(valueOf(col), w)));
        if (holds) return result(arm.then);
      }
      return result(t.otherwise);
    }
    default:
      return inputs[0];
  }
}

function applyOne(t: Transform, first: unknown): unknown {
  if (t.kind === 'null_if') return t.values.some((v) => sameScalar(first, v)) ? null : first;
  if (first === null || first === undefined) return null;
  switch (t.kind) {
    case 'copy':
    case 'combine':
    case 'coalesce':
    case 'template':
    case 'case':
      return first;
    case 'trim':
      return asText(first).trim();
    case 'lowercase':
      return asText(first).toLowerCase();
    case 'uppercase':
      return asText(first).toUpperCase();
    case 'split': {
      const parts = asText(first).trim().split(t.separator).filter((p) => p !== '');
      if (parts.length === 0) return null;
      if (t.part === 'first') return parts[0]!;
      if (t.part === 'last') return parts[parts.length - 1]!;
      if (t.part === 'rest') return parts.length > 1 ? parts.slice(1).join(t.separator) : null;
      return parts[t.part] ?? null;
    }
    case 'enum': {
      const key = asText(first);
      if (!Object.prototype.hasOwnProperty.call(t.map, key)) throw new ConversionError('value not in the enum map');
      return t.map[key]!;
    }
    case 'epoch_to_timestamp':
      return new Date(epochMs(first, t.unit)).toISOString();
    case 'epoch_to_date':
      return utcDate(epochMs(first, t.unit));
    case 'integer': {
      const n = typeof first === 'number' ? first : Number(asText(first).trim());
      if (!Number.isSafeInteger(n)) throw new ConversionError('not an integer');
      return n;
    }
    case 'json': {
      if (typeof first === 'string') {
        try {
          return JSON.parse(first) as Value;
        } catch {
          throw new ConversionError('not a JSON document');
        }
      }
      if (typeof first === 'object') return structuredClone(first) as Value;
      throw new ConversionError('not a JSON document');
    }
    case 'boolean': {
      if (typeof first === 'boolean') return first;
      const s = asText(first).trim().toLowerCase();
      if (['t', 'true', 'y', 'yes', '1'].includes(s)) return true;
      if (['f', 'false', 'n', 'no', '0'].includes(s)) return false;
      throw new ConversionError('not a boolean');
    }
    case 'cast': {
      const type = parseTargetType(t.type);
      if (!type) throw new ConversionError(`no cast to ${t.type}`);
      try {
        return castTo(type, first);
      } catch (err) {
        if (err instanceof TypeMismatch) throw new ConversionError(err.message);
        throw err;
      }
    }
  }
}

/** What a step list leaves as a staged value: JSON-safe (dates as ISO text, bigints as text, objects kept only from `json`/`cast`). */
function finish(v: unknown, steps: readonly Transform[]): Value {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'bigint') return v.toString();
  if (Buffer.isBuffer(v)) return `\\x${v.toString('hex')}`;
  if (typeof v === 'object') return steps.some((s) => s.kind === 'json' || s.kind === 'cast') ? (v as Value) : JSON.stringify(v);
  return v as Value;
}

/** Runs a column's steps on its source values. */
export function applySteps(steps: readonly Transform[], inputs: unknown[], from: readonly string[]): Value {
  let v: unknown = inputs[0];
  steps.forEach((t, i) => {
    v = i === 0 && MULTI.has(t.kind) ? applyMulti(t, inputs, from) : applyOne(t, v);
  });
  return finish(v, steps);
}

/** The pure mapping of one entity: source row in, target values (in column order) out. */
export interface RowMapper {
  columns: string[];
  /** Source columns to select, the source key first. */
  sourceColumns: string[];
  businessKeyIndexes: number[];
  map(row: Record<string, unknown>): Mapped;
}

export function compileMapper(entity: EntitySpec): RowMapper {
  const columns = entity.columns.map((c) => c.name);
  const sourceColumns = [...new Set([entity.source.key, ...entity.columns.flatMap((c) => c.from)])];
  const businessKeyIndexes = entity.target.businessKey.map((k) => columns.indexOf(k));
  const steps = new Map(entity.columns.map((c) => [c, stepsOf(c)]));
  const convert = (c: ColumnSpec, row: Record<string, unknown>): Value => {
    if (c.from.length === 0) return c.constant ?? null;
    return applySteps(steps.get(c)!, c.from.map((f) => row[f]), c.from);
  };
  return {
    columns,
    sourceColumns,
    businessKeyIndexes,
    map(row) {
      const values: Value[] = [];
      for (const c of entity.columns) {
        try {
          values.push(convert(c, row));
        } catch (err) {
          if (!(err instanceof ConversionError)) throw err;
          const failed = steps.get(c)!.map((t) => t.kind).join(' → ');
          return { ok: false, problem: { reason: 'conversion_failed', column: c.name, detail: `${failed}: ${err.message}` } };
        }
      }
      for (const i of businessKeyIndexes) {
        if (values[i] === null || values[i] === '') return { ok: false, problem: { reason: 'missing_business_key', column: columns[i]!, detail: 'business key is empty' } };
      }
      return { ok: true, values };
    },
  };
}

/** The business key of mapped values, as one stable string (for ledgers and reports). */
export function businessKeyOf(values: readonly unknown[], indexes: readonly number[]): string {
  return indexes.length === 1 ? String(normalizeValue(values[indexes[0]!])) : JSON.stringify(indexes.map((i) => normalizeValue(values[i])));
}
