// Naming knowledge for pairing tables and matching columns: legacy prefixes, plurals, stems,
// legacy-key names and synonyms.

/** Prefixes legacy systems put on every table (`legacy_users`, `mdl_user`, `tbl_course`). */
const LEGACY_PREFIXES = ['legacy', 'old', 'src', 'source', 'tbl', 'tb', 'mdl', 'orig'];

export const lower = (s: string) => s.toLowerCase();
export const compact = (s: string) => lower(s).replace(/_/g, '');

/** `legacy_old_users` → `users`: leading legacy prefixes off, as long as something is left. */
function stripLegacy(name: string): string {
  let s = lower(name);
  for (let again = true; again; ) {
    again = false;
    for (const p of LEGACY_PREFIXES) {
      if (s.startsWith(`${p}_`) && s.length > p.length + 1) {
        s = s.slice(p.length + 1);
        again = true;
      }
    }
  }
  return s;
}

/** English singular of the last word: `categories` → `category`, `courses` → `course`, `status` stays. */
export function singular(name: string): string {
  const words = name.split('_');
  const last = words.pop()!;
  let w = last;
  if (/[^aeiou]ies$/.test(w)) w = `${w.slice(0, -3)}y`;
  else if (/(ss|x|ch|sh)es$/.test(w)) w = w.slice(0, -2);
  else if (/(ss|us|is)$/.test(w) || w.length <= 3) w = last;
  else if (w.endsWith('s')) w = w.slice(0, -1);
  return [...words, w].join('_');
}

/** A table's name as pairing compares it: legacy prefixes off, every word singular (`badges_issued` → `badge_issued`). */
export const tableStem = (name: string) =>
  stripLegacy(name)
    .split('_')
    .map((w) => singular(w))
    .join('_');

/**
 * Words for the same kind of row (general naming knowledge): a legacy `users` table is a new
 * system's `people`, `learners` or `members`. Compared as a table's whole stem, underscores out.
 */
export const TABLE_SYNONYMS: string[][] = [
  ['user', 'person', 'people', 'learner', 'student', 'member', 'employee', 'participant', 'staff', 'account'],
  ['org', 'orgunit', 'organisation', 'organization', 'organisationunit', 'organizationunit', 'department', 'dept', 'division'],
  ['course', 'class', 'training'],
];

/** `key` without a trailing `_id` / `id` (`user_id` → `user`), or undefined when nothing is left. */
function keyBase(key: string): string | undefined {
  const k = lower(key);
  const m = /^(.+?)_?id$/.exec(k);
  return m && m[1] !== '' ? m[1] : undefined;
}

/** Names a target column may have when it holds the source key as a legacy key. */
export function legacyKeyNames(sourceKey: string): Set<string> {
  const k = lower(sourceKey);
  const base = keyBase(k);
  const names = [`legacy_${k}`, `old_${k}`, `source_${k}`, `src_${k}`, `${k}_legacy`, `orig_${k}`];
  if (base) names.push(`${base}_legacy_id`, `legacy_${base}_id`, `legacy_${base}`);
  if (k === 'id') names.push('legacy_id', 'source_id', 'old_id', 'src_id', 'legacy_key', 'orig_id');
  return new Set(names);
}

/** Suffixes that say how a value is stored, not what it is. */
const STORAGE_SUFFIX = /_(at|on|epoch|time|ts|tstamp|timestamp|date|dt|utc|code|cd|name|nm|flag|yn|ms|secs)$/;

/**
 * What a column is about, comparable across naming styles: the table's own prefix off
 * (`org_code` in org units → `code`), a leading `time`/`date` off (`timecreated` → `created`),
 * storage suffixes off (`created_epoch` → `created`), the last word singular, underscores out.
 */
export function columnStem(column: string, table: string): string {
  let s = lower(column);
  const stem = tableStem(table);
  // The table's name or its first word, when what is left says more than how it is stored (`issued_on` in badges_issued stays).
  for (const w of [stem, stem.split('_')[0]!]) {
    const rest = s.slice(w.length + 1);
    if (w.length >= 2 && s.startsWith(`${w}_`) && rest !== '' && !/^(at|on|id|ts|date|time|epoch|utc)$/.test(rest)) {
      s = rest;
      break;
    }
  }
  s = s.replace(/^(time|date|dt)_?(?=[a-z]{3,})/, '');
  for (let m = STORAGE_SUFFIX.exec(s); m && m.index > 0; m = STORAGE_SUFFIX.exec(s)) s = s.slice(0, m.index);
  s = s.replace(/(?<=[a-z]{3})(date|time)$/, '');
  // Verb forms alike: `started` / `timestart`, `finished` / `timefinish`, `created` / `create`.
  return compact(singular(s)).replace(/(?<=[a-z]{3})ed$/, '').replace(/(?<=[a-z]{3})e$/, '');
}

/**
 * General synonyms: a target column (compact form) and the source names that may feed it.
 * Names of people are handled apart (a full name is split).
 */
export const SYNONYMS: Record<string, string[]> = {
  username: ['login', 'loginname', 'logon', 'uname', 'accountname', 'userlogin'],
  email: ['mail', 'emailaddress', 'email1', 'emailaddr'],
  phone: ['phone1', 'telephone', 'tel', 'phonenumber', 'phoneno', 'mobile', 'mobilephone', 'cellphone'],
  givenname: ['firstname', 'forename', 'givenname'],
  firstname: ['givenname', 'forename', 'firstname'],
  familyname: ['lastname', 'surname', 'familyname'],
  lastname: ['familyname', 'surname', 'lastname'],
  surname: ['lastname', 'familyname'],
  title: ['name', 'fullname', 'label', 'caption', 'heading'],
  name: ['title', 'fullname', 'label', 'caption'],
  description: ['summary', 'descr', 'desc', 'details', 'about'],
  summary: ['description', 'descr', 'desc'],
  created: ['creation', 'inserted', 'ctime', 'create'],
  updated: ['modified', 'lastmodified', 'changed', 'mtime', 'update', 'modify'],
  modified: ['updated', 'lastmodified', 'changed', 'mtime'],
  status: ['state', 'stat'],
  state: ['status'],
  country: ['countrycode', 'nation'],
  city: ['town'],
};

/** Source names that hold a whole personal name, to be split into given and family names. */
export const FULL_NAMES = ['fullname', 'name', 'displayname', 'personname', 'username_full'];
export const GIVEN = new Set(['givenname', 'firstname', 'forename']);
export const FAMILY = new Set(['familyname', 'lastname', 'surname']);
