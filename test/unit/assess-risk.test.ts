import { planIssues } from './plan-issues';
import { discoverColumn, type PiiFinding, type SensitiveKind } from '../../src/assess/pii-detect';
import { DEFAULT_STRICT_THRESHOLD, scoreColumn, scoreOf, sensitivityOf, tableScore, treatmentOfJson, unprotected, type Treatment } from '../../src/assess/risk';
import { sourceColumnUses, useOf } from '../../src/assess/treatment';
import { parsePlan } from '../../src/plan/load';

const content = (kind: SensitiveKind, confidence = 0.9, extra: Partial<PiiFinding> = {}): PiiFinding => ({ kind, method: 'content', confidence, matched: 9, sampled: 10, ...extra });
const byName = (kind: SensitiveKind, confidence = 0.7): PiiFinding => ({ kind, method: 'name', confidence });
const statement = content('json_personal', 0.8, {
  paths: [
    { path: 'actor.mbox', kind: 'email' },
    { path: 'actor.name', kind: 'person_name' },
  ],
});

describe('sensitivity of findings', () => {
  it.each<[string, PiiFinding[], number]>([
    ['nothing', [], 1],
    ['a national id', [content('national_id')], 5],
    ['an email', [content('email')], 4],
    ['a phone', [content('phone')], 4],
    ['a date of birth', [content('date_of_birth')], 4],
    ['a JSON document with personal paths', [statement], 4],
    ['a JSON document with a national id path', [content('json_personal', 0.8, { paths: [{ path: 'applicant.ssn', kind: 'national_id' }] })], 5],
    ['a person name', [content('person_name', 0.6)], 3],
    ['a login built from names (a person identifier)', [content('person_identifier', 0.8)], 3],
    ['a weak person identifier (an idnumber of a person table, by name)', [byName('person_identifier', 0.45)], 2],
    ['an IP address', [content('ip_address')], 3],
    ['free text holding emails and phones', [content('free_text', 0.7, { inside: ['email', 'phone'] })], 4],
    ['free text holding a national id', [content('free_text', 0.7, { inside: ['national_id'] })], 5],
    ['free text holding IP addresses only', [content('free_text', 0.7, { inside: ['ip_address'] })], 3],
    ['free text by name only', [byName('free_text', 0.6)], 2],
    ['a weak national id by name alone', [byName('national_id', 0.45)], 4],
    ['a weak person name (a title-like fullname)', [byName('person_name', 0.4)], 2],
    ['a weak free-text name (a description): never below 2', [byName('free_text', 0.45)], 2],
    ['the most sensitive of several', [content('person_name', 0.6), content('email'), byName('free_text')], 4],
    ['a weak hint beside a strong finding, each on its own confidence', [content('email'), byName('national_id', 0.45)], 4],
  ])('%s is %d', (_what, findings, expected) => {
    expect(sensitivityOf(findings)).toBe(expected);
  });
});

describe('risk score', () => {
  it.each<[string, PiiFinding[], Treatment, number]>([
    ['email copied in clear', [content('email')], 'clear', 5],
    ['email-like values in users.notes copied in clear', [content('free_text', 0.7, { inside: ['email'] })], 'clear', 5],
    ['email tokenized, detokenized in the target', [content('email')], 'detokenize', 2],
    ['email kept as a token', [content('email')], 'keep_token', 1],
    ['email dropped', [content('email')], 'drop', 1],
    ['email left in the source', [content('email')], 'not_migrated', 2],
    ['person name copied in clear', [content('person_name', 0.6)], 'clear', 4],
    ['person name detokenized', [content('person_name', 0.6)], 'detokenize', 1],
    ['national id in clear', [content('national_id')], 'clear', 5],
    ['national id detokenized', [content('national_id')], 'detokenize', 3],
    ['national id left in the source', [content('national_id')], 'not_migrated', 3],
    ['IP address in clear', [content('ip_address')], 'clear', 4],
    ['free text by name in clear', [byName('free_text', 0.6)], 'clear', 2],
    ['nothing personal in clear', [], 'clear', 1],
    ['nothing personal left behind', [], 'not_migrated', 1],
  ])('%s scores %d', (_what, findings, treatment, expected) => {
    const r = scoreColumn(findings, treatment);
    expect(r.score).toBe(expected);
    expect(r.treatment).toBe(treatment);
    expect(r.sensitivity).toBe(sensitivityOf(findings));
  });

  it('follows the scale for every sensitivity and treatment', () => {
    const table = ([1, 2, 3, 4, 5] as const).map((s) => (['clear', 'detokenize', 'keep_token', 'drop', 'not_migrated'] as const).map((t) => scoreOf(s, t)));
    expect(table).toEqual([
      [1, 1, 1, 1, 1],
      [2, 1, 1, 1, 1],
      [4, 1, 1, 1, 1],
      [5, 2, 1, 1, 2],
      [5, 3, 1, 1, 3],
    ]);
  });

  it('says how to bring a clear column down, naming the plan field and the target column', () => {
    const r = scoreColumn([content('free_text', 0.7, { inside: ['email', 'phone'] })], 'clear', { targetColumn: 'notes' });
    expect(r.control).toBe('declare pii: text on target column notes (tokenized in staging, the clear value only in the target: score 2; add protect: keep_token to keep it a token in the target, or drop to leave it out: score 1)');
    expect(scoreColumn([content('email'), byName('person_name')], 'clear', { targetColumn: 'contact' }).control).toMatch(/^declare pii: email on target column contact /);
    expect(scoreColumn([content('person_name', 0.6)], 'clear').control).toBe('declare pii: name on its target column (tokenized in staging, the clear value only in the target: score 1)');
  });

  it('says how to bring a detokenized column down, and nothing where the score is 1 or the plan cannot help', () => {
    expect(scoreColumn([content('email')], 'detokenize', { targetColumn: 'email' }).control).toBe('add protect: keep_token on target column email to keep it a token in the target (or protect: drop to leave it out): score 1');
    expect(scoreColumn([content('email')], 'keep_token').control).toBeUndefined();
    expect(scoreColumn([content('person_name', 0.6)], 'detokenize').control).toBeUndefined();
    expect(scoreColumn([content('email')], 'not_migrated').control).toBeUndefined();
    expect(scoreColumn([], 'clear').control).toBeUndefined();
  });
});

describe('JSON columns and their declared paths', () => {
  const found = statement.paths!;

  it('treats a path found and not declared as clear, whatever the protect', () => {
    expect(treatmentOfJson(found, ['actor.mbox', 'actor.name'], 'detokenize')).toEqual({ treatment: 'detokenize', uncovered: [] });
    expect(treatmentOfJson(found, ['actor.mbox'], 'keep_token')).toEqual({ treatment: 'clear', uncovered: [{ path: 'actor.name', kind: 'person_name' }] });
    expect(treatmentOfJson(found, ['actor.mbox'], 'drop')).toEqual({ treatment: 'clear', uncovered: [{ path: 'actor.name', kind: 'person_name' }] });
    expect(treatmentOfJson(found, [], 'not_migrated')).toEqual({ treatment: 'not_migrated', uncovered: [] });
    expect(treatmentOfJson(found, ['actor.mbox', 'actor.name'], 'clear').uncovered).toHaveLength(2);
  });

  it('scores a JSON column by its declared paths: all declared is the protect, one missing is clear', () => {
    expect(scoreColumn([statement], 'keep_token', { targetColumn: 'statement', declaredPaths: ['actor.mbox', 'actor.name'] })).toEqual({ score: 1, sensitivity: 4, treatment: 'keep_token' });
    expect(scoreColumn([statement], 'detokenize', { targetColumn: 'statement', declaredPaths: ['actor.mbox', 'actor.name'] })).toMatchObject({ score: 2, treatment: 'detokenize' });
    const partial = scoreColumn([statement], 'keep_token', { targetColumn: 'statement', declaredPaths: ['actor.mbox'] });
    expect(partial).toMatchObject({ score: 5, sensitivity: 4, treatment: 'clear' });
    expect(partial.control).toBe('declare pii_paths: { actor.name: name } on target column statement (beside the paths already declared), with a json step (tokenized in staging: score 2; add protect: keep_token to keep them tokens in the target: score 1)');
  });

  it('names every personal path of an undeclared document, and says when a path cannot be declared', () => {
    expect(scoreColumn([statement], 'clear', { targetColumn: 'statement' }).control).toMatch(/^declare pii_paths: \{ actor\.mbox: email, actor\.name: name \} on target column statement, with a json step/);
    // Copied in clear to some target as well: every path is exposed there, declared elsewhere or not.
    expect(scoreColumn([statement], 'clear', { targetColumn: 'statement', declaredPaths: ['actor.mbox'] }).control).toMatch(/^declare pii_paths: \{ actor\.mbox: email, actor\.name: name \} on target column statement, with/);
    const keyed = content('json_personal', 0.7, { paths: [{ path: 'scores.*', kind: 'email' }] });
    expect(scoreColumn([keyed], 'clear').control).toMatch(/keys that vary by document \(shown as \*\), which pii_paths cannot name/);
  });
});

describe('tables and strict mode', () => {
  it('scores a table by its highest column, 1 with none', () => {
    expect(tableScore([{ score: 1 }, { score: 4 }, { score: 2 }])).toBe(4);
    expect(tableScore([])).toBe(1);
  });

  it('fails strict on columns above the threshold, highest first, keeping the caller’s names', () => {
    const columns = [
      { column: 'notes', ...scoreColumn([content('free_text', 0.7, { inside: ['email'] })], 'clear') },
      { column: 'email', ...scoreColumn([content('email')], 'detokenize') },
      { column: 'name', ...scoreColumn([content('person_name', 0.6)], 'clear') },
      { column: 'ssn', ...scoreColumn([content('national_id')], 'detokenize') },
      { column: 'status', ...scoreColumn([], 'clear') },
    ];
    expect(DEFAULT_STRICT_THRESHOLD).toBe(3);
    expect(unprotected(columns).map((c) => c.column)).toEqual(['notes', 'name']);
    expect(unprotected(columns).every((c) => c.treatment === 'clear')).toBe(true);
    expect(unprotected(columns, 2).map((c) => c.column)).toEqual(['notes', 'name', 'ssn']);
    expect(unprotected(columns, 5)).toEqual([]);
  });

  it('refuses a threshold off the scale', () => {
    expect(() => unprotected([], 0)).toThrow(RangeError);
    expect(() => unprotected([], 2.5)).toThrow(/whole number from 1 to 5/);
  });
});

describe('the Moodle columns issue 20 found misjudged', () => {
  const score = (table: string, column: string, values: string[], treatment: Treatment = 'clear') => scoreColumn(discoverColumn({ table, column, type: 'character varying(100)', values }), treatment);
  const logins = ['amelia.smith', 'oliver.jones', 'isla.taylor', 'george.brown', 'ava.williams', 'noah.wilson', 'mia.johnson', 'arthur.davies', 'leo.patel2', 'jsmith', 'mgarcia', 'priya.patel'];

  it('scores a username made of names copied in clear 4, above the strict threshold, and 1 declared pii: text with keep_token', () => {
    const clear = score('mdl_user', 'username', logins);
    expect(clear).toMatchObject({ score: 4, sensitivity: 3, treatment: 'clear' });
    expect(clear.control).toMatch(/^declare pii: text on its target column /);
    expect(unprotected([clear])).toHaveLength(1);
    expect(score('mdl_user', 'username', logins, 'keep_token').score).toBe(1);
  });

  it('scores course and category idnumbers of codes 1, not as national ids', () => {
    expect(score('mdl_course', 'idnumber', ['C-BIO102', 'C-HIS103', 'C-MAT105', 'C-PHY106'])).toEqual({ score: 1, sensitivity: 1, treatment: 'clear' });
    expect(score('mdl_course_categories', 'idnumber', ['SCIE-4', 'HUMA-9', 'NURS-12'])).toEqual({ score: 1, sensitivity: 1, treatment: 'clear' });
    // Content agreeing still makes a national id, wherever it is.
    expect(score('mdl_course', 'idnumber', ['123-45-6789', '234-56-7890']).score).toBe(5);
  });
});

describe('personal data in a business key', () => {
  // A Moodle learner keyed by its host and username: the username reaches the ledger, the key map and Temporal in clear.
  const plan = (columns: string, key: string) => `
version: 1
name: learners
entities:
  learners:
    source: { table: mdl_user, key: id }
    target: { table: learners, business_key: [${key}] }
    columns:
${columns}
      email: { from: email, pii: email }
`;
  const keyed = plan('      source_ref: { from: [mnethostid, username], transform: { template: "src:{mnethostid}:{username}" } }', 'source_ref');
  const issues = planIssues;
  const logins = content('person_identifier', 0.8);

  it('knows which source columns feed the business key, and the source key it could use instead', () => {
    const uses = sourceColumnUses(parsePlan(keyed).entities[0]!);
    expect(useOf(uses, 'username')).toMatchObject({ treatment: 'clear', targets: ['source_ref'], businessKey: { keyColumn: 'source_ref', sourceKey: 'id' } });
    expect(useOf(uses, 'email').businessKey).toBeUndefined();
  });

  it('advises what the plan accepts: key on a column that is not personal, then declare the personal one pii', () => {
    expect(issues(keyed)).toEqual([]);
    // Declaring the business key pii, as the advice used to say, is refused.
    expect(issues(keyed.replace('"src:{mnethostid}:{username}" } }', '"src:{mnethostid}:{username}" }, pii: text }'))).toEqual([
      'entities.learners.columns.source_ref.pii: a business key cannot be personal data: it appears in ledgers and reports (use a surrogate key)',
    ]);
    const r = scoreColumn([logins], 'clear', { targetColumn: 'source_ref', businessKey: { keyColumn: 'source_ref', sourceKey: 'id' } });
    expect(r).toMatchObject({ score: 4, treatment: 'clear' });
    const control = r.control!;
    expect(control).toMatch(/business key/);
    const added = /add (\w+): \{ from: (\w+) \}/.exec(control);
    const key = /business_key: \[(\w+)\]/.exec(control);
    const pii = /declare pii: (\w+) on target column (\w+)/.exec(control);
    expect([added?.slice(1), key?.[1], pii?.slice(1)]).toEqual([['legacy_id', 'id'], 'legacy_id', ['text', 'source_ref']]);
    // The plan as the advice says: accepted.
    const advised = plan(`      ${added![1]}: { from: ${added![2]} }\n      source_ref: { from: [mnethostid, username], transform: { template: "src:{mnethostid}:{username}" }, pii: ${pii![1]} }`, key![1]!);
    expect(issues(advised)).toEqual([]);
    const after = sourceColumnUses(parsePlan(advised).entities[0]!);
    expect(scoreColumn([logins], useOf(after, 'username').treatment).score).toBe(1);
  });

  it('does not propose the source key when it is the personal column itself, nor re-keying for a key the target gets no source text of', () => {
    const byLogin = parsePlan(plan('      username: { from: username }', 'username').replace('key: id }', 'key: username }')).entities[0]!;
    expect(useOf(sourceColumnUses(byLogin), 'username').businessKey).toEqual({ keyColumn: 'username' });
    const mapped = parsePlan(plan('      kind: { from: auth, transform: { enum: { manual: local, ldap: directory } } }\n      auth: { from: auth }', 'kind')).entities[0]!;
    expect(useOf(sourceColumnUses(mapped), 'auth')).toMatchObject({ treatment: 'clear', targets: ['kind', 'auth'] });
    expect(useOf(sourceColumnUses(mapped), 'auth').businessKey).toBeUndefined();
    const control = scoreColumn([logins], 'clear', { targetColumn: 'username', businessKey: { keyColumn: 'username' } }).control!;
    expect(control).toMatch(/business key/);
    expect(control).not.toMatch(/from: username/);
    expect(control).toMatch(/declare pii: text on target column username/);
  });
});

describe('a case that takes a column', () => {
  // The nickname unless the user is deleted: the nickname's text reaches the target in clear in that arm.
  const plan = (extra = '') => `
version: 1
name: learners
entities:
  learners:
    source: { table: mdl_user, key: id }
    target: { table: learners, business_key: [legacy_id] }
    columns:
      legacy_id: { from: id }
      nickname:
        from: [deleted, alternatename]
        transform: { case: [{ when: { deleted: 1 }, then: "(deleted)" }, { else: { column: alternatename } }] }${extra}
`;

  it('copies the named column in clear (not dropped), and the condition column not at all', () => {
    const uses = sourceColumnUses(parsePlan(plan()).entities[0]!);
    expect(useOf(uses, 'alternatename').treatment).toBe('clear');
    expect(useOf(uses, 'deleted').treatment).toBe('drop');
  });

  it('takes the column’s protection when the target column is personal', () => {
    const uses = sourceColumnUses(parsePlan(plan('\n        pii: name')).entities[0]!);
    expect(useOf(uses, 'alternatename').treatment).toBe('detokenize');
  });
});
