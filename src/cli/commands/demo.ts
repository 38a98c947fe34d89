import { join } from 'node:path';
import { installRuntime } from '../../clients/runtime';
import { loadConfig, logLevel, processEnv } from '../../config';
import { stackUp } from '../../stack/stack';
import { PROJECT_ROOT } from '../../stack/state';
import { startWiringCheck } from '../../starter';
import { metricsLine, resolveMetricsAddress, startWorker } from '../../worker';
import { Command, EXIT } from '../command';
import { demoSeed } from './demo-seed';
import { demoMoodle } from './demo-moodle';
import { DEMO_APPROVER, runDemoPlan } from './demo-run';

const DEMO_PLAN = join(PROJECT_ROOT, 'examples', 'lms.plan.yaml');

export const demoCommand: Command = {
  usage: `cutover demo [--users N]
cutover demo seed [--users N] [--lms] [--bad-ratio R] [--orphan-ratio R] [--seed S] [--keep-target]
cutover demo moodle [--users N]   (the second demo: a Moodle-shaped source, examples/moodle.plan.yaml)

The demo: the stack comes up, a legacy LMS is seeded (N users, default 10,000, with 4 enrollments
and 10 xAPI statements each, org units, courses and assessment results) and the new LMS's schema
created empty; the wiring check proves KMS, S3 and PostgreSQL; then examples/lms.plan.yaml migrates
it in four phases. The plan's gate after "people" needs a second person: the demo approves as
"${DEMO_APPROVER}". The report is written to .cutover/reports/. The stack keeps running.

demo seed only seeds (with --lms, the demo's files go to the stack's S3). It writes the legacy
LMS to CUTOVER_SOURCE_ADMIN_URL, a connection URL of a role that may create tables there (default:
the stack's cutover_source, as its owner), and creates the new LMS's schema at CUTOVER_TARGET_URL
(default: the stack's cutover_target), dropping the demo's tables there first unless --keep-target.
To seed the stack's logical PostgreSQL (port 5433, for delta sync), create a database there and
point CUTOVER_SOURCE_ADMIN_URL at it, e.g. postgres://postgres@127.0.0.1:5433/legacy_lms (see the
README, "Delta sync and the cutover").`,
  async run(args) {
    if (args[0] === 'seed') return demoSeed(args.slice(1));
    if (args[0] === 'moodle') return demoMoodle(args.slice(1));
    const users = args[0] === '--users' && args[1] ? args[1] : '10000';
    console.log('bringing up the stack (the first run builds Temporal, MinIO and local-kms: several minutes)...');
    await stackUp(processEnv(), (line) => console.log(`  ${line}`));
    await demoSeed(['--users', users, '--lms']);
    const metrics = await resolveMetricsAddress();
    installRuntime({ level: logLevel() ?? 'WARN', metricsAddress: metrics.address });
    const config = loadConfig();
    const taskQueue = `cutover-demo-${process.pid}`;
    const worker = await startWorker(config, { taskQueue });
    console.log(`worker ${metricsLine(metrics)}`);
    try {
      const check = await startWiringCheck(config, { taskQueue, wait: true });
      console.log(`wiring check ${check.workflowId}: KMS, S3 (SSE ${check.result!.probe.sse}) and PostgreSQL verified`);
      const report = await runDemoPlan(config, DEMO_PLAN, taskQueue);
      return report.clean ? EXIT.ok : EXIT.failed;
    } finally {
      await worker.shutdown();
    }
  },
};
