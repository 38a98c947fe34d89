/** What the other lanes do when one item's work fails. */
export type OnLaneFailure =
  /** Take no new item, let the items in flight finish, then fail with the first failure. */
  | 'settle'
  /** Fail at once; items in flight run on unobserved (the behaviour before 'settle'). */
  | 'propagate';

/**
 * Runs `work` over `items` with at most `lanes` in flight, in order of start. Deterministic:
 * lanes take the next item when their previous one finishes, and replay sees the same order.
 * With `stop`, lanes take no new item once it says so (in-flight items finish); returns how
 * many items were taken, which are always the first ones. With `beforeEach`, a lane waits for it
 * before taking an item (and checks `stop` again after). When an item fails, by default no
 * new item is taken and the failure is thrown once nothing is in flight: whoever catches it
 * (a rollback) knows no work of this call is still running.
 */
export async function inLanes<T>(
  items: readonly T[],
  lanes: number,
  work: (item: T) => Promise<void>,
  stop: () => boolean = () => false,
  /** Awaited before a lane takes its next item (a paused migration waits here). */
  beforeEach?: () => Promise<void>,
  onFailure: OnLaneFailure = 'settle',
): Promise<number> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const halted = () => failure !== undefined || stop();
  const lane = async () => {
    for (;;) {
      if (beforeEach && next < items.length && !halted()) await beforeEach();
      if (next >= items.length || halted()) return;
      const item = items[next++]!;
      if (onFailure === 'propagate') await work(item);
      else {
        try {
          await work(item);
        } catch (error) {
          failure ??= { error };
          return;
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, lanes), items.length) }, lane));
  if (failure) throw failure.error;
  return next;
}
