import { connectClient } from '../../src/clients/temporal';
import { loadConfig } from '../../src/config';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, isolated, Isolated, ROOT } from './helpers';

// These tests stop and start stack services: integration tests run in band, so nothing
// else is using the stack meanwhile, and each test leaves every service up again.
describe('the cutover CLI against the real stack', () => {
  let env: Isolated;
  let dbEnv: NodeJS.ProcessEnv;

  beforeAll(async () => {
    env = await isolated('cli');
    dbEnv = {
      CUTOVER_SOURCE_URL: env.config.databases.sourceUrl,
      CUTOVER_TARGET_URL: env.config.databases.targetUrl,
      CUTOVER_CONTROL_URL: env.config.databases.controlUrl,
    };
  });

  afterAll(async () => {
    await cli(['stack', 'up']); // whatever happened, leave the stack up
    await env?.cleanup();
  });

  it('stack status --json shows six healthy services and every endpoint', async () => {
    const r = await cli(['stack', 'status', '--json']);
    expect(r.code).toBe(0);
    const status = JSON.parse(r.stdout);
    expect(status.healthy).toBe(true);
    expect(status.services.map((s: { service: string; healthy: boolean }) => [s.service, s.healthy])).toEqual([
      ['postgres', true],
      ['postgres-logical', true],
      ['kms', true],
      ['minio', true],
      ['temporal', true],
      ['codec', true],
    ]);
    expect(status.endpoints.temporal).toEqual({ address: '127.0.0.1:7233', namespace: 'default', uiUrl: 'http://127.0.0.1:8233' });
    for (const key of ['sourceUrl', 'targetUrl', 'controlUrl']) expect(status.endpoints.postgres[key]).toMatch(/^postgres:\/\//);
    expect(status.endpoints.s3.endpoint).toBe('http://127.0.0.1:9000');
    expect(status.endpoints.kms.endpoint).toBe('http://127.0.0.1:4599');
    expect(status.endpoints.codec).toEqual({ url: 'http://127.0.0.1:8234' });
    expect(status.endpoints.logicalPostgres).toEqual({ adminUrl: 'postgres://postgres@127.0.0.1:5433/postgres' });
  });

  it('stack codec-url prints the codec endpoint without its token and the Authorization header that carries it (--web-ui: the token in the path, for the Web UI); status never shows it; the codec server refuses any other', async () => {
    const r = await cli(['stack', 'codec-url']);
    expect(r.code).toBe(0);
    const [endpoint, header, ...rest] = r.stdout.trim().split('\n');
    expect(rest).toEqual([]);
    expect(endpoint).toBe('http://127.0.0.1:8234');
    const token = /^Authorization: Bearer ([0-9a-f]{64})$/.exec(header!)?.[1];
    expect(token).toBeDefined();
    expect(r.stderr).toContain('--codec-auth "Bearer <token>"');
    expect(r.stderr).not.toContain(token);
    for (const args of [['stack', 'status'], ['stack', 'status', '--json']]) expect((await cli(args)).stdout).not.toContain(token);

    const probe = { payloads: [{ metadata: { encoding: Buffer.from('json/plain').toString('base64') }, data: Buffer.from('"probe"').toString('base64') }] };
    const post = (url: string, body: unknown, headers: Record<string, string> = {}) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
    const authorization = header!.slice('Authorization: '.length);
    const encoded = await post(`${endpoint}/encode`, probe, { authorization });
    expect(encoded.status).toBe(200);
    const decoded = await post(`${endpoint}/decode`, await encoded.json(), { authorization });
    expect(await decoded.json()).toEqual(probe);
    expect((await post(`${endpoint}/decode`, probe, { authorization: `Bearer ${'0'.repeat(64)}` })).status).toBe(401);
    expect((await post(`${endpoint}/decode`, probe)).status).toBe(401);

    // The Web UI cannot send a header of its own: its endpoint carries the token in the path.
    const webUi = await cli(['stack', 'codec-url', '--web-ui']);
    expect(webUi.code).toBe(0);
    expect(webUi.stdout.trim()).toBe(`${endpoint}/${token}`);
    expect((await post(`${webUi.stdout.trim()}/encode`, probe)).status).toBe(200);
    expect((await post(`http://127.0.0.1:8234/${'0'.repeat(64)}/decode`, probe)).status).toBe(401);
  });

  it('doctor passes on the stack, and names MinIO when MinIO is stopped', async () => {
    const healthy = await cli(['doctor'], dbEnv);
    expect(healthy.stdout).toContain('all checks passed');
    expect(healthy.code).toBe(0);

    expect((await cli(['stack', 'down', 'minio'])).code).toBe(0);
    try {
      const broken = await cli(['doctor', '--json'], dbEnv);
      expect(broken.code).toBe(1);
      const report = JSON.parse(broken.stdout);
      expect(report.failed).toEqual(['S3 (MinIO)']);
      const human = await cli(['doctor'], dbEnv);
      expect(human.stdout).toMatch(/S3 \(MinIO\)\s+staging bucket .*FAIL\s+connection refused/);
      expect(human.stdout.trim().split('\n').pop()).toBe('problem: S3 (MinIO)');
    } finally {
      expect((await cli(['stack', 'up', 'minio'])).code).toBe(0);
    }
    expect((await cli(['doctor'], dbEnv)).code).toBe(0);
  });

  it('doctor refuses a source role that can write', async () => {
    const r = await cli(['doctor', '--json'], { ...dbEnv, CUTOVER_SOURCE_URL: env.config.databases.targetUrl });
    expect(r.code).toBe(1);
    const check = JSON.parse(r.stdout).results.find((c: { check: string }) => c.check === 'source role is read-only');
    expect(check.ok).toBe(false);
    expect(check.detail).toMatch(new RegExp(`role ${env.names.app} .*may create objects in schema public`));
  });

  it('the worker refuses to start while a dependency is missing, with the doctor table', async () => {
    const r = await cli(['worker'], { ...dbEnv, CUTOVER_KMS_ENDPOINT: 'http://127.0.0.1:1' }, 60_000);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/COMPONENT\s+CHECK\s+STATUS\s+DETAIL/);
    expect(r.stderr).toContain('worker not started: KMS not ready');
  });

  it('demo migrates the demo LMS phase by phase, writes the report, prints a Web UI link, and the history survives stack down/up', async () => {
    const demo = await cli(['demo', '--users', '1000'], {}, 300_000);
    expect(demo.code).toBe(0);
    expect(demo.stdout).toMatch(/migration lms-[0-9a-f]{12}: completed, every batch reconciled clean/);
    expect(demo.stdout).toContain('approving as demo-second-approver');
    for (const [entity, rows] of [['users', 1000], ['enrollments', 4000], ['xapi_statements', 10000]] as const) {
      expect(demo.stdout).toMatch(new RegExp(`${entity}: ${rows} extracted, ${rows} inserted, 0 updated, 0 unchanged, 0 quarantined; reconcile ${rows}/${rows} found, 0 missing, 0 mismatched`));
    }
    const html = /report: +(\S+\.html)/.exec(demo.stdout)?.[1];
    expect(readFileSync(html!, 'utf8')).toContain('data-testid="throughput-chart"');
    const report = /^ +(\S+\.md)$/m.exec(demo.stdout)?.[1];
    expect(readFileSync(report!, 'utf8')).toMatch(/^# Migration lms-[0-9a-f]{12}\n\nStatus: \*\*completed\*\*/);
    const id = /workflow id: (\S+)/.exec(demo.stdout)?.[1];
    expect(id).toMatch(/^cutover-lms-[0-9a-f]{12}$/);
    expect(demo.stdout).toContain(`Web UI:      http://127.0.0.1:8233/namespaces/default/workflows/${id}`);

    expect((await cli(['stack', 'down'])).code).toBe(0);
    const down = await cli(['stack', 'status', '--json']);
    expect(down.code).toBe(1);
    expect(JSON.parse(down.stdout).services.filter((s: { healthy: boolean }) => !s.healthy).map((s: { service: string }) => s.service)).toEqual(['postgres-logical', 'kms', 'minio', 'temporal', 'codec']);
    expect((await cli(['stack', 'up'])).code).toBe(0);

    const { client, connection } = await connectClient(loadConfig());
    try {
      const description = await client.workflow.getHandle(id!).describe();
      expect(description.status.name).toBe('COMPLETED');
    } finally {
      await connection.close();
    }
  });

  it('refuses a plan with three mistakes with three precise errors, and starts nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cutover-plan-'));
    const file = join(dir, 'bad.plan.yaml');
    const good = readFileSync(join(ROOT, 'examples', 'lms-users.plan.yaml'), 'utf8');
    const bad = good
      .replace('batch_size: 2000', 'batch_size: 0')
      .replace('{ from: email, transform: lowercase, pii: email }', '{ from: email, transform: lowercase, pii: mail }')
      .replace('transform: { enum: {', 'transform: { enum_map: {');
    writeFileSync(file, bad);
    const { client, connection } = await connectClient(loadConfig(process.env));
    try {
      const before = (await client.workflow.count()).count;
      const r = await cli(['start', file], dbEnv);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toEqual([
        `cutover start: ${file} is invalid (3 problems):`,
        '  settings.batch_size: expected an integer from 1 to 100000, got 0',
        '  entities.users.columns.email.pii: expected one of email, name, phone, text, got "mail"',
        '  entities.users.columns.status.transform: expected one of copy, trim, lowercase, uppercase, split, combine, coalesce, template, case, enum, null_if, epoch_to_timestamp, epoch_to_date, integer, boolean, json, cast, got "enum_map"',
      ]);
      expect(r.stdout).toBe('');
      expect((await client.workflow.count()).count).toBe(before);
    } finally {
      await connection.close();
      rmSync(dir, { recursive: true, force: true });
    }
    const valid = await cli(['plan', 'validate', join(ROOT, 'examples', 'lms-users.plan.yaml'), '--json']);
    expect(JSON.parse(valid.stdout)).toMatchObject({ valid: true, name: 'lms-users', migrationId: expect.stringMatching(/^lms-users-[0-9a-f]{12}$/) });
  });

  it('answers mistakes with one line and a usage exit code', async () => {
    const unknown = await cli(['migrate-everything']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr.split('\n')[0]).toBe('cutover: unknown command "migrate-everything"');
    const badAction = await cli(['stack', 'explode']);
    expect(badAction.code).toBe(2);
    expect(badAction.stderr.trim()).toBe('cutover stack: unknown stack action "explode": expected up, down, restart, status, reset or codec-url');
    const badService = await cli(['stack', 'down', 'mysql']);
    expect(badService.stderr.trim()).toBe('cutover stack: unknown service "mysql": expected one of postgres, postgres-logical, kms, minio, temporal, codec');
    expect((await cli(['doctor', '--help'])).stdout).toContain('cutover doctor [--plan FILE] [--json]');
  });

  it('says in one line, exit 3, when Temporal cannot be reached', async () => {
    const r = await cli(['list'], { TEMPORAL_ADDRESS: '127.0.0.1:7299' }, 60_000);
    expect(r.code).toBe(3);
    expect(r.stderr.trim()).toBe('cutover list: cannot reach Temporal at 127.0.0.1:7299 (namespace default): Failed to connect before the deadline — is it running? (`cutover doctor` checks)');
  });
});
