import { createHmac } from 'node:crypto';
import { genericForm, storedForm, type TargetType } from './target-types';

/**
 * A value as both sides see it when its column's type is not known: the staged row (JSON)
 * and the row read back from the target (parsed by pg) normalize to the same string.
 */
export function normalizeValue(v: unknown): string | null {
  return genericForm(v);
}

/**
 * Keyed digest of a row's mapped columns: reveals nothing of the values without the key.
 * With `types` (the target's column types, from its catalog), each value is taken in the form
 * the target stores it, so a staged `''` and a stored `'  '` in `char(2)` agree.
 */
export function rowDigest(key: Uint8Array, columns: readonly string[], values: readonly unknown[], types?: readonly (TargetType | undefined)[]): string {
  // One string, one update: the same bytes as a column-by-column update, without a call each.
  let text = '';
  for (let i = 0; i < columns.length; i++) {
    const v = types ? storedForm(types[i], values[i]) : normalizeValue(values[i]);
    text += `${columns[i]}\0${v === null ? '\u0001null' : `=${v}`}\0`;
  }
  return createHmac('sha256', key).update(text).digest('hex');
}
