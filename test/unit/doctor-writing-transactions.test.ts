import { logicalSyncRows, writingTransactionsRow, type LogicalSyncFacts, type SlotFacts } from '../../src/doctor/sync-rows';
import { parsePlan } from '../../src/plan/load';

// `cutover doctor --plan` before a logical sync starts: the transactions that have written and
// stay open (the slot's creation, and the full load after it, waits for each), named by pid,
// transaction id, state and age, never a query (issue 20 §3).

const plan = parsePlan(`
version: 1
name: shop
source: { url_env: CUTOVER_SOURCE_URL }
target: { url_env: CUTOVER_TARGET_URL }
sync: { mode: logical, publication: shop_pub, slot: shop_slot }
entities:
  people:
    source: { table: people, key: id, change_column: changed_at }
    target: { table: persons, business_key: [legacy_id] }
    columns: { legacy_id: { from: id } }
`);

const facts: LogicalSyncFacts = {
  database: 'shop',
  walLevel: 'logical',
  role: { name: 'shop_reader', superuser: false, replication: true },
  publication: { insert: true, update: true, delete: true, truncate: true, tables: [{ schema: 'public', table: 'people', rowFilter: null }] },
  tables: [{ schema: 'public', table: 'people', key: 'id', exists: true, replicaIdentity: 'd', identityColumns: ['id'], keyIndex: 'people_pkey' }],
  slots: { max: 10, used: 0, inactive: [] },
  longTransactions: [],
  hiddenSessions: 0,
  writingTransactions: [{ pid: 4242, database: 'shop', ageSeconds: 190, state: 'idle in transaction', writing: true, xid: '7781' }],
  preparedTransactions: [{ xid: '7700', database: 'billing', ageSeconds: 7300 }],
};

const slot: SlotFacts = { type: 'logical', plugin: 'pgoutput', database: 'shop', active: false, activePid: null, activeApplication: null, retainedBytes: 0, walStatus: 'reserved', consistent: true };

describe('doctor: writing transactions open before the start', () => {
  it('warns of each with its pid, transaction, state and age, and of prepared ones, before the slot exists', () => {
    const r = writingTransactionsRow(facts);
    expect(r).toMatchObject({ component: 'Delta sync', check: 'no writing transaction open over 1 min', ok: true, warning: true });
    expect(r.detail).toBe('2 transactions that have written open: pid 4242 on shop for 3 min (transaction 7781, idle in transaction), prepared transaction 7700 on billing for 2 h 1 min');
    expect(r.fix).toMatch(/`cutover start` creates the slot, which waits until every transaction that has written by then has ended, and the full load waits with it/);
    expect(r.fix).toMatch(/pg_terminate_backend/);
    expect(r.fix).toMatch(/COMMIT PREPARED or ROLLBACK PREPARED/);
    // It is one of the rows `doctor --plan` shows, and a warning does not fail it.
    expect(logicalSyncRows(plan, facts).find((x) => x.check === r.check)).toEqual(r);
  });

  it('warns while a session is still creating the slot (it has no position yet)', () => {
    const r = writingTransactionsRow({ ...facts, preparedTransactions: [], slot: { ...slot, active: true, activePid: 99, consistent: false } });
    expect(r).toMatchObject({ ok: true, warning: true, detail: '1 transaction that has written open: pid 4242 on shop for 3 min (transaction 7781, idle in transaction)' });
    expect(r.fix).toMatch(/^the slot is being created and waits until each has ended; the full load starts after it/);
  });

  it('passes when none is open, or once the slot has its position', () => {
    expect(writingTransactionsRow({ ...facts, writingTransactions: [], preparedTransactions: [] })).toEqual({ component: 'Delta sync', check: 'no writing transaction open over 1 min', ok: true, detail: 'none' });
    expect(writingTransactionsRow({ ...facts, slot })).toMatchObject({ ok: true, detail: 'the slot exists: its creation waits for nothing more' });
    expect(writingTransactionsRow({ ...facts, slot }).warning).toBeUndefined();
  });
});
