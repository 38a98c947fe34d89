import { buildEndpoints, databaseNames, postgresUrl, redactUrl } from '../../src/stack/endpoints';
import { DEFAULT_PORTS } from '../../src/stack/services';

describe('database names', () => {
  it('derives databases and roles from a prefix', () => {
    expect(databaseNames('cutover')).toEqual({
      source: 'cutover_source',
      target: 'cutover_target',
      control: 'cutover_control',
      reader: 'cutover_reader',
      app: 'cutover_app',
    });
  });

  it.each(['', 'Bad', '1x', 'a-b', 'x'.repeat(42)])('rejects the prefix %j', (prefix) => {
    expect(() => databaseNames(prefix)).toThrow(/^database prefix: expected/);
  });
});

describe('connection strings', () => {
  it('keeps host and port but swaps user, password and database', () => {
    expect(postgresUrl('postgres://postgres@db.example:6543/postgres?sslmode=require', 'r', 'p@ss/word', 'src')).toBe(
      'postgres://r:p%40ss%2Fword@db.example:6543/src?sslmode=require',
    );
  });

  it('never shows a password when redacted', () => {
    const redacted = redactUrl('postgres://app:s3cret-value@127.0.0.1:5432/x');
    expect(redacted).not.toContain('s3cret-value');
    expect(redacted).toBe('postgres://app:***@127.0.0.1:5432/x');
    expect(redactUrl('not a url')).toBe('<unparseable url>');
  });

  it('points the source at the read-only role and target and control at the app role', () => {
    const e = buildEndpoints({
      ports: DEFAULT_PORTS,
      host: '127.0.0.1',
      pgAdminUrl: 'postgres://postgres@127.0.0.1:5432/postgres',
      names: databaseNames('cutover'),
      readerPassword: 'rpw',
      appPassword: 'apw',
      minioRootUser: 'u',
      minioRootPassword: 'p',
      region: 'us-east-1',
    });
    expect(new URL(e.postgres.sourceUrl).username).toBe('cutover_reader');
    expect(new URL(e.postgres.sourceOwnerUrl).username).toBe('postgres');
    expect(new URL(e.postgres.targetUrl).pathname).toBe('/cutover_target');
    expect(new URL(e.postgres.controlUrl).username).toBe('cutover_app');
    expect(e.temporal).toEqual({ address: '127.0.0.1:7233', namespace: 'default', uiUrl: 'http://127.0.0.1:8233' });
    expect(e.s3.endpoint).toBe('http://127.0.0.1:9000');
    expect(e.kms.endpoint).toBe('http://127.0.0.1:4599');
    expect(e.logicalPostgres).toEqual({ adminUrl: 'postgres://postgres@127.0.0.1:5433/postgres' });
  });

  it("publishes the logical server's admin URL: the stack's own on its port, or the one the environment names", () => {
    const inputs = {
      ports: { ...DEFAULT_PORTS, logicalPostgres: 15433 },
      host: '127.0.0.1',
      pgAdminUrl: 'postgres://postgres@127.0.0.1:5432/postgres',
      names: databaseNames('cutover'),
      readerPassword: 'rpw',
      appPassword: 'apw',
      minioRootUser: 'u',
      minioRootPassword: 'p',
      region: 'us-east-1',
    };
    expect(buildEndpoints(inputs).logicalPostgres.adminUrl).toBe('postgres://postgres@127.0.0.1:15433/postgres');
    expect(buildEndpoints({ ...inputs, logicalPgAdminUrl: 'postgres://admin:pw@pg.example:5432/postgres' }).logicalPostgres.adminUrl).toBe(
      'postgres://admin:pw@pg.example:5432/postgres',
    );
  });
});
