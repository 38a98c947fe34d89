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
import { isPersonTable } from './person-handle';
import { contentFindings } from './pii-content';
import { type ColumnSample, type PiiFinding, SENSITIVE_KINDS, type SensitiveKind, typeClassOf } from './pii-kinds';
import { nameFindings, nameWords } from './pii-names';
export { SENSITIVE_KINDS, type SensitiveKind, type PiiFinding, type ColumnSample } from './pii-kinds';
export { WHOLE_VALUE_SHARE, FREE_TEXT_MIN_MATCHES, FREE_TEXT_SHARE } from './pii-scoring';

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
