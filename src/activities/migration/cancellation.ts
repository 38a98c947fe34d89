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
