/**
 * Failure types a retry cannot fix: the workflow stops (and, later, rolls back) on them.
 * Plain data, so workflow code (the retry policy in src/workflows/proxies.ts) and activities
 * (which raise them) share one list.
 */
export const NON_RETRYABLE: string[] = ['IntegrityError', 'PlanMismatch', 'SourceWritable', 'AbortThresholdExceeded'];
