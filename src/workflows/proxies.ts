import { ActivityCancellationType, proxyActivities, RetryPolicy } from '@temporalio/workflow';
import type { Activities } from '../activities';

import { BATCH_HEARTBEAT_SECONDS } from '../shared/activity-timeouts';
import { NON_RETRYABLE } from '../shared/non-retryable';
/**
 * What a retry cannot fix fails at once (the types above, and database errors of class 42,
 * marked non-retryable where they are raised). Anything else is treated as transient (a
 * database, S3 or KMS outage, a worker without the plan's connection variable): retried at
 * most a minute apart for up to a day, while `cutover status` shows it and an operator may
 * pause, fix, or roll back. Only then does the migration fail (and roll back).
 */
const retry: RetryPolicy = { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute', nonRetryableErrorTypes: NON_RETRYABLE };
const RETRY_FOR = '24 hours';

/** Preparing and whole-phase checks read catalogs and scan tables: minutes on a large source. */
export const slow = proxyActivities<Activities>({ startToCloseTimeout: '2 hours', scheduleToCloseTimeout: RETRY_FOR, heartbeatTimeout: '2 minutes', retry });

/**
 * Batch activities: a batch is at most 100k rows and heartbeats every 5 s, so a killed
 * worker's batch is retried elsewhere after 30 s instead of after the start-to-close timeout.
 */
export const batch = proxyActivities<Activities>({ startToCloseTimeout: '20 minutes', scheduleToCloseTimeout: RETRY_FOR, heartbeatTimeout: `${BATCH_HEARTBEAT_SECONDS} seconds`, retry });

/**
 * The same, but a cancelled batch activity is waited for: its promise settles only once the
 * activity has ended (cancelled, failed or completed), so nothing of it can still commit. The
 * SDK's default is to resolve at once (TRY_CANCEL), whatever its documentation says. Runs
 * started before the STOP_RUNS_BEFORE_ROLLBACK patch keep `batch`.
 */
export const batchWaitingOnCancel = proxyActivities<Activities>({
  startToCloseTimeout: '20 minutes',
  scheduleToCloseTimeout: RETRY_FOR,
  heartbeatTimeout: `${BATCH_HEARTBEAT_SECONDS} seconds`,
  retry,
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
});

/** Compensations must finish: they retry until they do (an operator can still terminate). */
export const compensate = proxyActivities<Activities>({
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '2 minutes',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' }, // no attempt limit
});

/**
 * The slot's follower runs as long as the migration syncs: it heartbeats every tick, so a killed
 * worker's follower starts again elsewhere within 30 s (rounds read the slot themselves meanwhile),
 * and it is tried again for as long as it fails (an outage of the source or control database).
 */
export const follow = proxyActivities<Activities>({
  startToCloseTimeout: '30 days',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '10 seconds', nonRetryableErrorTypes: NON_RETRYABLE },
});
