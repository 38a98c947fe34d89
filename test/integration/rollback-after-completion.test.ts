import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { seedLms } from '../../demo/lms/seed';
import { migrationId as idOf } from '../../src/plan/hash';
import { loadPlanFile } from '../../src/plan/load';
import { cli, CliResult, cliEnv, isolated, Isolated, ownerUrl, removeStaged, ROOT, spawnWorker, sql, waitFor, WorkerProcess } from './helpers';
import { peopleRows, seedPreexistingPeople, targetChecksums } from './target-state';

/**
 * Cutting over is not the end of the risk window: a completed migration is rolled back through
 * the CLI from the ledger the target keeps, until an operator closes its rollback window.
 */
describe('rollback after completion', () => {
  let env: Isolated;
  let worker: WorkerProcess;
  let dbEnv: NodeJS.ProcessEnv;
  let dir: string;
  const migrations: string[] = [];

  const run = (args: string[], timeoutMs?: number): Promise<CliResult> => cli(args, dbEnv, timeoutMs);
  const tgt = () => env.config.databases.targetUrl!;
  const count = async (url: string, text: string, params: unknown[] = []) => Number((await sql<{ n: string }>(url, text, params))[0]!.n);
  const auditOf = (migrationId: string) =>
    sql<{ action: string; actor: string; details: Record<string, unknown> }>(env.config.databases.controlUrl!, 'select action, actor, details from cutover.audit where migration_id = $1 order by seq', [migrationId]);

  /**
   * A plan file of its own (its own migration id): the whole-LMS example cut to org units and
   * users (phase people), then courses and enrollments (phase learning), which reference both;
   * or the users plan alone.
   */
  function planFile(name: string, options: { lms: boolean; gate?: boolean }): { file: string; migrationId: string } {
    const doc = parse(readFileSync(join(ROOT, 'examples', options.lms ? 'lms.plan.yaml' : 'lms-users.plan.yaml'), 'utf8'));
    doc.name = `${name}-${Date.now().toString(36)}`;
    doc.settings.batch_size = 1000;
    if (options.lms) {
      const keep = ['org_units', 'users', 'courses', 'enrollments'];
      for (const e of Object.keys(doc.entities)) if (!keep.includes(e)) delete doc.entities[e];
      doc.entities.enrollments.batch_size = 2000;
      doc.phases = [
        { name: 'people', entities: ['org_units', 'users'], ...(options.gate ? { gate: { distinct_approver: true } } : {}) },
        { name: 'learning', entities: ['courses', 'enrollments'] },
      ];
    }
    const file = join(dir, `${name}.plan.yaml`);
    writeFileSync(file, stringify(doc));
    const migrationId = idOf(loadPlanFile(file));
    migrations.push(migrationId);
    return { file, migrationId };
  }

  beforeAll(async () => {
    env = await isolated('after');
    dbEnv = cliEnv(env);
    worker = await spawnWorker(env, { CUTOVER_METRICS_ADDRESS: 'off' });
    dir = mkdtempSync(join(tmpdir(), 'cutover-after-'));
  });

  afterAll(async () => {
    await worker?.kill();
    for (const id of migrations) await removeStaged(env, id);
    await env?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a completed migration is rolled back through the CLI: every target table as before, updated rows back to their pre-images, status and report say so', async () => {
    await seedLms({ sourceUrl: ownerUrl(env), targetUrl: tgt(), users: 2_000, full: true, seed: 41, resetTarget: true });
    // The new LMS was not empty: 40 people the migration overwrites, 25 it must not touch, their org units.
    const pre = await seedPreexistingPeople(tgt(), Array.from({ length: 40 }, (_, i) => 1 + i * 50), Array.from({ length: 25 }, (_, i) => 500_001 + i));
    const before = await targetChecksums(tgt());
    expect(before.people).toMatch(/^65 rows/);
    expect(before.org_units).toMatch(/^2 rows/);
    const preImages = await peopleRows(tgt(), pre.updated);
    const untouched = await peopleRows(tgt(), pre.untouched);

    // `start --wait`: the id and the Web UI link at once, the gate while waiting, the summary at the end.
    const { file, migrationId } = planFile('after', { lms: true, gate: true });
    const gateLine = `waiting at the gate of phase people: approve with \`cutover approve ${migrationId} people\``;
    // As an operator would: approve once `start --wait` says it waits (it polls every 3 s; approving
    // as soon as `status` shows the gate could end the wait before it looked).
    const live = { stdout: '' };
    const started = cli(['start', file, '--wait'], dbEnv, 240_000, live);
    await waitFor('start --wait to announce the gate', async () => live.stdout.includes(gateLine), 180_000, () => `${live.stdout}\n${worker.output().slice(-3000)}`);
    expect((await run(['approve', migrationId, 'people', '--as', 'it-approver'])).code).toBe(0);
    const start = await started;
    expect({ code: start.code, stderr: start.stderr }).toEqual({ code: 0, stderr: '' });
    const out = start.stdout;
    const summary = `migration ${migrationId}: completed, every batch reconciled clean`;
    expect(out.indexOf(`migration id: ${migrationId}`)).toBe(0);
    expect(out.indexOf(`Web UI:       http://`)).toBeGreaterThan(0);
    expect(out.indexOf(`Web UI:       http://`)).toBeLessThan(out.indexOf(gateLine));
    expect(out.indexOf(gateLine)).toBeLessThan(out.indexOf(summary));
    expect(out.split(gateLine)).toHaveLength(2); // said once
    expect(out).toContain('enrollments: 8000 extracted, 8000 inserted, 0 updated, 0 unchanged, 0 quarantined');
    expect(out).toContain('users: 2000 extracted, 1960 inserted, 40 updated, 0 unchanged, 0 quarantined');
    expect(await count(tgt(), 'select count(*) as n from people')).toBe(2_025);

    // Completed: the window is open.
    const open = await run(['status', migrationId]);
    expect(open.code).toBe(0);
    expect(open.stdout).toContain(`rollback window: open — \`cutover rollback ${migrationId}\` undoes it`);

    const rolled = await run(['rollback', migrationId, '--as', 'it-operator', '--reason', 'drill after cutover'], 240_000);
    expect({ code: rolled.code, stderr: rolled.stderr }).toEqual({ code: 0, stderr: '' });
    expect(rolled.stdout).toContain(`rollback after completion of ${migrationId} started: cutover-${migrationId}/rollback`);
    expect(rolled.stdout).toContain(`migration ${migrationId}: rolled back after completion (target restored)`);
    // Children before parents: the reverse of the load order; then the vault and the staged objects, in the running migration's order (patch after-end-undo-order).
    const steps = [...rolled.stdout.matchAll(/^ {2}(close the load fence|unload \w+|delete staged objects|purge vault entries):/gm)].map((m) => m[1]);
    expect(steps).toEqual(['close the load fence', 'unload enrollments', 'unload courses', 'unload users', 'unload org_units', 'purge vault entries', 'delete staged objects']);
    expect(rolled.stdout).toMatch(/unload users: 1960 deleted, 40 restored/);

    // Independently of the workflow's own checksums: every table of the target, row for row.
    expect(await targetChecksums(tgt())).toEqual(before);
    expect(await peopleRows(tgt(), pre.updated)).toEqual(preImages);
    expect(await peopleRows(tgt(), pre.untouched)).toEqual(untouched);
    expect(await count(env.config.databases.controlUrl!, 'select count(*) as n from cutover.vault where created_by = $1', [migrationId])).toBe(0);

    const status = await run(['status', migrationId]);
    expect(status.code).toBe(1);
    expect(status.stdout).toContain(`migration ${migrationId} (plan `);
    expect(status.stdout).toContain('): rolled-back');
    expect(status.stdout).toContain('rollback: target restored (checksums match) — rollback after completion requested by it-operator: drill after cutover');
    const json = JSON.parse((await run(['status', migrationId, '--json'])).stdout);
    expect(json).toMatchObject({ execution: 'COMPLETED', status: 'rolled-back', report: { status: 'rolled-back', rollback: { restored: true, afterCompletion: true, requestedBy: 'it-operator' } } });

    // Who asked, in the audit chain, after the completion.
    const events = await auditOf(migrationId);
    const actions = events.map((e) => e.action);
    expect(actions.slice(actions.indexOf('completed'))).toEqual(['completed', 'rollback-started', 'rolled-back']);
    expect(events.filter((e) => e.action.startsWith('roll')).map((e) => [e.action, e.actor, e.details.afterCompletion])).toEqual([
      ['rollback-started', 'it-operator', true],
      ['rolled-back', 'it-operator', true],
    ]);

    const report = await run(['report', migrationId, '--out', dir]);
    expect(report.code).toBe(0);
    const md = readFileSync(join(dir, `${migrationId}.md`), 'utf8');
    expect(md).toContain(`Status: **rolled-back** — rolled back after completion (target restored).`);
    expect(md).not.toContain('reconciled clean');
    const html = readFileSync(join(dir, `${migrationId}.html`), 'utf8');
    expect(html).toContain('<p class="headline" data-testid="headline">rolled back after completion (target restored)</p>');
    expect(html).toContain('drill after cutover');
    expect(JSON.parse(readFileSync(join(dir, `${migrationId}.json`), 'utf8')).timings.map((t: { label: string }) => t.label)).toEqual(
      expect.arrayContaining(['completed', 'rollback after completion started (it-operator)', 'rolled back after completion, target restored']),
    );

    // Once is enough: a second rollback is refused, and nothing changes.
    const again = await run(['rollback', migrationId, '--as', 'it-operator']);
    expect({ code: again.code, stderr: again.stderr.trim() }).toEqual({
      code: 1,
      stderr: `cutover rollback: refused: migration ${migrationId} was already rolled back after completion (target restored); \`cutover status ${migrationId}\` shows it`,
    });
    expect(await targetChecksums(tgt())).toEqual(before);
  });

  it('where the new system used the migrated rows, it blocks with one line; then it never claims the target restored when it changed since', async () => {
    await seedLms({ sourceUrl: ownerUrl(env), targetUrl: tgt(), users: 1_000, seed: 42, resetTarget: true });
    await sql(tgt(), 'create table it_badges (id serial primary key, person_id bigint not null references people (id))');
    const { file, migrationId } = planFile('changed', { lms: false });
    const done = await run(['start', file, '--wait'], 180_000);
    expect(done.code).toBe(0);
    // The new LMS is in use: a person of its own, and badges for three migrated people.
    await sql(tgt(), "insert into people (legacy_user_id, username, given_name, email, status, created_at, source_system) values (900001, 'new-hire', 'New', 'new.hire@new.example.net', 'active', now(), 'new-lms')");
    await sql(tgt(), 'insert into it_badges (person_id) select id from people where legacy_user_id in (1, 2, 3)');

    const blocked = await run(['rollback', migrationId, '--as', 'it-operator', '--reason', 'trial'], 180_000);
    expect(blocked.code).toBe(1);
    expect(blocked.stdout).toMatch(
      new RegExp(
        `^migration ${migrationId}: rollback after completion BLOCKED: rollback of users blocked: 3 row\\(s\\) of public\\.it_badges reference rows this migration inserted into public\\.people \\(foreign key it_badges_person_id_fkey\\); remove or re-point them\\. [\\d,]+ ledger entries of public\\.people are kept; fix it, then \`cutover rollback ${migrationId}\` runs the rest of the rollback$`,
        'm',
      ),
    );
    const status = await run(['status', migrationId]);
    expect(status.stdout).toContain(': rollback-blocked');
    expect(status.stdout).toContain('rollback BLOCKED: rollback of users blocked: 3 row(s) of public.it_badges');

    await sql(tgt(), 'delete from it_badges');
    const resumed = await run(['rollback', migrationId, '--as', 'it-second-operator'], 180_000);
    expect(resumed.stdout).toContain('resumed (it was blocked)');
    // The person the new system created is not the migration's to delete: people differs from before, and it says so.
    expect(resumed.stdout).toContain(`migration ${migrationId}: rolled back after completion — TARGET CHECKSUMS DIFFER (public.people)`);
    expect(resumed.code).toBe(1);
    expect(await sql(tgt(), 'select legacy_user_id from people')).toEqual([{ legacy_user_id: 900001 }]);
    const json = JSON.parse((await run(['status', migrationId, '--json'])).stdout);
    expect(json.report.rollback).toMatchObject({ restored: false, differs: ['public.people'] });
    const actions = (await auditOf(migrationId)).map((e) => `${e.action} ${e.actor}`);
    expect(actions.slice(actions.indexOf('completed cutover'))).toEqual(['completed cutover', 'rollback-started it-operator', 'rollback-blocked cutover', 'rollback-resumed it-second-operator', 'rolled-back it-operator']);
    await sql(tgt(), 'drop table it_badges');
  });

  it('once the window is closed, a rollback is refused with one line naming who closed it and when; the target stays as it is', async () => {
    await seedLms({ sourceUrl: ownerUrl(env), targetUrl: tgt(), users: 1_000, seed: 43, resetTarget: true });
    const { file, migrationId } = planFile('closed', { lms: false });
    expect((await run(['start', file, '--wait'], 180_000)).code).toBe(0);
    const migrated = await targetChecksums(tgt());

    const closed = await run(['close', migrationId, '--as', 'it-closer', '--reason', 'cut over for good']);
    expect({ code: closed.code, stderr: closed.stderr }).toEqual({ code: 0, stderr: '' });
    const at = /closed by it-closer at (\S+):/.exec(closed.stdout)?.[1];
    expect(at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

    const refused = await run(['rollback', migrationId, '--as', 'it-operator']);
    expect({ code: refused.code, stdout: refused.stdout, stderr: refused.stderr.trim() }).toEqual({
      code: 1,
      stdout: '',
      stderr: `cutover rollback: refused: the rollback window of migration ${migrationId} was closed by it-closer at ${at} (cut over for good): it can no longer be rolled back`,
    });
    expect(await targetChecksums(tgt())).toEqual(migrated);

    const status = await run(['status', migrationId]);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain(`rollback window: closed by it-closer at ${at} (cut over for good)`);
    const twice = await run(['close', migrationId, '--as', 'it-closer']);
    expect({ code: twice.code, stderr: twice.stderr.trim() }).toEqual({ code: 1, stderr: `cutover close: refused: the rollback window of migration ${migrationId} was already closed by it-closer at ${at}` });
    const events = await auditOf(migrationId);
    expect(events.filter((e) => e.action === 'rollback-window-closed').map((e) => [e.actor, e.details.reason])).toEqual([['it-closer', 'cut over for good']]);
    expect(events.map((e) => e.action)).not.toContain('rollback-started');
  });

  it('an unknown migration is still "no migration" (exit 4), for rollback and close', async () => {
    for (const command of ['rollback', 'close']) {
      const r = await run([command, 'no-such-migration-0123456789ab']);
      expect({ code: r.code, stderr: r.stderr.trim() }).toEqual({
        code: 4,
        stderr: `cutover ${command}: no migration no-such-migration-0123456789ab: workflow cutover-no-such-migration-0123456789ab is not in namespace default (\`cutover list\` shows the migrations)`,
      });
    }
  });
});
