import { join } from 'node:path';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import { seedMoodle } from '../../demo/moodle/seed';
import { connectClient } from '../../src/clients/temporal';
import { decideGate, requestCutover, requestRollback, startMigration } from '../../src/migration-client';
import { rollbackMigration } from '../../src/rollback-client';
import { migrationId as idOf } from '../../src/plan/hash';
import { loadPlanFile } from '../../src/plan/load';
import type { Plan } from '../../src/plan/types';
import { startWorker, RunningWorker } from '../../src/worker';
import { cliEnv, endedReport, isolated, Isolated, ownerUrl, progressOf, removeStaged, ROOT, sleep, sql, waitFor } from './helpers';
import { SyncEnv, syncEnv, syncPlan, startWriter, waitForReport } from './sync-fixture';
import { seedPreexistingPeople, targetChecksums } from './target-state';
import { agreement, everyViewSays, migrationViews } from './views';

/**
 * An operator's rollback at every moment it can arrive, on entities of every shape, on a target
 * that already holds rows the migration overwrites: each cell ends rolled-back with every target
 * table's md5 as before, and `status`, `list`, `report` and the search attribute all say so.
 *
 * The moments are made exact with an activity interceptor on an in-process worker (Temporal's own
 * seam; the activities are the real ones against the real stack): the interceptor holds the
 * chosen activity, the test asks for the rollback, then lets it go.
 */

/** Holds one activity (the first that matches, after `skip` matches) until released. */
class Holds {
  private armed?: { match: (type: string, arg: Record<string, unknown>) => boolean; skip: number; reached: () => void; release: Promise<void> };

  arm(match: (type: string, arg: Record<string, unknown>) => boolean, skip = 0): { reached: Promise<void>; release: () => void } {
    let reached!: () => void;
    let release!: () => void;
    const r = new Promise<void>((res) => (reached = res));
    this.armed = { match, skip, reached, release: new Promise<void>((res) => (release = res)) };
    return { reached: r, release };
  }

  readonly interceptor: ActivityInterceptorsFactory = (ctx) => ({
    inbound: {
      execute: async (input, next) => {
        const a = this.armed;
        if (a && a.match(ctx.info.activityType, (input.args[0] ?? {}) as Record<string, unknown>)) {
          if (a.skip-- <= 0) {
            this.armed = undefined;
            a.reached();
            await a.release;
          }
        }
        return next(input);
      },
    },
  });
}

const within = <T>(what: string, p: Promise<T>, ms = 240_000): Promise<T> =>
  Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms).unref())]);

/** The plan's connection variables point at the test's databases while its in-process worker runs. */
function useEnv(env: Isolated, extra: Record<string, string> = {}): () => void {
  const vars = { ...cliEnv(env), ...extra } as Record<string, string>;
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  return () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
}

/** What every view says of a migration's end: status --json, list --json, report --json and the CutoverStatus search attribute. */
describe('a rollback at any moment, on every entity shape: the target exactly as before, every view agreeing', () => {
  let env: Isolated;
  let worker: RunningWorker;
  let restoreEnv: () => void;
  const holds = new Holds();
  const ids: string[] = [];
  const stamp = Date.now().toString(36);

  /**
   * The Moodle plan: phase people is one level of a tree (categories) beside learners (in the
   * partitions cell 5 rows a batch: 40 batches, 2 lanes, so partitions), behind a gate; phase
   * assessments is a level of three entities running as child workflows side by side.
   */
  const plan = (cell: string, partitioned = false): Plan => {
    const p = loadPlanFile(join(ROOT, 'examples', 'moodle.plan.yaml'));
    const named: Plan = {
      ...p,
      name: `rbm-${cell}-${stamp}`,
      settings: { ...p.settings, parallelism: 4, abort: { ...p.settings.abort, maxQuarantineRatio: 0.5 } },
      // Partitions only where the cell is about them: forty batches of five rows are slow to run through phase people.
      entities: partitioned ? p.entities.map((e) => (e.name === 'learners' ? { ...e, batchSize: 5 } : e)) : p.entities,
    };
    ids.push(idOf(named));
    return named;
  };

  beforeAll(async () => {
    env = await isolated('rbm');
    await seedMoodle({ sourceUrl: ownerUrl(env), targetUrl: env.config.databases.targetUrl, users: 200, seed: 8 });
    // Beside the pilot's rows (legacy_id NULL, never touched): rows the migration overwrites, so each rollback must put pre-images back.
    await sql(env.config.databases.targetUrl!, `insert into categories (legacy_id, name, code) select id, 'pre-existing ' || id, null from unnest(array[1, 2]) id on conflict do nothing`);
    await sql(
      env.config.databases.targetUrl!,
      `insert into learners (legacy_id, username, given_name, family_name, email, status, created_on, source_ref)
       select id, 'pre' || id, 'Pre', 'Existing', 'pre' || id || '@old.example.net', (select min(e)::text::learner_status from unnest(enum_range(null::learner_status)) e), date '2001-02-03', 'pre:' || id
       from unnest(array[3, 4]) id on conflict do nothing`,
    );
    restoreEnv = useEnv(env);
    worker = await startWorker(env.config, { taskQueue: env.taskQueue, activityInterceptors: [holds.interceptor] });
  });

  afterAll(async () => {
    await worker?.shutdown();
    restoreEnv?.();
    for (const id of ids) await removeStaged(env, id).catch(() => undefined);
    await env?.cleanup();
  });

  /** Starts the cell's migration, lets `drive` bring it to its moment and ask for the rollback, then checks the end. */
  async function cell(name: string, drive: (workflowId: string) => Promise<void>, partitioned = false): Promise<void> {
    const p = plan(name, partitioned);
    const before = await targetChecksums(env.config.databases.targetUrl!);
    expect(Object.keys(before).length).toBeGreaterThan(3);
    const started = await startMigration(env.config, p, { taskQueue: env.taskQueue, startedBy: 'it-starter' });
    await drive(started.workflowId);
    const report = await within('the rollback', endedReport(env, started.workflowId));
    expect({ status: report.status, restored: report.rollback?.restored }).toEqual({ status: 'rolled-back', restored: true });
    expect(await targetChecksums(env.config.databases.targetUrl!)).toEqual(before);
    const actions = (await sql<{ action: string }>(env.config.databases.controlUrl!, 'select action from cutover.audit where migration_id = $1 order by seq', [idOf(p)])).map((r) => r.action);
    expect(actions.filter((a) => a === 'rollback-started' || a === 'rolled-back')).toEqual(['rollback-started', 'rolled-back']);
    expect(agreement(await migrationViews(env, idOf(p), 'rolled-back', started.workflowId))).toEqual(everyViewSays('rolled-back', true));
  }

  /** Holds the activity `match` picks, asks for the rollback while it is held, then lets it go. */
  async function rollbackWhileHeld(workflowId: string, hold: { reached: Promise<void>; release: () => void }, what: string): Promise<void> {
    await within(what, hold.reached);
    await requestRollback(env.config, workflowId, 'it-operator', `matrix: ${what}`);
    await sleep(1_500);
    hold.release();
  }

  const atGate = async (workflowId: string) => {
    await waitFor('the gate of people', async () => (await progressOf(env, workflowId))?.status === 'awaiting-approval', 240_000);
    await decideGate(env.config, workflowId, 'people', 'it-approver');
  };

  it('before the first batch is staged', async () => {
    const hold = holds.arm((type) => type === 'stageBatch');
    await cell('first', (wf) => rollbackWhileHeld(wf, hold, 'the first stage'));
  });

  it('while a partitioned entity loads (learners in partitions, beside a tree)', async () => {
    const hold = holds.arm((type, arg) => type === 'loadBatch' && arg.entity === 'learners', 6);
    await cell('partitions', async (wf) => {
      await rollbackWhileHeld(wf, hold, 'a load of learners');
      const { client, connection } = await connectClient(env.config);
      try {
        const parts: string[] = [];
        for await (const w of client.workflow.list({ query: `RootWorkflowId = '${wf}'` })) if (/\/learners\/part-/.test(w.workflowId)) parts.push(w.workflowId);
        expect(parts.length).toBeGreaterThan(1);
      } finally {
        await connection.close();
      }
    }, true);
  });

  it('while a tree loads (categories, parents before children)', async () => {
    const hold = holds.arm((type, arg) => type === 'loadBatch' && arg.entity === 'categories');
    await cell('tree', (wf) => rollbackWhileHeld(wf, hold, 'a load of categories'));
  });

  it('while a phase reconciles', async () => {
    const hold = holds.arm((type, arg) => type === 'reconcilePhase' && arg.phase === 'people');
    await cell('reconcile', (wf) => rollbackWhileHeld(wf, hold, 'the reconcile of people'));
  });

  it('at a gate', async () => {
    await cell('gate', async (wf) => {
      await waitFor('the gate of people', async () => (await progressOf(env, wf))?.status === 'awaiting-approval', 240_000);
      await requestRollback(env.config, wf, 'it-operator', 'matrix: at the gate');
    });
  });

  it('while a level of several entities loads as child workflows (assessments)', async () => {
    const hold = holds.arm((type, arg) => type === 'loadBatch' && ['quiz_attempts', 'grades', 'badges_issued'].includes(String(arg.entity)));
    await cell('level', async (wf) => {
      await atGate(wf);
      await rollbackWhileHeld(wf, hold, 'a load in the assessments level');
    });
  });

  it('while the last phase reconciles, just before it would complete', async () => {
    const hold = holds.arm((type, arg) => type === 'reconcilePhase' && arg.phase === 'assessments');
    await cell('last-reconcile', async (wf) => {
      await atGate(wf);
      await rollbackWhileHeld(wf, hold, 'the reconcile of assessments');
    });
  });

  it('after completion', async () => {
    const p = plan('completed');
    const before = await targetChecksums(env.config.databases.targetUrl!);
    const started = await startMigration(env.config, p, { taskQueue: env.taskQueue, startedBy: 'it-starter' });
    await atGate(started.workflowId);
    expect((await within('completion', endedReport(env, started.workflowId))).status).toBe('completed');
    expect(await targetChecksums(env.config.databases.targetUrl!)).not.toEqual(before);
    const outcome = await rollbackMigration(env.config, started.workflowId, 'it-operator', 'matrix: after completion', { wait: true });
    expect(outcome.kind === 'after-completion' && outcome.report?.rollback?.restored).toBe(true);
    expect(await targetChecksums(env.config.databases.targetUrl!)).toEqual(before);
    const v = agreement(await migrationViews(env, idOf(p), 'rolled-back', started.workflowId));
    // The completed run's own search attribute stays `completed` (a closed workflow cannot change it); every view reads the rollback after it.
    expect({ ...v, attribute: 'rolled-back' }).toEqual(everyViewSays('rolled-back', true));
  });
});

describe('a rollback during delta sync, and during the cutover: the target exactly as before', () => {
  let env: SyncEnv;
  let worker: RunningWorker;
  let restoreEnv: () => void;
  const holds = new Holds();
  const ids: string[] = [];
  const stamp = Date.now().toString(36);

  beforeAll(async () => {
    env = await syncEnv('rbm_sync', 300);
    // People the migration overwrites (their legacy ids are in the source) and people it never touches.
    await seedPreexistingPeople(env.config.databases.targetUrl!, [1, 2], [900_001, 900_002]);
    restoreEnv = useEnv(env);
    worker = await startWorker(env.config, { taskQueue: env.taskQueue, activityInterceptors: [holds.interceptor] });
  });

  afterAll(async () => {
    await worker?.shutdown();
    restoreEnv?.();
    for (const id of ids) await removeStaged(env, id).catch(() => undefined);
    await env?.cleanup();
  });

  async function syncCell(name: string, drive: (workflowId: string, stopWriter: () => Promise<unknown>) => Promise<void>): Promise<void> {
    const p = syncPlan(`rbm-${name}-${stamp}`, { mode: 'logical', publication: env.publication, quietSeconds: 2 });
    ids.push(idOf(p));
    const before = await targetChecksums(env.config.databases.targetUrl!);
    const writer = startWriter(ownerUrl(env), 20);
    let stopped: Promise<unknown> | undefined;
    const stopWriter = () => (stopped ??= writer.stop());
    let report;
    try {
      const started = await startMigration(env.config, p, { taskQueue: env.taskQueue, startedBy: 'it-starter' });
      await drive(started.workflowId, stopWriter);
      report = await within('the rollback', endedReport(env, started.workflowId));
      expect(agreement(await migrationViews(env, idOf(p), 'rolled-back', started.workflowId))).toEqual(everyViewSays('rolled-back', true));
    } finally {
      await stopWriter();
    }
    expect({ status: report.status, restored: report.rollback?.restored }).toEqual({ status: 'rolled-back', restored: true });
    expect(await targetChecksums(env.config.databases.targetUrl!)).toEqual(before);
    // The slot is gone with the rollback: the source keeps no WAL for it.
    expect(await sql(env.adminUrl, 'select slot_name from pg_replication_slots where slot_name = $1', [p.sync!.slot])).toEqual([]);
  }

  it('during a sync round', async () => {
    const hold = holds.arm((type, arg) => type === 'captureChanges' && Number(arg.round) >= 2);
    await syncCell('round', async (wf) => {
      await within('a sync round', hold.reached);
      await requestRollback(env.config, wf, 'it-operator', 'matrix: during a sync round');
      await sleep(1_500);
      hold.release();
    });
  });

  it("during the cutover's final step", async () => {
    const hold = holds.arm((type) => type === 'verifyTail');
    await syncCell('cutover', async (wf, stopWriter) => {
      await waitForReport(env, wf, 'the first sync round', (r) => (r.sync?.rounds ?? 0) >= 1, 240_000);
      // The source frozen: the final delta is applied and the final verification starts.
      await stopWriter();
      await requestCutover(env.config, wf, 'it-operator', 'matrix');
      await within('the final verification', hold.reached);
      await requestRollback(env.config, wf, 'it-operator', 'matrix: during the cutover');
      await sleep(1_500);
      hold.release();
    });
  });
});
