import type { ColumnSpec, EntitySpec, Transform } from '../plan/types';
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

function apply(t: Transform, inputs: unknown[]): Value {
  const [first] = inputs;
  if (t.kind === 'combine') {
    const parts = inputs.filter((v) => v !== null && v !== undefined).map(asText);
    return parts.length ? parts.join(t.separator) : null;
  }
  if (first === null || first === undefined) return null;
  switch (t.kind) {
    case 'copy':
      if (first instanceof Date) return first.toISOString();
      if (typeof first === 'bigint') return first.toString();
      if (typeof first === 'object') return JSON.stringify(first);
      return first as Value;
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
    case 'epoch_to_timestamp': {
      const n = typeof first === 'number' ? first : Number(asText(first));
      if (!Number.isFinite(n)) throw new ConversionError('not a number of seconds');
      const ms = t.unit === 's' ? n * 1000 : n;
      const d = new Date(ms);
      if (Number.isNaN(d.getTime()) || Math.abs(ms) > 8.64e15) throw new ConversionError('out of the timestamp range');
      return d.toISOString();
    }
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
  }
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
  const convert = (c: ColumnSpec, row: Record<string, unknown>): Value => {
    if (c.from.length === 0) return c.constant ?? null;
    return apply(c.transform, c.from.map((f) => row[f]));
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
          return { ok: false, problem: { reason: 'conversion_failed', column: c.name, detail: `${c.transform.kind}: ${err.message}` } };
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
