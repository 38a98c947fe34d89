import { DEFAULT_PORTS, goVersionAtLeast, portsFromEnv, servicePorts } from '../../src/stack/services';

describe('stack ports', () => {
  it('uses the documented defaults when nothing is set', () => {
    expect(portsFromEnv({})).toEqual(DEFAULT_PORTS);
    expect(servicePorts(DEFAULT_PORTS)).toEqual({ postgres: [5432], kms: [4599], minio: [9000, 9001], temporal: [7233, 8233], codec: [8234] });
  });

  it('takes a port override from the environment', () => {
    expect(portsFromEnv({ CUTOVER_MINIO_PORT: '19000' }).minio).toBe(19000);
  });

  it.each(['0', '70000', 'abc', '12.5'])('rejects %s as a port, naming the variable', (raw) => {
    expect(() => portsFromEnv({ CUTOVER_KMS_PORT: raw })).toThrow(/^CUTOVER_KMS_PORT: expected a port number/);
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
