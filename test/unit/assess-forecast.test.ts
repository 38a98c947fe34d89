import { countByReason, emptyOutcome, forecastBatch, settleBatch, standInKey, type EntityOutcome } from '../../src/assess/forecast';
import { sourceColumnUses, useOf } from '../../src/assess/treatment';
import { compileMapper } from '../../src/core/mapping';
import { looksLikeToken } from '../../src/core/tokens';
import type { EntitySpec } from '../../src/plan/types';

const members: EntitySpec = {
  name: 'members',
  source: { schema: 'public', table: 'm', key: 'id' },
  target: { schema: 'public', table: 'members', businessKey: ['handle'], key: 'id' },
  columns: [
    { name: 'handle', from: ['handle'], transform: { kind: 'copy' } },
    { name: 'email', from: ['email'], transform: { kind: 'copy' }, pii: 'email', protect: 'detokenize' },
    { name: 'phone', from: ['phone'], transform: { kind: 'copy' }, pii: 'phone', protect: 'keep_token' },
    { name: 'status', from: ['st'], transform: { kind: 'enum', map: { A: 'active' } } },
    { name: 'group_id', from: ['gid'], transform: { kind: 'copy' }, reference: { entity: 'groups' } },
  ],
};
const mapper = compileMapper(members);
const types = mapper.columns.map(() => undefined);

function groupsWith(loaded: string[], quarantined: string[]): Map<string, EntityOutcome> {
  const g = emptyOutcome();
  loaded.forEach((k, i) => g.loaded.set(k, String(i + 1)));
  for (const k of quarantined) g.quarantined.set(k, { reason: 'check_violation' });
  return new Map([['groups', g]]);
}

describe('the pre-flight forecast (pure)', () => {
  it('refuses what the stage and the load would: unmapped codes, missing parents, quarantined parents, duplicates across batches', () => {
    const parents = groupsWith(['1', '2'], ['3']);
    const self = emptyOutcome();
    const row = (id: number, handle: string | null, gid: number, st = 'A') => ({ id, handle, email: `p${id}@example.org`, phone: '+44 20 7946 0000', st, gid });
    const first = forecastBatch(members, mapper, types, [row(1, 'a', 1), row(2, 'b', 9), row(3, 'c', 3), row(4, 'd', 1, 'Q'), row(5, null, 1), row(6, 'a', 2)], parents, self);
    expect(first.refused.map((r) => [r.sourceKey, r.reason])).toEqual([
      ['4', 'conversion_failed'],
      ['5', 'missing_business_key'],
      ['2', 'orphan_reference'],
      ['3', 'parent_quarantined'],
      ['6', 'duplicate_business_key'],
    ]);
    // The target refuses the first candidate (say, a CHECK): it is quarantined, not loaded.
    settleBatch(self, first.candidates, first.refused, new Map([[0, { reason: 'check_violation', constraint: 'x' }]]), undefined);
    expect([...self.loaded.keys()]).toEqual([]);
    // A later batch's row with the handle of a row that did load is a duplicate; of one that did not, it loads.
    const second = forecastBatch(members, mapper, types, [row(7, 'a', 1)], parents, self);
    expect(second.refused).toEqual([]);
    settleBatch(self, second.candidates, second.refused, new Map(), undefined);
    const third = forecastBatch(members, mapper, types, [row(8, 'a', 2)], parents, self);
    expect(third.refused.map((r) => [r.sourceKey, r.reason])).toEqual([['8', 'duplicate_business_key']]);
    expect(countByReason(self)).toEqual(
      expect.arrayContaining([expect.objectContaining({ reason: 'check_violation', count: 1 }), expect.objectContaining({ reason: 'orphan_reference', count: 1 })]),
    );
  });

  it('gives the target what it would hold: clear values where detokenized, a token of the real shape where kept, references as stand-in keys', () => {
    const parents = groupsWith(['1'], []);
    const { candidates } = forecastBatch(members, mapper, types, [{ id: 1, handle: 'a', email: 'ada@example.org', phone: '+44 20 7946 0000', st: 'A', gid: 1 }], parents, emptyOutcome());
    const [handle, email, phone, status, group] = candidates[0]!.values;
    expect([handle, email, status, group]).toEqual(['a', 'ada@example.org', 'active', '1']);
    expect(looksLikeToken('phone', String(phone))).toBe(true);
  });

  it('stand-in keys fit the key column: numbers, or uuids', () => {
    expect(standInKey(7, { kind: 'integer', bits: 64 })).toBe('7');
    expect(standInKey(7, { kind: 'uuid' })).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-8[0-9a-f]{3}-0{11}7$/);
  });

  it("names what the plan does with each source column, the most exposed use winning", () => {
    const spec: EntitySpec = {
      ...members,
      columns: [
        { name: 'given', from: ['full_name'], transform: { kind: 'split', separator: ' ', part: 'first' }, pii: 'name', protect: 'detokenize' },
        { name: 'display', from: ['full_name'], transform: { kind: 'copy' } },
        { name: 'phone', from: ['phone'], transform: { kind: 'copy' }, pii: 'phone', protect: 'keep_token' },
        { name: 'status', from: ['st'], transform: { kind: 'enum', map: { A: 'active' } } },
      ],
    };
    const uses = sourceColumnUses(spec);
    expect(useOf(uses, 'full_name')).toEqual({ treatment: 'clear', targets: ['given', 'display'] });
    expect(useOf(uses, 'phone').treatment).toBe('keep_token');
    expect(useOf(uses, 'st').treatment).toBe('drop');
    expect(useOf(uses, 'notes').treatment).toBe('not_migrated');
  });
});
