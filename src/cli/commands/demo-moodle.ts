import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { installRuntime } from '../../clients/runtime';
import { loadConfig, logLevel, readLocalStack, processEnv, setProcessEnv } from '../../config';
import { stackUp } from '../../stack/stack';
import { databaseNames, postgresUrl } from '../../stack/endpoints';
import { provisionDatabases } from '../../stack/postgres-provision';
import { PROJECT_ROOT } from '../../stack/state';
import { resolveMetricsAddress, startWorker } from '../../worker';
import { EXIT, UsageError } from '../command';
import { runDemoPlan } from './demo-run';

const MOODLE_PLAN = join(PROJECT_ROOT, 'examples', 'moodle.plan.yaml');

/**
 * `cutover demo moodle`: the second demo. A Moodle-shaped source and its modern target get
 * databases of their own beside the stack's (the target's `courses` would clash with the first
 * demo's); the stack's control database, KMS and S3 are shared, so the Web UI's codec works.
 */
export async function demoMoodle(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { users: { type: 'string', default: '2000' }, seed: { type: 'string', default: '42' } } });
  const users = Number(values.users);
  if (!Number.isInteger(users) || users < 50 || users > 1_000_000) throw new UsageError(`--users: expected 50 to 1,000,000, got ${values.users}`);
  console.log('bringing up the stack...');
  await stackUp(processEnv(), (line) => console.log(`  ${line}`));
  const local = readLocalStack();
  if (!local) throw new UsageError('the local stack is not up');
  const names = databaseNames('cutover_moodle');
  const readerPassword = randomBytes(12).toString('hex');
  const appPassword = randomBytes(12).toString('hex');
  await provisionDatabases({ adminUrl: local.postgres.adminUrl, names, readerPassword, appPassword });
  const owner = new URL(local.postgres.adminUrl);
  owner.pathname = `/${names.source}`;
  // The plan names its connections by environment variable: this process's worker reads them.
  const targetUrl = postgresUrl(local.postgres.adminUrl, names.app, appPassword, names.target);
  setProcessEnv('CUTOVER_SOURCE_URL', postgresUrl(local.postgres.adminUrl, names.reader, readerPassword, names.source));
  setProcessEnv('CUTOVER_TARGET_URL', targetUrl);
  // The demo lives outside src/: nothing of its schema is part of the product.
  const { seedMoodle } = require('../../../demo/moodle/seed') as typeof import('../../../demo/moodle/seed');
  const seeded = await seedMoodle({ sourceUrl: owner.toString(), targetUrl, users, seed: Number(values.seed), resetTarget: true });
  const expected = Object.entries(seeded.expected).map(([e, x]) => `${e} ${x.rows} to load, ${Object.keys(x.quarantined).length} to quarantine`);
  console.log(`seeded a Moodle-shaped source (${names.source}): ${expected.join('; ')}`);
  const metrics = await resolveMetricsAddress();
  installRuntime({ level: logLevel() ?? 'WARN', metricsAddress: metrics.address });
  const config = loadConfig();
  const taskQueue = `cutover-demo-moodle-${process.pid}`;
  const worker = await startWorker(config, { taskQueue });
  try {
    const report = await runDemoPlan(config, MOODLE_PLAN, taskQueue);
    return report.clean ? EXIT.ok : EXIT.failed;
  } finally {
    await worker.shutdown();
  }
}
