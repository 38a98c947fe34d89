/** Cutover's pipeline for the bench: N worker processes on a task queue, one migration, its time and the workers' peak memory. */
import type { CutoverConfig } from '../../src/config';
import { connectClient } from '../../src/clients/temporal';
import { startMigration } from '../../src/migration-client';
import { migrationId } from '../../src/plan/hash';
import type { Plan } from '../../src/plan/types';
import type { MigrationReport } from '../../src/shared/migration';
import { Cleanup, errorLine, wasInterrupted } from './cleanup';
import { deletePrefix } from './resources';
import { ActivityTime, activityTimes, stepTimes, BenchWorker, cpuSeconds, freePort, peakRssMiB, spawnWorker, stopWorkers, tailOf } from './workers';
import type { S3Client } from '@aws-sdk/client-s3';

export interface PipelineRun {
  seconds: number;
  /** Rows inserted, by entity. */
  inserted: Map<string, number>;
  rows: number;
  /** The highest peak RSS among the workers, MiB. */
  peakMiB: number;
  /** The same when the workers started polling, before the migration (start-up alone). */
  startMiB: number;
  /** The workers' CPU time (user + system) during the migration, summed. */
  cpuSeconds: number;
  /** Time in each activity type, summed over the workers (lanes overlap: more than the wall time). */
  activities: Map<string, ActivityTime>;
  /** Time in each step of staging and loading, seconds, summed over the workers and lanes. */
  steps: Map<string, number>;
}

export interface PipelineOptions {
  plan: Plan;
  config: CutoverConfig;
  workers: number;
  /** The prebuilt workflow bundle every worker loads. */
  bundlePath: string;
  s3: S3Client;
  cleanup: Cleanup;
}

function describeUnclean(report: MigrationReport): string {
  const entities = report.entities
    .filter((e) => e.quarantined || e.reconcile.missing || e.reconcile.mismatched || e.reconcile.duplicated || e.inserted + e.updated + e.unchanged < e.sourceRows)
    .map((e) => `${e.entity}: ${e.inserted} inserted of ${e.sourceRows}, ${e.quarantined} quarantined, reconcile missing ${e.reconcile.missing} mismatched ${e.reconcile.mismatched} duplicated ${e.reconcile.duplicated}`);
  return `migration ended ${report.status}${report.clean ? '' : ' (not clean)'}${entities.length ? `: ${entities.join('; ')}` : ''}`;
}

/** Spawns the workers, runs the migration to its end, reads the workers' peak memory; every worker is stopped and the staged objects deleted by `cleanup`. */
export async function runPipeline(o: PipelineOptions): Promise<PipelineRun> {
  const { plan, config, cleanup } = o;
  const taskQueue = config.temporal.taskQueue;
  const staging = { bucket: plan.staging.bucket ?? config.s3.bucket, prefix: `${plan.staging.prefix}/${migrationId(plan)}/` };
  cleanup.defer(`delete staged objects s3://${staging.bucket}/${staging.prefix}`, () => deletePrefix(o.s3, staging.bucket, staging.prefix));
  const base: NodeJS.ProcessEnv = {
    ...process.env,
    CUTOVER_TASK_QUEUE: taskQueue,
    CUTOVER_SOURCE_URL: config.databases.sourceUrl,
    CUTOVER_TARGET_URL: config.databases.targetUrl,
    CUTOVER_CONTROL_URL: config.databases.controlUrl,
    CUTOVER_LOG_LEVEL: 'WARN',
    CUTOVER_WORKFLOW_BUNDLE: o.bundlePath,
  };
  const workers: BenchWorker[] = [];
  cleanup.defer('stop the workers', () => stopWorkers(workers));
  // One after the other: the first one makes the control schema and keys of the fresh control database.
  const metrics: string[] = [];
  for (let i = 0; i < o.workers; i++) {
    metrics.push(`127.0.0.1:${await freePort()}`);
    workers.push(await spawnWorker({ ...base, CUTOVER_METRICS_ADDRESS: metrics[i] }));
  }

  const startMiB = Math.max(...workers.map((w) => peakRssMiB(w.pid)));
  const startCpu = workers.reduce((sum, w) => sum + cpuSeconds(w.pid), 0);
  const { client, connection } = await connectClient(config);
  cleanup.defer('close the Temporal connection', () => connection.close());
  const t0 = process.hrtime.bigint();
  const started = await startMigration(config, plan, { taskQueue, startedBy: 'cutover-bench' });
  const handle = client.workflow.getHandle(started.workflowId);
  let ended = false;
  cleanup.defer(`terminate workflow ${started.workflowId} if still running`, async () => {
    if (!ended) await handle.terminate(`cutover bench: ${wasInterrupted() ? 'interrupted' : 'the run failed'}`).catch(() => undefined);
  });
  const workerDied = Promise.race(
    workers.map((w) => w.exited.then(() => Promise.reject(new Error(`a worker (pid ${w.pid}) ended (${w.how()}) during the migration${tailOf(w.stderrTail())}`)))),
  );
  let report: MigrationReport;
  try {
    report = (await Promise.race([handle.result(), workerDied])) as MigrationReport;
  } catch (err) {
    throw new Error(`migration ${started.workflowId} failed: ${(err as Error).message ?? String(err)}${(err as Error).cause ? ` (${errorLine((err as Error).cause)})` : ''}`, { cause: err });
  }
  ended = true;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const peakMiB = Math.max(...workers.map((w) => peakRssMiB(w.pid)));
  const cpu = workers.reduce((sum, w) => sum + cpuSeconds(w.pid), 0) - startCpu;
  const activities = new Map<string, ActivityTime>();
  for (const address of metrics) {
    const times = await activityTimes(address).catch(() => new Map<string, ActivityTime>());
    for (const [type, t] of times) {
      const sum = activities.get(type) ?? { seconds: 0, count: 0, failed: 0 };
      activities.set(type, { seconds: sum.seconds + t.seconds, count: sum.count + t.count, failed: sum.failed + t.failed });
    }
  }
  const steps = new Map<string, number>();
  for (const address of metrics) for (const [step, sec] of await stepTimes(address).catch(() => new Map<string, number>())) steps.set(step, (steps.get(step) ?? 0) + sec);
  if (report.status !== 'completed' || !report.clean) throw new Error(describeUnclean(report));
  const inserted = new Map<string, number>();
  for (const e of report.entities) inserted.set(e.entity, (inserted.get(e.entity) ?? 0) + e.inserted);
  return { seconds, inserted, rows: [...inserted.values()].reduce((a, b) => a + b, 0), peakMiB, startMiB, cpuSeconds: cpu, activities, steps };
}
