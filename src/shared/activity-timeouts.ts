/**
 * How long Temporal waits for a batch activity's heartbeat before it retries the batch on
 * another worker (a killed worker's batch). Batch activities heartbeat every 5 s; the bench
 * reports it beside a kill run's extra time.
 */
export const BATCH_HEARTBEAT_SECONDS = 30;
