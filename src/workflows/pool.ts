/**
 * Runs `work` over `items` with at most `lanes` in flight, in order of start. Deterministic:
 * lanes take the next item when their previous one finishes, and replay sees the same order.
 */
export async function inLanes<T>(items: readonly T[], lanes: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const item = items[next++]!;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, lanes), items.length) }, lane));
}
