/**
 * Loads each key once and shares the pending promise; a failed load is forgotten so the next
 * call tries again (a KMS or database hiccup must not poison the cache).
 */
export class AsyncCache<K, V> {
  private readonly entries = new Map<K, Promise<V>>();

  get(key: K, load: (key: K) => Promise<V>): Promise<V> {
    let entry = this.entries.get(key);
    if (!entry) {
      entry = load(key);
      entry.catch(() => this.entries.delete(key));
      this.entries.set(key, entry);
    }
    return entry;
  }
}
