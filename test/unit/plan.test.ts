import { planIssues } from './plan-issues';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { loadPlanFile, parsePlan } from '../../src/plan/load';
import { canonicalJson, migrationId, planHash } from '../../src/plan/hash';
import { PlanFileSchema, PlanSchema, planJsonSchema, planJsonSchemaText } from '../../src/plan/schema';
import type { ColumnSpec, SourceSpec } from '../../src/plan/types';

const ROOT = join(__dirname, '..', '..');
const EXAMPLE = join(ROOT, 'examples', 'lms-users.plan.yaml');
const EXAMPLES = readdirSync(join(ROOT, 'examples')).filter((f) => f.endsWith('.plan.yaml'));

const minimal = (columns: string, extra = '') => `
version: 1
name: tiny
${extra}
entities:
  users:
    source: { table: legacy_users, key: user_id }
    target: { table: people, business_key: [legacy_user_id] }
    columns:
${columns}
`;

const issues = planIssues;

describe('plan validation', () => {
  it('accepts the example plan, with defaults filled in', () => {
    const plan = loadPlanFile(EXAMPLE);
    expect(plan.name).toBe('lms-users');
    expect(plan.settings).toEqual({ batchSize: 2000, parallelism: 2, throttleRowsPerSecond: 0, abort: { maxQuarantineRatio: 0.02 } });
    const users = plan.entities[0]!;
    expect(users.target.businessKey).toEqual(['legacy_user_id']);
    expect(users.columns.find((c) => c.name === 'email')).toEqual({ name: 'email', from: ['email'], transform: { kind: 'lowercase' }, pii: 'email', protect: 'detokenize' });
    expect(users.columns.find((c) => c.name === 'phone')?.protect).toBe('keep_token');
    expect(users.columns.find((c) => c.name === 'source_system')).toEqual({ name: 'source_system', from: [], constant: 'legacy-lms', transform: { kind: 'copy' } });
  });

  it('reports three mistakes as three errors, each with the path of the field', () => {
    const text = `
version: 1
name: lms-users
settings: { batch_size: 0 }
entities:
  users:
    source: { table: legacy_users, key: user_id }
    target: { table: people, business_key: [legacy_user_id] }
    columns:
      legacy_user_id: { from: user_id }
      email: { from: email, pii: mail }
      status: { from: status_code, transform: { enum_map: { A: active } } }
`;
    expect(issues(text)).toEqual([
      'settings.batch_size: expected an integer from 1 to 100000, got 0',
      'entities.users.columns.email.pii: expected one of email, name, phone, text, got "mail"',
      'entities.users.columns.status.transform: expected one of copy, trim, lowercase, uppercase, split, combine, coalesce, template, case, enum, null_if, epoch_to_timestamp, epoch_to_date, integer, boolean, json, cast, got "enum_map"',
    ]);
    expect(() => parsePlan(text, 'p.yaml')).toThrow(/^p\.yaml is invalid \(3 problems\):\n {2}settings\.batch_size/);
  });

  it.each([
    ['an unknown field', '      a: { from: x, colour: red }', 'entities.users.columns.a.colour: unknown field (expected one of from, constant, transform, pii, pii_paths, protect, token, reference, file)'],
    ['from and constant together', '      a: { from: x, constant: 1 }', 'entities.users.columns.a: expected exactly one of `from` (source columns) or `constant`'],
    ['combine with one column', '      a: { from: x, transform: combine }', 'entities.users.columns.a.from: combine needs a list of two or more source columns'],
    ['two columns without combine', '      a: { from: [x, y] }', 'entities.users.columns.a.from: several source columns need a multi-input first step (combine, coalesce, template or case), not copy'],
    ['protect without pii', '      a: { from: x, protect: drop }', 'entities.users.columns.a.protect: only applies to a column marked `pii` or `pii_paths`'],
    ['a bad split part', '      a: { from: x, transform: { split: { separator: " ", part: middle } } }', 'entities.users.columns.a.transform.split.part: expected first, last, rest or a 0-based index, got "middle"'],
    ['a file column with a transform', '      a: { from: x, transform: trim, file: { source_bucket: old-files, target_bucket: new-files } }', 'entities.users.columns.a.file: a file column holds the object key as it is (no pii, reference or transform)'],
    ['a bad bucket name', '      a: { from: x, file: { source_bucket: Old_Files, target_bucket: new-files } }', 'entities.users.columns.a.file.source_bucket: expected an S3 bucket name, got "Old_Files"'],
    ['a non-identifier source column', '      a: { from: "x; drop table y" }', 'entities.users.columns.a.from: expected an SQL identifier, got "x; drop table y"'],
  ])('names %s by its path', (_what, column, expected) => {
    expect(issues(minimal(`      legacy_user_id: { from: user_id }\n${column}`))).toContain(expected);
  });

  it('refuses personal data as a business key and a business key that is not mapped', () => {
    expect(issues(minimal('      legacy_user_id: { from: email, pii: email }'))).toContain(
      'entities.users.columns.legacy_user_id.pii: a business key cannot be personal data: it appears in ledgers and reports (use a surrogate key)',
    );
    expect(issues(minimal('      other: { from: user_id }'))).toContain('entities.users.target.business_key: legacy_user_id is not one of the mapped columns');
  });

  it('takes sync.key_set_interval_seconds when given (absent, the plan and its hash are as before) and refuses a negative one by its path', () => {
    const sync = (extra: string) => `sync: { mode: logical${extra} }`;
    expect(parsePlan(minimal('      legacy_user_id: { from: user_id }', sync(', key_set_interval_seconds: 0')), 'p.yaml').sync?.keySetIntervalSeconds).toBe(0);
    expect(parsePlan(minimal('      legacy_user_id: { from: user_id }', sync('')), 'p.yaml').sync).not.toHaveProperty('keySetIntervalSeconds');
    expect(issues(minimal('      legacy_user_id: { from: user_id }', sync(', key_set_interval_seconds: -1')))).toEqual([expect.stringMatching(/^sync\.key_set_interval_seconds: /)]);
  });

  it('takes a residency region for the plan and refuses one that is not an AWS region, by its path', () => {
    expect(parsePlan(minimal('      legacy_user_id: { from: user_id }', 'residency: { region: eu-central-1 }'), 'p.yaml').residency).toEqual({ region: 'eu-central-1' });
    expect(parsePlan(minimal('      legacy_user_id: { from: user_id }'), 'p.yaml')).not.toHaveProperty('residency');
    expect(issues(minimal('      legacy_user_id: { from: user_id }', 'residency: { region: Frankfurt }'))).toContain('residency.region: expected an AWS region such as eu-central-1, got "Frankfurt"');
    expect(issues(minimal('      legacy_user_id: { from: user_id }', 'residency: { zone: eu }'))).toContain('residency.zone: unknown field (expected one of region)');
  });

  it('reports a YAML syntax error with its line, and no secrets are allowed inline', () => {
    expect(issues('version: 1\nname: [unclosed\n')).toEqual([expect.stringMatching(/^\(yaml line \d\): /)]);
    expect(issues(minimal('      legacy_user_id: { from: user_id }', 'source: { url: "postgres://u:p@h/db" }'))).toContain('source.url: unknown field (expected one of url_env)');
  });
});

describe('plan hash', () => {
  it('is stable under key order and changes with any setting', () => {
    const plan = loadPlanFile(EXAMPLE);
    const reordered = JSON.parse(canonicalJson(plan));
    expect(planHash(reordered)).toBe(planHash(plan));
    expect(canonicalJson({ b: 1, a: { d: [2, 1], c: null } })).toBe('{"a":{"c":null,"d":[2,1]},"b":1}');
    const changed = { ...plan, settings: { ...plan.settings, batchSize: 2001 } };
    expect(planHash(changed)).not.toBe(planHash(plan));
    expect(migrationId(plan)).toBe(`lms-users-${planHash(plan).slice(0, 12)}`);
  });
});

/** Column `a` of a one-entity plan, normalized. */
function columnA(spec: string, extra = ''): ColumnSpec {
  return parsePlan(minimal(`      legacy_user_id: { from: user_id }\n      a: ${spec}`, extra)).entities[0]!.columns[1]!;
}

/** The problems of a one-entity plan whose column `a` is `spec`. */
const columnIssues = (spec: string) => issues(minimal(`      legacy_user_id: { from: user_id }\n      a: ${spec}`));

/** The normalized source of a one-entity plan with this source. */
function sourceOf(source: string): SourceSpec {
  return parsePlan(minimal('      legacy_user_id: { from: user_id }').replace('{ table: legacy_users, key: user_id }', source)).entities[0]!.source;
}
const sourceIssues = (source: string) => issues(minimal('      legacy_user_id: { from: user_id }').replace('{ table: legacy_users, key: user_id }', source));

describe('plan sources', () => {
  it('reads a table, with no `query` or `skip` key unless the plan has one', () => {
    const source = sourceOf('{ table: legacy_users, key: user_id }');
    expect(source).toEqual({ schema: 'public', table: 'legacy_users', key: 'user_id' });
    expect(Object.keys(source).sort()).toEqual(['key', 'schema', 'table']);
  });

  it('reads one SELECT (or WITH … SELECT), after whitespace and -- comments', () => {
    expect(sourceOf('{ query: "select u.id, o.name from users u left join orgs o on o.id = u.org", key: id }')).toEqual({
      schema: 'public',
      query: 'select u.id, o.name from users u left join orgs o on o.id = u.org',
      key: 'id',
    });
    expect(sourceOf('{ query: "  -- the users\\n  WITH x AS (select 1 as id) SELECT id FROM x", key: id }').query).toMatch(/^ {2}-- the users/);
  });

  it.each([
    ['another statement', '{ query: "delete from users", key: id }', 'entities.users.source.query: expected one SELECT (or WITH … SELECT) without a semicolon, got "delete from users"'],
    ['a semicolon', '{ query: "select 1; drop table x", key: id }', 'entities.users.source.query: expected one SELECT (or WITH … SELECT) without a semicolon, got "select 1; drop table x"'],
    ['a word that only starts with select', '{ query: "selector from t", key: id }', 'entities.users.source.query: expected one SELECT (or WITH … SELECT) without a semicolon, got "selector from t"'],
    ['both table and query', '{ table: t, query: "select 1", key: id }', 'entities.users.source: expected exactly one of `table` or `query`'],
    ['neither table nor query', '{ key: id }', 'entities.users.source: expected exactly one of `table` or `query`'],
    ['no key', '{ table: t }', 'entities.users.source.key: expected an SQL identifier, got nothing'],
    ['a filter name that is not a lower-case identifier', '{ table: t, key: id, skip: { Deleted: "deleted = 1" } }', 'entities.users.source.skip.Deleted: expected a filter name: a lower-case SQL identifier'],
    ['a filter with a semicolon', '{ table: t, key: id, skip: { deleted: "deleted = 1; drop table t" } }', 'entities.users.source.skip.deleted: expected an SQL boolean expression without a semicolon, got "deleted = 1; drop table t"'],
    ['an empty filter', '{ table: t, key: id, skip: { deleted: "" } }', 'entities.users.source.skip.deleted: expected an SQL boolean expression without a semicolon, got ""'],
    ['filters as a list', '{ table: t, key: id, skip: [deleted] }', 'entities.users.source.skip: expected a mapping, got ["deleted"]'],
    ['an unknown field', '{ table: t, key: id, where: "x = 1" }', 'entities.users.source.where: unknown field (expected one of schema, table, query, key, skip, change_column, change_unit)'],
  ])('refuses %s', (_what, source, expected) => {
    expect(sourceIssues(source)).toContain(expected);
  });

  it('shortens a long query in its message', () => {
    const query = `select ${'a, '.repeat(40)}b from t; delete from t`;
    expect(sourceIssues(`{ query: "${query}", key: id }`)).toEqual([
      `entities.users.source.query: expected one SELECT (or WITH … SELECT) without a semicolon, got "${query.slice(0, 57)}..."`,
    ]);
  });

  it('keeps skip filters by name, in file order', () => {
    expect(sourceOf(`{ schema: legacy, table: mdl_user, key: id, skip: { guest: "username = 'guest'", soft_deleted: "deleted = 1" } }`)).toEqual({
      schema: 'legacy',
      table: 'mdl_user',
      key: 'id',
      skip: [
        { name: 'guest', when: "username = 'guest'" },
        { name: 'soft_deleted', when: 'deleted = 1' },
      ],
    });
  });
});

describe('plan transforms', () => {
  it('keeps one step an object (also from a list of one) and several steps a list', () => {
    expect(columnA('{ from: x }').transform).toEqual({ kind: 'copy' });
    expect(columnA('{ from: x, transform: [trim] }').transform).toEqual({ kind: 'trim' });
    expect(columnA('{ from: x, transform: [trim, lowercase, { null_if: "" }] }').transform).toEqual([{ kind: 'trim' }, { kind: 'lowercase' }, { kind: 'null_if', values: [''] }]);
  });

  it('reads every new step kind', () => {
    expect(columnA('{ from: [a, b], transform: coalesce }').transform).toEqual({ kind: 'coalesce' });
    expect(columnA('{ from: [mnethostid, username], transform: { template: "src:{mnethostid}:{username}" } }').transform).toEqual({
      kind: 'template',
      template: 'src:{mnethostid}:{username}',
    });
    expect(columnA('{ from: x, transform: { null_if: ["", 0] } }').transform).toEqual({ kind: 'null_if', values: ['', 0] });
    expect(columnA('{ from: x, transform: { null_if: "" } }').transform).toEqual({ kind: 'null_if', values: [''] });
    expect(columnA('{ from: x, transform: epoch_to_date }').transform).toEqual({ kind: 'epoch_to_date', unit: 's' });
    expect(columnA('{ from: x, transform: { epoch_to_date: { unit: ms } } }').transform).toEqual({ kind: 'epoch_to_date', unit: 'ms' });
    expect(columnA('{ from: x, transform: { cast: inet } }').transform).toEqual({ kind: 'cast', type: 'inet' });
  });

  it('reads a case: arms in order, `else` as otherwise (null without one)', () => {
    const arms = '[{ when: { deleted: 1 }, then: deleted }, { when: { suspended: [1, 2], deleted: 0 }, then: suspended }, { else: active }]';
    expect(columnA(`{ from: [deleted, suspended], transform: { case: ${arms} } }`).transform).toEqual({
      kind: 'case',
      arms: [
        { when: { deleted: 1 }, then: 'deleted' },
        { when: { suspended: [1, 2], deleted: 0 }, then: 'suspended' },
      ],
      otherwise: 'active',
    });
    expect(columnA('{ from: role, transform: { case: [{ when: { role: admin }, then: true }] } }').transform).toEqual({
      kind: 'case',
      arms: [{ when: { role: 'admin' }, then: true }],
      otherwise: null,
    });
  });

  it.each([
    ['numeric( 10 , 2 )', 'numeric(10,2)'],
    ['Double   Precision', 'double precision'],
    ['VARCHAR(20)', 'varchar(20)'],
    ['char(2)', 'char(2)'],
    ['timestamp with time zone', 'timestamp with time zone'],
    ['decimal(12,4)', 'decimal(12,4)'],
    ['JSONB', 'jsonb'],
  ])('casts to %s, normalized to %s', (type, normalized) => {
    expect(columnA(`{ from: x, transform: { cast: "${type}" } }`).transform).toEqual({ kind: 'cast', type: normalized });
  });

  it.each([
    ['coalesce with one column', '{ from: x, transform: coalesce }', 'entities.users.columns.a.from: coalesce needs a list of two or more source columns'],
    ['several columns without a multi-input first step', '{ from: [x, y], transform: [trim, coalesce] }', 'entities.users.columns.a.from: several source columns need a multi-input first step (combine, coalesce, template or case), not trim'],
    ['a multi-input step after the first', '{ from: [x, y], transform: [trim, coalesce] }', 'entities.users.columns.a.transform[1]: coalesce takes all of the source columns, so it can only be the first step'],
    ['a template after the first step', '{ from: x, transform: [trim, { template: "{x}" }] }', 'entities.users.columns.a.transform[1]: template takes all of the source columns, so it can only be the first step'],
    ['a placeholder that is not a source column', '{ from: mnethostid, transform: { template: "src:{mnethostid}:{username}" } }', 'entities.users.columns.a.transform.template: {username} is not one of the source columns (from: mnethostid)'],
    ['a placeholder that is not a source column, in a list', '{ from: x, transform: [{ template: "{y}" }, lowercase] }', 'entities.users.columns.a.transform[0].template: {y} is not one of the source columns (from: x)'],
    ['a template without placeholders', '{ from: x, transform: { template: "constant" } }', 'entities.users.columns.a.transform.template: expected text with at least one {column} placeholder, like "src:{mnethostid}:{username}", got "constant"'],
    ['a placeholder that is not a column name', '{ from: x, transform: { template: "{x y}" } }', 'entities.users.columns.a.transform.template: {x y} is not a placeholder: expected {column} with a source column name'],
    ['an unclosed placeholder', '{ from: x, transform: { template: "a{x" } }', 'entities.users.columns.a.transform.template: expected every { to close a {column} placeholder, got "a{x"'],
    ['a case on a column not in from', '{ from: role, transform: { case: [{ when: { rle: admin }, then: 1 }] } }', 'entities.users.columns.a.transform.case[0].when.rle: rle is not one of the source columns (from: role)'],
    ['an arm without then', '{ from: role, transform: { case: [{ when: { role: admin } }] } }', 'entities.users.columns.a.transform.case[0].then: an arm needs both `when` and `then`'],
    ['an arm without when', '{ from: role, transform: { case: [{ then: 1 }] } }', 'entities.users.columns.a.transform.case[0].when: an arm needs both `when` and `then`'],
    ['an else before the last arm', '{ from: role, transform: { case: [{ else: 0 }, { when: { role: a }, then: 1 }] } }', 'entities.users.columns.a.transform.case[0]: `else` must be the last arm'],
    ['a case of only else', '{ from: role, transform: { case: [{ else: 0 }] } }', 'entities.users.columns.a.transform.case: expected at least one { when, then } arm'],
    ['an arm with else', '{ from: role, transform: { case: [{ when: { role: a }, then: 1, else: 0 }] } }', 'entities.users.columns.a.transform.case[0]: expected an arm { when: { column: value }, then: result }, or a last { else: result }, got {"when":{"role":"a"},"then":1,"else":0}'],
    ['a condition that is a mapping', '{ from: role, transform: { case: [{ when: { role: { a: 1 } }, then: 1 }] } }', 'entities.users.columns.a.transform.case[0].when.role: expected a value or a list of values, got {"a":1}'],
    ['null_if with nothing', '{ from: x, transform: { null_if: [] } }', 'entities.users.columns.a.transform.null_if: expected a value or a list of values, got []'],
    ['a bad epoch unit', '{ from: x, transform: { epoch_to_date: { unit: h } } }', 'entities.users.columns.a.transform.epoch_to_date.unit: expected one of s, ms, got "h"'],
    ['a type it cannot cast to', '{ from: x, transform: { cast: money } }', 'entities.users.columns.a.transform.cast: expected a PostgreSQL type Cutover can cast to (text, varchar(n), char(n), integer, bigint, smallint, numeric(p,s), boolean, date, timestamptz, timestamp, inet, uuid, json, jsonb, real, double precision), got "money"'],
    ['a bad step in a list', '{ from: x, transform: [trim, { cast: "varchar(0)" }] }', 'entities.users.columns.a.transform[1].cast: expected a PostgreSQL type Cutover can cast to (text, varchar(n), char(n), integer, bigint, smallint, numeric(p,s), boolean, date, timestamptz, timestamp, inet, uuid, json, jsonb, real, double precision), got "varchar(0)"'],
    ['an unknown step in a list', '{ from: x, transform: [trim, lower] }', 'entities.users.columns.a.transform[1]: expected one of copy, trim, lowercase, uppercase, split, combine, coalesce, template, case, enum, null_if, epoch_to_timestamp, epoch_to_date, integer, boolean, json, cast, got "lower"'],
    ['an empty list', '{ from: x, transform: [] }', 'entities.users.columns.a.transform: expected a transform name or { name: options }, or a list of them, got []'],
    ['a step that needs options, by name', '{ from: x, transform: cast }', 'entities.users.columns.a.transform: cast needs options, like { cast: inet }'],
    ['two steps in one mapping', '{ from: x, transform: { trim: null, lowercase: null } }', 'entities.users.columns.a.transform: expected one step per { name: options }, got trim, lowercase (a list runs several steps in order)'],
    ['options for a step that takes none', '{ from: x, transform: [{ trim: { all: true } }] }', 'entities.users.columns.a.transform[0].trim: takes no options, got {"all":true}'],
    ['pii_paths without a json step', '{ from: x, transform: [trim, lowercase], pii_paths: { a: email } }', 'entities.users.columns.a.pii_paths: needs the json transform'],
    ['a file column with steps', '{ from: x, transform: [copy, trim], file: { source_bucket: old-files, target_bucket: new-files } }', 'entities.users.columns.a.file: a file column holds the object key as it is (no pii, reference or transform)'],
  ])('names %s by its path', (_what, spec, expected) => {
    expect(columnIssues(spec)).toContain(expected);
  });

  it('accepts steps around a multi-input first step, a json step anywhere for pii_paths, and copy for a file', () => {
    expect(columnA('{ from: [x, y], transform: [coalesce, trim, { null_if: "" }, { cast: "varchar(20)" }] }').transform).toEqual([
      { kind: 'coalesce' },
      { kind: 'trim' },
      { kind: 'null_if', values: [''] },
      { kind: 'cast', type: 'varchar(20)' },
    ]);
    expect(columnA('{ from: x, transform: [trim, json], pii_paths: { actor.mbox: email } }')).toMatchObject({ piiPaths: [{ path: ['actor', 'mbox'], kind: 'email' }], protect: 'detokenize' });
    expect(columnA('{ from: x, transform: [copy], file: { source_bucket: old-files, target_bucket: new-files } }')).toEqual({
      name: 'a',
      from: ['x'],
      transform: { kind: 'copy' },
      file: { sourceBucket: 'old-files', targetBucket: 'new-files' },
    });
  });
});

describe('plan references and phases', () => {
  const tree = `
version: 1
name: tree
entities:
  categories:
    source: { table: mdl_course_categories, key: id }
    target: { table: categories, key: id, business_key: [legacy_id] }
    columns:
      legacy_id: { from: id }
      parent_id: { from: parent, transform: { null_if: [0] }, reference: categories }
`;

  it('allows an entity to reference itself (a tree)', () => {
    const plan = parsePlan(tree);
    expect(plan.entities[0]!.columns[1]).toMatchObject({ reference: { entity: 'categories' } });
    expect(plan.phases).toEqual([{ name: 'all', entities: ['categories'] }]);
  });

  it('still needs a target key to reference, also its own', () => {
    expect(issues(tree.replace('table: categories, key: id,', 'table: categories,'))).toEqual([
      'entities.categories.columns.parent_id.reference: categories has no target.key, so it cannot be referenced',
    ]);
  });

  it('names phases by name, and refuses an entity in two phases, a missing one and a later parent', () => {
    const plan = `${minimal('      legacy_user_id: { from: user_id }\n      org_id: { from: org, reference: orgs }')}
  orgs:
    source: { table: legacy_orgs, key: id }
    target: { table: orgs, key: id, business_key: [legacy_id] }
    columns:
      legacy_id: { from: id }
`;
    expect(issues(`${plan}phases: [{ name: a, entities: [users, ghost] }, { name: b, entities: [orgs, users], gate: maybe }]\n`)).toEqual([
      'phases.b.gate: expected true, false or { distinct_approver: true }, got "maybe"',
      'phases.a.entities: ghost is not an entity of this plan',
      'phases.b.entities: users is already in phase a',
      'entities.users.columns.org_id.reference: orgs loads in a later phase than users',
    ]);
    expect(parsePlan(`${plan}phases: [{ name: a, entities: [orgs], gate: true }, { name: b, entities: [users], gate: { distinct_approver: true } }]\n`).phases).toEqual([
      { name: 'a', entities: ['orgs'], gate: { distinctApprover: false } },
      { name: 'b', entities: ['users'], gate: { distinctApprover: true } },
    ]);
    expect(issues(`${plan}phases: [{ name: a, entities: [orgs, users] }, { name: a, entities: [] }]\n`)).toEqual([
      'phases.a.entities: expected a list of entity names, got []',
      'phases.a.name: there is already a phase a',
    ]);
  });

  it('refuses entities that reference each other in a cycle', () => {
    const plan = `${minimal('      legacy_user_id: { from: user_id }\n      org_id: { from: org, reference: orgs }').replace('table: people,', 'table: people, key: id,')}
  orgs:
    source: { table: legacy_orgs, key: id }
    target: { table: orgs, key: id, business_key: [legacy_id] }
    columns:
      legacy_id: { from: id }
      owner_id: { from: owner, reference: users }
`;
    expect(issues(plan)).toEqual(['phases.all: entities users, orgs reference each other in a cycle']);
  });

  it('reports a plan that is not a mapping as one problem', () => {
    expect(issues('- 1\n')).toEqual(['(plan): expected a mapping, got [1]']);
  });
});

describe('plan hash stability', () => {
  // Computed with the validator before the plan format was defined in zod: a plan in the old
  // format must normalize to exactly the same Plan, or its migration id would change.
  it.each([
    ['lms.plan.yaml', '8c0c03d6a495316f1c0c60d0750d5069b50d84c854992de1e478ce7126cb6af4'],
    ['lms-users.plan.yaml', '1a62ae6a881aeb8d8424f35bf25f4dae069c5cb5c60c2d72693d15d187b28b04'],
  ])('%s keeps its hash', (file, hash) => {
    expect(planHash(loadPlanFile(join(ROOT, 'examples', file)))).toBe(hash);
  });

  it('adds no key with a default value to a plan in the old format', () => {
    const plan = loadPlanFile(join(ROOT, 'examples', 'lms.plan.yaml'));
    for (const entity of plan.entities) {
      expect(Object.keys(entity.source).sort()).toEqual(['key', 'schema', 'table']);
      for (const column of entity.columns) expect(Array.isArray(column.transform)).toBe(false);
    }
  });
});

describe('plan JSON Schema', () => {
  it('is current: schema/plan.schema.json is what the zod schema generates (run `npm run plan-schema`)', () => {
    expect(readFileSync(join(ROOT, 'schema', 'plan.schema.json'), 'utf8')).toBe(planJsonSchemaText());
  });

  it('describes the plan file: every top-level field, each with a description', () => {
    const schema = planJsonSchema() as { type: string; properties: Record<string, { description?: string }>; required: string[]; additionalProperties: boolean };
    expect(schema.type).toBe('object');
    expect(Object.keys(schema.properties)).toEqual(['version', 'name', 'source', 'target', 'staging', 'keys', 'residency', 'settings', 'sync', 'entities', 'phases']);
    expect(schema.required).toEqual(['version', 'name', 'entities']);
    expect(schema.additionalProperties).toBe(false);
    for (const [name, field] of Object.entries(schema.properties)) expect([name, typeof field.description]).toEqual([name, 'string']);
  });

  it.each(EXAMPLES)('accepts examples/%s, which points editors at it', (file) => {
    const text = readFileSync(join(ROOT, 'examples', file), 'utf8');
    expect(text.split('\n')[0]).toBe('# yaml-language-server: $schema=../schema/plan.schema.json');
    expect(PlanFileSchema.safeParse(parse(text)).success).toBe(true);
    expect(PlanSchema.safeParse(parse(text)).success).toBe(true);
  });
});
