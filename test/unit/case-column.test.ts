import { planIssues } from './plan-issues';
import { emptyOutcome, forecastBatch } from '../../src/assess/forecast';
import { compileMapper } from '../../src/core/mapping';
import { mapRows, tokenizeRows } from '../../src/core/stage-rows';
import { looksLikeToken } from '../../src/core/tokens';
import { valueId } from '../../src/core/token-assignment';
import { parsePlan } from '../../src/plan/load';
import type { EntitySpec } from '../../src/plan/types';

/** A plan of one entity, `users`, reading legacy_users, with these columns (YAML, 6 spaces in). */
const plan = (columns: string) => `
version: 1
name: tiny
entities:
  users:
    source: { table: legacy_users, key: user_id }
    target: { table: people, business_key: [legacy_user_id] }
    columns:
      legacy_user_id: { from: user_id }
${columns}
`;

const issues = planIssues;

const users = (columns: string): EntitySpec => parsePlan(plan(columns), 'p.yaml').entities[0]!;

describe('case: a result that looks like a {column} placeholder', () => {
  it('refuses else: "{email}" (it would load the text {email}), naming the field', () => {
    const text = plan('      email: { from: [email, deleted], transform: { case: [{ when: { deleted: 1 }, then: null }, { else: "{email}" }] }, pii: email }');
    expect(issues(text)).toEqual([
      'entities.users.columns.email.transform.case[1].else: "{email}" would be loaded as this text: a case result is not a template; to take the value of a source column write { column: email }',
    ]);
  });

  it('refuses a placeholder inside a then, in a step list too', () => {
    const text = plan('      ref: { from: [kind, login], transform: [{ case: [{ when: { kind: x }, then: "user-{login}" }] }, trim] }');
    expect(issues(text)).toEqual([
      'entities.users.columns.ref.transform[0].case[0].then: "user-{login}" would be loaded as this text: a case result is not a template; to take the value of a source column write { column: login }',
    ]);
  });

  it('keeps text with braces that are not a placeholder', () => {
    expect(issues(plan('      note: { from: [kind], transform: { case: [{ when: { kind: x }, then: "{}" }, { else: "{ not one }" }] } }'))).toEqual([]);
  });
});

describe('case: a result taken from a source column ({ column: name })', () => {
  it('validates and normalizes: then and else may name a `from` column', () => {
    const e = users('      contact: { from: [email, deleted], transform: { case: [{ when: { deleted: 1 }, then: null }, { else: { column: email } }] } }');
    expect(e.columns[1]).toEqual({
      name: 'contact',
      from: ['email', 'deleted'],
      transform: { kind: 'case', arms: [{ when: { deleted: 1 }, then: null }], otherwise: { column: 'email' } },
    });
    const t = users('      contact: { from: [email, alt, deleted], transform: { case: [{ when: { deleted: 0 }, then: { column: email } }, { else: { column: alt } }] } }');
    expect(t.columns[1]!.transform).toEqual({ kind: 'case', arms: [{ when: { deleted: 0 }, then: { column: 'email' } }], otherwise: { column: 'alt' } });
  });

  it('refuses a column the entity does not read for this column (not in `from`), naming the field', () => {
    expect(issues(plan('      contact: { from: [deleted], transform: { case: [{ when: { deleted: 1 }, then: null }, { else: { column: email } }] } }'))).toEqual([
      'entities.users.columns.contact.transform.case[1].else.column: email is not one of the source columns (from: deleted): list it in `from`',
    ]);
    expect(issues(plan('      contact: { from: [a, b], transform: [{ case: [{ when: { a: 1 }, then: { column: c } }] }] }'))).toEqual([
      'entities.users.columns.contact.transform[0].case[0].then.column: c is not one of the source columns (from: a, b): list it in `from`',
    ]);
  });

  it('refuses a malformed { column } result with what was expected', () => {
    expect(issues(plan('      contact: { from: [email, deleted], transform: { case: [{ when: { deleted: 1 }, then: { col: email } }] } }'))).toEqual([
      'entities.users.columns.contact.transform.case[0].then.column: expected a source column name (an SQL identifier), got nothing',
      'entities.users.columns.contact.transform.case[0].then.col: unknown field (expected one of column)',
    ]);
    expect(issues(plan('      contact: { from: [email, deleted], transform: { case: [{ when: { deleted: 1 }, then: { column: "e mail" } }] } }'))).toEqual([
      'entities.users.columns.contact.transform.case[0].then.column: expected a source column name (an SQL identifier), got "e mail"',
    ]);
  });

  describe('personal data', () => {
    const email = '      email: { from: email, transform: lowercase, pii: email, protect: keep_token }';
    const contact = (extra: string) => `      contact: { from: [email, deleted], transform: { case: [{ when: { deleted: 1 }, then: null }, { else: { column: email } }] }${extra} }`;

    it('refuses copying a personal column in clear: the value must be tokenized as the column that reads it is', () => {
      expect(issues(plan(`${email}\n${contact('')}`))).toEqual([
        'entities.users.columns.contact.transform.case[1].else.column: email is personal data (columns.email has pii: email, protect: keep_token): a value taken from it must be tokenized the same way: mark this column pii: email with protect: keep_token or drop',
      ]);
    });

    it('refuses another kind of token, and a weaker protection', () => {
      expect(issues(plan(`${email}\n${contact(', pii: text, protect: keep_token')}`))).toEqual([
        'entities.users.columns.contact.transform.case[1].else.column: email is personal data (columns.email has pii: email, protect: keep_token): a value taken from it must be tokenized the same way: mark this column pii: email with protect: keep_token or drop',
      ]);
      expect(issues(plan(`${email}\n${contact(', pii: email')}`))).toEqual([
        'entities.users.columns.contact.transform.case[1].else.column: email is personal data (columns.email has pii: email, protect: keep_token): a value taken from it must be tokenized the same way: mark this column pii: email with protect: keep_token or drop',
      ]);
    });

    it('accepts the same kind with the same protection or a stronger one', () => {
      expect(issues(plan(`${email}\n${contact(', pii: email, protect: keep_token')}`))).toEqual([]);
      expect(issues(plan(`${email}\n${contact(', pii: email, protect: drop')}`))).toEqual([]);
      // Detokenized in one column: the other may detokenize too.
      expect(issues(plan(`      email: { from: email, pii: email }\n${contact(', pii: email')}`))).toEqual([]);
    });

    it('refuses taking a whole JSON document whose paths are personal', () => {
      const text = plan(
        '      doc: { from: statement, transform: json, pii_paths: { actor.mbox: email } }\n' +
          '      copy_doc: { from: [statement, deleted], transform: [{ case: [{ when: { deleted: 0 }, then: { column: statement } }] }, json] }',
      );
      expect(issues(text)).toEqual([
        'entities.users.columns.copy_doc.transform[0].case[0].then.column: statement holds personal values inside a JSON document (columns.doc has pii_paths): a case cannot take it whole; map it with json and pii_paths in a column of its own',
      ]);
    });
  });
});

describe('case with { column } results: mapping, tokens and the forecast', () => {
  let spec: EntitySpec;
  let mapper: ReturnType<typeof compileMapper>;
  beforeAll(() => {
    spec = users(
      [
        '      email: { from: [email, deleted], transform: [{ case: [{ when: { deleted: 1 }, then: null }, { else: { column: email } }] }, lowercase], pii: email, protect: keep_token }',
        '      seen: { from: [last_login, created], transform: { case: [{ when: { last_login: null }, then: { column: created } }, { else: { column: last_login } }] } }',
      ].join('\n'),
    );
    mapper = compileMapper(spec);
  });

  it('takes the column value under its condition, and runs later steps on it', () => {
    const created = new Date('2020-01-02T03:04:05Z');
    expect(mapper.map({ user_id: 1, email: 'Ann@Example.ORG', deleted: 0, last_login: null, created })).toEqual({ ok: true, values: [1, 'ann@example.org', '2020-01-02T03:04:05.000Z'] });
    expect(mapper.map({ user_id: 2, email: 'Bob@Example.org', deleted: 1, last_login: 1700000000, created })).toEqual({ ok: true, values: [2, null, 1700000000] });
    expect(mapper.sourceColumns).toEqual(['user_id', 'email', 'deleted', 'last_login', 'created']);
  });

  it('a value taken from a personal column is tokenized, never staged in clear', () => {
    const { mapped, personal } = mapRows(spec, mapper, [{ user_id: 1, email: 'Ann@Example.org', deleted: 0, last_login: null, created: null }]);
    expect(personal).toEqual([{ kind: 'email', value: 'ann@example.org', clear: false }]);
    const tokens = new Map([[valueId('email', 'ann@example.org'), 'tok-0001@example.invalid']]);
    const staged = tokenizeRows(spec, mapper, mapped, tokens, () => 'digest', (_k, v) => [...v]);
    expect(staged.rows).toEqual([[1, 'tok-0001@example.invalid', null]]);
    expect(JSON.stringify(staged)).not.toContain('ann@');
  });

  it("the assessment's forecast evaluates it as the stage does (tokens of the column's kind)", () => {
    const types = mapper.columns.map(() => undefined);
    const f = forecastBatch(spec, mapper, types, [{ user_id: 1, email: 'Ann@Example.org', deleted: 0, last_login: null, created: null }, { user_id: 2, email: 'x@y.z', deleted: 1, last_login: null, created: null }], new Map(), emptyOutcome());
    expect(f.refused).toEqual([]);
    expect(f.candidates).toHaveLength(2);
    const [first, second] = f.candidates.map((c) => c.values[1]);
    expect(looksLikeToken('email', String(first))).toBe(true);
    expect(second).toBeNull();
  });
});

describe('constant: a value that looks like a {column} placeholder', () => {
  it('is refused with the field path, saying how to take the column instead', () => {
    expect(issues(plan('      email: { constant: "{email}" }'))).toEqual([
      'entities.users.columns.email.constant: "{email}" would be loaded as this text in every row: a constant is not a template; for a source column\'s value write from: email (or a template transform with from)',
    ]);
  });

  it('accepts braces that are no placeholder, and plain text', () => {
    expect(issues(plan('      note: { constant: "{}" }\n      source_system: { constant: legacy-lms }'))).toEqual([]);
  });
});
