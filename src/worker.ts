import { requestIdsInLogs } from './clients/log';
import { createServer } from 'node:net';
import { ActivityInterceptorsFactory, NativeConnection, Worker } from '@temporalio/worker';
import { createActivities } from './activities';
import { createKmsClient, createS3Client } from './clients/aws';
import { createDb } from './clients/postgres';
import { CutoverConfig, loadConfig, maxConcurrentActivities, metricsAddress, workflowBundlePath } from './config';
import { runDoctor } from './doctor/doctor';
import { installRuntime } from './clients/runtime';
import { createStores } from './stores/stores';
import { createDataConverter } from './codec/data-converter';
import { createKeyRing } from './crypto/key-ring-factory';
import { failedComponents, renderTable } from './doctor/table';

export interface RunningWorker {
  worker: Worker;
  /** Stops polling, waits for running activities, closes every client. */
  shutdown(): Promise<void>;
  /** Resolves when the worker has stopped (after shutdown or a fatal error). */
  done: Promise<void>;
}

export const DEFAULT_METRICS_ADDRESS = '127.0.0.1:9464';

function portFree(address: string): Promise<boolean> {
  const i = address.lastIndexOf(':');
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(Number(address.slice(i + 1)), address.slice(0, i), () => server.close(() => resolve(true)));
  });
}

/**
 * Where the worker serves Prometheus metrics: CUTOVER_METRICS_ADDRESS (host:port, or `off`; see
 * config.ts), else 127.0.0.1:9464 when that port is free (a second worker on the machine goes without).
 */
export async function resolveMetricsAddress(env?: NodeJS.ProcessEnv): Promise<{ address?: string; note?: string }> {
  const wanted = metricsAddress(env);
  if (wanted === 'off') return {};
  if (wanted) return { address: wanted };
  if (await portFree(DEFAULT_METRICS_ADDRESS)) return { address: DEFAULT_METRICS_ADDRESS };
  return { note: `metrics off: ${DEFAULT_METRICS_ADDRESS} is taken (another worker?); set CUTOVER_METRICS_ADDRESS` };
}

/** The line a worker prints at start about its metrics: where they are, or why there are none. */
export function metricsLine(metrics: { address?: string; note?: string }): string {
  if (metrics.address) return `metrics: http://${metrics.address}/metrics`;
  return metrics.note ?? 'metrics: off (CUTOVER_METRICS_ADDRESS=off)';
}

/** How many activities one worker runs at once (CUTOVER_MAX_CONCURRENT_ACTIVITIES; see config.ts). */
export { maxConcurrentActivities };

/** Builds a worker with its clients; `taskQueue` defaults to the configured one. */
export async function startWorker(
  config: CutoverConfig,
  options: {
    taskQueue?: string;
    metricsAddress?: string;
    /** Activity interceptors (Temporal's own seam): an in-process test holds an activity at the moment it wants to act at. */
    activityInterceptors?: ActivityInterceptorsFactory[];
  } = {},
): Promise<RunningWorker> {
  installRuntime({ metricsAddress: options.metricsAddress });
  if (!config.databases.controlUrl) throw new Error('no control database: set CUTOVER_CONTROL_URL or run `cutover stack up`');
  const s3 = createS3Client(config.s3);
  const kms = createKmsClient(config.kms);
  const control = createDb(config.databases.controlUrl, { max: 8, applicationName: 'cutover-worker' });
  const keys = createKeyRing(config, control, kms);
  // Every store the activities use, built once here from the worker's clients.
  const stores = createStores({ config, control, s3, kms, keys });
  const { address, tls, apiKey, metadata } = config.temporal.connection;
  let connection: NativeConnection | undefined;
  const closeClients = async () => {
    await stores.close();
    s3.destroy();
    kms.destroy();
    await control.destroy();
    await connection?.close();
  };
  let worker: Worker;
  try {
    const bundle = workflowBundlePath();
    connection = await NativeConnection.connect({ address, tls, apiKey, metadata });
    worker = await Worker.create({
      connection,
      namespace: config.temporal.namespace,
      taskQueue: options.taskQueue ?? config.temporal.taskQueue,
      // CUTOVER_WORKFLOW_BUNDLE: a bundle prebuilt with bundleWorkflowCode (same workflowsPath and failureConverterPath): no webpack at start.
      ...(bundle ? { workflowBundle: { codePath: bundle } } : { workflowsPath: require.resolve('./workflows') }),
      dataConverter: await createDataConverter(keys),
      maxConcurrentActivityTaskExecutions: maxConcurrentActivities(),
      interceptors: { activity: [requestIdsInLogs, ...(options.activityInterceptors ?? [])] },
      activities: createActivities({
        stores,
        s3,
        kms,
        control,
        bucket: config.s3.bucket,
        stagingKeyAlias: config.kms.aliases.staging,
        sseKmsKeyId: config.s3.sseKmsKeyId,
      }),
    });
  } catch (err) {
    await closeClients();
    throw err;
  }
  const done = worker.run().finally(closeClients);
  return {
    worker,
    done,
    async shutdown() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await done;
    },
  };
}

/** `cutover worker`: refuses to start, with the doctor's table, while a dependency is missing. */
export async function main(): Promise<void> {
  const config = loadConfig();
  const results = await runDoctor(config);
  const failed = failedComponents(results);
  if (failed.length) {
    console.error(renderTable(results));
    console.error(`\nworker not started: ${failed.join(', ')} not ready`);
    process.exitCode = 3;
    return;
  }
  const metrics = await resolveMetricsAddress();
  const running = await startWorker(config, { metricsAddress: metrics.address });
  console.log(`worker polling task queue ${config.temporal.taskQueue} on ${config.temporal.connection.address} (namespace ${config.temporal.namespace})`);
  console.log(metricsLine(metrics));
  await running.done;
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
