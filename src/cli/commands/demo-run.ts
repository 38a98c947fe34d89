import { join } from 'node:path';
import { connectClient } from '../../clients/temporal';
import { CutoverConfig, processEnv } from '../../config';
import { decideGate, startMigration } from '../../migration-client';
import { loadPlanFile } from '../../plan/load';
import { gatherReport } from '../../report/gather';
import { writeReportFiles } from '../../report/write-report';
import type { MigrationReport } from '../../shared/migration';
import { progressQuery } from '../../shared/queries';
import { PROJECT_ROOT, stackPaths } from '../../stack/state';
import { summarize } from './start';

/** Who approves the demos' gates: a second person, as the plans ask. */
export const DEMO_APPROVER = 'demo-second-approver';

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
  const written = writeReportFiles(join(stackPaths(processEnv()).root, 'reports'), (await gatherReport(config, started.workflowId)).data);
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
