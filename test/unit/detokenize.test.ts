import { clearTargetsOf, tokensToOpen, withClearValues } from '../../src/core/detokenize';
import type { EntitySpec } from '../../src/plan/types';

const spec: EntitySpec = {
  name: 'people',
  source: { schema: 'public', table: 'p', key: 'id' },
  target: { schema: 'public', table: 'p', businessKey: ['id'] },
  columns: [
    { name: 'id', from: ['id'], transform: { kind: 'copy' } },
    { name: 'email', from: ['email'], transform: { kind: 'copy' }, pii: 'email', protect: 'detokenize' },
    { name: 'phone', from: ['phone'], transform: { kind: 'copy' }, pii: 'phone', protect: 'keep_token' },
    { name: 'doc', from: ['doc'], transform: { kind: 'json' }, piiPaths: [{ path: ['actor', 'name'], kind: 'name' }], protect: 'detokenize' },
  ],
};

describe('detokenizing staged rows', () => {
  const t = clearTargetsOf(spec);
  const rows = [
    [1, 'tok-e1', 'tok-p1', { actor: { name: 'tok-n1' }, verb: 'x' }],
    [2, '', 'tok-p2', { actor: { name: '' } }],
    [3, null, null, null],
  ];

  it('opens only tokens the target wants in clear, never an empty value (never tokenized)', () => {
    expect(t).toEqual({ columns: [1], docs: [{ i: 3, paths: [{ path: ['actor', 'name'], kind: 'name' }] }] });
    expect([...tokensToOpen(rows, t)].sort()).toEqual(['tok-e1', 'tok-n1']);
  });

  it('puts the clear values in a copy, leaving kept tokens, empties and the staged row as they are', () => {
    const clear = new Map([
      ['tok-e1', 'ada@example.org'],
      ['tok-n1', 'Ada'],
    ]);
    expect(withClearValues(rows[0]!, t, clear)).toEqual([1, 'ada@example.org', 'tok-p1', { actor: { name: 'Ada' }, verb: 'x' }]);
    expect(withClearValues(rows[1]!, t, clear)).toEqual([2, '', 'tok-p2', { actor: { name: '' } }]);
    expect(rows[0]![3]).toEqual({ actor: { name: 'tok-n1' }, verb: 'x' });
  });
});
