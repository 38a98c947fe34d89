import { loadConfig, workflowUrl } from '../../src/config';
import { buildEndpoints, databaseNames } from '../../src/stack/endpoints';
import { DEFAULT_PORTS } from '../../src/stack/services';

const local = buildEndpoints({
  ports: DEFAULT_PORTS,
  host: '127.0.0.1',
  pgAdminUrl: 'postgres://postgres@127.0.0.1:5432/postgres',
  names: databaseNames('cutover'),
  readerPassword: 'r',
  appPassword: 'a',
  minioRootUser: 'minio-user',
  minioRootPassword: 'minio-pass',
  region: 'us-east-1',
});

// No TEMPORAL_CONFIG_FILE lookups from the developer's home directory in a unit test.
const base = { HOME: '/nonexistent', TEMPORAL_CONFIG_FILE: '/nonexistent/temporal.toml' };

describe('configuration', () => {
  it('falls back to the local stack for everything', () => {
    const c = loadConfig(base, local);
    expect(c.temporal.connection.address).toBe('127.0.0.1:7233');
    expect(c.databases.sourceUrl).toBe(local.postgres.sourceUrl);
    expect(c.s3).toMatchObject({ endpoint: 'http://127.0.0.1:9000', forcePathStyle: true, credentials: { accessKeyId: 'minio-user' }, sseKmsKeyId: 'cutover-sse' });
    expect(c.kms.endpoint).toBe('http://127.0.0.1:4599');
    expect(c.origin).toEqual({ temporal: 'local stack', databases: 'local stack', s3: 'local stack', kms: 'local stack' });
  });

  it('lets Temporal environment variables choose a real cluster', () => {
    const c = loadConfig({ ...base, TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233', TEMPORAL_NAMESPACE: 'ns.acct', TEMPORAL_API_KEY: 'k' }, local);
    expect(c.temporal.connection.address).toBe('ns.acct.tmprl.cloud:7233');
    expect(c.temporal.connection.apiKey).toBe('k');
    expect(c.temporal.namespace).toBe('ns.acct');
    expect(c.origin.temporal).toBe('environment');
    expect(workflowUrl(c, 'm 1')).toBe('http://127.0.0.1:8233/namespaces/ns.acct/workflows/m%201');
  });

  it('uses real AWS through the default credential chain when no endpoint is local', () => {
    const c = loadConfig({ ...base, AWS_REGION: 'eu-west-1', CUTOVER_STAGING_BUCKET: 'prod-staging' }, null);
    expect(c.s3).toMatchObject({ endpoint: undefined, region: 'eu-west-1', bucket: 'prod-staging', credentials: undefined, forcePathStyle: false });
    expect(c.kms.credentials).toBeUndefined();
    expect(c.origin.s3).toBe('environment');
  });

  it('never hands the local MinIO credentials to an S3 endpoint from the environment', () => {
    const c = loadConfig({ ...base, CUTOVER_S3_ENDPOINT: 'https://s3.example.com' }, local);
    expect(c.s3.endpoint).toBe('https://s3.example.com');
    expect(c.s3.credentials).toBeUndefined();
    expect(c.s3.sseKmsKeyId).toBeUndefined();
  });

  it('takes database URLs and key aliases from the environment first', () => {
    const c = loadConfig({ ...base, CUTOVER_SOURCE_URL: 'postgres://ro@legacy/lms', CUTOVER_KMS_ALIAS_VAULT: 'alias/prod-vault' }, local);
    expect(c.databases.sourceUrl).toBe('postgres://ro@legacy/lms');
    expect(c.databases.targetUrl).toBe(local.postgres.targetUrl);
    expect(c.kms.aliases.vault).toBe('alias/prod-vault');
    expect(c.origin.databases).toBe('environment');
  });
});

describe('stack state', () => {
  it('keeps credentials and KMS key material per machine, not per clone', () => {
    const { stackPaths } = require('../../src/stack/state') as typeof import('../../src/stack/state');
    expect(stackPaths({ HOME: '/home/u', XDG_STATE_HOME: '/state', CUTOVER_STATE_DIR: '/clone/.cutover' }).secretsFile).toBe('/state/cutover/secrets.json');
    expect(stackPaths({ CUTOVER_STATE_DIR: '/clone/.cutover', CUTOVER_SECRETS_FILE: '/x/s.json' }).secretsFile).toBe('/x/s.json');
    expect(stackPaths({ CUTOVER_STATE_DIR: '/clone/.cutover' }).pids).toBe('/clone/.cutover/pids');
  });
});

describe('worker concurrency', () => {
  it('defaults to 16 activities at once and refuses a value that is not a whole number in range', () => {
    const { maxConcurrentActivities } = jest.requireActual('../../src/worker');
    expect(maxConcurrentActivities({})).toBe(16);
    expect(maxConcurrentActivities({ CUTOVER_MAX_CONCURRENT_ACTIVITIES: '4' })).toBe(4);
    expect(() => maxConcurrentActivities({ CUTOVER_MAX_CONCURRENT_ACTIVITIES: '0' })).toThrow(/CUTOVER_MAX_CONCURRENT_ACTIVITIES/);
    expect(() => maxConcurrentActivities({ CUTOVER_MAX_CONCURRENT_ACTIVITIES: 'many' })).toThrow(/whole number/);
  });
});
