/** The running activity's heartbeat and cancellation, for the stores and steps that wait on I/O. */
import { CancelledFailure, Context } from '@temporalio/activity';

/**
 * Throws the activity's cancellation if the workflow asked for it (it arrives with a heartbeat's
 * answer); a no-op outside an activity. Called where work is about to become permanent.
 */
export function throwIfCancelled(): void {
  let ctx: Context;
  try {
    ctx = Context.current();
  } catch {
    return;
  }
  if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason instanceof Error ? ctx.cancellationSignal.reason : new CancelledFailure('activity cancelled');
}

/** Heartbeats every few seconds while `work` runs, so a long phase does not look dead. */
export async function withHeartbeat<T>(details: unknown, work: () => Promise<T>): Promise<T> {
  let ctx: Context | undefined;
  try {
    ctx = Context.current();
  } catch {
    return work(); // called outside an activity (a test)
  }
  ctx.heartbeat(details);
  const timer = setInterval(() => ctx!.heartbeat(details), 5000);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}
