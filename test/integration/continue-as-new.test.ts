import { join } from 'node:path';
import { seedLms } from '../../demo/lms/seed';
import { createS3Client } from '../../src/clients/aws';
import { connectClient } from '../../src/clients/temporal';
import { startMigration } from '../../src/migration-client';
import { migrationId as idOf } from '../../src/plan/hash';
import { loadPlanFile } from '../../src/plan/load';
import type { Plan } from '../../src/plan/types';
import { cli, isolated, Isolated, ownerUrl, removeStaged, ROOT, spawnWorker, WorkerProcess } from './helpers';

// Temporal suggests continue-as-new after this many history events (normally thousands).
const THRESHOLD = 80;

async function restartTemporal(env: NodeJS.ProcessEnv = {}): Promise<void> {
  expect((await cli(['stack', 'down', 'temporal'])).code).toBe(0);
  const up = await cli(['stack', 'up', 'temporal'], env);
  if (up.code !== 0) throw new Error(up.stderr);
}

describe('a long migration', () => {
  let env: Isolated;
  let worker: WorkerProcess | undefined;
  const base = loadPlanFile(join(ROOT, 'examples', 'lms.plan.yaml'));
  // Small batches for many of them; no gate.
  const plan: Plan = {
    ...base,
    name: `it-can-${Date.now().toString(36)}`,
    settings: { ...base.settings, batchSize: 100 },
    entities: base.entities.map(({ batchSize: _ignored, ...e }) => ({ ...e, columns: e.columns.map((c) => (c.file ? { ...c, file: { sourceBucket: 'it-can-files-src', targetBucket: 'it-can-files-dst' } } : c)) })),
    phases: base.phases.map((p) => ({ name: p.name, entities: p.entities })),
  };

  beforeAll(async () => {
    await restartTemporal({ CUTOVER_TEMPORAL_DYNAMIC_CONFIG: `limit.historyCount.suggestContinueAsNew=${THRESHOLD}` });
    env = await isolated('can');
    worker = await spawnWorker(env);
  });

  afterAll(async () => {
    await worker?.kill();
    await restartTemporal(); // back to the normal server for the other tests
    await removeStaged(env, idOf(plan));
    await env?.cleanup();
  });

  it('continues as new several times, loses no progress, and still reconciles clean', async () => {
    const s3 = createS3Client(env.config.s3);
    const seeded = await seedLms({ sourceUrl: ownerUrl(env), targetUrl: env.config.databases.targetUrl, users: 500, full: true, seed: 13, files: { s3, sourceBucket: 'it-can-files-src', targetBucket: 'it-can-files-dst', certificates: 20, largePackages: 0 } });
    s3.destroy();
    const started = await startMigration(env.config, plan, { taskQueue: env.taskQueue, wait: true });
    const report = started.report!;
    expect(report.status).toBe('completed');
    expect(report.clean).toBe(true);
    expect(report.entities.find((e) => e.entity === 'xapi_statements')).toMatchObject({ batches: 50, batchesDone: 50, inserted: seeded.statements, extracted: seeded.statements });
    expect(report.entities.find((e) => e.entity === 'enrollments')).toMatchObject({ batches: 20, batchesDone: 20, inserted: seeded.enrollments });

    const { client, connection } = await connectClient(env.config);
    try {
      const runs = async (workflowId: string) => {
        let n = 0;
        for await (const _ of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) n++;
        return n;
      };
      // xAPI (50 batches) runs as 2 partitions of 25, each about a dozen events a batch against a
      // threshold of 80: several runs each. Enrollments (20 batches) runs whole: several runs too.
      expect(await runs(`${started.workflowId}/xapi_statements`)).toBe(1);
      expect(await runs(`${started.workflowId}/xapi_statements/part-0`)).toBeGreaterThanOrEqual(3);
      expect(await runs(`${started.workflowId}/xapi_statements/part-1`)).toBeGreaterThanOrEqual(3);
      expect(await runs(`${started.workflowId}/enrollments`)).toBeGreaterThanOrEqual(2);
      // The parent continues as new between phases too, without that counting as a failure.
      expect(await runs(started.workflowId)).toBeGreaterThanOrEqual(2);
    } finally {
      await connection.close();
    }
  });
});
