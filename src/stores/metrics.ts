import { Context } from '@temporalio/activity';
import type { MetricMeter } from '@temporalio/common';

/**
 * Cutover's own Prometheus metrics, through the activity's metric meter: they are served by
 * the worker's Temporal runtime on the same /metrics endpoint as Temporal's own, tagged with
 * the migration and the entity. Counts only, never values.
 */
function meter(): MetricMeter | undefined {
  try {
    return Context.current().metricMeter;
  } catch {
    return undefined; // called outside an activity (a test)
  }
}

type Tags = { migration: string; entity: string };

export function countStaged(tags: Tags, counts: { extracted: number; staged: number; quarantined: number; bytes: number }): void {
  const m = meter();
  if (!m) return;
  m.createCounter('cutover_batches_staged', 'batches', 'Batches extracted, tokenized and staged').add(1, tags);
  m.createCounter('cutover_rows_extracted', 'rows', 'Source rows read').add(counts.extracted, tags);
  m.createCounter('cutover_rows_staged', 'rows', 'Rows staged to encrypted S3').add(counts.staged, tags);
  m.createCounter('cutover_rows_quarantined', 'rows', 'Rows quarantined, by step').add(counts.quarantined, { ...tags, step: 'stage' });
  m.createCounter('cutover_bytes_staged', 'bytes', 'Bytes written to staging: encrypted rows and manifest, and files').add(counts.bytes, tags);
}

export function countLoaded(tags: Tags, counts: { inserted: number; updated: number; unchanged: number; quarantined: number; detokenized: number }): void {
  const m = meter();
  if (!m) return;
  m.createCounter('cutover_batches_loaded', 'batches', 'Batches loaded into the target').add(1, tags);
  const rows = m.createCounter('cutover_rows_loaded', 'rows', 'Rows loaded into the target, by outcome');
  rows.add(counts.inserted, { ...tags, outcome: 'inserted' });
  rows.add(counts.updated, { ...tags, outcome: 'updated' });
  rows.add(counts.unchanged, { ...tags, outcome: 'unchanged' });
  m.createCounter('cutover_rows_quarantined', 'rows', 'Rows quarantined, by step').add(counts.quarantined, { ...tags, step: 'load' });
  m.createCounter('cutover_values_detokenized', 'values', 'Distinct tokens turned back into originals for the target').add(counts.detokenized, tags);
}

/** Sync lag as gauges: how many changes and seconds the target is behind, and WAL the slot retains. */
export function recordSyncLag(tags: { migration: string }, lag: { changes: number; seconds: number; retainedWalBytes?: number; walAlarm?: boolean }): void {
  const m = meter();
  if (!m) return;
  m.createGauge('cutover_sync_changes_behind', 'int', 'changes', 'Changes captured by the last sync round, not yet applied when captured').set(lag.changes, tags);
  m.createGauge('cutover_sync_lag_seconds', 'int', 's', 'Age of the oldest change the last sync round captured').set(lag.seconds, tags);
  if (lag.retainedWalBytes !== undefined) {
    m.createGauge('cutover_sync_retained_wal_bytes', 'int', 'bytes', "WAL the source keeps for the migration's replication slot").set(lag.retainedWalBytes, tags);
    m.createGauge('cutover_sync_wal_alarm', 'int', '', "1 when the slot's retained WAL is past the plan's limit").set(lag.walAlarm ? 1 : 0, tags);
  }
}

/**
 * Time (µs) spent in one step of a stage or load, as the counter `cutover_step_microseconds`
 * tagged with the step: what `npm run bench` divides by the rows to say where a row's time goes.
 * Lanes overlap, so the steps of a run add up to more than its wall time.
 */
export async function timed<T>(tags: Tags, step: string, work: () => Promise<T> | T): Promise<T> {
  const start = process.hrtime.bigint();
  try {
    return await work();
  } finally {
    meter()
      ?.createCounter('cutover_step_microseconds', 'us', 'Time in each step of staging and loading (lanes overlap)')
      .add(Number((process.hrtime.bigint() - start) / 1000n), { ...tags, step });
  }
}
