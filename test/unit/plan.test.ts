import { join } from 'node:path';
import { loadPlanFile, parsePlan } from '../../src/plan/load';
import { canonicalJson, migrationId, planHash } from '../../src/plan/hash';
import { PlanError } from '../../src/plan/validate';

const EXAMPLE = join(__dirname, '..', '..', 'examples', 'lms-users.plan.yaml');

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

function issues(text: string): string[] {
  try {
    parsePlan(text, 'p.yaml');
  } catch (err) {
    if (err instanceof PlanError) return err.issues.map((i) => `${i.path}: ${i.message}`);
    throw err;
  }
  return [];
}

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
      'entities.users.columns.status.transform: expected one of copy, trim, lowercase, uppercase, split, combine, enum, epoch_to_timestamp, integer, boolean, json, got "enum_map"',
    ]);
    expect(() => parsePlan(text, 'p.yaml')).toThrow(/^p\.yaml is invalid \(3 problems\):\n {2}settings\.batch_size/);
  });

  it.each([
    ['an unknown field', '      a: { from: x, colour: red }', 'entities.users.columns.a.colour: unknown field (expected one of from, constant, transform, pii, pii_paths, protect, reference, file)'],
    ['from and constant together', '      a: { from: x, constant: 1 }', 'entities.users.columns.a: expected exactly one of `from` (source columns) or `constant`'],
    ['combine with one column', '      a: { from: x, transform: combine }', 'entities.users.columns.a.from: combine needs a list of two or more source columns'],
    ['two columns without combine', '      a: { from: [x, y] }', 'entities.users.columns.a.from: several source columns need the combine transform, not copy'],
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
