import { parsePlan } from '../../src/plan/load';
import type { Plan } from '../../src/plan/types';
import {
  changeColumnRow,
  formatAge,
  identityIncludesKey,
  logicalSyncRows,
  planSourceUrl,
  pollSyncRows,
  publicationRow,
  quoteIdent,
  replicaIdentityRow,
  replicationRow,
  slotRows,
  transactionsRow,
  walLevelRow,
  type LogicalSyncFacts,
  type SlotFacts,
  type TableIdentityFacts,
} from '../../src/doctor/sync-rows';
import { failedComponents, renderTable } from '../../src/doctor/table';

const planYaml = (sync: string, orders = 'source: { table: order, key: order_no, change_column: changed, change_unit: ms }') => `
version: 1
name: shop
source: { url_env: CUTOVER_SOURCE_URL }
target: { url_env: CUTOVER_TARGET_URL }
sync: ${sync}
entities:
  people:
    source: { table: people, key: id, change_column: changed_at }
    target: { table: persons, business_key: [legacy_id] }
    columns: { legacy_id: { from: id } }
  orders:
    ${orders}
    target: { table: orders, business_key: [legacy_no] }
    columns: { legacy_no: { from: order_no } }
`;

const logicalPlan: Plan = parsePlan(planYaml('{ mode: logical, publication: shop_pub, slot: shop_slot, max_retained_wal_mb: 64 }'));
const sync = logicalPlan.sync!;

const people: TableIdentityFacts & { key: string } = { schema: 'public', table: 'people', key: 'id', exists: true, replicaIdentity: 'd', identityColumns: ['id'], keyIndex: 'people_pkey' };
const orders: TableIdentityFacts & { key: string } = { schema: 'public', table: 'order', key: 'order_no', exists: true, replicaIdentity: 'f', identityColumns: [] };

/** A source ready for logical sync, before its first start (no slot yet). */
const ready: LogicalSyncFacts = {
  database: 'shop',
  walLevel: 'logical',
  role: { name: 'shop_reader', superuser: false, replication: true },
  publication: {
    insert: true,
    update: true,
    delete: true,
    truncate: true,
    tables: [
      { schema: 'public', table: 'people', rowFilter: null },
      { schema: 'public', table: 'order', rowFilter: null },
    ],
  },
  tables: [people, orders],
  slots: { max: 10, used: 2, inactive: ['old_slot'] },
  longTransactions: [],
  hiddenSessions: 0,
};

const slot: SlotFacts = { type: 'logical', plugin: 'pgoutput', database: 'shop', active: false, activePid: null, activeApplication: null, retainedBytes: 3 * 1024 * 1024, walStatus: 'reserved' };

const statuses = (rows: { check: string; ok: boolean; warning?: boolean }[]) => Object.fromEntries(rows.map((r) => [r.check, r.ok ? (r.warning ? 'WARN' : 'ok') : 'FAIL']));

describe('doctor: logical sync rows', () => {
  it('passes a ready source with no slot yet: every row ok, one of them that the slot will be created', () => {
    const rows = logicalSyncRows(logicalPlan, ready);
    expect(statuses(rows)).toEqual({
      'wal_level is logical': 'ok',
      'role shop_reader may replicate': 'ok',
      'publication shop_pub': 'ok',
      'replica identity includes the key': 'ok',
      'slot shop_slot': 'ok',
      'a replication slot is free': 'ok',
      'no writing transaction open over 1 min': 'ok',
      'no transaction open over 5 min': 'ok',
    });
    expect(rows.every((r) => r.component === 'Delta sync' && r.fix === undefined)).toBe(true);
    expect(rows.find((r) => r.check === 'slot shop_slot')!.detail).toMatch(/does not exist yet: Cutover creates it/);
    expect(rows.find((r) => r.check === 'replica identity includes the key')!.detail).toBe('public.people: primary key (id); public."order": full');
  });

  it('fails wal_level replica, with the setting and the restart it needs', () => {
    const r = walLevelRow({ walLevel: 'replica' });
    expect(r).toMatchObject({ ok: false, detail: expect.stringMatching(/^wal_level = replica/) });
    expect(r.fix).toContain('alter system set wal_level = logical');
    expect(r.fix).toContain('restart');
  });

  it('fails a role without REPLICATION with the alter role to run; a superuser passes here (the read-only check refuses it)', () => {
    const none = replicationRow({ role: { name: 'Shop Reader', superuser: false, replication: false } });
    expect(none).toMatchObject({ ok: false, fix: 'as a superuser: alter role "Shop Reader" replication' });
    const su = replicationRow({ role: { name: 'postgres', superuser: true, replication: false } });
    expect(su.ok).toBe(true);
    expect(su.detail).toMatch(/superuser.*source role is read-only/);
  });

  it('fails a missing publication with the create publication of every entity table', () => {
    const r = publicationRow(sync, logicalPlan.entities, { database: 'shop' });
    expect(r).toMatchObject({ ok: false, detail: 'no publication shop_pub on database shop' });
    expect(r.fix).toBe(`the tables' owner runs: create publication shop_pub for table public.people, public."order"`);
  });

  it('names the tables a publication misses and prints the alter publication … add table for them', () => {
    const r = publicationRow(sync, logicalPlan.entities, { database: 'shop', publication: { ...ready.publication!, tables: [{ schema: 'public', table: 'people', rowFilter: null }] } });
    expect(r).toMatchObject({ ok: false, detail: 'does not publish public."order"', fix: 'alter publication shop_pub add table public."order"' });
  });

  it('fails a publication that leaves out deletes (the sync could not follow them); warns of one without truncates', () => {
    const r = publicationRow(sync, logicalPlan.entities, { database: 'shop', publication: { ...ready.publication!, delete: false } });
    expect(r).toMatchObject({ ok: false, detail: 'does not publish deletes', fix: "alter publication shop_pub set (publish = 'insert, update, delete, truncate')" });
    const t = publicationRow(sync, logicalPlan.entities, { database: 'shop', publication: { ...ready.publication!, truncate: false } });
    expect(t).toMatchObject({ ok: true, warning: true, detail: expect.stringMatching(/^does not publish truncates/), fix: "alter publication shop_pub set (publish = 'insert, update, delete, truncate')" });
  });

  it('warns of a row filter on an entity table', () => {
    const pub = { ...ready.publication!, tables: [ready.publication!.tables[0]!, { schema: 'public', table: 'order', rowFilter: '(status <> 9)' }] };
    const r = publicationRow(sync, logicalPlan.entities, { database: 'shop', publication: pub });
    expect(r).toMatchObject({ ok: true, warning: true });
    expect(r.detail).toMatch(/public."order" with a row filter/);
  });

  it('knows which replica identities carry the key', () => {
    expect(identityIncludesKey({ ...people, replicaIdentity: 'd', identityColumns: ['tenant', 'id'] }, 'id')).toBe(true);
    expect(identityIncludesKey({ ...people, replicaIdentity: 'd', identityColumns: [] }, 'id')).toBe(false);
    expect(identityIncludesKey({ ...people, replicaIdentity: 'i', identityColumns: ['email'] }, 'id')).toBe(false);
    expect(identityIncludesKey({ ...people, replicaIdentity: 'f', identityColumns: [] }, 'id')).toBe(true);
    expect(identityIncludesKey({ ...people, replicaIdentity: 'n', identityColumns: ['id'] }, 'id')).toBe(false);
  });

  it('fails a table whose replica identity lacks the key, proposing its unique key index, else full', () => {
    const r = replicaIdentityRow({
      tables: [
        { ...people, replicaIdentity: 'i', identityIndex: 'people_email', identityColumns: ['email'], keyIndex: 'people_id_key' },
        { ...orders, replicaIdentity: 'd', identityColumns: [] },
        { schema: 'public', table: 'gone', key: 'id', exists: false, replicaIdentity: 'n', identityColumns: [] },
      ],
    });
    expect(r.ok).toBe(false);
    expect(r.detail).toBe(
      'public.people: index people_email (email), without id; public."order": default, and no primary key, without order_no; no table public.gone: deletes and key changes of these rows cannot be followed',
    );
    expect(r.fix).toBe(
      `the tables' owner runs: alter table public.people replica identity using index people_id_key; alter table public."order" replica identity full (or give it a primary key on order_no)`,
    );
  });

  it('fails when no replication slot is free for the one Cutover would create, naming the inactive ones', () => {
    const [own, free] = slotRows(sync, { database: 'shop', slots: { max: 4, used: 4, inactive: ['old_slot', 'x'] } });
    expect(own!.ok).toBe(true);
    expect(free).toMatchObject({ ok: false, check: 'a replication slot is free' });
    expect(free!.fix).toBe("drop an unused one (inactive: old_slot, x): select pg_drop_replication_slot('old_slot'), or raise max_replication_slots (a restart)");
  });

  it('passes an existing logical pgoutput slot on the database, with its retained WAL under the plan maximum', () => {
    const rows = slotRows(sync, { database: 'shop', slots: ready.slots, slot });
    expect(rows.map((r) => [r.check, r.ok, r.warning ?? false, r.detail])).toEqual([
      ['slot shop_slot', true, false, 'logical, pgoutput, on shop, not active'],
      ['slot shop_slot retained WAL', true, false, '3.0 MB retained, under max_retained_wal_mb 64'],
    ]);
  });

  it('warns with the number when the slot retains more WAL than max_retained_wal_mb', () => {
    const [, wal] = slotRows(sync, { database: 'shop', slots: ready.slots, slot: { ...slot, retainedBytes: 100.25 * 1024 * 1024 } });
    expect(wal).toMatchObject({ ok: true, warning: true });
    expect(wal!.detail).toMatch(/^100\.3 MB retained, over max_retained_wal_mb 64/);
    expect(wal!.fix).toMatch(/cutover status/);
  });

  it.each([
    [{ type: 'physical', plugin: null }, /is a physical slot/],
    [{ plugin: 'wal2json' }, /uses plugin wal2json, not pgoutput/],
    [{ database: 'other' }, /is on database other, not shop/],
    [{ walStatus: 'lost' }, /wal_status lost/],
    [{ active: true, activePid: 77, activeApplication: 'debezium' }, /active in pid 77 \(debezium\): another consumer/],
  ] as [Partial<SlotFacts>, RegExp][])('fails a slot that is not Cutover’s to use (%o)', (change, detail) => {
    const [own] = slotRows(sync, { database: 'shop', slots: ready.slots, slot: { ...slot, ...change } });
    expect(own).toMatchObject({ ok: false, detail: expect.stringMatching(detail) });
    expect(own!.fix).toBeTruthy();
  });

  it('passes a slot active in Cutover’s own session', () => {
    const [own] = slotRows(sync, { database: 'shop', slots: ready.slots, slot: { ...slot, active: true, activePid: 12, activeApplication: 'cutover-source-sync' } });
    expect(own).toMatchObject({ ok: true, detail: 'logical, pgoutput, on shop, in use by Cutover (pid 12)' });
  });

  it('warns of long transactions with their pid, database, age and state, never a query', () => {
    const r = transactionsRow({
      ...ready,
      longTransactions: [
        { pid: 41, database: 'shop', ageSeconds: 2 * 3600 + 5 * 60, state: 'idle in transaction', writing: true },
        { pid: 42, database: null, ageSeconds: 400, state: null, writing: false },
      ],
    });
    expect(r).toMatchObject({ ok: true, warning: true });
    expect(r.detail).toBe('2 transactions open: pid 41 on shop for 2 h 5 min (idle in transaction, has written), pid 42 for 6 min');
    expect(r.fix).toMatch(/slot's creation waits/);
    const withSlot = transactionsRow({ ...ready, slot, longTransactions: [{ pid: 41, database: 'shop', ageSeconds: 600, state: 'active', writing: false }] });
    expect(withSlot.fix).toMatch(/retains WAL from the oldest/);
  });

  it('warns that it could not see other roles’ transactions, and how to let it', () => {
    const r = transactionsRow({ ...ready, hiddenSessions: 3 });
    expect(r).toMatchObject({ ok: true, warning: true, detail: 'the transactions of 3 sessions of other roles are hidden from shop_reader' });
    expect(r.fix).toBe('to see them: grant pg_read_all_stats to shop_reader (statistics only, no data)');
  });
});

describe('doctor: poll sync rows', () => {
  const pollPlan = parsePlan(planYaml('{ mode: poll }'));
  const [peopleSpec, ordersSpec] = pollPlan.entities;
  const counted = { relationFound: true, columnFound: true, rows: 1000, nullRows: 0 };

  it('passes an indexed timestamp column with no NULLs, and an epoch number', () => {
    const rows = pollSyncRows(pollPlan, [
      { entity: 'people', ...counted, typeOid: 1184, typeName: 'timestamp with time zone', index: 'people_changed_at_idx' },
      { entity: 'orders', ...counted, typeOid: 20, typeName: 'bigint', index: 'order_changed', nullRows: 12 },
    ]);
    expect(rows.map((r) => [r.check, r.ok, r.warning ?? false, r.detail])).toEqual([
      ['change column people.changed_at', true, false, 'timestamp with time zone; indexed (people_changed_at_idx); no NULL in 1000 rows'],
      ['change column orders.changed', true, false, 'bigint; indexed (order_changed); 12 of 1000 rows have it NULL: those are found only by comparing key sets each round'],
    ]);
  });

  it('fails a missing column, with the column to add', () => {
    const r = changeColumnRow(peopleSpec!, { entity: 'people', relationFound: true, columnFound: false });
    expect(r).toMatchObject({ ok: false, detail: 'public.people has no column changed_at' });
    expect(r.fix).toMatch(/^add it \(alter table public.people add column changed_at timestamptz\)/);
    expect(changeColumnRow(peopleSpec!, { entity: 'people', relationFound: false, columnFound: false }).detail).toBe('no relation public.people');
  });

  it('fails a column that is neither a number nor a date or timestamp', () => {
    const r = changeColumnRow(ordersSpec!, { entity: 'orders', ...counted, typeOid: 25, typeName: 'text', index: null });
    expect(r).toMatchObject({ ok: false, detail: 'changed is text: a change column is a number (epoch ms), a date or a timestamp' });
  });

  it('warns of a column with no index, with the index to create and the NULL count as a note', () => {
    const r = changeColumnRow(ordersSpec!, { entity: 'orders', ...counted, typeOid: 1114, typeName: 'timestamp without time zone', index: null, nullRows: 1000 });
    expect(r).toMatchObject({ ok: true, warning: true });
    expect(r.detail).toBe(
      'timestamp without time zone; no index: each round reads all of public.order for changed >= watermark; 1000 of 1000 rows have it NULL: those are found only by comparing key sets each round',
    );
    expect(r.fix).toBe(`the source's DBA creates one: create index concurrently on public."order" (changed)`);
  });

  it('says what it did not check for a query source or a count that took too long', () => {
    const q = parsePlan(planYaml('{ mode: poll }', 'source: { query: "select o.order_no, o.changed from shop.orders o", key: order_no, change_column: changed }'));
    const r = changeColumnRow(q.entities[1]!, { entity: 'orders', relationFound: true, columnFound: true, typeOid: 23, typeName: 'integer', notCounted: 'the count took over 20s' });
    expect(r).toMatchObject({ ok: true, detail: 'integer; a query: its index is not checked; NULLs not counted: the count took over 20s' });
    expect(r.warning).toBeUndefined();
    expect(changeColumnRow(q.entities[1]!, { entity: 'orders', relationFound: true, columnFound: false }).fix).toMatch(/^select it in the query/);
  });
});

describe('doctor: rendering and helpers', () => {
  it('shows WARN with its fix, and a warning does not fail doctor', () => {
    const rows = [
      { component: 'Delta sync', check: 'wal_level is logical', ok: true, detail: 'wal_level = logical' },
      { component: 'Delta sync', check: 'slot x retained WAL', ok: true, warning: true, detail: '2048.0 MB retained', fix: 'check the sync' },
    ];
    const lines = renderTable(rows).split('\n');
    expect(lines[3]).toMatch(/^Delta sync\s+slot x retained WAL\s+WARN\s+2048\.0 MB retained — check the sync$/);
    expect(failedComponents(rows)).toEqual([]);
  });

  it('quotes identifiers only when they must be', () => {
    expect(quoteIdent('legacy_users')).toBe('legacy_users');
    expect(quoteIdent('order')).toBe('"order"');
    expect(quoteIdent('Mixed')).toBe('"Mixed"');
    expect(quoteIdent('a"b')).toBe('"a""b"');
  });

  it('formats ages', () => {
    expect([45, 300, 7260, 90_000].map(formatAge)).toEqual(['45 s', '5 min', '2 h 1 min', '1 d 1 h']);
  });

  it('resolves the plan source connection as the worker does', () => {
    expect(planSourceUrl(logicalPlan, { CUTOVER_SOURCE_URL: 'postgres://env' }, 'postgres://stack')).toBe('postgres://env');
    expect(planSourceUrl(logicalPlan, {}, 'postgres://stack')).toBe('postgres://stack');
    const other = { ...logicalPlan, source: { urlEnv: 'LEGACY_URL' } };
    expect(planSourceUrl(other, {}, 'postgres://stack')).toBeUndefined();
    expect(planSourceUrl(other, { LEGACY_URL: 'postgres://legacy' }, 'postgres://stack')).toBe('postgres://legacy');
  });
});
