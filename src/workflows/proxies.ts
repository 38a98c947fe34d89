import { proxyActivities, RetryPolicy } from '@temporalio/workflow';
import type { Activities } from '../activities';

const NON_RETRYABLE = ['IntegrityError', 'PlanMismatch', 'SourceWritable', 'AbortThresholdExceeded'];
const retry: RetryPolicy = { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 20, nonRetryableErrorTypes: NON_RETRYABLE };

/** Preparing and whole-phase checks read catalogs and scan tables: minutes on a large source. */
export const slow = proxyActivities<Activities>({ startToCloseTimeout: '2 hours', heartbeatTimeout: '2 minutes', retry });

/**
 * Batch activities: a batch is at most 100k rows and heartbeats every 5 s, so a killed
 * worker's batch is retried elsewhere after 30 s instead of after the start-to-close timeout.
 */
export const batch = proxyActivities<Activities>({ startToCloseTimeout: '20 minutes', heartbeatTimeout: '30 seconds', retry });

/** Compensations must finish: they retry until they do (an operator can still terminate). */
export const compensate = proxyActivities<Activities>({
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '2 minutes',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' }, // no attempt limit
});
