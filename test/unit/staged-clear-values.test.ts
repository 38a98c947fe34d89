import { StagedClearValues } from '../../src/core/staged-clear-values';

const values = (n: number, tag = '') => new Map(Array.from({ length: n }, (_, i) => [`t${tag}${i}`, `v${tag}${i}`]));

describe('StagedClearValues', () => {
  it('gives a batch its values once, for the run that staged it only', () => {
    const held = new StagedClearValues();
    held.put('run-1', 'b1', values(3));
    expect(held.take('run-2', 'b1')).toBeUndefined();
    expect(held.take('run-1', 'b1')?.get('t1')).toBe('v1');
    expect(held.take('run-1', 'b1')).toBeUndefined();
    expect(held.size).toBe(0);
  });

  it('a batch staged again replaces what it held', () => {
    const held = new StagedClearValues();
    held.put('r', 'b', values(3, 'a'));
    held.put('r', 'b', values(2, 'b'));
    expect(held.size).toBe(2);
    expect(held.take('r', 'b')?.get('tb0')).toBe('vb0');
  });

  it('stays within its bound, letting the oldest batches go first', () => {
    const held = new StagedClearValues(10);
    held.put('r', 'b1', values(4));
    held.put('r', 'b2', values(4));
    held.put('r', 'b3', values(4));
    expect(held.size).toBe(8);
    expect(held.take('r', 'b1')).toBeUndefined();
    expect(held.take('r', 'b3')).toBeDefined();
    held.put('r', 'huge', values(11));
    expect(held.take('r', 'huge')).toBeUndefined();
  });
});
