import { join } from 'node:path';
import { installRuntime } from '../../clients/runtime';
import { loadConfig } from '../../config';
import { startMigration } from '../../migration-client';
import { loadPlanFile } from '../../plan/load';
import { stackUp } from '../../stack/stack';
import { PROJECT_ROOT } from '../../stack/state';
import { startWiringCheck } from '../../starter';
import { startWorker } from '../../worker';
import { Command, EXIT } from '../command';
import { demoSeed } from './demo-seed';
import { summarize } from './start';

const DEMO_PLAN = join(PROJECT_ROOT, 'examples', 'lms-users.plan.yaml');

export const demoCommand: Command = {
  name: 'demo',
  summary: 'bring up the stack, seed the demo LMS, run a worker and migrate it; print the Web UI link',
  usage: `cutover demo [--users N]
cutover demo seed [--users N] [--bad-ratio R] [--seed S]

The demo: the stack comes up, the legacy LMS is seeded with N fake users (default 10,000),
the wiring check proves KMS, S3 and PostgreSQL, then examples/lms-users.plan.yaml migrates
the users through the whole pipeline. Running it again changes nothing in the target.
The stack keeps running afterwards (\`cutover stack down\`).`,
  async run(args) {
    if (args[0] === 'seed') return demoSeed(args.slice(1));
    const users = args[0] === '--users' && args[1] ? args[1] : '10000';
    console.log('bringing up the stack (the first run builds Temporal, MinIO and local-kms: several minutes)...');
    await stackUp(process.env, (line) => console.log(`  ${line}`));
    await demoSeed(['--users', users]);
    installRuntime((process.env.CUTOVER_LOG_LEVEL as 'WARN') || 'WARN');
    const config = loadConfig();
    const taskQueue = `cutover-demo-${process.pid}`;
    const worker = await startWorker(config, { taskQueue });
    try {
      const check = await startWiringCheck(config, { taskQueue, wait: true });
      console.log(`wiring check ${check.workflowId}: KMS, S3 (SSE ${check.result!.probe.sse}) and PostgreSQL verified`);
      console.log(`migrating ${DEMO_PLAN.replace(`${PROJECT_ROOT}/`, '')}...`);
      const started = await startMigration(config, loadPlanFile(DEMO_PLAN), { taskQueue, wait: true });
      console.log('');
      console.log(summarize(started.report!));
      console.log('');
      console.log(`workflow id: ${started.workflowId}`);
      console.log(`Web UI:      ${started.url}`);
      return started.report!.clean ? EXIT.ok : EXIT.failed;
    } finally {
      await worker.shutdown();
    }
  },
};
