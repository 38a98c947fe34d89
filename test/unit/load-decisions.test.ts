import { decideSyncWrites, keyMapRows, refusedBeforeWrite, splitUnchanged } from '../../src/core/load-decisions';
import type { LoadRow } from '../../src/core/load-rows';
import type { Value } from '../../src/core/mapping';
import { catalogType } from '../../src/core/target-types';

const columns = ['code', 'score', 'name'];
const types = [catalogType('text'), catalogType('numeric(5,2)'), catalogType('text')];
const row = (sourceKey: string, code: string, score: Value, name: Value): LoadRow => ({ sourceKey, stagedBk: code, bk: code, values: [code, score, name] });
const toObject = (values: Value[]) => Object.fromEntries(columns.map((c, i) => [c, values[i] ?? null]));
/** A stand-in for the keyed digest: the values joined (the decisions only compare digests). */
const digestOf = (values: readonly unknown[]) => values.map(String).join('|');

describe('load decisions (pure)', () => {
  const a = row('1', 'a', 1.5, 'Ada');
  const b = row('2', 'b', 2, 'Bob');
  const c = row('3', 'c', 3, 'Cy');

  it('inserts a row the target does not hold, updates one that differs, and leaves one equal in stored form unchanged', () => {
    // The target stores numeric(5,2): 1.50 is the 1.5 staged, so `a` is unchanged; `b`'s name changed.
    const existing = new Map([
      ['a', { code: 'a', score: '1.50', name: 'Ada' }],
      ['b', { code: 'b', score: 2, name: 'Robert' }],
    ]);
    const { writes, unchanged } = splitUnchanged([a, b, c], existing, columns, types);
    expect(unchanged).toBe(1);
    expect(writes.map((w) => [w.row.sourceKey, w.pre ? 'update' : 'insert'])).toEqual([
      ['2', 'update'],
      ['3', 'insert'],
    ]);
    expect(writes[0]!.pre).toEqual({ code: 'b', score: 2, name: 'Robert' });
  });

  it('quarantines, in order, what was refused while preparing, business keys another batch holds (duplicate_business_key), and keys the types refuse', () => {
    const orphan = { sourceKey: '9', businessKey: 'z', reason: 'orphan_reference', column: 'org', detail: 'no parent', row: {} };
    const badKey = { sourceKey: '3', businessKey: 'c', reason: 'value_too_long', column: 'code', detail: 'too long', row: toObject(c.values) };
    const refused = refusedBeforeWrite({ prepared: [orphan], rows: [a, b, c], held: new Map([['2', '7']]), businessKey: ['code'], badKeys: [badKey], kept: [], policy: 'source_wins', toObject });
    expect(refused.map((r) => [r.sourceKey, r.reason])).toEqual([
      ['9', 'orphan_reference'],
      ['2', 'duplicate_business_key'],
      ['3', 'value_too_long'],
    ]);
    expect(refused[1]).toEqual({ sourceKey: '2', businessKey: 'b', reason: 'duplicate_business_key', column: 'code', detail: 'source row 7 has the same business key (code); one target row cannot hold both', row: {} });
  });

  it('a sync change: skipped when the source did not change, written when only the source did, a conflict when both did (kept out unless source_wins)', () => {
    const pre = (r: LoadRow, name: string) => ({ code: r.values[0]!, score: r.values[1]!, name });
    const writes = [
      { row: a, pre: pre(a, 'Ada') }, // the source's version was taken account of already: skip
      { row: b, pre: pre(b, 'Bob (old)') }, // the target holds what Cutover wrote: write
      { row: c, pre: pre(c, 'Cy (edited in the target)') }, // both changed: conflict
    ];
    const known = new Map([
      ['1', { writtenDigest: digestOf(['a', 1.5, 'Ada']), sourceDigest: digestOf(a.values) }],
      ['2', { writtenDigest: digestOf(['b', 2, 'Bob (old)']), sourceDigest: digestOf(['b', 2, 'Bob (old)']) }],
      ['3', { writtenDigest: digestOf(['c', 3, 'Cy (old)']), sourceDigest: digestOf(['c', 3, 'Cy (old)']) }],
    ]);
    const kept = decideSyncWrites(writes, known, digestOf, columns, 'quarantine');
    expect(kept.skipped).toBe(1);
    expect(kept.writes.map((w) => w.row.sourceKey)).toEqual(['2']);
    expect(kept.conflicts).toEqual([{ sourceKey: '3', businessKey: 'c', change: 'update', applied: false }]);
    expect(kept.kept).toEqual([{ sourceKey: '3', bk: 'c', newDigest: digestOf(c.values), current: digestOf(['c', 3, 'Cy (edited in the target)']) }]);

    const applied = decideSyncWrites(writes, known, digestOf, columns, 'source_wins');
    expect(applied.writes.map((w) => w.row.sourceKey)).toEqual(['2', '3']);
    expect(applied.conflicts).toEqual([{ sourceKey: '3', businessKey: 'c', change: 'update', applied: true }]);
    expect(applied.kept).toEqual([]);

    // Under quarantine the kept-out change is quarantined by name (reason conflict), with the source's row.
    const refused = refusedBeforeWrite({ prepared: [], rows: [a, b, c], held: new Map(), businessKey: ['code'], badKeys: [], kept: kept.kept, policy: 'quarantine', toObject });
    expect(refused).toEqual([expect.objectContaining({ sourceKey: '3', businessKey: 'c', reason: 'conflict', row: toObject(c.values) })]);
    expect(refusedBeforeWrite({ prepared: [], rows: [a, b, c], held: new Map(), businessKey: ['code'], badKeys: [], kept: kept.kept, policy: 'target_wins', toObject })).toEqual([]);
  });

  it('the key map records rows not refused with the target key they landed under, and kept-out changes with the digests their policy says', () => {
    const existing = new Map([['a', { code: 'a', id: 41 }]]);
    const landed = new Map([['b', '42']]);
    const duplicate = { sourceKey: '3', businessKey: 'c', reason: 'duplicate_business_key', detail: '', row: {} };
    expect(keyMapRows({ rows: [a, b, c], refused: [duplicate], kept: [], targetKey: 'id', landed, existing })).toEqual([
      { sourceKey: '1', businessKey: 'a', targetKey: '41' },
      { sourceKey: '2', businessKey: 'b', targetKey: '42' },
    ]);
    const conflict = { sourceKey: '3', businessKey: 'c', reason: 'conflict', detail: '', row: {} };
    const kept = [{ sourceKey: '3', bk: 'c', newDigest: 'new', current: 'theirs' }];
    const rows = (policy: 'target_wins' | 'quarantine') => keyMapRows({ rows: [b, c], refused: [conflict], kept, landed, existing, digestOf, policy });
    expect(rows('target_wins')).toEqual([
      { sourceKey: '2', businessKey: 'b', targetKey: null, sourceDigest: digestOf(b.values), writtenDigest: digestOf(b.values) },
      { sourceKey: '3', businessKey: 'c', targetKey: null, sourceDigest: 'new', writtenDigest: 'theirs' },
    ]);
    expect(rows('quarantine')[1]).toEqual({ sourceKey: '3', businessKey: 'c', targetKey: null, sourceDigest: 'new', writtenDigest: null });
  });
});
