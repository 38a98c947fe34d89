import { parseArgs } from 'node:util';
import { createS3Client } from '../../clients/aws';
import { demoSeedUrls, loadConfig, readLocalStack } from '../../config';
import { UsageError } from '../command';

/** `cutover demo seed`: fills the demo legacy LMS (source) and creates the new LMS schema (target). */
export async function demoSeed(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      users: { type: 'string', default: '1000' },
      'bad-ratio': { type: 'string', default: '0' },
      'orphan-ratio': { type: 'string', default: '0' },
      seed: { type: 'string', default: '42' },
      lms: { type: 'boolean', default: false },
      'keep-target': { type: 'boolean', default: false },
    },
  });
  const users = Number(values.users);
  const badRatio = Number(values['bad-ratio']);
  if (!Number.isInteger(users) || users < 1 || users > 10_000_000) throw new UsageError(`--users: expected 1 to 10,000,000, got ${values.users}`);
  if (!(badRatio >= 0 && badRatio < 1)) throw new UsageError(`--bad-ratio: expected a ratio from 0 to 1, got ${values['bad-ratio']}`);
  const local = readLocalStack();
  const { sourceUrl, targetUrl } = demoSeedUrls(local);
  if (!sourceUrl) throw new UsageError('no source to seed: run `cutover stack up`, or set CUTOVER_SOURCE_ADMIN_URL (a role that may create tables)');
  // The demo lives outside src/: nothing of its schema is part of the product.
  const { seedLms } = require('../../../demo/lms/seed') as typeof import('../../../demo/lms/seed');
  const started = Date.now();
  const s3 = createS3Client(loadConfig().s3);
  let result;
  try {
    const files = { s3, sourceBucket: 'legacy-lms-files', targetBucket: 'new-lms-files' };
    result = await seedLms({ sourceUrl, targetUrl, users, badRatio, seed: Number(values.seed), full: values.lms, orphanRatio: Number(values['orphan-ratio']), resetTarget: !values['keep-target'], files });
  } finally {
    s3.destroy();
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(`seeded ${result.users} legacy users (${result.badStatus} with an unknown status code, ${result.missingEmail} without an email) in ${seconds}s`);
  if (values.lms) {
    console.log(`  and ${result.orgUnits} org units, ${result.courses} courses, ${result.enrollments} enrollments (${result.orphanEnrollments} orphans), ${result.results} assessment results, ${result.statements} xAPI statements`);
    console.log(`  and ${result.packages} SCORM packages, ${result.attachments} attachments and ${result.certificates} certificate PDFs in bucket legacy-lms-files`);
  }
  return 0;
}
