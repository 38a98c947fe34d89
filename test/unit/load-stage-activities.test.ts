/**
 * The stage and load activities over small in-memory stores (test/unit/memory-stores.ts): the
 * seams of src/stores let the activities' own decisions be tested without a database — a chunk
 * the target refuses, a duplicate business key, a vault miss — beside the integration tests that
 * run them against the real stores.
 */
import { insertedKeysOf } from '../../src/core/ledger-record';
import { createLoadActivities } from '../../src/activities/migration/load';
import { createStageActivities } from '../../src/activities/migration/stage';
import { parsePlan } from '../../src/plan/load';
import { memoryStores, MemoryTarget, pgError } from './memory-stores';

const plan = parsePlan(`
version: 1
name: people-unit
source: { url_env: CUTOVER_SOURCE_URL }
target: { url_env: CUTOVER_TARGET_URL, ledger_schema: cutover }
staging: { prefix: migrations }
settings: { batch_size: 100, parallelism: 1 }
entities:
  people:
    source: { table: legacy_people, key: id }
    target: { table: people, business_key: [code] }
    columns:
      code:  { from: code }
      email: { from: email, pii: email }
      phone: { from: phone, pii: phone, protect: keep_token }
`);

const person = (id: number, code: string | null, email: string, phone: string | null = null) => ({ id, code, email, phone });
const PEOPLE = [person(1, 'a', 'ada@example.org', '+44 1'), person(2, 'b', 'bob@example.org'), person(3, 'c', 'cy@example.org'), person(4, 'd', 'bad@example.org'), person(5, 'e', 'eve@example.org'), person(6, 'f', 'fay@example.org')];

function setUp(source: ReturnType<typeof person>[], target?: MemoryTarget, options: { sealed?: boolean } = {}) {
  const m = memoryStores(plan, { target, source: { people: source }, ...options });
  const stage = createStageActivities(m.stores);
  const load = createLoadActivities(m.stores);
  const migrationId = 'mig-unit';
  const stageRange = (afterKey: string | null, lastKey: string, runId = 'run-1') => stage.stageBatch({ migrationId, entity: 'people', afterKey, lastKey, rows: 0, runId });
  const loadBatch = (batchId: string, runId = 'run-1') => load.loadBatch({ migrationId, entity: 'people', batchId, runId });
  return { ...m, stageRange, loadBatch, migrationId };
}

describe('stage and load activities over in-memory stores', () => {
  it('stages tokens, never values, and loads the values the plan detokenizes (the phone keeps its token)', async () => {
    const t = setUp(PEOPLE);
    const staged = await t.stageRange(null, '9');
    expect(staged).toMatchObject({ extracted: 6, staged: 6, quarantined: 0 });
    const { rows } = t.staging.batches.get(staged.batchId)!.rows;
    expect(JSON.stringify(rows)).not.toMatch(/@example\.org|\+44/);

    const loaded = await t.loadBatch(staged.batchId);
    expect(loaded).toMatchObject({ inserted: 6, updated: 0, unchanged: 0, quarantined: 0 });
    expect(t.target.state.rows.get('a')).toEqual({ code: 'a', email: 'ada@example.org', phone: expect.stringMatching(/^tok_phone_/) });
    expect(t.target.state.ledger.flatMap((l) => insertedKeysOf(l.record)).sort()).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    expect(t.audit.map((e) => e.action)).toEqual(['batch-loaded']);
  });

  it('a chunk the target refuses is halved: the refused row alone is quarantined, named by constraint, and the others load', async () => {
    const target = new MemoryTarget((row) => (String(row.email).startsWith('bad') ? pgError('23514', 'people_email_check', 'email') : undefined));
    const t = setUp(PEOPLE, target);
    const staged = await t.stageRange(null, '9');
    const loaded = await t.loadBatch(staged.batchId);

    expect(loaded).toMatchObject({ inserted: 5, quarantined: 1 });
    expect([...t.target.state.rows.keys()].sort()).toEqual(['a', 'b', 'c', 'e', 'f']);
    // The chunk of 6 is refused; its first half applies, its second (with the bad row, the fourth) is halved until the row stands alone.
    expect(target.statements).toEqual(['upsert 6', 'upsert 3', 'upsert 3', 'upsert 1', 'upsert 2']);
    const q = t.quarantine.get('people/4')!;
    expect(q).toMatchObject({ step: 'load', reason: 'check_violation', column: 'email', businessKey: 'd' });
    expect(q.detail).toContain('constraint people_email_check');
    expect(q.detail).not.toContain('bad@example.org');
    // Only written rows are ledgered: a rollback undoes exactly what loaded.
    expect(t.target.state.ledger.flatMap((l) => insertedKeysOf(l.record)).sort()).toEqual(['a', 'b', 'c', 'e', 'f']);
  });

  it('a business key another source row holds is quarantined, in the same batch or from an earlier one, and the holder keeps its row', async () => {
    const t = setUp([person(1, 'a', 'ada@example.org'), person(2, 'a', 'twin@example.org'), person(5, 'b', 'bob@example.org'), person(6, 'b', 'late@example.org')]);
    // Batch one: source rows 1, 2 (same code) and 5.
    const first = await t.stageRange(null, '5');
    expect(await t.loadBatch(first.batchId)).toMatchObject({ inserted: 2, quarantined: 1 });
    expect(t.quarantine.get('people/2')).toMatchObject({ reason: 'duplicate_business_key', column: 'code' });
    // Batch two: row 6 takes code b, which row 5 loaded already.
    const second = await t.stageRange('5', '9');
    expect(await t.loadBatch(second.batchId)).toMatchObject({ inserted: 0, updated: 0, quarantined: 1 });
    expect(t.quarantine.get('people/6')).toMatchObject({ reason: 'duplicate_business_key', businessKey: 'b' });
    expect(t.target.state.rows.get('a')!.email).toBe('ada@example.org');
    expect(t.target.state.rows.get('b')!.email).toBe('bob@example.org');
  });

  it('values the target gets in clear travel under sealed tokens: no vault entry for them, and the load opens them', async () => {
    const t = setUp(PEOPLE.slice(0, 3));
    const staged = await t.stageRange(null, '9');
    const rows = t.staging.batches.get(staged.batchId)!.rows.rows;
    expect(rows.map((r) => String(r[1]).slice(0, 5))).toEqual(['siv1.', 'siv1.', 'siv1.']);
    // Only the phone the target keeps as a token is in the vault.
    expect([...t.vaultEntries.keys()]).toEqual([expect.stringMatching(/^tok_phone_/)]);
    // Another run (another worker): nothing held in memory, and still nothing read from the vault for the emails.
    expect(await t.loadBatch(staged.batchId, 'run-2')).toMatchObject({ inserted: 3 });
    expect([...t.target.state.rows.values()].map((r) => r.email)).toEqual(['ada@example.org', 'bob@example.org', 'cy@example.org']);
  });

  it('a sealed token that does not open (changed in staging) fails the load as an integrity error naming the count, nothing written', async () => {
    const t = setUp(PEOPLE.slice(0, 3));
    const staged = await t.stageRange(null, '9');
    const batch = t.staging.batches.get(staged.batchId)!;
    const token = String(batch.rows.rows[1]![1]);
    batch.rows.rows[1]![1] = `${token.slice(0, -2)}${token.at(-2) === '0' ? '1' : '0'}${token.slice(-1)}`;
    await expect(t.loadBatch(staged.batchId, 'run-2')).rejects.toThrow('integrity check failed: 1 sealed token(s) do not open');
    expect(t.target.state.rows.size).toBe(0);
    expect(t.target.state.batchLoads.size).toBe(0);
  });

  it('a token the vault cannot open fails the load naming the count, and nothing of the batch is written', async () => {
    // A batch staged by an earlier version: its clear values have vault tokens.
    const t = setUp(PEOPLE.slice(0, 3), undefined, { sealed: false });
    const staged = await t.stageRange(null, '9');
    const lost = [...t.vaultEntries.keys()].find((k) => k.startsWith('tok_email_'))!;
    t.vaultEntries.delete(lost);
    // Another run (another worker): the values this worker staged from are not in its memory.
    await expect(t.loadBatch(staged.batchId, 'run-2')).rejects.toThrow('token vault: 1 token(s) have no entry');
    expect(t.target.state.rows.size).toBe(0);
    expect(t.target.state.ledger).toEqual([]);
    expect(t.target.state.batchLoads.size).toBe(0);
    expect(t.audit).toEqual([]);
  });

  it('a batch loaded again by its run changes nothing and returns the counts it recorded', async () => {
    const t = setUp(PEOPLE.slice(0, 3));
    const staged = await t.stageRange(null, '9');
    const once = await t.loadBatch(staged.batchId);
    const before = JSON.stringify([...t.target.state.rows]);
    const statements = t.target.statements.length;
    expect(await t.loadBatch(staged.batchId)).toEqual(once);
    expect(JSON.stringify([...t.target.state.rows])).toBe(before);
    expect(t.target.statements.length).toBe(statements);
  });

  it('stage quarantines a row with no business key and records the batch', async () => {
    const t = setUp([person(1, 'a', 'ada@example.org'), person(2, null, 'nokey@example.org')]);
    const staged = await t.stageRange(null, '9');
    expect(staged).toMatchObject({ extracted: 2, staged: 1, quarantined: 1 });
    expect(t.quarantine.get('people/2')).toMatchObject({ step: 'stage', reason: 'missing_business_key', column: 'code' });
    expect(t.staged).toEqual([expect.objectContaining({ batchId: staged.batchId, extracted: 2, staged: 1, quarantined: 1 })]);
  });
});
