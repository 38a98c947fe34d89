import { join } from 'node:path';
import { seedLms } from '../../demo/lms/seed';
import { createS3Client } from '../../src/clients/aws';
import { connectClient } from '../../src/clients/temporal';
import { startMigration } from '../../src/migration-client';
import { migrationId as idOf } from '../../src/plan/hash';
import { loadPlanFile } from '../../src/plan/load';
import type { Plan } from '../../src/plan/types';
import { cli, cliEnv, isolated, Isolated, ownerUrl, removeStaged, ROOT, spawnWorker, sql, WorkerProcess } from './helpers';

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

  const plans: string[] = [];

  afterAll(async () => {
    await worker?.kill();
    await restartTemporal(); // back to the normal server for the other tests
    await removeStaged(env, idOf(plan));
    for (const id of plans) await removeStaged(env, id);
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

  it('keeps the history of a sync bounded: rounds continue as new, carrying the capture position, and the cutover still finds every change', async () => {
    // Poll capture needs no logical PostgreSQL: the test's own source, with a change column.
    const users = await sql<{ n: string }>(ownerUrl(env), 'select count(*) as n from legacy_users');
    expect(Number(users[0]!.n)).toBe(500);
    for (const t of ['legacy_users', 'legacy_org_units']) await sql(ownerUrl(env), `alter table ${t} add column if not exists changed_at timestamptz`);
    const users1: Plan = {
      ...base,
      name: `it-can-sync-${Date.now().toString(36)}`,
      entities: base.entities.filter((e) => e.name === 'org_units' || e.name === 'users').map((e) => ({ ...e, source: { ...e.source, change: { column: 'changed_at', unit: 's' as const } } })),
      phases: [{ name: 'people', entities: ['org_units', 'users'] }],
      sync: { mode: 'poll', intervalSeconds: 1, quietSeconds: 2, conflict: 'source_wins', maxDeleteRatio: 0.5, overlapSeconds: 2, slot: 'cutover', publication: 'cutover', maxRetainedWalMb: 1024 },
    };
    plans.push(idOf(users1));
    const started = await startMigration(env.config, users1, { taskQueue: env.taskQueue });
    const { client, connection } = await connectClient(env.config);
    try {
      const runs = async () => {
        let n = 0;
        for await (const _ of client.workflow.list({ query: `WorkflowId = '${started.workflowId}'` })) n++;
        return n;
      };
      // A change per second while rounds run, until the workflow has continued as new twice.
      let i = 0;
      const deadline = Date.now() + 150_000;
      while ((await runs()) < 3) {
        if (Date.now() > deadline) throw new Error('the sync did not continue as new');
        await sql(ownerUrl(env), `update legacy_users set full_name = 'Long Sync ' || $1::int, changed_at = now() where user_id = 1 + $1::int % 500`, [i++]);
        await new Promise((r) => setTimeout(r, 1000));
      }
      await sql(ownerUrl(env), `update legacy_users set full_name = 'Last Change', changed_at = now() where user_id = 42`);
      const out = await cli(['cutover', started.workflowId], cliEnv(env), 120_000);
      expect(`${out.code}\n${out.stdout}${out.stderr}`).toMatch(/^0\n[\s\S]*final verification clean/);
      const report = await client.workflow.getHandle(started.workflowId).result();
      expect(report.status).toBe('completed');
      expect(report.sync!.rounds).toBeGreaterThan(5);
      const [row] = await sql<{ given_name: string; family_name: string }>(env.config.databases.targetUrl!, 'select given_name, family_name from people where legacy_user_id = 42');
      expect(row).toEqual({ given_name: 'Last', family_name: 'Change' });
    } finally {
      await connection.close();
    }
  });
});
