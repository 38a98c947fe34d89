import { join } from 'node:path';
import { installRuntime } from '../../clients/runtime';
import { connectClient } from '../../clients/temporal';
import { CutoverConfig, loadConfig, logLevel } from '../../config';
import { decideGate, startMigration } from '../../migration-client';
import { loadPlanFile } from '../../plan/load';
import { writeReportFiles } from '../../report/write-report';
import { gatherReport } from '../../report/gather';
import type { MigrationReport } from '../../shared/migration';
import { progressQuery } from '../../shared/queries';
import { stackUp } from '../../stack/stack';
import { PROJECT_ROOT, stackPaths } from '../../stack/state';
import { startWiringCheck } from '../../starter';
import { metricsLine, resolveMetricsAddress, startWorker } from '../../worker';
import { Command, EXIT } from '../command';
import { demoSeed } from './demo-seed';
import { demoMoodle } from './demo-moodle';
import { summarize } from './start';

const DEMO_PLAN = join(PROJECT_ROOT, 'examples', 'lms.plan.yaml');
const DEMO_APPROVER = 'demo-second-approver';

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
    await stackUp(process.env, (line) => console.log(`  ${line}`));
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

/** Migrates a demo plan on a running worker: approves each gate as a second person, writes the report, prints the summary. */
export async function runDemoPlan(config: CutoverConfig, planFile: string, taskQueue: string): Promise<MigrationReport> {
  const plan = loadPlanFile(planFile);
  const started = await startMigration(config, plan, { taskQueue });
  console.log(`migrating ${planFile.replace(`${PROJECT_ROOT}/`, '')}: ${started.workflowId}`);
  console.log(`  Web UI: ${started.url}`);
  console.log(`  watch it: npx cutover status ${started.migrationId} --watch`);
  const { client, connection } = await connectClient(config);
  let report: MigrationReport;
  try {
    const handle = client.workflow.getHandle(started.workflowId);
    for (const phase of plan.phases.filter((p) => p.gate)) {
      for (;;) {
        const r = await handle.query(progressQuery);
        if (r.status === 'awaiting-approval' && r.phase === phase.name) break;
        if (r.status !== 'running' && r.status !== 'paused') break;
        await new Promise((res) => setTimeout(res, 500));
      }
      console.log(`  phase ${phase.name} done and reconciled; its gate waits for a second person: approving as ${DEMO_APPROVER}`);
      await decideGate(config, started.workflowId, phase.name, DEMO_APPROVER);
    }
    report = await handle.result();
  } finally {
    await connection.close();
  }
  const written = writeReportFiles(join(stackPaths().root, 'reports'), (await gatherReport(config, started.workflowId)).data);
  console.log('');
  console.log(summarize(report));
  console.log('');
  console.log(`report:      ${written.html}`);
  console.log(`             ${written.json}`);
  console.log(`             ${written.markdown}`);
  console.log(`workflow id: ${started.workflowId}`);
  console.log(`Web UI:      ${started.url}`);
  return report;
}
