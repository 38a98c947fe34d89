// Personal data by whole values: emails, phones, IP addresses, national ids, person names, birth dates.
import { isIP } from 'node:net';

/** An email, `mailto:` or not. Bounded repeats keep it linear on long values. */
const EMAIL = /^(?:mailto:)?[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,8}[A-Za-z]{2,24}$/i;
const SSN = /^(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}$/;
/** UK National Insurance number: two letters (not the ones never issued), six digits, A–D. */
const NINO = /^(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]$/i;
const PHONE_CHARS = /^\+?\(?\d[\d\s().-]{5,24}\d$/;
export const DATE_SHAPES = [/^\d{4}[-/.]\d{1,2}[-/.]\d{1,2}$/, /^\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}$/];
const YEAR_RANGE = /^(19|20)\d\d\s?-\s?(19|20)\d\d$/;
const DECIMAL = /^\d+\.\d+$/;
/** `1.234.567`: a number with European thousands separators (spaced groups stay phones: `612 345 678`). */
const THOUSANDS = /^[1-9]\d{0,2}(?:\.\d{3})+$/;

export function isEmail(s: string): boolean {
  return s.includes('@') && EMAIL.test(s);
}

export function isNationalId(s: string): boolean {
  return SSN.test(s) || NINO.test(s);
}

export function isIpAddress(s: string): boolean {
  return s.length <= 64 && isIP(s) !== 0;
}

/**
 * A phone number as a whole value: 7–15 digits with only `+ ( ) . -` and spaces, and a sign it
 * is dialled rather than counted: a leading `+`, a separator, or a trunk `0` with at least 9
 * characters. A plain integer (an id, an epoch) is not one, nor a date, a decimal, a year range,
 * a number with thousands separators, an SSN or an IP address.
 */
export function isPhone(s: string): boolean {
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
export const MAX_WHOLE = 320;
/** The longest value read as a person's name. */
export const MAX_NAME = 60;
const NAME_WORD = /^\p{Lu}[\p{L}'’-]*$/u;
const INITIAL = /^\p{Lu}\.$/u;
const ROMAN = /^[IVX]{2,4}$/;

/** Looks like a person's name: 2–4 capitalised words of letters, hyphens and apostrophes (particles and initials aside). */
export function isPersonName(s: string): boolean {
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
export function isTitleLike(s: string): boolean {
  if (/\d/.test(s)) return true;
  const parts = s.split(/\s+/);
  return parts.length > 6 || parts.some((p) => NOT_NAME_WORDS.has(p.toLowerCase()) || ROMAN.test(p));
}

/** Column names whose values are capitalised like names but are places, titles or things. */
export const NOT_PERSON_COLUMNS = new Set([
  'city', 'town', 'country', 'region', 'state', 'province', 'county', 'street', 'address', 'title', 'course', 'org',
  'organisation', 'organization', 'company', 'department', 'institution', 'school', 'university', 'subject', 'category',
  'label', 'type', 'status', 'role', 'group', 'product', 'brand', 'team', 'project', 'module', 'unit', 'program',
  'programme', 'event', 'venue', 'location', 'place', 'site', 'campus', 'building', 'room', 'tag', 'topic', 'lang',
  'language', 'timezone', 'theme', 'auth', 'sku', 'item', 'variant', 'colour', 'color',
]);

const DATE_TEXT = /^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[T ][\d:.]+(?:Z|[+-]\d{2}(?::?\d{2})?)?)?$|^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})$/;

/** A value that can be a birth date: a date, a date-like text or an epoch (s or ms) from 1900 to 2030. */
export function isBirthDateLike(v: unknown): boolean {
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
