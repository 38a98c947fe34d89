import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seedLms } from '../../demo/lms/seed';
import { connectClient } from '../../src/clients/temporal';
import { startMigration, workflowIdOf } from '../../src/migration-client';
import { migrationId as idOf } from '../../src/plan/hash';
import { loadPlanFile } from '../../src/plan/load';
import type { Plan } from '../../src/plan/types';
import { cli, CliResult, cliEnv, isolated, Isolated, ledgerRecords, ownerUrl, planFor, removeStaged, ROOT, sleep, spawnWorker, sql, waitFor, WorkerProcess } from './helpers';
import { insertedKeysOf } from '../../src/core/ledger-record';
import { peopleRows, seedPreexistingPeople, targetChecksums } from './target-state';
import { findValues, seededPersonalValues, underEncryption } from './under-encryption';

/**
 * Proofs that can fail: what an operator is promised about cancel-then-start, a refused gate,
 * `protect: drop` inside JSON documents, and the personal-data search itself (that it finds
 * what a plan leaves in clear).
 */

/** The users plan (examples/lms-users.plan.yaml) under its own name, with settings and an optional gate, as a file. */
function usersPlanFile(dir: string, name: string, settings: { batch: number; throttle: number }, gate?: { distinctApprover: boolean }): { file: string; migrationId: string } {
  const yaml = readFileSync(join(ROOT, 'examples', 'lms-users.plan.yaml'), 'utf8')
    .replace(/^name: .*$/m, `name: ${name}-${Date.now().toString(36)}`)
    .replace(/batch_size: \d+/, `batch_size: ${settings.batch}`)
    .replace(/throttle_rows_per_second: \d+/, `throttle_rows_per_second: ${settings.throttle}`);
  const file = join(dir, `${name}.plan.yaml`);
  writeFileSync(file, gate ? `${yaml}\nphases:\n  - name: people\n    entities: [users]\n    gate: { distinct_approver: ${gate.distinctApprover} }\n` : yaml);
  return { file, migrationId: idOf(loadPlanFile(file)) };
}

/** Waits until `status --watch` sees the migration end; its exit code and last frame. */
async function finalStatus(run: (args: string[], timeoutMs?: number) => Promise<CliResult>, migrationId: string) {
  const r = await run(['status', migrationId, '--watch', '--interval', '1', '--json'], 300_000);
  const frames = r.stdout.trim().split('\n');
  return { code: r.code, view: JSON.parse(frames[frames.length - 1]!) };
}

/** Workflows of the migration (itself, entity runs, partitions) still running. */
async function runningUnder(env: Isolated, migrationId: string): Promise<string[]> {
  const { client, connection } = await connectClient(env.config);
  try {
    const ids: string[] = [];
    for await (const w of client.workflow.list({ query: `RootWorkflowId = '${workflowIdOf(migrationId)}' AND ExecutionStatus = 'Running'` })) ids.push(w.workflowId);
    return ids;
  } finally {
    await connection.close();
  }
}

const count = async (url: string, query: string, params: unknown[] = []) => Number((await sql<{ n: string }>(url, query, params))[0]!.n);

describe('cancel, then start the same plan again', () => {
  let env: Isolated;
  let worker: WorkerProcess;
  let dir: string;
  const migrations: string[] = [];
  const run = (args: string[], timeoutMs?: number) => cli(args, cliEnv(env), timeoutMs);

  beforeAll(async () => {
    env = await isolated('cancel');
    worker = await spawnWorker(env, { CUTOVER_METRICS_ADDRESS: 'off' });
    dir = mkdtempSync(join(tmpdir(), 'cutover-cancel-'));
  });

  afterAll(async () => {
    await worker?.kill();
    for (const id of migrations) await removeStaged(env, id);
    await env?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('stops without undoing; the second start resumes: every row exactly once, reconciled clean, the rows loaded before the cancel unchanged', async () => {
    const USERS = 4_000;
    await seedLms({ sourceUrl: ownerUrl(env), targetUrl: env.config.databases.targetUrl, users: USERS, seed: 31 });
    // Throttled (300 rows/s, batches of 200) so that there is time to cancel in the middle.
    const { file, migrationId } = usersPlanFile(dir, 'cancel', { batch: 200, throttle: 300 });
    migrations.push(migrationId);
    const tgt = env.config.databases.targetUrl!;
    const people = () => count(tgt, 'select count(*) as n from people');

    expect((await run(['start', file])).code).toBe(0);
    await waitFor('the first loaded batches', async () => (await people()) >= 600);
    const cancelled = await run(['cancel', migrationId, '--as', 'it-operator', '--reason', 'maintenance window over']);
    expect(cancelled.code).toBe(0);
    expect(cancelled.stdout).toContain(`cancel requested for ${workflowIdOf(migrationId)}`);

    // It stops: the workflow and its entity run end cancelled, nothing is undone, the count settles below the total.
    await waitFor('the migration and its entity run to end', async () => (await runningUnder(env, migrationId)).length === 0, 60_000);
    const status = await run(['status', migrationId]);
    expect(status.stdout).toContain('cancelled');
    let loadedBefore = await people();
    await waitFor('loads still in flight to settle', async () => {
      await sleep(3000);
      const now = await people();
      const settled = now === loadedBefore;
      loadedBefore = now;
      return settled;
    });
    expect(loadedBefore).toBeGreaterThanOrEqual(600);
    expect(loadedBefore).toBeLessThan(USERS);
    expect(loadedBefore % 200).toBe(0); // whole batches only: a load is one transaction
    const preCancel = await sql<{ legacy_user_id: number; x: string }>(tgt, 'select legacy_user_id, md5(p::text) as x from people p order by legacy_user_id');

    // Started again: the same migration, resumed. Batches done before the cancel are recognised, the rest load.
    const again = await run(['start', file, '--wait']);
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`migration ${migrationId}: completed, every batch reconciled clean`);
    expect(again.stdout).toContain(
      `users: ${USERS} extracted, ${USERS - loadedBefore} inserted, 0 updated, ${loadedBefore} unchanged, 0 quarantined; reconcile ${USERS}/${USERS} found, 0 missing, 0 mismatched (20/20 batches)`,
    );

    // Exactly the source's users, each once; rows loaded before the cancel untouched since.
    expect(await count(tgt, 'select count(*) as n from people')).toBe(USERS);
    expect(await count(tgt, 'select count(distinct legacy_user_id) as n from people')).toBe(USERS);
    const sourceIds = (await sql<{ id: number }>(ownerUrl(env), 'select user_id as id from legacy_users order by 1')).map((r) => r.id);
    expect((await sql<{ id: number }>(tgt, 'select legacy_user_id as id from people order by 1')).map((r) => r.id)).toEqual(sourceIds);
    const now = new Map((await sql<{ legacy_user_id: number; x: string }>(tgt, 'select legacy_user_id, md5(p::text) as x from people p')).map((r) => [r.legacy_user_id, r.x]));
    expect(preCancel.filter((r) => now.get(r.legacy_user_id) !== r.x)).toEqual([]);
    // The ledger: each row inserted once, by this migration, and none changed.
    const records = await ledgerRecords(tgt);
    const inserted = records.flatMap((r) => insertedKeysOf(r));
    expect(inserted.length).toBe(USERS);
    expect(new Set(inserted).size).toBe(USERS);
    expect(records.reduce((n, r) => n + r.updated_count, 0)).toBe(0);

    const audit = await run(['audit', 'log', migrationId]);
    expect(audit.stdout).toContain('cancel-requested');
    expect(audit.stdout.match(/\bstarted\b/g)?.length).toBe(2);
    expect(audit.stdout).not.toContain('rollback-started');
  });
});

describe('approve --reject at a gate', () => {
  let env: Isolated;
  let worker: WorkerProcess;
  let dir: string;
  const migrations: string[] = [];
  const run = (args: string[], timeoutMs?: number) => cli(args, cliEnv(env), timeoutMs);

  beforeAll(async () => {
    env = await isolated('reject');
    worker = await spawnWorker(env, { CUTOVER_METRICS_ADDRESS: 'off' });
    dir = mkdtempSync(join(tmpdir(), 'cutover-reject-'));
  });

  afterAll(async () => {
    await worker?.kill();
    for (const id of migrations) await removeStaged(env, id);
    await env?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('rolls the migration back: the target as before (updated rows restored), status, report and audit say who refused, exit codes 0 then 1', async () => {
    await seedLms({ sourceUrl: ownerUrl(env), targetUrl: env.config.databases.targetUrl, users: 2_000, seed: 32 });
    const tgt = env.config.databases.targetUrl!;
    const pre = await seedPreexistingPeople(tgt, Array.from({ length: 20 }, (_, i) => 7 + i * 97), Array.from({ length: 10 }, (_, i) => 800_001 + i));
    const before = await targetChecksums(tgt);
    const preImages = await peopleRows(tgt, [...pre.updated, ...pre.untouched]);
    const { file, migrationId } = usersPlanFile(dir, 'reject', { batch: 500, throttle: 0 }, { distinctApprover: true });
    migrations.push(migrationId);

    expect((await run(['start', file, '--started-by', 'it-starter'])).code).toBe(0);
    await waitFor('the gate', async () => (await run(['status', migrationId])).stdout.includes('awaiting-approval'));
    expect(await count(tgt, 'select count(*) as n from people')).toBe(2_000 + 10);
    expect(await count(tgt, "select count(*) as n from people where source_system = 'old-lms'")).toBe(10);

    const rejected = await run(['approve', migrationId, 'people', '--reject', '--as', 'it-reviewer']);
    expect(rejected.stderr).toBe('');
    expect(rejected.code).toBe(0);
    expect(rejected.stdout).toMatch(/^phase people: rejected by it-reviewer at \d{4}-\d\d-\d\dT[\d:.]+Z\n$/);

    const { code, view } = await finalStatus(run, migrationId);
    expect(code).toBe(1);
    expect(view.status).toBe('rolled-back');
    expect(view.failure).toBe('RolledBack: rolled back (target restored, checksums match): GateRefused: the gate of phase people was refused by it-reviewer');
    expect(view.report.approvals).toEqual([expect.objectContaining({ phase: 'people', approver: 'it-reviewer', decision: 'reject' })]);
    expect(view.report.rollback).toMatchObject({ restored: true, reason: 'GateRefused: the gate of phase people was refused by it-reviewer' });

    // The target, independently: every table as before, the overwritten rows back to their pre-images.
    expect(await targetChecksums(tgt)).toEqual(before);
    expect(await peopleRows(tgt, [...pre.updated, ...pre.untouched])).toEqual(preImages);
    expect(await count(env.config.databases.controlUrl!, 'select count(*) as n from cutover.vault where created_by = $1', [migrationId])).toBe(0);

    // What an operator reads afterwards.
    const status = await run(['status', migrationId]);
    expect(status.code).toBe(1);
    expect(status.stdout).toContain('rolled-back');
    expect(status.stdout).toContain('phase people: rejected by it-reviewer');
    expect(status.stdout).toContain('rollback: target restored (checksums match) — GateRefused: the gate of phase people was refused by it-reviewer');
    const report = await run(['report', migrationId, '--out', dir]);
    expect(report.code).toBe(0);
    const md = readFileSync(join(dir, `${migrationId}.md`), 'utf8');
    expect(md).toContain('phase people: reject by it-reviewer');
    expect(md).toContain('Reason: GateRefused: the gate of phase people was refused by it-reviewer');
    expect(readFileSync(join(dir, `${migrationId}.html`), 'utf8')).toContain('refused by it-reviewer');
    const audit = await run(['audit', 'log', migrationId]);
    expect(audit.stdout).toMatch(/rejected.*it-reviewer|it-reviewer.*rejected/);
    expect(audit.stdout).toContain('rollback-started');
    expect(audit.stdout).toContain('rolled-back');

    // The gate was decided: deciding it again is refused.
    const late = await run(['approve', migrationId, 'people', '--as', 'it-reviewer']);
    expect(late.code).not.toBe(0);
  });
});

describe('protect: drop on a JSON column with pii_paths', () => {
  let env: Isolated;
  let worker: WorkerProcess;
  /** The LMS plan's xAPI statements alone, their personal paths dropped. */
  const plan: Plan = (() => {
    const lms = loadPlanFile(join(ROOT, 'examples', 'lms.plan.yaml'));
    const xapi = lms.entities.find((e) => e.name === 'xapi_statements')!;
    const entity = { ...xapi, batchSize: 1_000, columns: xapi.columns.map((c) => (c.piiPaths ? { ...c, protect: 'drop' as const } : c)) };
    return { ...lms, name: `it-drop-${Date.now().toString(36)}`, entities: [entity], phases: [{ name: 'history', entities: [entity.name] }] };
  })();
  const migrationId = idOf(plan);

  beforeAll(async () => {
    env = await isolated('drop');
    worker = await spawnWorker(env, { CUTOVER_METRICS_ADDRESS: 'off' });
  });

  afterAll(async () => {
    await worker?.kill();
    await removeStaged(env, migrationId);
    await env?.cleanup();
  });

  it('the target documents have null at actor.mbox and actor.name, everything else intact; no vault entry; nothing personal staged', async () => {
    expect(plan.entities[0]!.columns.find((c) => c.name === 'statement')).toMatchObject({ piiPaths: [{ path: ['actor', 'mbox'] }, { path: ['actor', 'name'] }], protect: 'drop' });
    const seeded = await seedLms({ sourceUrl: ownerUrl(env), targetUrl: env.config.databases.targetUrl, users: 300, full: true, seed: 33 });
    expect(seeded.statements).toBe(3_000);
    const started = await startMigration(env.config, plan, { taskQueue: env.taskQueue, wait: true });
    expect(started.report).toMatchObject({ status: 'completed', clean: true });
    expect(started.report!.entities).toEqual([expect.objectContaining({ entity: 'xapi_statements', extracted: 3_000, inserted: 3_000, quarantined: 0 })]);

    // Each target document is its source document with null at the two paths: nothing else changed, nothing added.
    const source = await sql<{ id: number; doc: string }>(ownerUrl(env), 'select statement_id as id, statement as doc from legacy_xapi order by 1');
    const target = await sql<{ id: number; doc: Record<string, unknown> }>(env.config.databases.targetUrl!, 'select legacy_statement_id as id, statement as doc from xapi_statements order by 1');
    expect(target.map((t) => t.id)).toEqual(source.map((s) => s.id));
    let withPersonal = 0;
    const wrong: unknown[] = [];
    source.forEach((s, i) => {
      const expected = JSON.parse(s.doc) as { actor: Record<string, unknown> };
      if (typeof expected.actor.mbox === 'string' && typeof expected.actor.name === 'string') withPersonal++;
      expected.actor = { ...expected.actor, mbox: null, name: null };
      if (JSON.stringify(sortKeys(target[i]!.doc)) !== JSON.stringify(sortKeys(expected))) wrong.push({ id: s.id, target: target[i]!.doc, expected });
    });
    expect(withPersonal).toBe(3_000);
    expect(wrong.slice(0, 3)).toEqual([]);

    // Nothing went to the vault (a dropped value has no token to keep), and the staged rows already held null.
    expect(await count(env.config.databases.controlUrl!, 'select count(*) as n from cutover.vault')).toBe(0);
    const seen = await underEncryption(env.config, migrationId);
    const docs = seen.staged.flatMap((o) => (o.rows ? o.rows.rows.map((r) => r[o.rows!.columns.indexOf('statement')] as { actor: Record<string, unknown> }) : []));
    expect(docs).toHaveLength(3_000);
    expect(docs.filter((d) => d.actor.mbox !== null || d.actor.name !== null || d.actor.objectType !== 'Agent')).toEqual([]);
    const values = await seededPersonalValues(ownerUrl(env));
    expect(findValues([...seen.plaintexts, { where: 'worker log', text: worker.output() }], values).slice(0, 10)).toEqual([]);
  });
});

/** A JSON value with its object keys sorted (jsonb does not keep the source's key order). */
function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]));
  return v;
}

describe('the personal-data search under the encryption', () => {
  let env: Isolated;
  let worker: WorkerProcess;
  const migrations: string[] = [];

  beforeAll(async () => {
    env = await isolated('leak');
    await seedLms({ sourceUrl: ownerUrl(env), targetUrl: env.config.databases.targetUrl, users: 2_000, seed: 34 });
    worker = await spawnWorker(env, { CUTOVER_METRICS_ADDRESS: 'off' });
  });

  afterAll(async () => {
    await worker?.kill();
    for (const id of migrations) await removeStaged(env, id);
    await env?.cleanup();
  });

  it('finds what a plan leaves in clear: every email of an untokenized column in the staged rows, a seeded name in the decoded history, and neither in the bytes as stored', async () => {
    const [first] = await sql<{ full_name: string }>(ownerUrl(env), 'select full_name from legacy_users where user_id = 1');
    const base = planFor(`it-leak-${Date.now().toString(36)}`, { batchSize: 1_000 });
    // The defect to catch: `email` without `pii:` travels as it is. And a seeded name as a constant, which the plan (the workflow's input) carries into history.
    const plan: Plan = {
      ...base,
      entities: base.entities.map((e) => ({
        ...e,
        columns: e.columns.map((c) => {
          if (c.name === 'email') return { name: c.name, from: c.from, transform: c.transform };
          if (c.name === 'source_system') return { ...c, constant: first!.full_name };
          return c;
        }),
      })),
    };
    migrations.push(idOf(plan));
    const started = await startMigration(env.config, plan, { taskQueue: env.taskQueue, wait: true });
    expect(started.report).toMatchObject({ status: 'completed', clean: true });

    const values = await seededPersonalValues(ownerUrl(env));
    const seen = await underEncryption(env.config, idOf(plan));
    const found = findValues(seen.plaintexts, values);
    const emails = (await sql<{ email: string }>(ownerUrl(env), 'select lower(email) as email from legacy_users')).map((r) => r.email);
    const inStaged = new Set(found.filter((f) => f.where.startsWith('staged ')).map((f) => f.value));
    for (const e of emails) expect(inStaged.has(e)).toBe(true);
    // The constant itself, and the seeded values inside it (its words, another person's name that is part of it).
    const nameWords = findValues([{ where: 'constant', text: first!.full_name }], values).map((f) => f.value);
    expect(nameWords).toContain(first!.full_name);
    // Nothing else: names, logins and phones are still tokens.
    expect([...inStaged].filter((v) => !emails.includes(v) && !nameWords.includes(v))).toEqual([]);
    const inHistory = new Set(found.filter((f) => f.where.startsWith('history ')).map((f) => f.value));
    expect(inHistory.has(first!.full_name)).toBe(true);
    expect([...inHistory].filter((v) => !nameWords.includes(v))).toEqual([]);
    // As stored, all of it is ciphertext: a search there (what the test used to do) finds nothing.
    expect(findValues(seen.raw, values)).toEqual([]);
  });
});
