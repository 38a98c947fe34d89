/**
 * The clear values behind a staged batch's tokens, kept in the worker's memory from the batch's
 * stage to its load, so a load on the worker that staged the batch opens no vault entry (the
 * vault is still where every value is written, and where a load on any other worker reads).
 * Keyed by the migration run and batch: a batch staged again (another run, after a rollback
 * purged the vault) is never loaded with an older stage's values. Bounded in values, oldest
 * out first, and each entry is taken once: memory holds only batches in flight. Nothing here
 * is persisted; it is the same process memory the stage held the values in.
 */
export class StagedClearValues {
  private readonly batches = new Map<string, ReadonlyMap<string, string>>();
  private held = 0;

  constructor(private readonly maxValues = 250_000) {}

  private static key(runId: string, batchId: string): string {
    return `${runId}\0${batchId}`;
  }

  /** Keeps a batch's token → value map (replacing one of the same run and batch). */
  put(runId: string, batchId: string, values: ReadonlyMap<string, string>): void {
    const key = StagedClearValues.key(runId, batchId);
    this.drop(key);
    if (values.size > this.maxValues) return;
    this.batches.set(key, values);
    this.held += values.size;
    for (const [oldest] of this.batches) {
      if (this.held <= this.maxValues) break;
      this.drop(oldest);
    }
  }

  /** The batch's map, removed from memory; undefined when this worker did not stage it (or let it go). */
  take(runId: string, batchId: string): ReadonlyMap<string, string> | undefined {
    const key = StagedClearValues.key(runId, batchId);
    const found = this.batches.get(key);
    this.drop(key);
    return found;
  }

  get size(): number {
    return this.held;
  }

  private drop(key: string): void {
    const found = this.batches.get(key);
    if (!found) return;
    this.held -= found.size;
    this.batches.delete(key);
  }
}
