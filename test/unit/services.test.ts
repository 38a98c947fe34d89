import { COMPOSE_SERVICE_NAMES, DEFAULT_PORTS, goVersionAtLeast, portsFromEnv, SERVICE_KINDS, SERVICE_NAMES, servicePorts } from '../../src/stack/services';

describe('stack ports', () => {
  it('uses the documented defaults when nothing is set', () => {
    expect(portsFromEnv({})).toEqual(DEFAULT_PORTS);
    expect(servicePorts(DEFAULT_PORTS)).toEqual({
      postgres: [5432],
      'postgres-logical': [5433],
      kms: [4599],
      minio: [9000, 9001],
      temporal: [7233, 8233],
      codec: [8234],
    });
  });

  it('takes a port override from the environment', () => {
    expect(portsFromEnv({ CUTOVER_MINIO_PORT: '19000' }).minio).toBe(19000);
    expect(portsFromEnv({ CUTOVER_LOGICAL_PG_PORT: '15433' }).logicalPostgres).toBe(15433);
  });

  it.each(['0', '70000', 'abc', '12.5'])('rejects %s as a port, naming the variable', (raw) => {
    expect(() => portsFromEnv({ CUTOVER_KMS_PORT: raw })).toThrow(/^CUTOVER_KMS_PORT: expected a port number/);
  });
});

describe('stack services', () => {
  it('runs a PostgreSQL of its own for logical replication beside the machine one, from the installed binaries', () => {
    expect(SERVICE_NAMES).toEqual(['postgres', 'postgres-logical', 'kms', 'minio', 'temporal', 'codec']);
    expect(SERVICE_KINDS.postgres).toBe('external');
    expect(SERVICE_KINDS['postgres-logical']).toBe('installed');
    // docker-compose.yml offers it too (postgres:15 with the same settings).
    expect(COMPOSE_SERVICE_NAMES).toContain('postgres-logical');
  });
});

describe('goVersionAtLeast', () => {
  it.each([
    ['1.26.8', '1.25', true],
    ['1.25', '1.25', true],
    ['go1.24.9', '1.25', false],
    ['1.9', '1.20', false],
    ['2.0', '1.99', true],
  ])('%s >= %s is %s', (have, need, expected) => {
    expect(goVersionAtLeast(have, need)).toBe(expected);
  });
});
