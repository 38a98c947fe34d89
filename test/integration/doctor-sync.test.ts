import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CheckResult } from '../../src/doctor/table';
import { cli, cliEnv, isolated, Isolated, logicalPostgresAdminUrl, ownerUrl, sql } from './helpers';

// `cutover doctor --plan` on a source with delta sync: a database of the test's own on the stack's
// logical PostgreSQL (and one on the machine's server, wal_level replica), read through the
// plan's read-only source role, as an operator runs it before starting.

interface DoctorJson {
  ok: boolean;
  failed: string[];
  results: CheckResult[];
}

const dir = mkdtempSync(join(tmpdir(), 'cutover-doctor-sync-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function writePlan(name: string, sync: string): string {
  const file = join(dir, `${name}.plan.yaml`);
  writeFileSync(
    file,
    `version: 1
name: ${name}
source: { url_env: CUTOVER_SOURCE_URL }
target: { url_env: CUTOVER_TARGET_URL }
sync: ${sync}
entities:
  people:
    source: { table: people, key: id, change_column: changed_at }
    target: { table: persons, business_key: [legacy_id] }
    columns: { legacy_id: { from: id } }
  orders:
    source: { table: orders, key: order_no, change_column: changed }
    target: { table: orders, business_key: [legacy_no] }
    columns: { legacy_no: { from: order_no } }
`,
  );
  return file;
}

async function doctor(env: Isolated, plan: string): Promise<{ code: number; json: DoctorJson; rows: Record<string, CheckResult> }> {
  const out = await cli(['doctor', '--plan', plan, '--json'], cliEnv(env));
  const json = JSON.parse(out.stdout) as DoctorJson;
  return { code: out.code, json, rows: Object.fromEntries(json.results.filter((r) => r.component === 'Delta sync').map((r) => [r.check, r])) };
}

const status = (r: CheckResult | undefined) => (r ? (r.ok ? (r.warning ? 'WARN' : 'ok') : 'FAIL') : 'absent');

/** The shop's two tables: people with a primary key, orders with only a unique index on its key (replica identity DEFAULT then carries nothing). */
async function seedShop(env: Isolated): Promise<void> {
  await sql(ownerUrl(env), 'create table people (id int primary key, name text, changed_at timestamptz)');
  await sql(ownerUrl(env), 'create table orders (order_no int not null, person_id int, changed bigint)');
  await sql(ownerUrl(env), 'create unique index orders_order_no_key on orders (order_no)');
  await sql(ownerUrl(env), 'create index orders_changed on orders (changed)');
  await sql(ownerUrl(env), "insert into people values (1, 'Ada', null), (2, 'Grace', now())");
  await sql(ownerUrl(env), 'insert into orders values (10, 1, 1700000000), (11, 2, 1700000100), (12, 2, null)');
}

describe('doctor --plan: a source for logical sync', () => {
  let env: Isolated;
  let plan: string;
  const publication = `pub_${randomBytes(4).toString('hex')}`;
  const slot = `slot_${randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    env = await isolated('doctor_sync', logicalPostgresAdminUrl());
    await seedShop(env);
    // The DBA's publication, forgetting orders; the read-only role without REPLICATION.
    await sql(ownerUrl(env), `create publication ${publication} for table people`);
    plan = writePlan('doctor-sync', `{ mode: logical, publication: ${publication}, slot: ${slot}, max_retained_wal_mb: 64 }`);
  });

  afterAll(async () => {
    if (!env) return;
    await env.cleanup();
  });

  it('reports the table the publication misses, the missing REPLICATION and a replica identity without the key, each with its fix', async () => {
    const { code, json, rows } = await doctor(env, plan);
    expect(code).toBe(1);
    expect(json.failed).toEqual(['Delta sync']);
    expect(status(json.results.find((r) => r.check === 'source role is read-only'))).toBe('ok');
    expect(status(rows['wal_level is logical'])).toBe('ok');
    expect(rows[`publication ${publication}`]).toMatchObject({ ok: false, detail: 'does not publish public.orders', fix: `alter publication ${publication} add table public.orders` });
    expect(rows[`role ${env.names.reader} may replicate`]).toMatchObject({ ok: false, fix: `as a superuser: alter role ${env.names.reader} replication` });
    expect(rows['replica identity includes the key']).toMatchObject({ ok: false, detail: expect.stringContaining('public.orders: default, and no primary key, without order_no') });
    expect(rows['replica identity includes the key']!.fix).toBe("the tables' owner runs: alter table public.orders replica identity using index orders_order_no_key");
    expect(rows[`slot ${slot}`]).toMatchObject({ ok: true, detail: expect.stringMatching(/does not exist yet/) });
    expect(status(rows['a replication slot is free'])).toBe('ok');
  });

  it('turns those rows ok once the DBA has run the fixes, and checks the slot once it exists', async () => {
    await sql(ownerUrl(env), `alter publication ${publication} add table public.orders`);
    await sql(env.adminUrl, `alter role ${env.names.reader} replication`);
    await sql(ownerUrl(env), 'alter table public.orders replica identity using index orders_order_no_key');
    const fixed = await doctor(env, plan);
    expect(fixed.json.failed).toEqual([]);
    expect(fixed.code).toBe(0);
    for (const check of ['wal_level is logical', `role ${env.names.reader} may replicate`, `publication ${publication}`, 'replica identity includes the key', `slot ${slot}`, 'a replication slot is free']) {
      expect([check, status(fixed.rows[check])]).toEqual([check, 'ok']);
    }
    expect(fixed.rows['replica identity includes the key']!.detail).toBe('public.people: primary key (id); public.orders: index orders_order_no_key (order_no)');
    // Transactions: ok, or a warning (other tests' sessions are hidden from this role); never a failure.
    expect(fixed.rows['no transaction open over 5 min']!.ok).toBe(true);

    // The slot as Cutover makes it: its kind and its retained WAL are checked.
    await sql(ownerUrl(env), `select pg_create_logical_replication_slot($1, 'pgoutput')`, [slot]);
    const withSlot = await doctor(env, plan);
    expect(withSlot.code).toBe(0);
    expect(withSlot.rows[`slot ${slot}`]).toMatchObject({ ok: true, detail: `logical, pgoutput, on ${env.names.source}, not active` });
    expect(withSlot.rows[`slot ${slot} retained WAL`]).toMatchObject({ ok: true, detail: expect.stringMatching(/^\d+\.\d MB retained, under max_retained_wal_mb 64$/) });
    expect(withSlot.rows['a replication slot is free']).toBeUndefined();
  });

  it('checks poll change columns: types, indexes and NULL counts', async () => {
    const poll = writePlan('doctor-sync-poll', '{ mode: poll }');
    const { code, rows } = await doctor(env, poll);
    expect(code).toBe(0);
    expect(rows['change column people.changed_at']).toMatchObject({
      ok: true,
      warning: true,
      detail: 'timestamp with time zone; no index: each round reads all of public.people for changed_at >= watermark; 1 of 2 rows have it NULL: those are found only by comparing key sets each round',
      fix: "the source's DBA creates one: create index concurrently on public.people (changed_at)",
    });
    expect(rows['change column orders.changed']).toMatchObject({ ok: true, detail: 'bigint; indexed (orders_changed); 1 of 3 rows have it NULL: those are found only by comparing key sets each round' });
    expect(rows['change column orders.changed']!.warning).toBeUndefined();

    await sql(ownerUrl(env), 'alter table people alter column changed_at type text');
    const wrong = await doctor(env, poll);
    expect(wrong.code).toBe(1);
    expect(wrong.rows['change column people.changed_at']).toMatchObject({ ok: false, detail: 'changed_at is text: a change column is a number (epoch s), a date or a timestamp' });
  });
});

describe("doctor --plan: logical sync on the machine's server (wal_level replica)", () => {
  let env: Isolated;

  beforeAll(async () => {
    env = await isolated('doctor_sync_replica');
    await seedShop(env);
  });

  afterAll(async () => {
    if (env) await env.cleanup();
  });

  it('fails the wal_level row with the setting to change and the restart', async () => {
    const { code, json, rows } = await doctor(env, writePlan('doctor-sync-replica', '{ mode: logical }'));
    expect(code).toBe(1);
    expect(json.failed).toContain('Delta sync');
    expect(rows['wal_level is logical']).toMatchObject({
      ok: false,
      detail: 'wal_level = replica: the source writes no logical changes, so no slot can be made',
      fix: "the source's DBA runs `alter system set wal_level = logical` and restarts the server",
    });
    // No publication there either: named with the statement that makes it.
    expect(rows['publication cutover']).toMatchObject({ ok: false, fix: "the tables' owner runs: create publication cutover for table public.people, public.orders" });
  });
});
