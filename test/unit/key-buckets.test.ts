import { bucketMaskFor, bucketSummaries, differingBuckets } from '../../src/core/key-buckets';

describe('key sets by hash buckets (pure)', () => {
  it('sizes buckets to about 256 keys each, a power of two from 16 to 65,536', () => {
    expect(bucketMaskFor(0)).toBe(15);
    expect(bucketMaskFor(4096)).toBe(15);
    expect(bucketMaskFor(4097)).toBe(31);
    expect(bucketMaskFor(1_000_000)).toBe(4095);
    expect(bucketMaskFor(40_000_000)).toBe(65_535);
    expect(bucketMaskFor(1e12)).toBe(65_535);
  });

  it('reads summaries from SQL rows, leaving out empty buckets', () => {
    expect(bucketSummaries([{ bucket: '3', keys: '2', sum: '-17' }, { bucket: 4, keys: 0, sum: null }])).toEqual(new Map([[3, { keys: 2, sum: '-17' }]]));
  });

  it('names the buckets whose count or hash sum differ, or that one side lacks', () => {
    const a = bucketSummaries([
      { bucket: 1, keys: 2, sum: '10' },
      { bucket: 2, keys: 2, sum: '10' },
      { bucket: 3, keys: 2, sum: '10' },
      { bucket: 5, keys: 1, sum: '7' },
    ]);
    const b = bucketSummaries([
      { bucket: 1, keys: 2, sum: '10' }, // equal
      { bucket: 2, keys: 3, sum: '10' }, // count differs
      { bucket: 3, keys: 2, sum: '11' }, // same count, a key swapped for another
      { bucket: 4, keys: 1, sum: '9' }, // only on this side
    ]);
    expect(differingBuckets(a, b)).toEqual([2, 3, 4, 5]);
    expect(differingBuckets(b, a)).toEqual([2, 3, 4, 5]);
    expect(differingBuckets(a, a)).toEqual([]);
  });
});
