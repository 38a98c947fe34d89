/**
 * What `cutover worker` prints when it starts: every line says something. The worker's
 * services are replaced by stand-ins (no Temporal, database, S3 or KMS); src/worker.ts's own
 * `main` runs as the CLI runs it.
 */
jest.mock('@temporalio/worker', () => ({
  NativeConnection: { connect: async () => ({ close: async () => undefined }) },
  Worker: { create: async () => ({ run: async () => undefined, getState: () => 'STOPPED', shutdown: () => undefined }) },
}));
jest.mock('../../src/clients/runtime', () => ({ installRuntime: () => undefined }));
jest.mock('../../src/clients/aws', () => ({ createS3Client: () => ({ destroy: () => undefined }), createKmsClient: () => ({ destroy: () => undefined }) }));
jest.mock('../../src/clients/postgres', () => ({ createDb: () => ({ destroy: async () => undefined }) }));
jest.mock('../../src/activities', () => ({ createActivities: () => ({}) }));
jest.mock('../../src/activities/migration', () => ({ createMigrationContext: () => ({ close: async () => undefined }) }));
jest.mock('../../src/codec/data-converter', () => ({ createDataConverter: async () => ({}) }));
jest.mock('../../src/crypto/key-ring-factory', () => ({ createKeyRing: () => ({}) }));
jest.mock('../../src/doctor/doctor', () => ({ runDoctor: async () => [] }));
jest.mock('../../src/config', () => ({
  // The settings read where they are used (the metrics address, the bundle, the activity limit) stay real.
  ...jest.requireActual('../../src/config'),
  loadConfig: () => ({
    temporal: { taskQueue: 'cutover', namespace: 'default', connection: { address: '127.0.0.1:7233' } },
    databases: { controlUrl: 'postgres://control' },
    s3: { bucket: 'b' },
    kms: { aliases: { staging: 'alias/s' } },
  }),
}));

import { main } from '../../src/worker';

async function startupLines(env: Record<string, string | undefined>): Promise<string[]> {
  const saved = process.env.CUTOVER_METRICS_ADDRESS;
  const lines: string[] = [];
  const log = jest.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(' ')));
  const error = jest.spyOn(console, 'error').mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(' ')));
  try {
    if (env.CUTOVER_METRICS_ADDRESS === undefined) delete process.env.CUTOVER_METRICS_ADDRESS;
    else process.env.CUTOVER_METRICS_ADDRESS = env.CUTOVER_METRICS_ADDRESS;
    await main();
  } finally {
    log.mockRestore();
    error.mockRestore();
    if (saved === undefined) delete process.env.CUTOVER_METRICS_ADDRESS;
    else process.env.CUTOVER_METRICS_ADDRESS = saved;
  }
  return lines;
}

describe('cutover worker at start', () => {
  it.each([
    ['metrics off', { CUTOVER_METRICS_ADDRESS: 'off' }, /^metrics: off \(CUTOVER_METRICS_ADDRESS=off\)$/],
    ['metrics at an address', { CUTOVER_METRICS_ADDRESS: '127.0.0.1:19464' }, /^metrics: http:\/\/127\.0\.0\.1:19464\/metrics$/],
    ['metrics at the default address when free', { CUTOVER_METRICS_ADDRESS: undefined }, /^metrics: http:\/\/127\.0\.0\.1:9464\/metrics$|^metrics off: 127\.0\.0\.1:9464 is taken/],
  ])('prints no stray line (%s): the task queue, then where its metrics are', async (_what, env, metricsLine) => {
    const lines = await startupLines(env);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toBe('worker polling task queue cutover on 127.0.0.1:7233 (namespace default)');
    expect(lines[1]).toMatch(metricsLine);
    for (const line of lines) expect(line).not.toMatch(/undefined|^\s*$/);
  });
});
