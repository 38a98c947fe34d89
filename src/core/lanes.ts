/**
 * Runs `work` over `items` with at most `lanes` in flight, in order of start. Deterministic:
 * lanes take the next item when their previous one finishes, and replay sees the same order.
 * With `stop`, lanes take no new item once it says so (in-flight items finish); returns how
 * many items were taken, which are always the first ones. With `beforeEach`, a lane waits for it
 * before taking an item (and checks `stop` again after).
 */
export async function inLanes<T>(
  items: readonly T[],
  lanes: number,
  work: (item: T) => Promise<void>,
  stop: () => boolean = () => false,
  /** Awaited before a lane takes its next item (a paused migration waits here). */
  beforeEach?: () => Promise<void>,
): Promise<number> {
  let next = 0;
  const lane = async () => {
    for (;;) {
      if (beforeEach && next < items.length && !stop()) await beforeEach();
      if (next >= items.length || stop()) return;
      const item = items[next++]!;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, lanes), items.length) }, lane));
  return next;
}
