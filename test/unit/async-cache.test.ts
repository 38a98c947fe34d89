import { AsyncCache } from '../../src/core/async-cache';

describe('AsyncCache', () => {
  it('loads a key once for concurrent callers', async () => {
    const cache = new AsyncCache<string, number>();
    let loads = 0;
    const load = async () => {
      loads++;
      return 42;
    };
    expect(await Promise.all([cache.get('k', load), cache.get('k', load)])).toEqual([42, 42]);
    expect(loads).toBe(1);
  });

  it('forgets a failed load, so the next call retries', async () => {
    const cache = new AsyncCache<string, number>();
    await expect(cache.get('k', async () => Promise.reject(new Error('KMS unavailable')))).rejects.toThrow('KMS unavailable');
    await new Promise((r) => setImmediate(r));
    expect(await cache.get('k', async () => 7)).toBe(7);
  });
});
