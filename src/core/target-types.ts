import { isIP } from 'node:net';
import { canonicalJson } from './canonical-json';

/**
 * PostgreSQL column types as Cutover needs them: to cast a mapped value into the form the
 * target stores (the `cast` step), and to compare a staged value with the one read back in
 * that form (digests, "unchanged"). Pure: the type names come from the target's catalog
 * (`format_type`) or from a plan's `cast` step.
 */
export type TargetType =
  | { kind: 'text'; length?: number }
  | { kind: 'char'; length: number }
  | { kind: 'integer'; bits: 16 | 32 | 64 }
  | { kind: 'numeric'; precision?: number; scale?: number }
  | { kind: 'float' }
  | { kind: 'boolean' }
  | { kind: 'date' }
  /** `precision`: digits of a second kept (0..6); PostgreSQL rounds to it. Absent: 6 (finer than a staged value's ms). */
  | { kind: 'timestamptz'; precision?: number }
  | { kind: 'timestamp'; precision?: number }
  | { kind: 'inet' }
  | { kind: 'uuid' }
  | { kind: 'json' }
  /** A type Cutover has no rule for (an enum, an interval, a domain): compared as text. */
  | { kind: 'other'; name: string };

/** Why a value does not fit a type. Says what, never the value. */
export class TypeMismatch extends Error {}

/** Reads a type as `format_type()` prints it, or as a plan's `cast` names it; undefined when the name is not one Cutover can cast to. */
export function parseTargetType(name: string): TargetType | undefined {
  const t = name.trim().toLowerCase().replace(/\s+/g, ' ').replace(/\s*([(),])\s*/g, '$1');
  let m: RegExpMatchArray | null;
  if (t === 'text' || t === 'character varying' || t === 'varchar') return { kind: 'text' };
  if ((m = t.match(/^(?:character varying|varchar)\((\d+)\)$/))) return { kind: 'text', length: Number(m[1]) };
  if ((m = t.match(/^(?:character|char|bpchar)(?:\((\d+)\))?$/))) return { kind: 'char', length: Number(m[1] ?? 1) };
  if (t === 'smallint' || t === 'int2') return { kind: 'integer', bits: 16 };
  if (t === 'integer' || t === 'int' || t === 'int4') return { kind: 'integer', bits: 32 };
  if (t === 'bigint' || t === 'int8') return { kind: 'integer', bits: 64 };
  if (t === 'numeric' || t === 'decimal') return { kind: 'numeric' };
  if ((m = t.match(/^(?:numeric|decimal)\((\d+)(?:,(\d+))?\)$/))) return { kind: 'numeric', precision: Number(m[1]), scale: Number(m[2] ?? 0) };
  if (t === 'real' || t === 'double precision' || t === 'float4' || t === 'float8') return { kind: 'float' };
  if (t === 'boolean' || t === 'bool') return { kind: 'boolean' };
  if (t === 'date') return { kind: 'date' };
  if ((m = t.match(/^timestamptz(?:\((\d)\))?$/) ?? t.match(/^timestamp(?:\((\d)\))? ?with time zone$/))) return { kind: 'timestamptz', ...(m[1] !== undefined ? { precision: Number(m[1]) } : {}) };
  if ((m = t.match(/^timestamp(?:\((\d)\))?$/) ?? t.match(/^timestamp(?:\((\d)\))? ?without time zone$/))) return { kind: 'timestamp', ...(m[1] !== undefined ? { precision: Number(m[1]) } : {}) };
  if (t === 'inet') return { kind: 'inet' };
  if (t === 'uuid') return { kind: 'uuid' };
  if (t === 'json' || t === 'jsonb') return { kind: 'json' };
  return undefined;
}

/** A catalog type: one Cutover has rules for, else compared as text. */
export function catalogType(name: string): TargetType {
  return parseTargetType(name) ?? { kind: 'other', name };
}

const pad2 = (n: number) => String(n).padStart(2, '0');

function text(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (v instanceof Date) return v.toISOString();
  throw new TypeMismatch(`expected a scalar, got ${typeof v}`);
}

/** A decimal as text with exactly `scale` fraction digits, rounded half away from zero (as PostgreSQL rounds numeric). */
function roundDecimal(input: string, scale: number | undefined): string {
  const m = input.trim().match(/^([+-]?)(\d*)(?:\.(\d*))?(?:e([+-]?\d+))?$/i);
  if (!m || (m[2] === '' && (m[3] ?? '') === '')) throw new TypeMismatch('not a number');
  const negative = m[1] === '-';
  let digits = `${m[2]}${m[3] ?? ''}`;
  let point = (m[2] ?? '').length + Number(m[4] ?? 0); // digits before the decimal point
  if (digits === '') digits = '0';
  if (point < 0) {
    digits = '0'.repeat(-point) + digits;
    point = 0;
  }
  if (point > digits.length) digits = digits + '0'.repeat(point - digits.length);
  let int = digits.slice(0, point) || '0';
  let frac = digits.slice(point);
  if (scale === undefined) {
    frac = frac.replace(/0+$/, '');
  } else if (frac.length > scale) {
    const up = frac.charCodeAt(scale) >= 53; // '5'
    const kept = BigInt(`${int}${frac.slice(0, scale)}`) + (up ? 1n : 0n);
    const s = kept.toString().padStart(scale + 1, '0');
    int = s.slice(0, s.length - scale);
    frac = s.slice(s.length - scale);
  } else {
    frac = frac.padEnd(scale, '0');
  }
  int = int.replace(/^0+(?=\d)/, '');
  const zero = /^0*$/.test(int + frac);
  return `${negative && !zero ? '-' : ''}${int}${frac ? `.${frac}` : ''}`;
}

function isoDate(s: string): string {
  const m = s.trim().match(/^(\d{4})-(\d{2})-(\d{2})(?:$|[T ])/);
  if (m) {
    const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
    if (d.getUTCMonth() !== Number(m[2]) - 1 || d.getUTCDate() !== Number(m[3])) throw new TypeMismatch('not a calendar date');
    return `${m[1]}-${m[2]}-${m[3]}`;
  }
  throw new TypeMismatch('not a date (YYYY-MM-DD)');
}

/** `YYYY-MM-DDTHH:MM:SS.mmm` of a timestamp without time zone: the wall-clock time as written (PostgreSQL ignores a zone there). */
function wallClock(s: string): string {
  const m = s.trim().match(/^(\d{4}-\d{2}-\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?/);
  if (!m) {
    isoDate(s);
    return `${s.trim().slice(0, 10)}T00:00:00.000`;
  }
  isoDate(m[1]!);
  return `${m[1]}T${m[2]}:${m[3]}:${m[4] ?? '00'}.${(m[5] ?? '').padEnd(3, '0').slice(0, 3)}`;
}

function instant(v: unknown): string {
  if (v instanceof Date) {
    if (Number.isNaN(v.getTime())) throw new TypeMismatch('not a timestamp');
    return v.toISOString();
  }
  const s = text(v).trim();
  // PostgreSQL's own text form: '2024-01-02 03:04:05.123+00' (an offset of hours only).
  const pg = s.match(/^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)([+-]\d{2})(?::?(\d{2}))?$/);
  const d = pg ? new Date(`${pg[1]}T${pg[2]}${pg[3]}:${pg[4] ?? '00'}`) : new Date(/^\d{4}-\d{2}-\d{2}$/.test(s) ? `${s}T00:00:00Z` : s);
  if (Number.isNaN(d.getTime()) || !/^\d{4}-\d{2}-\d{2}/.test(s)) throw new TypeMismatch('not a timestamp');
  return d.toISOString();
}

/** An ISO instant rounded to `precision` digits of a second, as a column of that precision stores it. */
function rounded(iso: string, precision: number | undefined): string {
  if (precision === undefined || precision >= 3) return iso;
  const unit = 10 ** (3 - precision);
  return new Date(Math.round(new Date(iso).getTime() / unit) * unit).toISOString();
}

function inet(v: unknown): string {
  const s = text(v).trim().toLowerCase();
  const [address, mask, extra] = s.split('/');
  if (extra !== undefined || !address) throw new TypeMismatch('not an IP address');
  const family = isIP(address);
  if (!family) throw new TypeMismatch('not an IP address');
  const bits = family === 4 ? 32 : 128;
  if (mask !== undefined && (!/^\d{1,3}$/.test(mask) || Number(mask) > bits)) throw new TypeMismatch('not a network mask');
  // PostgreSQL prints the shortest form of an IPv6 address, and no mask on a single host.
  const canonical = family === 6 ? new URL(`http://[${address}]/`).hostname.slice(1, -1) : address.split('.').map((o) => String(Number(o))).join('.');
  return mask === undefined || Number(mask) === bits ? canonical : `${canonical}/${Number(mask)}`;
}

/**
 * The value as a column of type `t` stores it, JSON-safe: what the `cast` step produces and
 * what a read-back value normalizes to. Throws TypeMismatch where PostgreSQL would refuse
 * it (too long, out of range, not a date). NULL stays NULL.
 */
export function castTo(t: TargetType, v: unknown): string | number | boolean | null | object {
  if (v === null || v === undefined) return null;
  switch (t.kind) {
    case 'text': {
      const s = typeof v === 'object' && !(v instanceof Date) ? JSON.stringify(v) : text(v);
      // Characters are code points; there are never more of them than UTF-16 units.
      if (t.length !== undefined && s.length > t.length && [...s].length > t.length) throw new TypeMismatch(`longer than ${t.length} characters`);
      return s;
    }
    case 'char': {
      // PostgreSQL drops trailing spaces beyond the length, refuses other excess, and pads.
      const s = text(v).replace(/ +$/, '');
      if ([...s].length > t.length) throw new TypeMismatch(`longer than ${t.length} characters`);
      return s + ' '.repeat(t.length - [...s].length);
    }
    case 'integer': {
      const s = text(v).trim();
      if (!/^[+-]?\d+$/.test(s)) throw new TypeMismatch('not an integer');
      const n = BigInt(s);
      const limit = 1n << BigInt(t.bits - 1);
      if (n < -limit || n >= limit) throw new TypeMismatch(`out of the range of a ${t.bits}-bit integer`);
      return t.bits === 64 ? n.toString() : Number(n);
    }
    case 'numeric': {
      const s = roundDecimal(text(v), t.scale);
      if (t.precision !== undefined) {
        const intDigits = s.replace(/^-/, '').split('.')[0]!.replace(/^0+/, '').length;
        if (intDigits > t.precision - (t.scale ?? 0)) throw new TypeMismatch(`does not fit numeric(${t.precision},${t.scale ?? 0})`);
      }
      return s;
    }
    case 'float': {
      const n = typeof v === 'number' ? v : Number(text(v).trim());
      if (Number.isNaN(n) && text(v).trim().toLowerCase() !== 'nan') throw new TypeMismatch('not a number');
      return n;
    }
    case 'boolean': {
      if (typeof v === 'boolean') return v;
      const s = text(v).trim().toLowerCase();
      if (['t', 'true', 'y', 'yes', 'on', '1'].includes(s)) return true;
      if (['f', 'false', 'n', 'no', 'off', '0'].includes(s)) return false;
      throw new TypeMismatch('not a boolean');
    }
    case 'date':
      return v instanceof Date ? v.toISOString().slice(0, 10) : isoDate(text(v));
    case 'timestamptz':
      return rounded(instant(v), t.precision);
    case 'timestamp':
      return rounded(`${wallClock(v instanceof Date ? v.toISOString() : text(v))}Z`, t.precision).slice(0, -1);
    case 'inet':
      return inet(v);
    case 'uuid': {
      const s = text(v).trim().toLowerCase().replace(/^\{|\}$/g, '');
      const hex = s.replace(/-/g, '');
      if (!/^[0-9a-f]{32}$/.test(hex)) throw new TypeMismatch('not a UUID');
      return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
    }
    case 'json': {
      if (typeof v === 'string') {
        try {
          return JSON.parse(v) as object;
        } catch {
          throw new TypeMismatch('not a JSON document');
        }
      }
      return v as object;
    }
    case 'other':
      return typeof v === 'object' && !(v instanceof Date) ? (v as object) : text(v);
  }
}

/**
 * One string per stored value, equal for a staged value and the same value read back from a
 * column of type `t`: `''` and `'  '` in `char(2)`, `12.5` and `'12.50000'` in
 * `numeric(10,5)`, an epoch's ISO time and `'2024-01-02'` in `date`. A value the type would
 * refuse compares as it is (the load refuses it; reconcile must not call it equal).
 */
export function storedForm(t: TargetType | undefined, v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (t) {
    try {
      const c = castTo(t, v);
      if (c === null) return null;
      if (t.kind === 'float') return Object.is(c, -0) ? '0' : String(c);
      return typeof c === 'object' ? canonicalJson(c) : String(c);
    } catch (err) {
      if (!(err instanceof TypeMismatch)) throw err;
    }
  }
  return genericForm(v);
}

/** A value without a known type, as both sides see it (see `normalizeValue` in digest.ts). */
export function genericForm(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'string') {
    if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/.test(v)) return new Date(v).toISOString();
    return v;
  }
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (Buffer.isBuffer(v)) return `\\x${v.toString('hex')}`;
  return canonicalJson(v);
}

/** `YYYY-MM-DD` (UTC) of an instant in milliseconds. */
export function utcDate(ms: number): string {
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) throw new TypeMismatch('out of the date range');
  return `${String(d.getUTCFullYear()).padStart(4, '0')}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}`;
}
