/**
 * Person identifiers that are not names by their shape: logins built from a person's name
 * (`jsmith`, `john.smith`, `maria_garcia2`), recognised from sampled values against the name
 * dictionary (`name-dictionary.ts`), and the tables whose rows are people, where an
 * institution's number for the row (Moodle's `idnumber`) identifies a person. Pure; nothing
 * here returns, logs or throws a value.
 */
import { FAMILY_NAMES, GIVEN_NAMES } from './name-dictionary';

/** The longest value read as a login. */
export const MAX_HANDLE = 64;
/** Letters first, then letters, digits and `. _ - '`: no spaces, no `@` (an address is an email). */
const HANDLE_CHARS = /^\p{L}[\p{L}\p{M}\d._'’-]*$/u;
/** A number at the end tells namesakes apart (`jsmith42`, `maria_garcia2`). */
const TRAILING_NUMBER = /[._-]?\d{1,6}$/;

const given = (w: string) => GIVEN_NAMES.has(w);
const family = (w: string) => FAMILY_NAMES.has(w);
const initial = (w: string) => w.length === 1;

/** Two parts of a name, either order, or an initial beside one (`john.smith`, `smith.john`, `j.smith`, `john.s`, `smith.j`). */
function isNamePair(a: string, b: string): boolean {
  return (given(a) && family(b)) || (family(a) && given(b)) || (initial(a) && family(b)) || (given(a) && initial(b)) || (family(a) && a.length >= 4 && initial(b));
}

/**
 * One word made of a name run together: an initial and a family name of four letters or more
 * (`jsmith`), or a given name and a family name (`johnsmith`). A family name then an initial
 * (`smithj`) is left out: read that way, plurals of words (`woods`, `kings`) would match.
 */
function isRunTogether(w: string): boolean {
  if (w.length < 5) return false;
  if (family(w.slice(1))) return true;
  for (let i = 3; i <= w.length - 3; i++) if (given(w.slice(0, i)) && family(w.slice(i))) return true;
  return false;
}

/**
 * A login built from a person's name: after folding accents and apostrophes and setting aside
 * a number at the end, one to three parts split by `.`, `_` or `-` that are two parts of a name,
 * or an initial beside a family name, with at most a middle initial or name between them
 * (`john-q-smith`). A lone given name or family name (`maria`), a role account (`admin`), a
 * student number (`s1234567`) or a code with digits inside (`C-BIO102`, `rj45-cat6`) is not
 * one, nor a product code whose words are not names (`blue.widget`, `mug-white`).
 */
export function isNameHandle(value: string): boolean {
  if (value.length < 3 || value.length > MAX_HANDLE || !HANDLE_CHARS.test(value)) return false;
  const folded = value
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .replace(/['’]/g, '')
    .toLowerCase();
  if (!/^[a-z][a-z0-9._-]*$/.test(folded)) return false;
  const stem = folded.replace(TRAILING_NUMBER, '');
  if (/\d/.test(stem)) return false;
  const parts = stem.split(/[._-]+/).filter((p) => p !== '');
  if (parts.length === 1) return isRunTogether(parts[0]!);
  if (parts.length === 2) return isNamePair(parts[0]!, parts[1]!);
  if (parts.length === 3) return isNamePair(parts[0]!, parts[2]!) && (initial(parts[1]!) || given(parts[1]!));
  return false;
}

/** Column names (words, as `nameWords` splits them) of logins: they make a login-like content surer. */
const LOGIN_WORDS = new Set(['username', 'user', 'login', 'logon', 'loginname', 'handle', 'nick', 'nickname', 'screenname', 'screen', 'userid', 'uid', 'alias', 'upn', 'principal', 'account']);

export function isLoginColumn(words: readonly string[]): boolean {
  return words.some((w) => LOGIN_WORDS.has(w));
}

/** The last word of a table's name that says its rows are people (`mdl_user`, `legacy_users`, `people`). */
const PERSON_NOUNS = new Set([
  'user', 'person', 'people', 'learner', 'student', 'pupil', 'member', 'employee', 'staff', 'customer', 'contact', 'patient',
  'profile', 'applicant', 'candidate', 'teacher', 'instructor', 'participant', 'attendee', 'client', 'author', 'volunteer',
  'subscriber',
]);

/**
 * Whether a table's rows are people, by the last word of its name (its head noun, singular):
 * `mdl_user` and `legacy_users` are, `mdl_user_enrolments` (a person's enrolments) and
 * `mdl_course_categories` are not. Unknown (no table): false.
 */
export function isPersonTable(tableWords: readonly string[]): boolean {
  const last = tableWords[tableWords.length - 1];
  if (last === undefined) return false;
  return PERSON_NOUNS.has(last) || (last.endsWith('s') && PERSON_NOUNS.has(last.slice(0, -1)));
}
