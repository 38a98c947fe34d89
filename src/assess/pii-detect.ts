/**
 * Personal-data discovery for the pre-migration assessment: which kinds of personal data one
 * source column holds, judged by its name and by a sample of its values.
 *
 * Pure: the caller samples the column (read-only) and passes the values in; nothing here reads,
 * logs, returns or throws a value. A finding carries kinds, counts, confidences and JSON key
 * paths only, and a JSON key that could itself be personal (an address, a number, a name, any
 * key a plan's `pii_paths` could not name) is reported as `*`.
 *
 * Evidence, in short:
 * - **Name**: the column's name split into words (`_`, `-`, camelCase, digits), matched against
 *   known names (`email`, `phone1`, `firstName`, `lastip`, `date_of_birth`, `ssn`, `notes`, ...),
 *   only when the column's type could hold that kind (an `email_verified boolean` is no email).
 *   A bare `name` says nothing: courses and organisations have names too, nor does a
 *   `username`. An `idnumber` (an institution's number for the row, in Moodle) is a weak
 *   `person_identifier` in a table of people (`mdl_user`) and nothing by its name elsewhere (a
 *   course's or a category's code): a national id needs content in national-id formats.
 * - **Content**: whole values that are emails (`mailto:` too), phone numbers, IP addresses,
 *   national ids (US SSN, UK NINO) or person names, in at least {@link WHOLE_VALUE_SHARE} of the
 *   sampled non-empty values; logins built from a person's name (`jsmith`, `john.smith`,
 *   `maria_garcia2`, against a dictionary of given and family names: `person-handle.ts`) in
 *   the same share (`person_identifier`); text (HTML stripped) that contains emails, phones, IPs or national
 *   ids (`free_text`); JSON documents whose key paths name or hold personal data
 *   (`json_personal`). A date of birth needs both: a birth-date name and date-like values.
 * - **Both**: a kind found by name and by content is one finding, `method: 'content'` (the
 *   stronger evidence), with the higher of the two confidences. A person-name column name
 *   whose values are titles and codes (a course's `fullname`) stays a `name` finding, weak (0.4).
 *
 * Fast enough for a sample of 500 rows of a wide table: every pattern is anchored or has
 * bounded repeats, long values are only searched inside (and only their first
 * 20,000 characters), and JSON documents are walked to a bounded depth and size.
 */
import { isIP } from 'node:net';
import { isLoginColumn, isNameHandle, isPersonTable, MAX_HANDLE } from './person-handle';

export const SENSITIVE_KINDS = ['email', 'phone', 'person_name', 'person_identifier', 'ip_address', 'date_of_birth', 'national_id', 'free_text', 'json_personal'] as const;
export type SensitiveKind = (typeof SENSITIVE_KINDS)[number];

export interface PiiFinding {
  kind: SensitiveKind;
  /** How it was found: the column's name, or the content of sampled values. */
  method: 'name' | 'content';
  /** 0..1 */
  confidence: number;
  /** For content: sampled non-empty values that matched, and how many were sampled. */
  matched?: number;
  sampled?: number;
  /** free_text: the kinds found inside the text (emails, phones, ...). json_personal: the personal paths, dotted ('actor.mbox'), each with its kind. */
  inside?: SensitiveKind[];
  paths?: { path: string; kind: SensitiveKind }[];
}

export interface ColumnSample {
  /**
   * The source table's name (for a plan's query, its entity's name): its last word says
   * whether its rows are people (`mdl_user`, `legacy_users`, `learners`), which an `idnumber`
   * needs to be a person's, and which makes a login surer.
   */
  table?: string;
  /** Source column name. */
  column: string;
  /** PostgreSQL format_type(), e.g. 'character varying(200)', 'text', 'jsonb', 'date', 'inet', 'bigint'. */
  type: string;
  /** Sampled NON-NULL values as node-postgres returns them (strings, numbers, Date, objects for json). */
  values: unknown[];
}

/** The share of sampled non-empty values a whole-value kind (email, phone, ...) needs. */
export const WHOLE_VALUE_SHARE = 0.3;
/** Free text needs this many values containing personal data, or {@link FREE_TEXT_SHARE} of them. */
export const FREE_TEXT_MIN_MATCHES = 2;
export const FREE_TEXT_SHARE = 0.05;

/**
 * Findings for one column, strongest first (confidence, then the order of
 * {@link SENSITIVE_KINDS}); [] when nothing personal. Never returns or embeds a value.
 */
export function discoverColumn(sample: ColumnSample): PiiFinding[] {
  const type = typeClassOf(sample.type);
  const words = nameWords(sample.column);
  const personTable = sample.table !== undefined && isPersonTable(nameWords(sample.table));
  const byName = nameFindings(words, type, personTable);
  const content = contentFindings(sample.values, type, words, byName, personTable);
  return combine(byName, content);
}

/**
 * The plan's PII kind (email|name|phone|text, see PII_KINDS in src/plan/types.ts) a finding
 * would be declared as. Kinds the plan has no token shape for (a login, an IP, a birth date, a
 * national id, free text) are `text`; a `json_personal` column is declared path by path with
 * `pii_paths`, each path by its own kind, and as a whole would be `text`.
 */
export function planKindOf(kind: SensitiveKind): 'email' | 'name' | 'phone' | 'text' {
  switch (kind) {
    case 'email':
      return 'email';
    case 'phone':
      return 'phone';
    case 'person_name':
      return 'name';
    // A login's token must stay a login, not a name (`pii: text`, as the example plans declare usernames).
    default:
      return 'text';
  }
}

// ---------------------------------------------------------------------------------------------
// Column types

/**
 * What a PostgreSQL type can hold, as far as personal data goes. Unknown types (enums,
 * domains, `xml`) count as text: their values arrive as strings and a domain over text is
 * where an `email_address` type would hide.
 */
type TypeClass = 'text' | 'json' | 'inet' | 'date' | 'number' | 'none';

function typeClassOf(formatType: string): TypeClass {
  const t = formatType
    .trim()
    .toLowerCase()
    .replace(/\[\]$/, '')
    .replace(/\s*\([^)]*\)/g, '')
    .trim();
  if (/^(text|character varying|varchar|character|char|bpchar|"char"|citext|name)$/.test(t)) return 'text';
  if (t === 'json' || t === 'jsonb') return 'json';
  if (t === 'inet' || t === 'cidr') return 'inet';
  if (t === 'date' || t.startsWith('timestamp')) return 'date';
  if (/^(smallint|integer|int|int2|int4|int8|bigint|numeric|decimal|real|double precision|float4|float8|oid|smallserial|serial|bigserial)$/.test(t)) return 'number';
  if (/^(boolean|bool|bytea|uuid|interval|money|macaddr|macaddr8|tsvector|tsquery|point|line|box|polygon|circle)$/.test(t) || t.startsWith('time') || t.startsWith('bit')) return 'none';
  return 'text';
}

/** Kinds a column of this type can hold at all: a name is believed only for these. */
const KINDS_BY_TYPE: Record<TypeClass, ReadonlySet<SensitiveKind>> = {
  text: new Set(SENSITIVE_KINDS),
  json: new Set(SENSITIVE_KINDS),
  inet: new Set(['ip_address']),
  // Phone numbers, national ids, IPv4 addresses and a person's institution number are stored as numbers in some schemas; a birth date as an epoch.
  number: new Set(['phone', 'ip_address', 'date_of_birth', 'national_id', 'person_identifier']),
  date: new Set(['date_of_birth']),
  none: new Set(),
};

const TEXT_LIKE: ReadonlySet<TypeClass> = new Set(['text', 'json']);

// ---------------------------------------------------------------------------------------------
// By name

/** The words of a name, lower-cased, letters only: `lastIP2` → ['last', 'ip'], `e_mail` → ['e', 'mail']. */
function nameWords(name: string): string[] {
  return name
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z]+/)
    .filter((w) => w !== '');
}

interface NameRule {
  kind: SensitiveKind;
  words: string[];
  joined: string;
  confidence: number;
  /** Also found inside one run-together word (`useremail`, `lastnamephonetic`): only for words long or distinctive enough. */
  embeds: boolean;
}

function rule(kind: SensitiveKind, snake: string, confidence: number, embeds = false): NameRule {
  const words = snake.split('_');
  return { kind, words, joined: words.join(''), confidence, embeds };
}

/**
 * Known names. Confidence is for the name being the whole column name; a name inside a longer
 * one (`user_email`, `home_phone`) is 0.1 less. Weak names (a `description`) sit below 0.5,
 * which the risk scale reads as weak. An `idnumber` is not among them: see {@link INSTITUTION_NUMBER}.
 */
const NAME_RULES: NameRule[] = [
  rule('email', 'email', 0.8, true),
  rule('email', 'e_mail', 0.8),
  rule('email', 'email_address', 0.8, true),
  rule('email', 'mbox', 0.8),
  rule('email', 'mail', 0.7),
  rule('phone', 'phone', 0.8),
  rule('phone', 'phone_number', 0.8, true),
  rule('phone', 'telephone', 0.8, true),
  rule('phone', 'mobile', 0.7),
  rule('phone', 'mobile_number', 0.8, true),
  rule('phone', 'cellphone', 0.8, true),
  rule('phone', 'tel', 0.7),
  rule('phone', 'fax', 0.7),
  rule('phone', 'msisdn', 0.8, true),
  rule('person_name', 'first_name', 0.8, true),
  rule('person_name', 'given_name', 0.8, true),
  rule('person_name', 'forename', 0.8, true),
  rule('person_name', 'last_name', 0.8, true),
  rule('person_name', 'surname', 0.8, true),
  rule('person_name', 'family_name', 0.8, true),
  rule('person_name', 'maiden_name', 0.8, true),
  rule('person_name', 'full_name', 0.7, true),
  rule('person_name', 'middle_name', 0.7, true),
  rule('person_name', 'alternate_name', 0.6, true),
  rule('person_name', 'display_name', 0.6, true),
  rule('ip_address', 'ip', 0.8),
  rule('ip_address', 'ip_address', 0.8, true),
  rule('ip_address', 'ip_addr', 0.8),
  rule('ip_address', 'last_ip', 0.8, true),
  rule('ip_address', 'client_ip', 0.8, true),
  rule('ip_address', 'remote_ip', 0.8, true),
  rule('ip_address', 'remote_addr', 0.7, true),
  rule('date_of_birth', 'dob', 0.8),
  rule('date_of_birth', 'birth_date', 0.8, true),
  rule('date_of_birth', 'date_of_birth', 0.8, true),
  rule('date_of_birth', 'birthday', 0.8, true),
  rule('national_id', 'ssn', 0.8),
  rule('national_id', 'national_id', 0.8, true),
  rule('national_id', 'nin', 0.7),
  rule('national_id', 'nino', 0.7),
  rule('national_id', 'passport', 0.7, true),
  rule('national_id', 'tax_id', 0.7, true),
  rule('national_id', 'social_security', 0.8, true),
  rule('national_id', 'personnummer', 0.8, true),
  rule('free_text', 'notes', 0.6),
  rule('free_text', 'note', 0.6),
  rule('free_text', 'comment', 0.6),
  rule('free_text', 'comments', 0.6),
  rule('free_text', 'feedback', 0.6),
  rule('free_text', 'remarks', 0.6),
  rule('free_text', 'remark', 0.6),
  rule('free_text', 'bio', 0.6),
  rule('free_text', 'biography', 0.6),
  rule('free_text', 'message', 0.55),
  rule('free_text', 'description', 0.45),
  rule('free_text', 'about', 0.45),
  rule('free_text', 'body', 0.45),
];

/**
 * Words that, beside a personal name, say the column is about it rather than it: a format, a
 * flag, a count, a hash (`mail_format`, `phone_verified`, `email_hash`, `emailstop`).
 */
const QUALIFIERS = new Set([
  'format', 'digest', 'display', 'stop', 'status', 'type', 'count', 'sent', 'subject', 'template', 'server', 'host',
  'verified', 'verification', 'enabled', 'disabled', 'opt', 'optin', 'optout', 'bounce', 'bounced', 'flag', 'pref',
  'preference', 'preferences', 'frequency', 'setting', 'settings', 'confirmed', 'valid', 'validated', 'visible',
  'visibility', 'hash', 'sha', 'sum', 'md', 'domain', 'provider', 'policy', 'length', 'len', 'max', 'min', 'changed',
  'app', 'version', 'device', 'os', 'platform', 'browser', 'model',
]);

/**
 * An institution's number for a row (Moodle's `idnumber` on users, courses and categories alike):
 * in a table of people a person's student or staff number, weak evidence (0.45); elsewhere a
 * code of the thing, nothing personal. Never a national id by its name: content in national-id
 * formats decides that, whatever the column is called.
 */
const INSTITUTION_NUMBER = rule('person_identifier', 'id_number', 0.45, true);

/** Best confidence per kind from the name, among kinds the column's type can hold. */
function nameFindings(words: readonly string[], type: TypeClass, personTable: boolean): PiiFinding[] {
  const best = new Map<SensitiveKind, number>();
  for (const r of personTable ? [...NAME_RULES, INSTITUTION_NUMBER] : NAME_RULES) {
    if (!KINDS_BY_TYPE[type].has(r.kind)) continue;
    const c = matchRule(r, words);
    if (c !== undefined && c > (best.get(r.kind) ?? 0)) best.set(r.kind, c);
  }
  return [...best].map(([kind, confidence]) => ({ kind, method: 'name', confidence }));
}

function matchRule(r: NameRule, words: readonly string[]): number | undefined {
  const joined = words.join('');
  if (joined === '') return undefined;
  if (joined === r.joined) return r.confidence;
  const inside = round(r.confidence - 0.1);
  // The rule's words in a row among the name's words (`home_phone`, `user_first_name`).
  for (let i = 0; i + r.words.length <= words.length; i++) {
    if (r.words.every((w, j) => words[i + j] === w)) {
      const rest = [...words.slice(0, i), ...words.slice(i + r.words.length)];
      return rest.some((w) => QUALIFIERS.has(w)) ? undefined : inside;
    }
  }
  // One word that is the rule run together (`user_firstname`), or holds it (`useremail`, `emailstop`).
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    const at = w === r.joined ? 0 : r.embeds ? w.indexOf(r.joined) : -1;
    if (at < 0) continue;
    const rest = [...words.slice(0, i), ...words.slice(i + 1), w.slice(0, at), w.slice(at + r.joined.length)].filter((x) => x !== '');
    return rest.some((x) => QUALIFIERS.has(x)) ? undefined : inside;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Whole values

/** An email, `mailto:` or not. Bounded repeats keep it linear on long values. */
const EMAIL = /^(?:mailto:)?[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,8}[A-Za-z]{2,24}$/i;
const SSN = /^(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}$/;
/** UK National Insurance number: two letters (not the ones never issued), six digits, A–D. */
const NINO = /^(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]$/i;
const PHONE_CHARS = /^\+?\(?\d[\d\s().-]{5,24}\d$/;
const DATE_SHAPES = [/^\d{4}[-/.]\d{1,2}[-/.]\d{1,2}$/, /^\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}$/];
const YEAR_RANGE = /^(19|20)\d\d\s?-\s?(19|20)\d\d$/;
const DECIMAL = /^\d+\.\d+$/;
/** `1.234.567`: a number with European thousands separators (spaced groups stay phones: `612 345 678`). */
const THOUSANDS = /^[1-9]\d{0,2}(?:\.\d{3})+$/;

function isEmail(s: string): boolean {
  return s.includes('@') && EMAIL.test(s);
}

function isNationalId(s: string): boolean {
  return SSN.test(s) || NINO.test(s);
}

function isIpAddress(s: string): boolean {
  return s.length <= 64 && isIP(s) !== 0;
}

/**
 * A phone number as a whole value: 7–15 digits with only `+ ( ) . -` and spaces, and a sign it
 * is dialled rather than counted: a leading `+`, a separator, or a trunk `0` with at least 9
 * characters. A plain integer (an id, an epoch) is not one, nor a date, a decimal, a year range,
 * a number with thousands separators, an SSN or an IP address.
 */
function isPhone(s: string): boolean {
  if (!PHONE_CHARS.test(s) || /[\s().-]{2}/.test(s.replace(/\) /g, ')').replace(/ \(/g, '('))) return false;
  const digits = s.replace(/\D/g, '').length;
  if (digits < 7 || digits > 15) return false;
  const separated = /[\s().-]/.test(s);
  const dialled = s.startsWith('+') || separated || (/^0[1-9]/.test(s) && s.length >= 9);
  if (!dialled) return false;
  if (DATE_SHAPES.some((d) => d.test(s)) || YEAR_RANGE.test(s) || DECIMAL.test(s) || THOUSANDS.test(s)) return false;
  return !SSN.test(s) && isIP(s) === 0;
}

/** Lower-case words that sit inside names (`Ludwig van Beethoven`). */
const NAME_PARTICLES = new Set(['van', 'von', 'de', 'da', 'del', 'della', 'der', 'den', 'di', 'du', 'la', 'le', 'bin', 'binti', 'al', 'el', 'ter', 'ten', 'y', 'dos', 'das']);

/** Words of titles, places and organisations, which are capitalised like names but are not people's. */
const NOT_NAME_WORDS = new Set([
  'of', 'and', 'the', 'to', 'for', 'in', 'on', 'at', 'by', 'with', 'a', 'an', 'or', 'introduction', 'intro', 'course',
  'class', 'module', 'unit', 'lesson', 'chapter', 'part', 'section', 'department', 'dept', 'university', 'college',
  'school', 'institute', 'academy', 'faculty', 'center', 'centre', 'group', 'team', 'project', 'program', 'programme',
  'ltd', 'inc', 'corp', 'llc', 'plc', 'gmbh', 'company', 'co', 'limited', 'services', 'solutions', 'systems',
  'technologies', 'international', 'association', 'foundation', 'society', 'club', 'council', 'committee', 'office',
  'bank', 'hospital', 'clinic', 'church', 'city', 'county', 'state', 'north', 'south', 'east', 'west', 'new', 'san',
  'los', 'las', 'saint', 'st', 'fort', 'port', 'lake', 'mount', 'river', 'street', 'road', 'avenue', 'basics',
  'advanced', 'fundamentals', 'principles', 'management', 'science', 'sciences', 'studies', 'history', 'english',
  'math', 'maths', 'mathematics', 'biology', 'chemistry', 'physics', 'art', 'arts', 'design', 'business', 'engineering',
  'data', 'workshop', 'training', 'seminar', 'quiz', 'exam', 'test', 'assignment', 'report', 'admin', 'administrator',
  'user', 'guest', 'demo', 'default', 'system', 'support', 'staff', 'general', 'level', 'year', 'semester', 'term',
]);

/** The longest whole value read as an address, a number or an id (an email is at most 254). */
const MAX_WHOLE = 320;
/** The longest value read as a person's name. */
const MAX_NAME = 60;
const NAME_WORD = /^\p{Lu}[\p{L}'’-]*$/u;
const INITIAL = /^\p{Lu}\.$/u;
const ROMAN = /^[IVX]{2,4}$/;

/** Looks like a person's name: 2–4 capitalised words of letters, hyphens and apostrophes (particles and initials aside). */
function isPersonName(s: string): boolean {
  if (s.length > MAX_NAME) return false;
  const parts = s.split(/\s+/);
  if (parts.length < 2 || parts.length > 6) return false;
  let named = 0;
  let shortCaps = 0;
  for (const p of parts) {
    if (NOT_NAME_WORDS.has(p.toLowerCase()) || ROMAN.test(p)) return false;
    if (NAME_PARTICLES.has(p)) continue;
    if (INITIAL.test(p)) continue;
    if (!NAME_WORD.test(p)) return false;
    named++;
    if (p.length <= 3 && p === p.toUpperCase()) shortCaps++;
  }
  // `NY NJ` and the like are codes, not names.
  return named >= 2 && named <= 4 && shortCaps < named;
}

/** Values of titles and codes: with digits, with words of titles, or long. */
function isTitleLike(s: string): boolean {
  if (/\d/.test(s)) return true;
  const parts = s.split(/\s+/);
  return parts.length > 6 || parts.some((p) => NOT_NAME_WORDS.has(p.toLowerCase()) || ROMAN.test(p));
}

/** Column names whose values are capitalised like names but are places, titles or things. */
const NOT_PERSON_COLUMNS = new Set([
  'city', 'town', 'country', 'region', 'state', 'province', 'county', 'street', 'address', 'title', 'course', 'org',
  'organisation', 'organization', 'company', 'department', 'institution', 'school', 'university', 'subject', 'category',
  'label', 'type', 'status', 'role', 'group', 'product', 'brand', 'team', 'project', 'module', 'unit', 'program',
  'programme', 'event', 'venue', 'location', 'place', 'site', 'campus', 'building', 'room', 'tag', 'topic', 'lang',
  'language', 'timezone', 'theme', 'auth', 'sku', 'item', 'variant', 'colour', 'color',
]);

const DATE_TEXT = /^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[T ][\d:.]+(?:Z|[+-]\d{2}(?::?\d{2})?)?)?$|^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})$/;

/** A value that can be a birth date: a date, a date-like text or an epoch (s or ms) from 1900 to 2030. */
function isBirthDateLike(v: unknown): boolean {
  const plausible = (y: number) => y >= 1900 && y <= 2030;
  if (v instanceof Date) return !Number.isNaN(v.getTime()) && plausible(v.getUTCFullYear());
  if (typeof v === 'number' || typeof v === 'bigint' || (typeof v === 'string' && /^-?\d{1,13}$/.test(v.trim()))) {
    const n = Number(v);
    if (!Number.isFinite(n) || n === 0) return false;
    const ms = Math.abs(n) >= 1e11 ? n : n * 1000;
    return plausible(new Date(ms).getUTCFullYear());
  }
  if (typeof v !== 'string') return false;
  const m = DATE_TEXT.exec(v.trim());
  if (!m) return false;
  return plausible(Number(m[1] ?? m[6]));
}

// ---------------------------------------------------------------------------------------------
// Text that contains personal data

const EMAIL_IN = /[A-Za-z0-9._%+'-]{1,64}@(?:[A-Za-z0-9-]{1,63}\.){1,8}[A-Za-z]{2,24}/;
/** Phones inside text need a stronger shape than whole values: `+` and digits, `(area)`, a trunk `0`, or 3-3-4. */
const PHONE_IN = /\+\d{1,3}[\s.-]?\(?\d{1,4}\)?(?:[\s.-]?\d{2,4}){1,4}|\(\d{2,5}\)\s?\d{3,4}[\s.-]?\d{3,4}|\b0\d{1,4}[\s.-]?\d{3,4}[\s.-]?\d{3,4}\b|\b\d{3}[.-]\d{3}[.-]\d{4}\b/g;
const SSN_IN = /\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b/;
const NINO_IN = /\b(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b/;
const IPV4_IN = /\b(?:\d{1,3}\.){3}\d{1,3}\b/g;
/** Runs of hex digits and colons: a plain character class keeps the scan linear; `isIP` decides. */
const IPV6_IN = /[0-9A-Fa-f:]{6,39}/g;
/** Longer values are read only this far: enough to find what a note holds, bounded time per value. */
const MAX_TEXT = 20_000;
/** Text longer than this is not parsed as a JSON document (it is searched as text). */
const MAX_PARSE = 262_144;

/** The kinds inside a text, in {@link SENSITIVE_KINDS} order. */
function kindsInside(text: string): SensitiveKind[] {
  const found: SensitiveKind[] = [];
  if (text.includes('@') && EMAIL_IN.test(text)) found.push('email');
  const digits = countDigits(text);
  if (digits >= 7) {
    for (const m of text.matchAll(PHONE_IN)) {
      const n = countDigits(m[0]);
      if (n >= 7 && n <= 15 && !DATE_SHAPES.some((d) => d.test(m[0].trim()))) {
        found.push('phone');
        break;
      }
    }
  }
  if (hasIp(text)) found.push('ip_address');
  if (digits >= 6 && (SSN_IN.test(text) || NINO_IN.test(text))) found.push('national_id');
  return found;
}

function hasIp(text: string): boolean {
  if (text.includes('.')) for (const m of text.matchAll(IPV4_IN)) if (isIP(m[0]) === 4) return true;
  if (text.includes(':')) {
    for (const m of text.matchAll(IPV6_IN)) {
      // A colon of the sentence around it (`at fe80::1: ...`) is not the address's.
      let c = m[0];
      if (c.startsWith(':') && !c.startsWith('::')) c = c.slice(1);
      if (c.endsWith(':') && !c.endsWith('::')) c = c.slice(0, -1);
      if (c.length >= 6 && countHex(c) >= 4 && isIP(c) === 6) return true;
    }
  }
  return false;
}

function countDigits(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) n++;
  }
  return n;
}

function countHex(s: string): number {
  return s.replace(/[^0-9A-Fa-f]/g, '').length;
}

const ENTITIES: Record<string, string> = { nbsp: ' ', amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", commat: '@', period: '.' };

/**
 * Text without HTML: a tag becomes its attributes' text (an address in `href="mailto:…"` is as
 * personal as one in the body), entities are decoded (`&#64;` is `@`).
 */
function stripHtml(s: string): string {
  if (!s.includes('<') && !s.includes('&')) return s;
  return s
    .replace(/<!--[\s\S]{0,20000}?-->/g, ' ')
    .replace(/<\/?[A-Za-z][A-Za-z0-9-]*([^>]{0,2000})>/g, (_m, attrs: string) => ` ${attrs.replace(/["'=/]/g, ' ')} `)
    .replace(/&(#x[0-9a-f]{1,6}|#\d{1,7}|[a-z]{2,8});/gi, (m, e: string) => {
      if (e[0] !== '#') return ENTITIES[e.toLowerCase()] ?? m;
      const code = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : m;
    });
}

// ---------------------------------------------------------------------------------------------
// JSON documents

/** Keys whose parent makes a bare `name` a person's (`actor.name`). */
const PERSON_PARENTS = new Set([
  'actor', 'user', 'person', 'author', 'learner', 'student', 'member', 'instructor', 'teacher', 'owner', 'agent',
  'contact', 'customer', 'employee', 'sender', 'recipient', 'participant', 'attendee', 'patient', 'client', 'creator',
  'reviewer', 'assignee', 'manager', 'guardian', 'profile', 'account_holder',
]);
/** Documents are walked this deep and this far, so one huge document cannot stall the assessment. */
const MAX_DEPTH = 24;
const MAX_NODES_PER_DOC = 5_000;
const MAX_PATHS = 2_000;
/** A key a plan's `pii_paths` can name (see JSON_PATH in src/plan/schema.ts); others are shown as `*`. */
const PLAIN_KEY = /^[A-Za-z_$][A-Za-z0-9_$-]{0,63}$/;

interface PathStats {
  /** The documents in which the path has a usable (non-empty string or number) value. */
  docs: Set<number>;
  strings: number;
  email: number;
  phone: number;
  ip: number;
  nationalId: number;
  personName: number;
  distinctNames: Set<string>;
  textWithPii: number;
  /** The kind its key names, if any; read once per path (`keyRead`). */
  keyKind?: SensitiveKind;
  keyRead: boolean;
  /** The key itself was personal (an address or a number used as a key). */
  keyIsPersonal?: SensitiveKind;
}

/**
 * A key as it may appear in a returned path: plain keys as they are; any other key (an
 * address, a number, a URL, a name) as `*`, which also keeps maps keyed by ids from
 * turning into thousands of paths. Returns the kind when the key itself is personal.
 */
function safeKey(key: string): { seg: string; personal?: SensitiveKind } {
  if (PLAIN_KEY.test(key) && !/^\d+$/.test(key)) return { seg: key };
  const personal: SensitiveKind | undefined = isEmail(key) ? 'email' : isIpAddress(key) ? 'ip_address' : isNationalId(key) ? 'national_id' : isPhone(key) ? 'phone' : isPersonName(key) ? 'person_name' : undefined;
  return { seg: '*', personal };
}

/** The kind a JSON key names: the column-name rules, plus a bare `name` under a person-like key. */
function keyKind(key: string, parent: string | undefined): SensitiveKind | undefined {
  const words = nameWords(key);
  if (words.length === 1 && words[0] === 'name') return parent && PERSON_PARENTS.has(parent.toLowerCase()) ? 'person_name' : undefined;
  let best: { kind: SensitiveKind; c: number } | undefined;
  for (const r of NAME_RULES) {
    // Free text by key name alone would make every `description` in a document personal.
    if (r.kind === 'free_text') continue;
    const c = matchRule(r, words);
    if (c !== undefined && (!best || c > best.c)) best = { kind: r.kind, c };
  }
  return best?.kind;
}

function walkDoc(doc: unknown, docIndex: number, stats: Map<string, PathStats>): void {
  let nodes = 0;
  const visit = (node: unknown, path: string, key: string | undefined, parent: string | undefined, depth: number): void => {
    if (++nodes > MAX_NODES_PER_DOC || depth > MAX_DEPTH) return;
    if (Array.isArray(node)) {
      // Elements of an array share its path: `context.parents.id`, whatever the index.
      for (const el of node) visit(el, path, key, parent, depth + 1);
      return;
    }
    if (node !== null && typeof node === 'object') {
      for (const [k, v] of Object.entries(node as Record<string, unknown>)) {
        const { seg, personal } = safeKey(k);
        const child = path === '' ? seg : `${path}.${seg}`;
        if (personal && (stats.has(child) || stats.size < MAX_PATHS)) {
          const s = statsOf(stats, child);
          s.keyIsPersonal = personal;
          s.docs.add(docIndex);
        }
        visit(v, child, seg === '*' ? undefined : k, key, depth + 1);
      }
      return;
    }
    if (path === '' || node === null || typeof node === 'boolean') return;
    const text = typeof node === 'string' ? node.trim() : typeof node === 'number' || typeof node === 'bigint' ? String(node) : '';
    if (text === '') return;
    if (!stats.has(path) && stats.size >= MAX_PATHS) return;
    const s = statsOf(stats, path);
    s.docs.add(docIndex);
    if (!s.keyRead) {
      s.keyRead = true;
      if (key !== undefined) s.keyKind = keyKind(key, parent);
    }
    if (typeof node !== 'string') return;
    s.strings++;
    const v = text.length > MAX_TEXT ? text.slice(0, MAX_TEXT) : text;
    if (isEmail(v)) s.email++;
    else if (isNationalId(v)) s.nationalId++;
    else if (isIpAddress(v)) s.ip++;
    else if (isPhone(v)) s.phone++;
    else if (isPersonName(v)) {
      s.personName++;
      if (s.distinctNames.size < 1000) s.distinctNames.add(v);
    } else if ((v.length > 40 || /\s/.test(v)) && kindsInside(stripHtml(v)).length > 0) s.textWithPii++;
  };
  visit(doc, '', undefined, undefined, 0);
}

function statsOf(stats: Map<string, PathStats>, path: string): PathStats {
  let s = stats.get(path);
  if (!s) {
    s = { docs: new Set(), keyRead: false, strings: 0, email: 0, phone: 0, ip: 0, nationalId: 0, personName: 0, distinctNames: new Set(), textWithPii: 0 };
    stats.set(path, s);
  }
  return s;
}

/**
 * The personal kind of one path, and whether its content (not only its key) says so. Content
 * first, as for columns: whole values by share, a bare `name` key by the shape of its values,
 * then text holding personal data; else the kind its key names (or the key itself was).
 */
function pathKind(s: PathStats, key: string | undefined): { kind: SensitiveKind; byContent: boolean } | undefined {
  const share = (n: number) => s.strings > 0 && n / s.strings >= WHOLE_VALUE_SHARE;
  const byContent: [boolean, SensitiveKind][] = [
    [share(s.email), 'email'],
    [share(s.nationalId), 'national_id'],
    [share(s.phone), 'phone'],
    [share(s.ip), 'ip_address'],
    [key === 'name' && share(s.personName) && mostlyUnique(s.personName, s.distinctNames.size), 'person_name'],
    [s.textWithPii >= FREE_TEXT_MIN_MATCHES || (s.textWithPii > 0 && s.textWithPii / s.strings >= FREE_TEXT_SHARE), 'free_text'],
  ];
  const hit = byContent.find(([yes]) => yes);
  if (hit) return { kind: hit[1], byContent: true };
  const named = s.keyIsPersonal ?? s.keyKind;
  return named ? { kind: named, byContent: false } : undefined;
}

function jsonFinding(docs: readonly unknown[]): PiiFinding | undefined {
  if (docs.length === 0) return undefined;
  const stats = new Map<string, PathStats>();
  docs.forEach((d, i) => walkDoc(d, i, stats));
  const paths: { path: string; kind: SensitiveKind }[] = [];
  const personalDocs = new Set<number>();
  let anyByContent = false;
  for (const [path, s] of stats) {
    const last = path.split('.').pop();
    const k = pathKind(s, last === undefined ? undefined : nameWords(last).join('_'));
    if (!k) continue;
    paths.push({ path, kind: k.kind });
    anyByContent ||= k.byContent;
    for (const d of s.docs) personalDocs.add(d);
  }
  if (paths.length === 0) return undefined;
  paths.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const matched = personalDocs.size;
  const confidence = round(Math.min(0.99, 0.55 + 0.4 * wilsonLow(matched, docs.length) + (anyByContent ? 0.05 : 0)));
  return { kind: 'json_personal', method: 'content', confidence, matched, sampled: docs.length, paths };
}

// ---------------------------------------------------------------------------------------------
// Content

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

function mostlyUnique(matched: number, distinct: number): boolean {
  return matched < 5 || distinct / matched >= 0.5;
}

/**
 * The lower bound of the 95 % Wilson interval of a share: small samples count for less, so a
 * confidence built on it grows with both the share and the sample's size.
 */
function wilsonLow(k: number, n: number): number {
  if (n === 0) return 0;
  const z = 1.96;
  const p = k / n;
  const d = 1 + (z * z) / n;
  const centre = p + (z * z) / (2 * n);
  const margin = z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n));
  return Math.max(0, (centre - margin) / d);
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
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

function contentFindings(values: readonly unknown[], type: TypeClass, words: readonly string[], byName: readonly PiiFinding[], personTable: boolean): PiiFinding[] {
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

// ---------------------------------------------------------------------------------------------
// Both

/**
 * One finding per kind. Content beats name: a kind found both ways is reported as found by
 * content, with the higher confidence; a `name` finding the content contradicts (a title-like
 * `fullname`) replaces the name's own.
 */
function combine(byName: readonly PiiFinding[], content: readonly PiiFinding[]): PiiFinding[] {
  const out = new Map<SensitiveKind, PiiFinding>();
  for (const f of byName) out.set(f.kind, f);
  for (const f of content) {
    const prior = out.get(f.kind);
    if (f.method === 'name') {
      out.set(f.kind, { kind: f.kind, method: 'name', confidence: Math.min(f.confidence, prior?.confidence ?? 1) });
    } else {
      out.set(f.kind, prior ? { ...f, confidence: Math.max(f.confidence, prior.confidence) } : f);
    }
  }
  return [...out.values()].sort((a, b) => b.confidence - a.confidence || SENSITIVE_KINDS.indexOf(a.kind) - SENSITIVE_KINDS.indexOf(b.kind));
}
