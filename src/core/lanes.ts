/**
 * Runs `work` over `items` with at most `lanes` in flight, in order of start. Deterministic:
 * lanes take the next item when their previous one finishes, and replay sees the same order.
 * With `stop`, lanes take no new item once it says so (in-flight items finish); returns how
 * many items were taken, which are always the first ones.
 */
export async function inLanes<T>(items: readonly T[], lanes: number, work: (item: T) => Promise<void>, stop: () => boolean = () => false): Promise<number> {
  let next = 0;
  const lane = async () => {
    while (next < items.length && !stop()) {
      const item = items[next++]!;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, lanes), items.length) }, lane));
  return next;
}
