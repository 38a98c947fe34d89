import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seedLms } from '../../demo/lms/seed';
import { connectClient } from '../../src/clients/temporal';
import { loadConfig, readLocalStack } from '../../src/config';
import { startMigration } from '../../src/migration-client';
import { migrationId as idOf } from '../../src/plan/hash';
import type { MigrationReport } from '../../src/shared/migration';
import { stackDown, stackUp } from '../../src/stack/stack';
import { cli, cliEnv, freePort, Isolated, isolated, ownerUrl, planFor, removeStaged, sleep, spawnWorker, sql, waitFor, WorkerProcess } from './helpers';

/**
 * Issue 20's promise of the runbook: a migration rides out an S3 outage, a Temporal outage and a
 * SIGKILL of its worker, each in the middle of the load, and ends exact, with `cutover status`
 * saying what is retried meanwhile. The outages are real (the server processes stopped), on a
 * stack of the test's own (its own state directory and ports: its MinIO, Temporal dev server
 * with its SQLite file, local-kms), so tests sharing the main stack are not disturbed.
 * CUTOVER_IT_OUTAGE_SECONDS sets each outage's length (45 by default; 300 for the five-minute
 * run by hand, with CUTOVER_IT_OUTAGE_USERS raised so the load outlasts both).
 */
const OUTAGE_SECONDS = Number(process.env.CUTOVER_IT_OUTAGE_SECONDS || 45);
const USERS = Number(process.env.CUTOVER_IT_OUTAGE_USERS || 6_000);

describe(`outages of ${OUTAGE_SECONDS} s (S3, then Temporal) and a SIGKILL in the middle of a migration`, () => {
  let stackEnv: NodeJS.ProcessEnv;
  let stateDir: string;
  let env: Isolated;
  let worker: WorkerProcess | undefined;
  const plan = planFor(`it-outages-${Date.now().toString(36)}`, { batchSize: 200, parallelism: 2, throttleRowsPerSecond: 600 });

  beforeAll(async () => {
    stateDir = mkdtempSync(join(tmpdir(), 'cutover-outages-'));
    stackEnv = { ...process.env, CUTOVER_STATE_DIR: stateDir };
    for (const name of ['CUTOVER_TEMPORAL_PORT', 'CUTOVER_TEMPORAL_UI_PORT', 'CUTOVER_MINIO_PORT', 'CUTOVER_MINIO_CONSOLE_PORT', 'CUTOVER_KMS_PORT', 'CUTOVER_CODEC_PORT']) stackEnv[name] = String(await freePort());
    await stackUp(stackEnv, () => {}, ['postgres', 'kms', 'minio', 'temporal']);
    const base = await isolated('outages');
    // The same databases, through the test's own stack for Temporal, S3 and KMS.
    const own = loadConfig(stackEnv, readLocalStack(stackEnv));
    env = { ...base, config: { ...own, temporal: { ...own.temporal, taskQueue: base.taskQueue }, databases: base.config.databases } };
    await seedLms({ sourceUrl: ownerUrl(env), targetUrl: env.config.databases.targetUrl, users: USERS, seed: 31 });
  });

  afterAll(async () => {
    await worker?.kill('SIGKILL');
    if (env) await removeStaged(env, idOf(plan)).catch(() => undefined);
    if (stackEnv) await stackDown(stackEnv, () => {}, ['temporal', 'minio', 'kms']).catch(() => undefined);
    await env?.cleanup();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });

  /** The CLI and worker on the test's own stack and databases. */
  const processEnv = () => ({ ...cliEnv(env), CUTOVER_STATE_DIR: stateDir, ...Object.fromEntries(Object.entries(stackEnv).filter(([k]) => /^CUTOVER_.*_PORT$/.test(k))) }) as NodeJS.ProcessEnv;
  const loaded = async () => Number((await sql<{ n: string }>(env.config.databases.targetUrl!, 'select count(*) as n from people'))[0]!.n);
  const status = () => cli(['status', idOf(plan)], processEnv());

  it('ends completed, reconciled clean, every row exactly once, and status names what is retried meanwhile', async () => {
    worker = await spawnWorker(env, processEnv());
    const started = await startMigration(env.config, plan, { taskQueue: env.taskQueue, startedBy: 'it-operator' });

    // S3 down while batches stage and load.
    await waitFor('the first rows', async () => (await loaded()) >= USERS / 8, 180_000, () => worker!.output().slice(-2000));
    await stackDown(stackEnv, () => {}, ['minio']);
    const s3Down = Date.now();
    const duringS3 = await waitFor(
      'status to name the S3 retry',
      async () => {
        const s = await status();
        return /retrying: (stageBatch|loadBatch|reconcileBatch)/.test(s.stdout) ? s.stdout : undefined;
      },
      (OUTAGE_SECONDS + 30) * 1000,
    );
    expect(duringS3).toMatch(/: running/);
    await sleep(Math.max(0, OUTAGE_SECONDS * 1000 - (Date.now() - s3Down)));
    await stackUp(stackEnv, () => {}, ['minio']);

    // Temporal down: nothing to ask meanwhile (status says it cannot reach it); the worker reconnects.
    const atS3 = await loaded();
    await waitFor('rows after S3 is back', async () => (await loaded()) > atS3, 300_000, () => worker!.output().slice(-2000));
    await stackDown(stackEnv, () => {}, ['temporal']);
    const duringTemporal = await status();
    expect(duringTemporal.code).not.toBe(0);
    expect(`${duringTemporal.stdout}${duringTemporal.stderr}`).toMatch(/temporal|7233|connect|unavailable/i);
    await sleep(OUTAGE_SECONDS * 1000);
    await stackUp(stackEnv, () => {}, ['temporal']);

    // A crash: the worker killed outright once rows move again, a new one carries on.
    const atTemporal = await loaded();
    await waitFor('rows after Temporal is back', async () => (await loaded()) > atTemporal, 300_000, () => worker!.output().slice(-2000));
    expect(await loaded()).toBeLessThan(USERS);
    await worker.kill('SIGKILL');
    worker = await spawnWorker(env, processEnv());

    const { client, connection } = await connectClient(env.config);
    let report: MigrationReport;
    try {
      report = await client.workflow.getHandle(started.workflowId).result();
    } finally {
      await connection.close();
    }
    expect(report.status).toBe('completed');
    expect(report.clean).toBe(true);
    expect(report.rollback).toBeUndefined();
    expect(report.entities).toMatchObject([{ entity: 'users', extracted: USERS, inserted: USERS, quarantined: 0 }]);
    expect(report.entities[0]!.reconcile).toMatchObject({ missing: 0, mismatched: 0, duplicated: 0 });
    expect(await loaded()).toBe(USERS);
    expect(Number((await sql<{ n: string }>(env.config.databases.targetUrl!, 'select count(distinct legacy_user_id) as n from people'))[0]!.n)).toBe(USERS);
  }, (OUTAGE_SECONDS * 2 + 600) * 1000);
});
