// Personal data by a column's content: the sampled values' kinds, their shares and confidences.
import { isLoginColumn, isNameHandle, MAX_HANDLE } from './person-handle';
import { jsonFinding } from './pii-json';
import { type PiiFinding, SENSITIVE_KINDS, type SensitiveKind, TEXT_LIKE, type TypeClass } from './pii-kinds';
import { FREE_TEXT_MIN_MATCHES, FREE_TEXT_SHARE, mostlyUnique, round, WHOLE_VALUE_SHARE, wilsonLow } from './pii-scoring';
import { kindsInside, MAX_PARSE, MAX_TEXT, stripHtml } from './pii-text';
import { isBirthDateLike, isEmail, isIpAddress, isNationalId, isPersonName, isPhone, isTitleLike, MAX_NAME, MAX_WHOLE, NOT_PERSON_COLUMNS } from './pii-values';

/** A value as text for the content rules ('' for what has none: booleans, bytes, objects). */
function textOf(v: unknown): string {
  if (typeof v === 'string') return v.trim();
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? '' : v.toISOString();
  return '';
}

function isDocument(v: unknown): v is object {
  return v !== null && typeof v === 'object' && !(v instanceof Date) && !Buffer.isBuffer(v) && !ArrayBuffer.isView(v);
}

/** Text that is a JSON object or array (a document stored as text), parsed; undefined otherwise. */
function parseDocument(s: string): object | undefined {
  const first = s[0];
  const last = s[s.length - 1];
  if (!((first === '{' && last === '}') || (first === '[' && last === ']'))) return undefined;
  try {
    const doc: unknown = JSON.parse(s);
    return doc !== null && typeof doc === 'object' ? doc : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The kind a whole value is, if any. Phones and national ids only in text-like columns (an
 * integer column holds ids and epochs); IP addresses in text and inet (`10.0.0.0/8` too).
 */
function wholeKindOf(t: string, type: TypeClass): SensitiveKind | undefined {
  const textLike = TEXT_LIKE.has(type);
  if (isEmail(t)) return 'email';
  if (textLike && isNationalId(t)) return 'national_id';
  if ((textLike || type === 'inet') && isIpAddress(t.replace(/\/\d{1,3}$/, ''))) return 'ip_address';
  if (textLike && isPhone(t)) return 'phone';
  return undefined;
}

export function contentFindings(values: readonly unknown[], type: TypeClass, words: readonly string[], byName: readonly PiiFinding[], personTable: boolean): PiiFinding[] {
  const docs: object[] = [];
  const texts: string[] = [];
  const raw: unknown[] = [];
  const add = (v: unknown) => {
    if (v === null || v === undefined || typeof v === 'boolean') return;
    if (isDocument(v)) {
      // A text[] column's values are arrays of text: each element is a value. JSON arrays are documents.
      if (Array.isArray(v) && type !== 'json' && v.every((e) => typeof e !== 'object' || e === null)) {
        for (const e of v) add(e);
        return;
      }
      docs.push(v);
      return;
    }
    const t = textOf(v);
    if (t === '') return;
    const doc = type !== 'number' && type !== 'date' && t.length <= MAX_PARSE ? parseDocument(t) : undefined;
    if (doc) {
      docs.push(doc);
      return;
    }
    texts.push(t.length > MAX_TEXT ? t.slice(0, MAX_TEXT) : t);
    raw.push(v);
  };
  for (const v of values) add(v);

  const found: PiiFinding[] = [];
  const json = jsonFinding(docs);
  if (json) found.push(json);
  const n = texts.length;
  if (n === 0) return found;

  const textLike = TEXT_LIKE.has(type);
  const named = new Set(byName.map((f) => f.kind));
  const wholes = new Map<SensitiveKind, number>();
  let personName = 0;
  let handles = 0;
  const distinctHandles = new Set<string>();
  let titleLike = 0;
  let digits = 0;
  let freeText = 0;
  const distinctNames = new Set<string>();
  const inside = new Set<SensitiveKind>();
  for (const t of texts) {
    // Whole values (an address, a number, an id) are short: long text is only searched inside.
    const kind = t.length <= MAX_WHOLE ? wholeKindOf(t, type) : undefined;
    if (kind) {
      wholes.set(kind, (wholes.get(kind) ?? 0) + 1);
      continue;
    }
    if (!textLike) continue;
    if (t.length <= MAX_HANDLE && isNameHandle(t)) {
      handles++;
      if (distinctHandles.size < 1000) distinctHandles.add(t);
    }
    if (t.length <= MAX_NAME) {
      if (/\d/.test(t)) digits++;
      if (isTitleLike(t)) titleLike++;
      else if (isPersonName(t)) {
        personName++;
        distinctNames.add(t);
      }
    } else titleLike++;
    const plain = stripHtml(t);
    if (plain.length > 40 || /\s/.test(plain)) {
      const kinds = kindsInside(plain);
      if (kinds.length > 0) {
        freeText++;
        for (const k of kinds) inside.add(k);
      }
    }
  }

  const whole = (kind: SensitiveKind, matched: number, base = 0.5, span = 0.49, cap = 0.99): void => {
    if (matched / n < WHOLE_VALUE_SHARE) return;
    found.push({ kind, method: 'content', confidence: round(Math.min(cap, base + span * wilsonLow(matched, n))), matched, sampled: n });
  };
  for (const [kind, matched] of wholes) whole(kind, matched);

  // A person's name by content is the weakest evidence: never for columns of codes, titles or
  // places, and only when the names are mostly different (a status like `Pending Review` repeats).
  const notPerson = words.some((w) => NOT_PERSON_COLUMNS.has(w)) || named.has('free_text');
  if (!notPerson && digits / n < 0.2 && mostlyUnique(personName, distinctNames.size)) whole('person_name', personName, 0.45, 0.25, 0.7);

  // Logins built from names: by content, surer in a login column and in a table of people;
  // mostly different, as logins are (a repeated `john.smith` is a label, or a shared account).
  if (!notPerson && mostlyUnique(handles, distinctHandles.size)) {
    const context = (isLoginColumn(words) ? 0.05 : 0) + (personTable ? 0.05 : 0);
    whole('person_identifier', handles, 0.5 + context, 0.3, 0.9);
  }

  // A date of birth needs its name: a date column alone is a date, not a birth.
  if (named.has('date_of_birth')) {
    let dates = 0;
    for (const v of raw) if (isBirthDateLike(v)) dates++;
    whole('date_of_birth', dates);
  }

  if (freeText >= FREE_TEXT_MIN_MATCHES || freeText / n >= FREE_TEXT_SHARE) {
    found.push({
      kind: 'free_text',
      method: 'content',
      confidence: round(Math.min(0.99, 0.6 + 0.39 * wilsonLow(freeText, n))),
      matched: freeText,
      sampled: n,
      inside: SENSITIVE_KINDS.filter((k) => inside.has(k)),
    });
  }

  // A person-name column (by name) whose values are titles and codes is a course's or a
  // company's `fullname`: keep the hint, but as weak evidence.
  if (named.has('person_name') && n >= 10 && titleLike / n >= 0.5 && personName / n < 0.1) {
    found.push({ kind: 'person_name', method: 'name', confidence: 0.4, matched: personName, sampled: n });
  }
  return found;
}
