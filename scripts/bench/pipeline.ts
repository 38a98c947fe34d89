/** Cutover's pipeline for the bench: N worker processes on a task queue, one migration, its time and the workers' peak memory. */
import type { CutoverConfig } from '../../src/config';
import { connectClient } from '../../src/clients/temporal';
import { startMigration } from '../../src/migration-client';
import { migrationId } from '../../src/plan/hash';
import type { Plan } from '../../src/plan/types';
import type { MigrationReport } from '../../src/shared/migration';
import { Cleanup, errorLine, wasInterrupted } from './cleanup';
import { deletePrefix } from './resources';
import { ActivityTime, activitiesRunning, activityTimes, stepTimes, BenchWorker, cpuSeconds, freePort, peakRssMiB, spawnWorker, stopWorkers, tailOf } from './workers';
import { viaHost, DatabaseGroups } from './bound';
import { commandIn, GATEWAY, WorkerHosts } from './hosts';
import { Monitor, MonitorResult, WatchedCounter, WatchedProcess } from './monitor';
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
  /** Where the CPU went (when `watch` was given). */
  monitor?: MonitorResult;
  /** The worker SIGKILLed mid-run (when `killOne` was given): when, how many rows were in the target then, how many activities it was running. */
  killed?: { pid: number; afterSeconds: number; rowsThen: number; activitiesRunning: number };
  /** From the histories (the migration's and its partitions'): the workers that ran its activities, and activities that timed out (a killed worker's, retried on another). */
  history?: { identities: number; timedOut: number };
}

export interface PipelineOptions {
  plan: Plan;
  config: CutoverConfig;
  workers: number;
  /** The prebuilt workflow bundle every worker loads. */
  bundlePath: string;
  s3: S3Client;
  cleanup: Cleanup;
  /** Each worker on a "host" of its own (scripts/bench/hosts.ts), reaching the services through the forwarders. */
  hosts?: WorkerHosts;
  /** Sample where the CPU goes (scripts/bench/monitor.ts): the admin connection, the databases by role, the stack's service processes. */
  watch?: { adminUrl: string; databases: DatabaseGroups; services: WatchedProcess[] };
  /** SIGKILL the last worker once `rows()` (rows in the target) reaches `atRows` and it is running an activity (or 10 s later if it runs none); the migration must still end exact. */
  killOne?: { atRows: number; rows: () => Promise<number> };
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
    const host = o.hosts?.hosts[i];
    if (o.hosts && !host) throw new Error(`${o.workers} workers but ${o.hosts.hosts.length} hosts`);
    metrics.push(`${host?.address ?? '127.0.0.1'}:${await freePort()}`);
    const env = { ...base, CUTOVER_METRICS_ADDRESS: metrics[i] };
    workers.push(await (host ? spawnWorker({ ...env, ...remoteEnv(config) }, (argv) => commandIn(host, argv)) : spawnWorker(env)));
  }

  const startMiB = Math.max(...workers.map((w) => peakRssMiB(w.pid)));
  const startCpu = workers.reduce((sum, w) => sum + cpuSeconds(w.pid), 0);
  const { client, connection } = await connectClient(config);
  cleanup.defer('close the Temporal connection', () => connection.close());
  let monitor: Monitor | undefined;
  if (o.watch) {
    const hosts = o.hosts;
    const counters: WatchedCounter[] = hosts
      ? [
          ...hosts.hosts.slice(0, o.workers).map((h) => ({ name: `worker ${h.index + 1}`, kind: 'worker' as const, cpuSeconds: () => h.cgroup.cpuSeconds(), throttledSeconds: () => h.cgroup.throttledSeconds(), limitCores: hosts.limits.cpus })),
          { name: 'forwarders', kind: 'network', cpuSeconds: () => hosts.forwarderCpuSeconds() },
        ]
      : [];
    const workerPids: WatchedProcess[] = hosts ? [] : workers.map((w, i) => ({ pid: w.pid, name: `worker ${i + 1}`, kind: 'worker' }));
    monitor = new Monitor({ adminUrl: o.watch.adminUrl, databases: o.watch.databases, processes: () => [...o.watch!.services, ...workerPids], counters });
    await monitor.start();
    cleanup.defer('stop the monitor', () => monitor?.stop().catch(() => undefined));
  }
  const t0 = process.hrtime.bigint();
  const started = await startMigration(config, plan, { taskQueue, startedBy: 'cutover-bench' });
  const handle = client.workflow.getHandle(started.workflowId);
  let ended = false;
  cleanup.defer(`terminate workflow ${started.workflowId} if still running`, async () => {
    if (!ended) await handle.terminate(`cutover bench: ${wasInterrupted() ? 'interrupted' : 'the run failed'}`).catch(() => undefined);
  });
  let killed: PipelineRun['killed'];
  let settled = false;
  const victim = o.killOne ? workers[workers.length - 1] : undefined;
  const workerDied = Promise.race(
    workers
      .filter((w) => w !== victim)
      .map((w) => w.exited.then(() => Promise.reject(new Error(`a worker (pid ${w.pid}) ended (${w.how()}) during the migration${tailOf(w.stderrTail())}`)))),
  );
  // The kill: the last worker, SIGKILL (no graceful shutdown: its activities are retried elsewhere after their heartbeat timeout), once the target holds `atRows`.
  const killer = (async () => {
    if (!o.killOne || !victim) return;
    const address = metrics[workers.length - 1]!;
    let reached: number | undefined;
    while (!settled) {
      const rows = reached === undefined ? await o.killOne.rows().catch(() => 0) : o.killOne.atRows;
      if (rows >= o.killOne.atRows) reached ??= Date.now();
      // Mid-batch: once half the rows are in, as soon as the victim runs an activity (its batch must be retried elsewhere).
      const running = reached !== undefined ? await activitiesRunning(address).catch(() => 0) : 0;
      if (reached !== undefined && (running > 0 || Date.now() - reached > 10_000)) {
        victim.child.kill('SIGKILL');
        killed = { pid: victim.pid, afterSeconds: Number(process.hrtime.bigint() - t0) / 1e9, rowsThen: await o.killOne.rows().catch(() => rows), activitiesRunning: running };
        return;
      }
      await new Promise((r) => setTimeout(r, reached === undefined ? 250 : 50));
    }
  })();
  let report: MigrationReport;
  try {
    report = (await Promise.race([handle.result(), workerDied])) as MigrationReport;
  } catch (err) {
    throw new Error(`migration ${started.workflowId} failed: ${(err as Error).message ?? String(err)}${(err as Error).cause ? ` (${errorLine((err as Error).cause)})` : ''}`, { cause: err });
  } finally {
    settled = true;
  }
  ended = true;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  await killer;
  const watched = await monitor?.stop();
  monitor = undefined;
  // Untimed, after the monitor stopped: what the histories say.
  const history = o.watch ? await historyFacts(client, started.workflowId).catch(() => undefined) : undefined;
  if (o.killOne && !killed) throw new Error(`the migration ended before the target held ${o.killOne.atRows} rows: no worker was killed`);
  const living = workers.filter((w) => w !== victim);
  const peakMiB = Math.max(...living.map((w) => peakRssMiB(w.pid)));
  const cpu = watched ? watched.groups.filter((g) => g.kind === 'worker').reduce((n, g) => n + g.cpuSeconds, 0) : living.reduce((sum, w) => sum + cpuSeconds(w.pid), 0) - startCpu;
  const activities = new Map<string, ActivityTime>();
  for (const address of metrics.filter((_, i) => workers[i] !== victim)) {
    const times = await activityTimes(address).catch(() => new Map<string, ActivityTime>());
    for (const [type, t] of times) {
      const sum = activities.get(type) ?? { seconds: 0, count: 0, failed: 0 };
      activities.set(type, { seconds: sum.seconds + t.seconds, count: sum.count + t.count, failed: sum.failed + t.failed });
    }
  }
  const steps = new Map<string, number>();
  for (const address of metrics.filter((_, i) => workers[i] !== victim)) for (const [step, sec] of await stepTimes(address).catch(() => new Map<string, number>())) steps.set(step, (steps.get(step) ?? 0) + sec);
  if (report.status !== 'completed' || !report.clean) throw new Error(describeUnclean(report));
  const inserted = new Map<string, number>();
  for (const e of report.entities) inserted.set(e.entity, (inserted.get(e.entity) ?? 0) + e.inserted);
  return { seconds, inserted, rows: [...inserted.values()].reduce((a, b) => a + b, 0), peakMiB, startMiB, cpuSeconds: cpu, activities, steps, monitor: watched, killed, history };
}

/** The workers (identities) that started activities of the migration and its child workflows, and how many activities timed out (an attempt after a timed-out one, or a final time-out). */
async function historyFacts(client: Awaited<ReturnType<typeof connectClient>>['client'], workflowId: string): Promise<{ identities: number; timedOut: number }> {
  const ids = [workflowId];
  for await (const w of client.workflow.list({ query: `WorkflowId STARTS_WITH '${workflowId}/'` })) ids.push(w.workflowId);
  const identities = new Set<string>();
  let timedOut = 0;
  for (const id of ids) {
    for (const e of (await client.workflow.getHandle(id).fetchHistory()).events ?? []) {
      if (e.activityTaskStartedEventAttributes?.identity) identities.add(e.activityTaskStartedEventAttributes.identity);
      // A retried attempt leaves no event of its own: the attempt that completed says how many came before and why the last one failed.
      const started = e.activityTaskStartedEventAttributes;
      if (e.activityTaskTimedOutEventAttributes || (started && (started.attempt ?? 1) > 1 && started.lastFailure?.timeoutFailureInfo)) timedOut++;
    }
  }
  return { identities: identities.size, timedOut };
}

/**
 * A worker's configuration on another host, from the environment alone, as the README's "Running
 * against real AWS" section sets it: every endpoint at the forwarders' address, S3's credentials
 * given (not read from the local stack), and CUTOVER_LOCAL_STACK=0.
 */
function remoteEnv(config: CutoverConfig): NodeJS.ProcessEnv {
  const d = config.databases;
  const creds = config.s3.credentials;
  return {
    CUTOVER_LOCAL_STACK: '0',
    TEMPORAL_ADDRESS: viaHost(config.temporal.connection.address ?? '127.0.0.1:7233', GATEWAY),
    TEMPORAL_NAMESPACE: config.temporal.namespace,
    CUTOVER_SOURCE_URL: viaHost(d.sourceUrl!, GATEWAY),
    CUTOVER_TARGET_URL: viaHost(d.targetUrl!, GATEWAY),
    CUTOVER_CONTROL_URL: viaHost(d.controlUrl!, GATEWAY),
    CUTOVER_S3_ENDPOINT: viaHost(config.s3.endpoint!, GATEWAY),
    CUTOVER_S3_FORCE_PATH_STYLE: config.s3.forcePathStyle ? '1' : '0',
    CUTOVER_STAGING_BUCKET: config.s3.bucket,
    ...(config.s3.sseKmsKeyId ? { CUTOVER_SSE_KMS_KEY_ID: config.s3.sseKmsKeyId } : {}),
    CUTOVER_KMS_ENDPOINT: viaHost(config.kms.endpoint!, GATEWAY),
    AWS_REGION: config.kms.region,
    ...(creds ? { AWS_ACCESS_KEY_ID: creds.accessKeyId, AWS_SECRET_ACCESS_KEY: creds.secretAccessKey } : {}),
  };
}
