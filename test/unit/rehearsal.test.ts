import { join } from 'node:path';
import { checkedRehearsal, rehearsalLine } from '../../src/cli/commands/start';
import { renderStatus } from '../../src/cli/status-view';
import type { CutoverConfig } from '../../src/config';
import { canonicalJson, migrationId, planHash } from '../../src/plan/hash';
import { loadPlanFile } from '../../src/plan/load';
import { databaseIdentity, DEFAULT_SANDBOX_ENV, detokenizedColumns, fileColumns, rehearsalPlan, sameDatabase } from '../../src/plan/rehearsal';
import type { Plan } from '../../src/plan/types';
import { renderReportHtml } from '../../src/report/html';
import { reportMarkdown } from '../../src/report/write-report';
import { emptyProgress } from '../../src/shared/migration';

const ROOT = join(__dirname, '..', '..');
const example = (file: string) => loadPlanFile(join(ROOT, 'examples', file));
const EXAMPLES = ['lms.plan.yaml', 'lms-users.plan.yaml', 'moodle.plan.yaml'];

/** Every `protect` value anywhere in a plan, found by walking it (not by the helper under test). */
function protections(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) value.forEach((v) => protections(v, out));
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'protect') out.push(String(v));
      protections(v, out);
    }
  }
  return out;
}

/** The lms plan with a `drop` column, a personal column without `protect` (as a plan built in code may have) and a sync section. */
function richPlan(): Plan {
  const lms = example('lms.plan.yaml');
  const entities = lms.entities.map((e) =>
    e.name !== 'users'
      ? e
      : {
          ...e,
          columns: e.columns.map((c) => {
            if (c.name === 'username') return { ...c, protect: 'drop' as const };
            if (c.name === 'given_name') {
              const { protect: _protect, ...rest } = c;
              return rest;
            }
            return c;
          }),
        },
  );
  return {
    ...lms,
    entities,
    sync: { mode: 'poll', intervalSeconds: 5, quietSeconds: 10, conflict: 'quarantine', maxDeleteRatio: 0.1, overlapSeconds: 60, slot: 'cutover_lms', publication: 'cutover_lms', maxRetainedWalMb: 1024 },
  };
}

describe('rehearsalPlan', () => {
  it.each(EXAMPLES)('%s: nothing is detokenized anywhere in its rehearsal, no file is copied, no sync', (file) => {
    const plan = example(file);
    const rehearsal = rehearsalPlan(plan);
    expect(protections(rehearsal).filter((p) => p !== 'keep_token' && p !== 'drop')).toEqual([]);
    expect(canonicalJson(rehearsal)).not.toContain('detokenize');
    expect(detokenizedColumns(rehearsal)).toEqual([]);
    expect(fileColumns(rehearsal)).toEqual([]);
    expect(rehearsal.sync).toBeUndefined();
    // The same entities and columns: only their protection changed.
    expect(rehearsal.entities.map((e) => e.columns.map((c) => c.name))).toEqual(plan.entities.map((e) => e.columns.map((c) => c.name)));
  });

  it('the real plans do detokenize (so the test above tests something)', () => {
    expect(detokenizedColumns(example('lms.plan.yaml'))).toEqual(['users.username', 'users.given_name', 'users.family_name', 'users.email', 'xapi_statements.statement']);
    expect(fileColumns(example('lms.plan.yaml'))).toEqual(['course_packages.file_key', 'attachments.file_key', 'certificates.file_key']);
  });

  it('turns explicit and default detokenize (columns and JSON paths) into keep_token, keeps drop, drops files and sync', () => {
    const plan = richPlan();
    expect(detokenizedColumns(plan)).toContain('users.given_name');
    const r = rehearsalPlan(plan);
    const users = r.entities.find((e) => e.name === 'users')!;
    const col = (name: string) => users.columns.find((c) => c.name === name)!;
    expect(col('username').protect).toBe('drop');
    expect(col('given_name').protect).toBe('keep_token');
    expect(col('email').protect).toBe('keep_token');
    expect(col('phone').protect).toBe('keep_token');
    expect(col('status').protect).toBeUndefined(); // not personal: untouched
    const statement = r.entities.find((e) => e.name === 'xapi_statements')!.columns.find((c) => c.name === 'statement')!;
    expect(statement).toMatchObject({ protect: 'keep_token', piiPaths: [{ path: ['actor', 'mbox'], kind: 'email' }, { path: ['actor', 'name'], kind: 'name' }] });
    // A file column keeps its object key (copied as it is), and no bucket is named any more.
    const cert = r.entities.find((e) => e.name === 'certificates')!.columns.find((c) => c.name === 'file_key')!;
    expect(cert).toEqual({ name: 'file_key', from: ['file_key'], transform: { kind: 'copy' } });
    expect('sync' in r).toBe(false);
  });

  it('has a name, an id and a target of its own, and says what it rehearses', () => {
    const plan = example('lms-users.plan.yaml');
    const r = rehearsalPlan(plan);
    expect(r.name).toBe('lms-users-rehearsal');
    expect(migrationId(r)).toMatch(/^lms-users-rehearsal-[0-9a-f]{12}$/);
    expect(migrationId(r)).not.toBe(migrationId(plan));
    expect(r.target).toEqual({ urlEnv: DEFAULT_SANDBOX_ENV, ledgerSchema: plan.target.ledgerSchema });
    expect(r.source).toEqual(plan.source);
    expect(r.staging).toEqual(plan.staging); // same bucket and prefix: its objects go under its own id
    expect(r.phases).toEqual(plan.phases);
    expect(r.rehearsal).toEqual({ of: migrationId(plan), sandboxEnv: DEFAULT_SANDBOX_ENV, realTargetEnv: 'CUTOVER_TARGET_URL' });
    // Deterministic, and the sandbox is part of its identity.
    expect(migrationId(rehearsalPlan(plan))).toBe(migrationId(r));
    expect(migrationId(rehearsalPlan(plan, 'OTHER_SANDBOX_URL'))).not.toBe(migrationId(r));
    expect(rehearsalPlan(plan, 'OTHER_SANDBOX_URL').target.urlEnv).toBe('OTHER_SANDBOX_URL');
  });

  it('is pure: the real plan is left as it was', () => {
    const plan = richPlan();
    const before = canonicalJson(plan);
    rehearsalPlan(plan);
    expect(canonicalJson(plan)).toBe(before);
    expect(detokenizedColumns(plan).length).toBeGreaterThan(0);
  });

  it('refuses a rehearsal of a rehearsal, the plan’s own target or source variable, and a bad variable name', () => {
    const plan = example('lms-users.plan.yaml');
    expect(() => rehearsalPlan(rehearsalPlan(plan))).toThrow(/already a rehearsal/);
    expect(() => rehearsalPlan(plan, 'CUTOVER_TARGET_URL')).toThrow(/the plan's own target variable/);
    expect(() => rehearsalPlan(plan, 'CUTOVER_SOURCE_URL')).toThrow(/source variable/);
    expect(() => rehearsalPlan(plan, 'postgres://x')).toThrow(/environment variable name/);
  });
});

describe('the rehearsal marker and plan ids', () => {
  it.each([
    ['lms.plan.yaml', '8c0c03d6a495316f1c0c60d0750d5069b50d84c854992de1e478ce7126cb6af4'],
    ['lms-users.plan.yaml', '1a62ae6a881aeb8d8424f35bf25f4dae069c5cb5c60c2d72693d15d187b28b04'],
  ])('%s without the marker keeps its hash and id', (file, hash) => {
    const plan = example(file);
    expect('rehearsal' in plan).toBe(false);
    expect(planHash(plan)).toBe(hash);
    expect(planHash({ ...plan, rehearsal: undefined })).toBe(hash);
    expect(migrationId(plan)).toBe(`${plan.name}-${hash.slice(0, 12)}`);
  });

  it('the marker alone changes the id', () => {
    const plan = example('lms-users.plan.yaml');
    expect(planHash({ ...plan, rehearsal: { of: 'x', sandboxEnv: 'S', realTargetEnv: 'T' } })).not.toBe(planHash(plan));
  });

  it('a plan file cannot carry the marker', () => {
    const { parsePlan } = require('../../src/plan/load') as typeof import('../../src/plan/load');
    expect(() => parsePlan('version: 1\nname: x\nrehearsal: { of: x }\nentities:\n  u:\n    source: { table: t, key: id }\n    target: { table: t, business_key: [id] }\n    columns: { id: { from: id } }\n')).toThrow(/unknown field/);
  });
});

describe('which database a connection string names', () => {
  it('compares host, port and database, not the credentials', () => {
    expect(sameDatabase('postgres://a:secret@db.example:5432/lms', 'postgresql://b:other@DB.example/lms?sslmode=require')).toBe(true);
    expect(sameDatabase('postgres://a@db.example/lms', 'postgres://a@db.example/lms_sandbox')).toBe(false);
    expect(sameDatabase('postgres://a@db.example:5432/lms', 'postgres://a@db.example:5433/lms')).toBe(false);
    expect(sameDatabase('postgres://a@db1.example/lms', 'postgres://a@db2.example/lms')).toBe(false);
  });

  it('takes loopback names and sockets as one host, libpq key=value strings, and ?host/?dbname overrides', () => {
    expect(sameDatabase('postgres://a@localhost/lms', 'postgres://a@127.0.0.1:5432/lms')).toBe(true);
    expect(sameDatabase('postgres://a@[::1]/lms', 'postgres:///lms?host=/var/run/postgresql')).toBe(true);
    expect(sameDatabase("host=db.example port=5432 dbname=lms user=a password='x y'", 'postgres://b@db.example/lms')).toBe(true);
    expect(sameDatabase('postgres://a@localhost/ignored?dbname=lms', 'postgres://a@localhost/lms')).toBe(true);
    expect(databaseIdentity('postgres://ada@db.example')).toEqual({ host: 'db.example', port: 5432, database: 'ada' });
  });

  it('cannot tell for what it cannot read', () => {
    expect(sameDatabase('not a url', 'postgres://a@localhost/lms')).toBeUndefined();
    expect(databaseIdentity('mysql://a@localhost/lms')).toBeUndefined();
  });
});

describe('start --rehearsal: the sandbox check', () => {
  const config = { databases: { sourceUrl: 'postgres://reader:pw1@localhost/src', targetUrl: 'postgres://app:pw2@localhost/tgt', controlUrl: 'postgres://app:pw2@localhost/ctl' } } as CutoverConfig;
  const plan = example('lms-users.plan.yaml');
  const saved = { ...process.env };
  afterEach(() => {
    for (const k of ['CUTOVER_REHEARSAL_TARGET_URL', 'MY_SANDBOX', 'CUTOVER_TARGET_URL', 'CUTOVER_SOURCE_URL']) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  });
  const refusal = (sandboxEnv = DEFAULT_SANDBOX_ENV) => {
    try {
      checkedRehearsal(config, plan, sandboxEnv);
    } catch (err) {
      return err as Error;
    }
    throw new Error('not refused');
  };

  beforeEach(() => {
    delete process.env.CUTOVER_TARGET_URL;
    delete process.env.CUTOVER_SOURCE_URL;
    delete process.env.CUTOVER_REHEARSAL_TARGET_URL;
    delete process.env.MY_SANDBOX;
  });

  it('refuses (a usage error) when the sandbox variable is unset, naming the variables', () => {
    const err = refusal();
    expect(err.name).toBe('UsageError');
    expect(err.message).toContain('CUTOVER_REHEARSAL_TARGET_URL is not set');
    expect(err.message).toContain('--sandbox-env');
    expect(refusal('MY_SANDBOX').message).toContain('MY_SANDBOX is not set');
  });

  it('refuses a sandbox that is the real target (or source, or control), without printing a URL or password', () => {
    process.env.CUTOVER_REHEARSAL_TARGET_URL = 'postgres://someone:hunter2@127.0.0.1:5432/tgt';
    const err = refusal();
    expect(err.name).toBe('UsageError');
    expect(err.message).toBe("--rehearsal: CUTOVER_REHEARSAL_TARGET_URL names the same database as the plan's target CUTOVER_TARGET_URL (database tgt on localhost:5432): a rehearsal needs a sandbox database of its own");
    for (const secret of ['hunter2', 'pw1', 'pw2', 'postgres://']) expect(err.message).not.toContain(secret);
    process.env.CUTOVER_REHEARSAL_TARGET_URL = 'postgres://someone:hunter2@localhost/src';
    expect(refusal().message).toContain("the plan's source CUTOVER_SOURCE_URL");
    process.env.CUTOVER_REHEARSAL_TARGET_URL = 'postgres://someone:hunter2@localhost/ctl';
    expect(refusal().message).toContain('the same database as the control database CUTOVER_CONTROL_URL');
    process.env.CUTOVER_REHEARSAL_TARGET_URL = 'garbage';
    expect(refusal().message).toMatch(/cannot tell which database/);
  });

  it('checks against the target the plan names in the environment, when it is set there', () => {
    process.env.CUTOVER_TARGET_URL = 'postgres://app:pw3@db.example/real';
    process.env.MY_SANDBOX = 'postgres://app:pw3@db.example:5432/real';
    expect(refusal('MY_SANDBOX').message).toContain('names the same database');
  });

  it('derives the masked plan for a sandbox of its own', () => {
    process.env.CUTOVER_REHEARSAL_TARGET_URL = 'postgres://app:pw2@localhost/tgt_sandbox';
    const r = checkedRehearsal(config, plan, DEFAULT_SANDBOX_ENV);
    expect(r).toEqual(rehearsalPlan(plan));
    expect(rehearsalLine(r)).toMatch(/^REHEARSAL of lms-users-[0-9a-f]{12} into the masked sandbox \$CUTOVER_REHEARSAL_TARGET_URL: nothing detokenized/);
    expect(rehearsalLine(plan)).toBeUndefined();
  });
});

describe('reported as a rehearsal', () => {
  const rehearsal = { of: 'lms-8c0c03d6a495', sandboxEnv: DEFAULT_SANDBOX_ENV, realTargetEnv: 'CUTOVER_TARGET_URL' };
  const report = { migrationId: 'lms-rehearsal-0123456789ab', planHash: 'h', status: 'completed' as const, startedBy: 'op', entities: [{ ...emptyProgress('users', 3) }], phases: [], approvals: [], clean: true };
  const data = { generatedAt: '2025-06-03T14:00:00.000Z', report, workflow: { workflowId: 'cutover-lms-rehearsal-0123456789ab', status: 'COMPLETED' }, quarantine: [], throughput: [], timings: [] };

  it('the HTML report has a visible banner; a migration has none', () => {
    const html = renderReportHtml({ ...data, rehearsal });
    expect(html).toMatch(/<div class="rehearsal" role="note" data-testid="rehearsal"><strong>REHEARSAL<\/strong> — masked sandbox, nothing detokenized\./);
    expect(html).toContain('<title>REHEARSAL lms-rehearsal-0123456789ab');
    expect(html).toContain('Cutover rehearsal report');
    expect(renderReportHtml(data)).not.toContain('REHEARSAL');
  });

  it('the Markdown report and status say so', () => {
    expect(reportMarkdown(report, { rehearsal })).toContain('> **REHEARSAL of lms-8c0c03d6a495 into the masked sandbox $CUTOVER_REHEARSAL_TARGET_URL: nothing detokenized');
    expect(reportMarkdown(report)).not.toContain('REHEARSAL');
    const view = { workflowId: data.workflow.workflowId, migrationId: report.migrationId, url: 'http://ui', execution: 'COMPLETED', status: 'completed', report };
    expect(renderStatus({ ...view, rehearsal }).split('\n')[1]).toBe('  REHEARSAL of lms-8c0c03d6a495 into the masked sandbox $CUTOVER_REHEARSAL_TARGET_URL: nothing detokenized (every personal value is a token), files not copied');
    expect(renderStatus(view)).not.toContain('REHEARSAL');
  });
});
