// Personal data by a column's name: its words matched against known names (see pii-detect.ts).
import { KINDS_BY_TYPE, type PiiFinding, type SensitiveKind, type TypeClass } from './pii-kinds';
import { round } from './pii-scoring';

/** The words of a name, lower-cased, letters only: `lastIP2` → ['last', 'ip'], `e_mail` → ['e', 'mail']. */
export function nameWords(name: string): string[] {
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
export const NAME_RULES: NameRule[] = [
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
export function nameFindings(words: readonly string[], type: TypeClass, personTable: boolean): PiiFinding[] {
  const best = new Map<SensitiveKind, number>();
  for (const r of personTable ? [...NAME_RULES, INSTITUTION_NUMBER] : NAME_RULES) {
    if (!KINDS_BY_TYPE[type].has(r.kind)) continue;
    const c = matchRule(r, words);
    if (c !== undefined && c > (best.get(r.kind) ?? 0)) best.set(r.kind, c);
  }
  return [...best].map(([kind, confidence]) => ({ kind, method: 'name', confidence }));
}

export function matchRule(r: NameRule, words: readonly string[]): number | undefined {
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
