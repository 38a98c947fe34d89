// Transforms: the steps a source column's type and sampled values call for into a target column's type.
import type { CatalogColumn } from '../catalog/pg-catalog';
import { parseTargetType, type TargetType } from '../core/target-types';
import type { Step } from './draft-model';

// ---------------------------------------------------------------- types

/** A type as the draft reasons about it: Cutover's target types, plus enums by their labels. */
export function kindOf(c: CatalogColumn): TargetType['kind'] | 'enum' {
  if (c.enumLabels?.length) return 'enum';
  return parseTargetType(c.type)?.kind ?? 'other';
}

export const isTextual = (c: CatalogColumn) => ['text', 'char'].includes(kindOf(c));
export const lengthOf = (c: CatalogColumn): number | undefined => {
  const t = parseTargetType(c.type);
  return t?.kind === 'text' || t?.kind === 'char' ? t.length : undefined;
};
/** A `character(n)` of more than one character: values come padded with spaces. */
const padded = (c: CatalogColumn) => parseTargetType(c.type)?.kind === 'char' && (lengthOf(c) ?? 1) > 1;

const BOOLEAN_WORDS = new Set(['t', 'true', 'y', 'yes', '1', 'f', 'false', 'n', 'no', '0']);

/** The steps the types call for, from a source column into a target column. */
export function typeSteps(s: CatalogColumn, t: CatalogColumn, source: string, target: string, distinct: string[] | undefined, steps: Step[], comments: string[]): void {
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
