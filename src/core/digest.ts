import { createHmac } from 'node:crypto';
import { canonicalJson } from './canonical-json';

/**
 * A value as both sides see it: the staged row (JSON) and the row read back from the target
 * (parsed by pg) normalize to the same string, so a digest compares them across types.
 */
export function normalizeValue(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'string') {
    // A timestamp staged as ISO text and read back as a Date must agree.
    if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/.test(v)) return new Date(v).toISOString();
    return v;
  }
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (Buffer.isBuffer(v)) return `\\x${v.toString('hex')}`;
  return canonicalJson(v); // a jsonb column gives its keys back in another order
}

/** Keyed digest of a row's mapped columns: reveals nothing of the values without the key. */
export function rowDigest(key: Uint8Array, columns: readonly string[], values: readonly unknown[]): string {
  const mac = createHmac('sha256', key);
  columns.forEach((c, i) => {
    const v = normalizeValue(values[i]);
    mac.update(c).update('\0').update(v === null ? '\u0001null' : `=${v}`).update('\0');
  });
  return mac.digest('hex');
}
