import { parseArgs } from 'node:util';
import { readLocalStack } from '../../config';
import { UsageError } from '../command';

/** `cutover demo seed`: fills the demo legacy LMS (source) and creates the new LMS schema (target). */
export async function demoSeed(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { users: { type: 'string', default: '1000' }, 'bad-ratio': { type: 'string', default: '0' }, seed: { type: 'string', default: '42' } },
  });
  const users = Number(values.users);
  const badRatio = Number(values['bad-ratio']);
  if (!Number.isInteger(users) || users < 1 || users > 10_000_000) throw new UsageError(`--users: expected 1 to 10,000,000, got ${values.users}`);
  if (!(badRatio >= 0 && badRatio < 1)) throw new UsageError(`--bad-ratio: expected a ratio from 0 to 1, got ${values['bad-ratio']}`);
  const local = readLocalStack();
  const sourceUrl = process.env.CUTOVER_SOURCE_ADMIN_URL || local?.postgres.sourceOwnerUrl;
  const targetUrl = process.env.CUTOVER_TARGET_URL || local?.postgres.targetUrl;
  if (!sourceUrl) throw new UsageError('no source to seed: run `cutover stack up`, or set CUTOVER_SOURCE_ADMIN_URL (a role that may create tables)');
  // The demo lives outside src/: nothing of its schema is part of the product.
  const { seedLms } = require('../../../demo/lms/seed') as typeof import('../../../demo/lms/seed');
  const started = Date.now();
  const result = await seedLms({ sourceUrl, targetUrl, users, badRatio, seed: Number(values.seed) });
  console.log(`seeded ${result.users} legacy users (${result.badStatus} with an unknown status code, ${result.missingEmail} without an email) in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  return 0;
}
