import type { Knex } from 'knex';
import { createDb } from '../../src/clients/postgres';
import { keyMapCount, recordKeys } from '../../src/control/key-map';
import { ensureLedgerSchema } from '../../src/control/ledger-schema';
import { bucketMaskFor } from '../../src/core/key-buckets';
import type { EntitySpec } from '../../src/plan/types';
import { compareKeySets } from '../../src/steps/compare-key-sets';
import type { LoadedPlan } from '../../src/stores/plan-store';
import { isolated, Isolated, ownerUrl } from './helpers';

const LEDGER = 'cutover';
const MIG = 'keysets-mig';
const ROWS = 5000;

/**
 * Poll sync's key-set comparison by hash buckets against PostgreSQL: the source's keys and the
 * ones the migration accounts for (key map, quarantine) are summarised per bucket in their own
 * databases, and only differing buckets are read. It must find exactly what comparing the whole
 * sets finds: deletes, rows now skipped, rows inserted without a change value, and a delete and
 * an insert that land in the same bucket (equal counts: only the hash sum tells them apart).
 */
describe('key sets compared by hash buckets', () => {
  let env: Isolated;
  let source: Knex;
  let target: Knex;

  beforeAll(async () => {
    env = await isolated('keysets');
    source = createDb(ownerUrl(env));
    target = createDb(env.config.databases.targetUrl!);
    await ensureLedgerSchema(target, LEDGER);
  });

  afterAll(async () => {
    await source?.destroy();
    await target?.destroy();
    await env?.cleanup();
  });

  const loadedPlan = () => ({ source, target, plan: { target: { ledgerSchema: LEDGER } } }) as unknown as LoadedPlan;
  const quarantine = (keys: string[]) => ({ quarantine: { sourceKeys: async () => new Set(keys) } }) as never;
  const bucketOf = async (key: string, mask: number) => Number((await source.raw(`select (hashtextextended(?::text collate "C", 0) & ?)::int as b`, [key, mask])).rows[0].b);

  it.each([
    ['integer', 'int', (i: number) => String(i)],
    ['text', 'text', (i: number) => `o'k "${i}" ä\\${i}`],
  ] as const)('finds every delete, skip and unseen row with %s keys, reading only the buckets that differ', async (_label, type, keyOf) => {
    const table = `people_${type}`;
    const entity = `people_${type}`;
    const spec: EntitySpec = {
      name: entity,
      source: { schema: 'public', table, key: 'id', skip: [{ name: 'guest', when: "kind = 'guest'" }] },
      target: { schema: 'public', table, businessKey: ['id'] },
      columns: [{ name: 'id', from: ['id'], transform: { kind: 'copy' } }],
    };
    await source.raw(`create table ${table} (id ${type} primary key, kind text not null default 'member')`);
    const all = Array.from({ length: ROWS }, (_, i) => keyOf(i + 1));
    await source.raw(`insert into ${table} (id) select unnest(?::${type}[])`, [`{${all.map((k) => `"${k.replace(/[\\"]/g, '\\$&')}"`).join(',')}}`]);
    await target.transaction((trx) => recordKeys(trx, LEDGER, MIG, entity, all.map((k) => ({ sourceKey: k, businessKey: k, targetKey: k }))));
    const loaded = loadedPlan();

    // Nothing changed: no bucket is read.
    const same = await compareKeySets(quarantine([]), loaded, MIG, spec, ROWS);
    expect(same).toEqual({ deleted: [], unseen: [], loaded: ROWS, buckets: bucketMaskFor(ROWS) + 1, differing: 0 });

    // The source changes behind the migration's back.
    const deleted = [all[10]!, all[200]!, all[4999]!];
    const skipped = [all[7]!, all[3000]!];
    const quarantinedOnly = [keyOf(ROWS + 1)]; // in the source, quarantined, never loaded: not unseen
    const unseen = [keyOf(ROWS + 2), keyOf(ROWS + 3)];
    await source.raw(`delete from ${table} where id = any(?::${type}[])`, [`{${deleted.map((k) => JSON.stringify(k)).join(',')}}`]);
    await source.raw(`update ${table} set kind = 'guest' where id = any(?::${type}[])`, [`{${skipped.map((k) => JSON.stringify(k)).join(',')}}`]);
    for (const k of [...quarantinedOnly, ...unseen]) await source.raw(`insert into ${table} (id) values (?)`, [k]);
    // A delete and an insert in one bucket no other change touches: the bucket's count is unchanged.
    const mask = bucketMaskFor(ROWS);
    const touched = new Set<number>();
    for (const k of [...deleted, ...skipped, ...quarantinedOnly, ...unseen]) touched.add(await bucketOf(k, mask));
    let gone = '';
    for (let i = 40; !gone; i++) if (!deleted.includes(all[i]!) && !skipped.includes(all[i]!) && !touched.has(await bucketOf(all[i]!, mask))) gone = all[i]!;
    let twin = '';
    for (let i = ROWS + 10; !twin; i++) if ((await bucketOf(keyOf(i), mask)) === (await bucketOf(gone, mask))) twin = keyOf(i);
    await source.raw(`delete from ${table} where id = ?`, [gone]);
    await source.raw(`insert into ${table} (id) values (?)`, [twin]);

    const found = await compareKeySets(quarantine(quarantinedOnly), loaded, MIG, spec, ROWS);
    expect(new Set(found.deleted)).toEqual(new Set([...deleted, ...skipped, gone]));
    expect(new Set(found.unseen)).toEqual(new Set([...unseen, twin]));
    expect(found.loaded).toBe(await keyMapCount(target, LEDGER, MIG, entity));
    // Read: at most one bucket per change (some share one), never the whole set.
    expect(found.differing).toBeGreaterThan(0);
    expect(found.differing).toBeLessThanOrEqual(deleted.length + skipped.length + unseen.length + 1);
  });
});
