import type { Knex } from 'knex';
import { createDb } from '../../src/clients/postgres';
import { forgetEntity, forgetKeys, heldByOtherRows, keyMapCount, keyMapEntries, keyMapRowCount, keyMapSourceKeys, recordKeys, sourceKeysOf, targetKeysOf } from '../../src/control/key-map';
import { ensureLedgerSchema } from '../../src/control/ledger-schema';
import { isolated, Isolated } from './helpers';

const LEDGER = 'cutover';

/**
 * The key map against PostgreSQL: its compact rows (a scope number per migration and entity, the
 * business key stored only where it is not the source key) answer every question the old
 * one-table layout did, and a ledger schema an earlier version made moves over once.
 */
describe('key map', () => {
  let env: Isolated;
  let db: Knex;

  beforeAll(async () => {
    env = await isolated('keymap');
    db = createDb(env.config.databases.targetUrl!);
  });

  afterAll(async () => {
    await db?.destroy();
    await env?.cleanup();
  });

  const all = async (migrationId: string, entity: string) => {
    const out: string[] = [];
    for await (const page of keyMapSourceKeys(db, LEDGER, migrationId, entity)) out.push(...page);
    return out;
  };

  it('moves the key map of an earlier version over, and answers as it did', async () => {
    await db.raw(`create schema if not exists ${LEDGER}`);
    // The layout of earlier versions, with a running migration's rows in it.
    await db.raw(`create table ${LEDGER}.key_map (migration_id text not null, entity text not null, source_key text not null, business_key text not null, target_key text,
      written_digest text, source_digest text, primary key (migration_id, entity, source_key))`);
    await db.raw(
      `insert into ${LEDGER}.key_map values
        ('old-mig', 'users', '1', '1', '101', null, null),
        ('old-mig', 'users', '2', 'two@example', '102', 'w2', 's2'),
        ('old-mig', 'courses', '1', '1', '501', null, null),
        ('other', 'users', '1', '1', '901', null, null)`,
    );
    await ensureLedgerSchema(db, LEDGER);

    const legacy = await db.raw(`select to_regclass('${LEDGER}.key_map') as t`);
    expect(legacy.rows[0].t).toBeNull();
    expect(await keyMapEntries(db, LEDGER, 'old-mig', 'users', ['1', '2', '3'])).toEqual(
      new Map([
        ['1', { businessKey: '1', targetKey: '101', writtenDigest: null, sourceDigest: null }],
        ['2', { businessKey: 'two@example', targetKey: '102', writtenDigest: 'w2', sourceDigest: 's2' }],
      ]),
    );
    expect(await targetKeysOf(db, LEDGER, 'old-mig', 'courses', ['1', '2'])).toEqual(new Map([['1', '501']]));
    expect(await sourceKeysOf(db, LEDGER, 'other', 'users', ['901', '101'])).toEqual(new Map([['901', '1']]));
    expect(await all('old-mig', 'users')).toEqual(['1', '2']);
    expect(await keyMapCount(db, LEDGER, 'old-mig', 'users')).toBe(2);
    // A business key equal to its source key is not stored twice.
    const stored = await db.raw(`select source_key, business_key from ${LEDGER}.key_map_rows r join ${LEDGER}.key_map_scopes s using (scope) where migration_id = 'old-mig' and entity = 'users' order by source_key`);
    expect(stored.rows).toEqual([
      { source_key: '1', business_key: null },
      { source_key: '2', business_key: 'two@example' },
    ]);
    // Running it again (another process's prepare) changes nothing.
    await ensureLedgerSchema(db, LEDGER);
    expect(await keyMapCount(db, LEDGER, 'old-mig', 'users')).toBe(2);
  });

  it('finds the other source row that holds a business key, whichever way each is stored', async () => {
    const mig = 'dup-mig';
    await db.transaction((trx) =>
      recordKeys(trx, LEDGER, mig, 'users', [
        { sourceKey: '12', businessKey: '12', targetKey: '1012' }, // stored without its business key
        { sourceKey: 'x', businessKey: 'y', targetKey: '1099' }, // stored with it
      ]),
    );
    // Another source row whose business key is the first row's source key.
    expect(await heldByOtherRows(db, LEDGER, mig, 'users', [{ sourceKey: '012', bk: '12' }])).toEqual(new Map([['012', '12']]));
    // A source row whose business key is its own key, held by a row stored with that business key.
    expect(await heldByOtherRows(db, LEDGER, mig, 'users', [{ sourceKey: 'y', bk: 'y' }])).toEqual(new Map([['y', 'x']]));
    // The holders themselves are not duplicates of anything; other migrations and entities do not count.
    expect(await heldByOtherRows(db, LEDGER, mig, 'users', [{ sourceKey: '12', bk: '12' }, { sourceKey: 'x', bk: 'y' }])).toEqual(new Map());
    expect(await heldByOtherRows(db, LEDGER, mig, 'courses', [{ sourceKey: '012', bk: '12' }])).toEqual(new Map());
    expect(await heldByOtherRows(db, LEDGER, 'another', 'users', [{ sourceKey: 'y', bk: 'y' }])).toEqual(new Map());
    // A correction (the row's business key changed) is recorded in place.
    await db.transaction((trx) => recordKeys(trx, LEDGER, mig, 'users', [{ sourceKey: 'x', businessKey: 'x', targetKey: '1099' }]));
    expect(await heldByOtherRows(db, LEDGER, mig, 'users', [{ sourceKey: 'y', bk: 'y' }])).toEqual(new Map());
    expect((await keyMapEntries(db, LEDGER, mig, 'users', ['x'])).get('x')?.businessKey).toBe('x');
  });

  it('keeps each entity\'s count exactly in the transactions that change its rows, without reading the rows', async () => {
    const mig = 'count-mig';
    const rows = (from: number, to: number, digest = 'd') => Array.from({ length: to - from }, (_, i) => ({ sourceKey: String(from + i), businessKey: String(from + i), targetKey: String(1000 + from + i), writtenDigest: digest, sourceDigest: digest }));
    const same = async (expected: number) => {
      expect(await keyMapRowCount(db, LEDGER, mig, 'users')).toBe(expected);
      expect(await keyMapCount(db, LEDGER, mig, 'users')).toBe(expected);
    };
    // Two loads of one entity at once (the first makes the scope): neither waits on a counter, both count.
    await Promise.all([db.transaction((trx) => recordKeys(trx, LEDGER, mig, 'users', rows(0, 300))), db.transaction((trx) => recordKeys(trx, LEDGER, mig, 'users', rows(300, 500)))]);
    await same(500);
    // Recorded again (a retried batch, a round's update): the rows change, the count does not.
    await db.transaction((trx) => recordKeys(trx, LEDGER, mig, 'users', rows(250, 550, 'e')));
    await same(550);
    // A load that fails adds nothing.
    await expect(db.transaction(async (trx) => { await recordKeys(trx, LEDGER, mig, 'users', rows(550, 600)); throw new Error('the load failed'); })).rejects.toThrow('the load failed');
    await same(550);
    // Deletes, some of keys it never had.
    await db.transaction((trx) => forgetKeys(trx, LEDGER, mig, 'users', ['1', '2', '3', 'nope']));
    await same(547);
    // The count is the kept one, not the rows: a row removed behind its back shows.
    await db.raw(`delete from ${LEDGER}.key_map_rows where scope = (select scope from ${LEDGER}.key_map_scopes where migration_id = ? and entity = 'users') and source_key = '10'`, [mig]);
    expect(await keyMapCount(db, LEDGER, mig, 'users')).toBe(547);
    expect(await keyMapRowCount(db, LEDGER, mig, 'users')).toBe(546);
    // A rollback forgets the entity: counted from 0 again, and a new run counts from there.
    await forgetEntity(db, LEDGER, mig, 'users');
    await same(0);
    await db.transaction((trx) => recordKeys(trx, LEDGER, mig, 'users', rows(0, 7)));
    await same(7);
    // A scope made by an earlier version has no count: its rows are counted, whatever is recorded since.
    await db.raw(`delete from ${LEDGER}.key_map_counts where scope = (select scope from ${LEDGER}.key_map_scopes where migration_id = ? and entity = 'users')`, [mig]);
    await db.transaction((trx) => recordKeys(trx, LEDGER, mig, 'users', rows(7, 9)));
    await same(9);
  });
});
