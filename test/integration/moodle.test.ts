import { join } from 'node:path';
import { seedMoodle, MoodleSeedResult } from '../../demo/moodle/seed';
import { decideGate, requestRollback, startMigration } from '../../src/migration-client';
import { rollbackMigration } from '../../src/rollback-client';
import { migrationId as idOf } from '../../src/plan/hash';
import { loadPlanFile } from '../../src/plan/load';
import type { Plan } from '../../src/plan/types';
import { endedReport, isolated, Isolated, ownerUrl, progressOf, removeStaged, ROOT, spawnWorker, sql, waitFor, WorkerProcess } from './helpers';
import { targetChecksums } from './target-state';
import { assessIn, forecastCounts, quarantineCounts } from './assess-fixture';

/**
 * The second demo: a Moodle-shaped source (demo/moodle) into a modern target with enforced
 * keys, by examples/moodle.plan.yaml and no view. The seed computes, row by row, what the plan
 * must load, skip and quarantine (by source key and reason); the migration must agree exactly.
 */
describe('the Moodle-shaped demo, migrated by one plan without views', () => {
  let env: Isolated;
  let worker: WorkerProcess;
  let seeded: MoodleSeedResult;
  let before: Record<string, string>;
  const ids: string[] = [];
  const planNamed = (name: string, change: (p: Plan) => Plan = (p) => p): Plan => {
    const plan = change({ ...loadPlanFile(join(ROOT, 'examples', 'moodle.plan.yaml')), name });
    ids.push(idOf(plan));
    return plan;
  };

  beforeAll(async () => {
    env = await isolated('mdl');
    seeded = await seedMoodle({ sourceUrl: ownerUrl(env), targetUrl: env.config.databases.targetUrl, users: 500, seed: 42 });
    before = await targetChecksums(env.config.databases.targetUrl!);
    worker = await spawnWorker(env);
  });

  afterAll(async () => {
    await worker?.kill();
    for (const id of ids) await removeStaged(env, id);
    await env?.cleanup();
  });

  const atGate = (workflowId: string) =>
    waitFor(`${workflowId} at the gate of people`, async () => ((await progressOf(env, workflowId))?.status === 'awaiting-approval' ? true : undefined), 180_000, () => worker.output().slice(-4000));

  it('rolled back mid-run (at the gate), and after an abort: every target table as before, the pilot rows too', async () => {
    const plan = planNamed(`mdl-rb-${Date.now().toString(36)}`);
    const started = await startMigration(env.config, plan, { taskQueue: env.taskQueue, startedBy: 'it-starter' });
    await atGate(started.workflowId);
    await requestRollback(env.config, started.workflowId, 'it-operator', 'rehearsal');
    expect((await endedReport(env, started.workflowId)).rollback?.restored).toBe(true);
    expect(await targetChecksums(env.config.databases.targetUrl!)).toEqual(before);

    // Past a tight abort ratio (learners quarantine about 1 %), it rolls back by itself.
    const strict = planNamed(`mdl-abort-${Date.now().toString(36)}`, (p) => ({ ...p, settings: { ...p.settings, abort: { maxQuarantineRatio: 0.001 } } }));
    const aborted = await startMigration(env.config, strict, { taskQueue: env.taskQueue, startedBy: 'it-starter', wait: true }).catch((err) => err);
    const report = await endedReport(env, aborted.workflowId ?? `cutover-${idOf(strict)}`);
    expect(report.status).toBe('rolled-back');
    expect(report.rollback?.reason).toMatch(/quarantin/);
    expect(report.rollback?.restored).toBe(true);
    expect(await targetChecksums(env.config.databases.targetUrl!)).toEqual(before);
  });

  it('loads every reconcile clean, quarantines exactly the rows the seed says (by key and reason), counts the skipped, and a second run changes nothing', async () => {
    const plan = planNamed(`mdl-${Date.now().toString(36)}`);
    const migrationId = idOf(plan);
    // The assessment's pre-flight, before anything runs, foresees the quarantine the run then makes, entity by entity and reason by reason.
    const forecast = forecastCounts(await assessIn(env, plan));
    const started = await startMigration(env.config, plan, { taskQueue: env.taskQueue, startedBy: 'it-starter' });
    await atGate(started.workflowId);
    await decideGate(env.config, started.workflowId, 'people', 'it-approver');
    const report = await endedReport(env, started.workflowId);
    expect(await quarantineCounts(env, migrationId)).toEqual(forecast);
    expect([report.status, report.clean, report.rollback?.reason]).toEqual(['completed', true, undefined]);
    expect(report.phases.map((p) => [p.phase, p.clean])).toEqual(plan.phases.map((p) => [p.name, true]));

    const quarantined = await sql<{ entity: string; source_key: string; reason: string }>(env.config.databases.controlUrl!, 'select entity, source_key, reason from cutover.quarantine where migration_id = $1', [migrationId]);
    for (const e of report.entities) {
      const want = seeded.expected[e.entity as keyof MoodleSeedResult['expected']];
      const got = Object.fromEntries(quarantined.filter((q) => q.entity === e.entity).map((q) => [q.source_key, q.reason]));
      expect([e.entity, got]).toEqual([e.entity, want.quarantined]);
      expect([e.entity, e.inserted, e.quarantined]).toEqual([e.entity, want.rows, Object.keys(want.quarantined).length]);
      const skipped = Object.fromEntries(Object.entries(want.skipped).filter(([, n]) => n > 0));
      expect([e.entity, Object.fromEntries(Object.entries(e.skipped ?? {}).filter(([, n]) => n > 0))]).toEqual([e.entity, skipped]);
      expect([e.entity, e.reconcile]).toEqual([e.entity, expect.objectContaining({ expected: want.rows, found: want.rows, missing: 0, mismatched: 0, duplicated: 0 })]);
    }

    const again = await startMigration(env.config, plan, { taskQueue: env.taskQueue, startedBy: 'it-starter' });
    await atGate(again.workflowId);
    await decideGate(env.config, again.workflowId, 'people', 'it-approver');
    const second = await endedReport(env, again.workflowId);
    expect(second.status).toBe('completed');
    expect(second.entities.map((e) => [e.entity, e.inserted, e.updated])).toEqual(second.entities.map((e) => [e.entity, 0, 0]));

    // After completion, the rollback window is still open: undone from the ledger, every table as before
    // the first run (the second run's before-checksums are the first run's: it began on the first run's rows).
    const undone = await rollbackMigration(env.config, started.workflowId, 'it-operator', 'drill after cutover', { wait: true });
    expect(undone).toMatchObject({ kind: 'after-completion', execution: 'COMPLETED', report: { status: 'rolled-back', rollback: { restored: true } } });
    expect(await targetChecksums(env.config.databases.targetUrl!)).toEqual(before);
  });
});
