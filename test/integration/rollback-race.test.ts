import { join } from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { seedLms } from '../../demo/lms/seed';
import { createKmsClient } from '../../src/clients/aws';
import { connectClient } from '../../src/clients/temporal';
import { createDb } from '../../src/clients/postgres';
import { forgetControlSchema } from '../../src/control/schema';
import { createKeyRing } from '../../src/crypto/key-ring-factory';
import { lookupTokens } from '../../src/crypto/vault';
import { requestRollback, startMigration } from '../../src/migration-client';
import { migrationId as idOf } from '../../src/plan/hash';
import { loadPlanFile } from '../../src/plan/load';
import type { Plan } from '../../src/plan/types';
import { targetChecksums } from './target-state';
import { cli, cliEnv, isolated, Isolated, ownerUrl, planFor, progressOf, removeStaged, ROOT, spawnWorker, sql, waitFor, WorkerProcess } from './helpers';

async function outcome(env: Isolated, workflowId: string): Promise<unknown> {
  const { client, connection } = await connectClient(env.config);
  try {
    return await client.workflow.getHandle(workflowId).result().catch((e) => e);
  } finally {
    await connection.close();
  }
}

/** Users from the users plan, and beside them (same level, no reference between) org units. */
function usersAndOrgUnits(name: string, brokenOrgUnits: boolean): Plan {
  const users = planFor(name, { batchSize: 500, parallelism: 4 });
  const lms = loadPlanFile(join(ROOT, 'examples', 'lms.plan.yaml'));
  const org = lms.entities.find((e) => e.name === 'org_units')!;
  // An enum no org code is in: every row is quarantined, so the entity aborts after its first batch.
  const broken = { ...org, columns: org.columns.map((c) => (c.name === 'code' && brokenOrgUnits ? { ...c, transform: { kind: 'enum' as const, map: { 'no-such-code': 'x' } } } : c)) };
  return { ...users, entities: [broken, ...users.entities], phases: [{ name: 'all', entities: ['org_units', 'users'] }] };
}

describe('rollback while a sibling entity is loading', () => {
  let env: Isolated;
  let worker: WorkerProcess;
  const plans: Plan[] = [];

  beforeAll(async () => {
    env = await isolated('race');
    worker = await spawnWorker(env);
  });

  afterAll(async () => {
    await worker?.kill();
    for (const p of plans) await removeStaged(env, idOf(p));
    await env?.cleanup();
  });

  it('stops the sibling, waits for its loads, then restores every table to its checksum; every token left opens', async () => {
    // A target that already holds people (their tokens from an earlier migration sharing the vault).
    await seedLms({ sourceUrl: ownerUrl(env), targetUrl: env.config.databases.targetUrl, users: 1_000, seed: 3 });
    const earlier = planFor(`it-race-earlier-${Date.now().toString(36)}`);
    plans.push(earlier);
    expect((await startMigration(env.config, earlier, { taskQueue: env.taskQueue, wait: true, startedBy: 'it-operator' })).report).toMatchObject({ status: 'completed' });
    // Then a bigger source, whose first thousand people differ: the migration updates those rows.
    await seedLms({ sourceUrl: ownerUrl(env), users: 6_000, seed: 4 });
    // Each insert into people takes 3 s: users' loads are surely in flight when org_units aborts.
    await sql(env.config.databases.targetUrl!, `create or replace function it_slow_load() returns trigger language plpgsql as $$ begin perform pg_sleep(3); return null; end $$`);
    await sql(env.config.databases.targetUrl!, 'create trigger it_slow_load before insert on people for each statement execute function it_slow_load()');
    const before = await targetChecksums(env.config.databases.targetUrl!);

    const plan = usersAndOrgUnits(`it-race-${Date.now().toString(36)}`, true);
    plans.push(plan);
    const started = await startMigration(env.config, plan, { taskQueue: env.taskQueue, startedBy: 'it-operator' });
    const failure = (await outcome(env, started.workflowId)) as WorkflowFailedError;
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    expect(failure.cause?.message).toMatch(/^rolled back \(target restored, checksums match\): .*org_units: 50 of 50 rows quarantined/);
    // Whatever was still running had its chance to commit: nothing may appear later.
    await new Promise((r) => setTimeout(r, 8_000));
    await sql(env.config.databases.targetUrl!, 'drop trigger it_slow_load on people');
    expect(await targetChecksums(env.config.databases.targetUrl!)).toEqual(before);

    // Every batch load the audit chain records came before the rollback started.
    const events = await sql<{ seq: string; action: string }>(env.config.databases.controlUrl!, 'select seq, action from cutover.audit where migration_id = $1 order by seq', [idOf(plan)]);
    const rollbackAt = Number(events.find((e) => e.action === 'rollback-started')!.seq);
    const loads = events.filter((e) => e.action === 'batch-loaded');
    expect(loads.length).toBeGreaterThan(0);
    expect(loads.filter((e) => Number(e.seq) > rollbackAt)).toEqual([]);

    // Every token in the target opens in the vault.
    const tokens = (await sql<{ phone: string }>(env.config.databases.targetUrl!, 'select phone from people where phone is not null')).map((r) => r.phone);
    expect(tokens.length).toBeGreaterThan(0);
    forgetControlSchema();
    const control = createDb(env.config.databases.controlUrl!);
    const kms = createKmsClient(env.config.kms);
    try {
      const opened = await lookupTokens(control, await createKeyRing(env.config, control, kms).get('vault'), tokens);
      expect(opened.size).toBe(new Set(tokens).size);
    } finally {
      kms.destroy();
      await control.destroy();
    }
  });

  it('a rollback the target refuses stops with one line naming the table, the constraint and the rows; `cutover rollback` finishes it once they are gone', async () => {
    await seedLms({ sourceUrl: ownerUrl(env), users: 1_500, seed: 5 });
    await sql(env.config.databases.targetUrl!, 'create table if not exists it_badges (id serial primary key, person_id bigint not null references people (id))');
    const base = usersAndOrgUnits(`it-blocked-${Date.now().toString(36)}`, false);
    const plan: Plan = { ...base, phases: [{ name: 'all', entities: base.entities.map((e) => e.name), gate: { distinctApprover: false } }] };
    plans.push(plan);
    const before = await targetChecksums(env.config.databases.targetUrl!);
    const started = await startMigration(env.config, plan, { taskQueue: env.taskQueue, startedBy: 'it-operator' });
    await waitFor('the gate', async () => (await progressOf(env, started.workflowId))?.status === 'awaiting-approval', 180_000, () => worker.output().slice(-3000));
    // The new LMS is in use: someone gave three of the migrated people a badge.
    await sql(env.config.databases.targetUrl!, 'insert into it_badges (person_id) select id from people where legacy_user_id in (select legacy_user_id from people order by legacy_user_id desc limit 3)');
    await requestRollback(env.config, started.workflowId, 'it-operator', 'trial');

    const blocked = await waitFor('the blocked rollback', async () => {
      const r = await progressOf(env, started.workflowId);
      return r?.status === 'rollback-blocked' ? r : undefined;
    }, 120_000, () => worker.output().slice(-3000));
    expect(blocked.rollback?.blocked).toBe(
      `rollback of users blocked: 3 row(s) of public.it_badges reference rows this migration inserted into public.people (foreign key it_badges_person_id_fkey); remove or re-point them. ` +
        `${blocked.rollback!.blocked!.match(/([\d,]+) ledger entries/)![1]} ledger entries of public.people are kept; fix it, then \`cutover rollback ${idOf(plan)}\` runs the rest of the rollback`,
    );
    const status = await cli(['status', idOf(plan)], cliEnv(env));
    expect(status.stdout).toContain(`rollback BLOCKED: rollback of users blocked: 3 row(s) of public.it_badges`);
    // It stays blocked (no retry can help) until the operator acts.
    await new Promise((r) => setTimeout(r, 3_000));
    expect((await progressOf(env, started.workflowId))?.status).toBe('rollback-blocked');

    await sql(env.config.databases.targetUrl!, 'delete from it_badges');
    const again = await cli(['rollback', idOf(plan), '--reason', 'badges removed'], cliEnv(env));
    expect(again.code).toBe(0);
    const failure = (await outcome(env, started.workflowId)) as WorkflowFailedError;
    expect(failure.cause?.message).toBe('rolled back (target restored, checksums match): rollback requested by it-operator at the gate of all: trial');
    expect(await targetChecksums(env.config.databases.targetUrl!)).toEqual(before);
    const actions = (await sql<{ action: string }>(env.config.databases.controlUrl!, 'select action from cutover.audit where migration_id = $1 order by seq', [idOf(plan)])).map((r) => r.action);
    expect(actions.slice(actions.indexOf('rollback-started'))).toEqual(['rollback-started', 'rollback-blocked', 'rollback-resumed', 'rolled-back']);
    // A request to the ended migration is refused as such (exit 1), not answered "no migration" (exit 4).
    const late = await cli(['approve', idOf(plan), 'all', '--as', 'it-reviewer'], cliEnv(env));
    expect({ code: late.code, stderr: late.stderr.trim() }).toEqual({ code: 1, stderr: `cutover approve: refused: migration ${idOf(plan)} has ended (failed) and takes no more requests; \`cutover status\` shows how it ended` });
  });
});
