import { clearTargetsOf } from '../../src/core/detokenize';
import { prepareLoadRows, referencedKeys } from '../../src/core/load-rows';
import { compileMapper } from '../../src/core/mapping';
import { clearValuesByToken, mapRows, tokenizeRows, withoutSkipped } from '../../src/core/stage-rows';
import { valueId } from '../../src/core/token-assignment';
import type { EntitySpec } from '../../src/plan/types';

const spec: EntitySpec = {
  name: 'people',
  source: { schema: 'public', table: 'p', key: 'id' },
  target: { schema: 'public', table: 'p', businessKey: ['code'] },
  columns: [
    { name: 'code', from: ['code'], transform: { kind: 'copy' } },
    { name: 'email', from: ['email'], transform: { kind: 'copy' }, pii: 'email', protect: 'detokenize' },
    { name: 'phone', from: ['phone'], transform: { kind: 'copy' }, pii: 'phone', protect: 'keep_token' },
    { name: 'notes', from: ['notes'], transform: { kind: 'copy' }, pii: 'text', protect: 'drop' },
    { name: 'org', from: ['org_id'], transform: { kind: 'copy' }, reference: { entity: 'orgs' } },
  ],
};
const mapper = compileMapper(spec);
const source = [
  { id: 1, code: 'a', email: 'ada@example.org', phone: '+44 1', notes: 'secret', org_id: 10 },
  { id: 2, code: 'b', email: '', phone: null, notes: null, org_id: 11 },
  { id: 3, code: null, email: 'x@example.org', phone: null, notes: null, org_id: 10 },
];
const tokenOf = (kind: string, v: string) => `tok(${kind}:${v})`;

describe('staging rows (pure)', () => {
  it('counts skipped rows by filter name', () => {
    const { kept, skipped } = withoutSkipped([{ s0: true }, { s0: false, s1: true }, { s0: null }], [{ name: 'deleted' }, { name: 'suspended' }], (i) => `s${i}`);
    expect(kept).toEqual([{ s0: null }]);
    expect(skipped).toEqual({ deleted: 1, suspended: 1 });
  });

  it('maps rows, quarantines the unmappable, and asks tokens for personal values only (not empty, not dropped)', () => {
    const { mapped, quarantined, personal } = mapRows(spec, mapper, source);
    expect(mapped.map((m) => m.sourceKey)).toEqual(['1', '2']);
    expect(quarantined).toEqual([expect.objectContaining({ sourceKey: '3', reason: 'missing_business_key', column: 'code' })]);
    expect(personal).toEqual([
      { kind: 'email', value: 'ada@example.org', clear: true },
      { kind: 'phone', value: '+44 1', clear: false },
    ]);
  });

  it('stages tokens (drop: null), digests what the target must hold, and keeps clear values for the load', () => {
    const { mapped, personal } = mapRows(spec, mapper, source);
    const tokens = new Map(personal.map((p) => [valueId(p.kind, p.value), tokenOf(p.kind, p.value)]));
    const expectedRows: unknown[] = [];
    const out = tokenizeRows(
      spec,
      mapper,
      mapped,
      tokens,
      (expected) => {
        expectedRows.push(expected);
        return `d${expectedRows.length}`;
      },
      () => {
        throw new Error('no column asks for shaped tokens');
      },
    );
    expect(out.rows[0]).toEqual(['a', 'tok(email:ada@example.org)', 'tok(phone:+44 1)', null, 10]);
    expect(out.rows[1]).toEqual(['b', '', null, null, 11]);
    // The target holds the email in clear, the phone's token, no notes.
    expect(expectedRows[0]).toEqual(['a', 'ada@example.org', 'tok(phone:+44 1)', null, 10]);
    expect(out.digests).toEqual([
      ['a', 'd1', '1'],
      ['b', 'd2', '2'],
    ]);
    expect([...clearValuesByToken(personal, tokens)]).toEqual([['tok(email:ada@example.org)', 'ada@example.org']]);
    // The mapped row itself is not changed.
    expect(mapped[0]!.values[3]).toBe('secret');
  });
});

describe('preparing a load (pure)', () => {
  const shape = { columns: mapper.columns, types: [], businessKeyIndexes: mapper.businessKeyIndexes, businessKey: spec.target.businessKey, clearTargets: clearTargetsOf(spec) };
  const staged = [
    ['a', 'tok-e', 'tok-p', null, '10'],
    ['b', '', null, null, '11'],
    ['c', null, null, null, '12'],
    ['a', null, null, null, '10'],
    ['d', null, null, null, null],
  ];
  const clear = new Map([['tok-e', 'ada@example.org']]);
  const orgs = { index: 4, column: 'org', entity: 'orgs', targetKeys: new Map([['10', '100'], ['11', '110']]), quarantined: new Set(['12']) };

  it('lists each reference column’s parent keys once', () => {
    expect(referencedKeys(staged, 4)).toEqual(['10', '11', '12']);
  });

  it('detokenizes, translates references, and refuses orphans and second rows of a business key', () => {
    const { rows, refused } = prepareLoadRows(shape, staged, ['1', '2', '3', '4', '5'], clear, [orgs]);
    expect(rows.map((r) => [r.sourceKey, r.values])).toEqual([
      ['1', ['a', 'ada@example.org', 'tok-p', null, '100']],
      ['2', ['b', '', null, null, '110']],
      ['5', ['d', null, null, null, null]],
    ]);
    expect(refused.map((r) => [r.sourceKey, r.reason])).toEqual([
      ['3', 'parent_quarantined'],
      ['4', 'duplicate_business_key'],
    ]);
    expect(refused[1]!.detail).toContain('source row 1');
  });

  it('a parent neither loaded nor quarantined is an orphan', () => {
    const { refused } = prepareLoadRows(shape, [['z', null, null, null, '99']], ['9'], clear, [orgs]);
    expect(refused).toEqual([expect.objectContaining({ reason: 'orphan_reference', column: 'org' })]);
  });
});
