import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { Client as PgClient } from 'pg';
import { seedLms } from '../../demo/lms/seed';
import { createS3Client } from '../../src/clients/aws';
import { readLocalStack } from '../../src/config';
import { connectClient } from '../../src/clients/temporal';
import { decideGate, startMigration } from '../../src/migration-client';
import { migrationId as idOf } from '../../src/plan/hash';
import type { MigrationReport } from '../../src/shared/migration';
import { progressQuery } from '../../src/shared/queries';
import { tcpOpen } from '../../src/stack/health';
import { isOurProcess, readPid } from '../../src/stack/process';
import { stackDown, stackRestart, stackUp } from '../../src/stack/stack';
import { stackPaths } from '../../src/stack/state';
import { allTemporalServerPorts, temporalDatabases, temporalServerPorts } from '../../src/stack/temporal-server';
import { PARTITION_MIN_BATCHES } from '../../src/workflows/entity';
import { expectLmsMigratedExactly } from './lms-checks';
import { forgetService, isolated, Isolated, lmsPlan, ownerUrl, recordService, removeStaged, ROOT, spawnWorker, sql, WorkerProcess } from './helpers';

/**
 * The stack's PostgreSQL-backed Temporal (CUTOVER_TEMPORAL_SERVER=postgres) as a stack of its own:
 * a state directory, ports and databases of this test's, so the shared stack (and its Temporal,
 * whichever it is) is never touched. `stack up temporal` brings it up as `cutover stack up` would
 * (the binaries come from ~/.cache/cutover/bin, built once: minutes the first time), and the test
 * stops it and drops its databases at the end, passed or failed.
 */
const USERS = Number(process.env.CUTOVER_TPG_TEST_USERS ?? 2_000);
const STATEMENTS_PER_USER = 10;
const XAPI_BATCHES = PARTITION_MIN_BATCHES + 10;

/** The first block of frontend ports (and a UI port) nothing listens on, well away from the shared stack's. */
async function freeTemporalPorts(): Promise<{ temporal: number; ui: number }> {
  for (let base = 7533; base < 7533 + 20 * 50; base += 50) {
    const ports = [...allTemporalServerPorts(temporalServerPorts(base)), base + 1000];
    const taken = await Promise.all(ports.map((p) => tcpOpen('127.0.0.1', p, 300)));
    if (!taken.some(Boolean)) return { temporal: base, ui: base + 1000 };
  }
  throw new Error('no free block of ports for a second Temporal');
}

describe('the whole LMS on the PostgreSQL-backed Temporal server, with two workers, a server restart, a killed worker and a server crash', () => {
  let env: Isolated;
  let stackEnv: NodeJS.ProcessEnv;
  let stateDir: string;
  const workers: WorkerProcess[] = [];
  const users = USERS;
  const xapiBatchSize = Math.max(1, Math.floor((users * STATEMENTS_PER_USER) / XAPI_BATCHES));
  const plan = lmsPlan(`it-tpg-${Date.now().toString(36)}`, (p) => ({ ...p, entities: p.entities.map((e) => (e.name === 'xapi_statements' ? { ...e, batchSize: xapiBatchSize } : e)) }));
  const prefix = `it_tpg_${Date.now().toString(36)}`;
  const databases = temporalDatabases(prefix);
  const log: string[] = [];
  const recorded = new Set<number>();

  beforeAll(async () => {
    const ports = await freeTemporalPorts();
    mkdirSync(join(ROOT, 'test-output'), { recursive: true });
    stateDir = mkdtempSync(join(ROOT, 'test-output', 'tpg-'));
    // The environment as it is (Go's settings for a build, the cache and the secrets file), but none
    // of the shared stack's Temporal, ports or state: this test's own.
    const inherited = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => !k.startsWith('TEMPORAL_') && (!k.startsWith('CUTOVER_') || /^CUTOVER_(CACHE_DIR|SECRETS_FILE|PG_ADMIN_URL|TEMPORAL_\w+_BIN)$/.test(k))),
    );
    stackEnv = {
      ...inherited,
      CUTOVER_STATE_DIR: stateDir,
      CUTOVER_TEMPORAL_SERVER: 'postgres',
      CUTOVER_TEMPORAL_PORT: String(ports.temporal),
      CUTOVER_TEMPORAL_UI_PORT: String(ports.ui),
      CUTOVER_PG_PREFIX: prefix,
    };
    const status = await stackUp(stackEnv, (line) => log.push(line), ['temporal']);
    recordServices();
    const base = await isolated('tpg');
    const address = status.endpoints.temporal.address;
    env = { ...base, config: { ...base.config, temporal: { ...base.config.temporal, connection: { ...base.config.temporal.connection, address }, uiUrl: status.endpoints.temporal.uiUrl } } };
    for (let i = 0; i < 2; i++) workers.push(await spawnWorker(env, { TEMPORAL_ADDRESS: address }));
  }, 1_800_000); // the first run on a machine builds temporal-server, temporal-sql-tool and ui-server (about 10 minutes on 2 cores)

  afterAll(async () => {
    for (const w of workers) await w.kill('SIGKILL');
    if (stackEnv) await stackDown(stackEnv, (line) => log.push(line), ['temporal']);
    for (const pid of recorded) forgetService(pid);
    if (env) {
      await removeStaged(env, idOf(plan)).catch(() => undefined);
      await env.cleanup();
    }
    const admin = new PgClient({ connectionString: env?.adminUrl ?? readLocalStack()!.postgres.adminUrl });
    await admin.connect();
    try {
      for (const db of [databases.main, databases.visibility]) await admin.query(`drop database if exists ${admin.escapeIdentifier(db)} with (force)`);
      await admin.query(`drop role if exists ${admin.escapeIdentifier(databases.role)}`);
    } finally {
      await admin.end();
    }
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });

  const temporalPid = () => readPid(stackPaths(stackEnv).pids, 'temporal-server');
  /** The server and UI this test started, for the run's exit handler should jest stop before afterAll. */
  const recordServices = () => {
    for (const id of ['temporal-server', 'temporal-ui']) {
      const record = readPid(stackPaths(stackEnv).pids, id);
      if (record) {
        recordService(record.pid, basename(record.binary));
        recorded.add(record.pid);
      }
    }
  };
  const count = async (table: string) => Number((await sql<{ n: string }>(env.config.databases.targetUrl!, `select count(*) as n from ${table}`))[0]!.n);
  const until = async (what: string, check: () => Promise<boolean>, timeoutMs = 180_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${log.join('\n')}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  };
  const describeStatus = async (workflowId: string) => {
    const { client, connection } = await connectClient(env.config);
    try {
      return (await client.workflow.getHandle(workflowId).describe()).status.name;
    } finally {
      await connection.close();
    }
  };

  it('ends completed, clean and exact, its history in PostgreSQL', async () => {
    const seeded = await seedLms({ sourceUrl: ownerUrl(env), targetUrl: env.config.databases.targetUrl, users, full: true, orphanRatio: 0.0005, seed: 24, files: { s3: createS3Client(env.config.s3), sourceBucket: `${plan.name}-src`, targetBucket: `${plan.name}-dst` } });
    expect(seeded.statements).toBe(STATEMENTS_PER_USER * users);
    const migrationStarted = Date.now();
    const started = await startMigration(env.config, plan, { taskQueue: env.taskQueue, startedBy: 'it-starter' });

    // The gate after phase one: approved by a second person (an update, through the PostgreSQL-backed server).
    await until('the gate after people', async () => {
      const { client, connection } = await connectClient(env.config);
      try {
        return (await client.workflow.getHandle(started.workflowId).query(progressQuery).catch(() => undefined))?.status === 'awaiting-approval';
      } finally {
        await connection.close();
      }
    });
    await decideGate(env.config, started.workflowId, 'people', 'it-approver');

    // Mid-run, once the first of the xAPI statements' 50 batches is in (the other entities load in
    // a batch or two of 5,000): the Temporal server is stopped and started again.
    await until('xAPI statements loading', async () => (await count('xapi_statements')) > 0);
    const before = temporalPid()!;
    expect(await describeStatus(started.workflowId)).toBe('RUNNING');
    const statementsAtRestart = await count('xapi_statements');
    const restartStarted = Date.now();
    await stackRestart(['temporal'], stackEnv, (line) => log.push(line));
    recordServices();
    const restartSeconds = (Date.now() - restartStarted) / 1000;
    const after = temporalPid()!;
    expect(after.pid).not.toBe(before.pid);
    expect(isOurProcess(before)).toBe(false);
    expect(statementsAtRestart).toBeLessThan(seeded.statements / 2);
    // The run survived the restart: its history was in PostgreSQL, not in the process.
    expect(await describeStatus(started.workflowId)).toBe('RUNNING');

    // Mid-run again, half of the statements in: one worker is killed without a chance to clean up.
    await until('half of the xAPI statements', async () => (await count('xapi_statements')) >= seeded.statements / 2);
    const statementsAtKill = await count('xapi_statements');
    await workers[0]!.kill('SIGKILL');
    expect(statementsAtKill).toBeLessThan(seeded.statements);

    // And the server crashes (SIGKILL, no graceful shutdown) and is started again, with three quarters in.
    await until('three quarters of the xAPI statements', async () => (await count('xapi_statements')) >= (3 * seeded.statements) / 4);
    const beforeCrash = temporalPid()!;
    const statementsAtCrash = await count('xapi_statements');
    await stackRestart(['temporal'], stackEnv, (line) => log.push(line), { kill: true });
    recordServices();
    expect(temporalPid()!.pid).not.toBe(beforeCrash.pid);
    expect(statementsAtCrash).toBeLessThan(seeded.statements);
    expect(await describeStatus(started.workflowId)).toBe('RUNNING');

    const { client, connection } = await connectClient(env.config);
    let report: MigrationReport;
    try {
      report = await client.workflow.getHandle(started.workflowId).result();
      // Both workers ran activities of this migration: their identities in the histories the server kept.
      const identities = new Set<string>();
      const runs = [started.workflowId];
      for await (const w of client.workflow.list({ query: `WorkflowId STARTS_WITH '${started.workflowId}/'` })) runs.push(w.workflowId);
      for (const id of runs) {
        const history = await client.workflow.getHandle(id).fetchHistory();
        for (const e of history.events ?? []) if (e.activityTaskStartedEventAttributes?.identity) identities.add(e.activityTaskStartedEventAttributes.identity);
      }
      expect(identities.size).toBe(2);
      // The custom search attributes are registered and searchable on the SQL visibility store.
      const found: string[] = [];
      for await (const w of client.workflow.list({ query: `CutoverPlan = '${plan.name}' AND CutoverStatus = 'completed'` })) found.push(w.workflowId);
      expect(found).toEqual([started.workflowId]);
    } finally {
      await connection.close();
    }
    await expectLmsMigratedExactly(env, plan, started.workflowId, seeded, report);
    console.log(
      `temporal-postgres: ${users} users; server restarted in ${restartSeconds.toFixed(1)}s at ${statementsAtRestart}/${seeded.statements} xAPI statements; ` +
        `a worker killed at ${statementsAtKill}, the server crashed and started again at ${statementsAtCrash}; migration ${((Date.now() - migrationStarted) / 1000).toFixed(0)}s from start to checked`,
    );

    // The server's history is in this test's PostgreSQL databases (read there, not through Temporal).
    const historyDb = new URL(env.adminUrl);
    historyDb.pathname = `/${databases.main}`;
    const inPostgres = await sql<{ n: string }>(historyDb.toString(), 'select count(*) as n from executions');
    expect(Number(inPostgres[0]!.n)).toBeGreaterThan(1);
  }, 600_000);
});
