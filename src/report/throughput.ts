/** Loaded batches bucketed into a rows-per-second series, for the report's chart. */

/** One loaded batch: when it finished and how many rows it loaded. */
export interface ThroughputPoint {
  at: string;
  rows: number;
}

export interface ThroughputSeries {
  /** Start of the first bucket (ISO); empty when there are no points. */
  start: string;
  /** End of the last bucket (ISO); empty when there are no points. */
  end: string;
  /** end − start. */
  seconds: number;
  /** One entry per bucket: t is the bucket's midpoint in seconds since start, the rate its rows / its seconds. */
  series: { t: number; rowsPerSecond: number }[];
  /** The highest bucket rate. */
  peak: number;
  /** All rows / seconds. */
  average: number;
}

/** Widens the span beyond the first and last point, e.g. to start at the workflow's start. */
export interface ThroughputSpan {
  /** Ignored when later than the first point. */
  start?: string;
  /** Ignored when earlier than the last point. */
  end?: string;
}

function timeOf(iso: string, field: string): number {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new RangeError(`${field}: expected an ISO timestamp, got ${JSON.stringify(iso)}`);
  return ms;
}

/**
 * Buckets batch points into `buckets` equal slices of the span and returns each slice's rate.
 * A batch counts in the slice where it finished; the last slice includes the end.
 * A span of zero (one point, or all at one instant, and no wider span given) has no rate: the series is empty.
 *
 * @example throughputSeries([{ at: '2025-01-01T00:00:10Z', rows: 500 }], 2, { start: '2025-01-01T00:00:00Z' })
 *   // → seconds 10, series [{ t: 2.5, rowsPerSecond: 0 }, { t: 7.5, rowsPerSecond: 100 }]
 */
export function throughputSeries(points: readonly ThroughputPoint[], buckets: number, span: ThroughputSpan = {}): ThroughputSeries {
  if (!Number.isInteger(buckets) || buckets < 1) throw new RangeError(`buckets: expected a positive integer, got ${buckets}`);
  if (points.length === 0) return { start: '', end: '', seconds: 0, series: [], peak: 0, average: 0 };

  const times = points.map((p, i) => {
    if (!Number.isFinite(p.rows) || p.rows < 0) throw new RangeError(`points[${i}].rows: expected a non-negative number, got ${p.rows}`);
    return timeOf(p.at, `points[${i}].at`);
  });
  // reduce, not Math.min(...times): a long run has more batches than a call has room for arguments.
  let startMs = times.reduce((a, b) => Math.min(a, b));
  let endMs = times.reduce((a, b) => Math.max(a, b));
  if (span.start !== undefined) startMs = Math.min(startMs, timeOf(span.start, 'span.start'));
  if (span.end !== undefined) endMs = Math.max(endMs, timeOf(span.end, 'span.end'));

  const spanMs = endMs - startMs;
  const seconds = spanMs / 1000;
  const start = new Date(startMs).toISOString();
  const end = new Date(endMs).toISOString();
  if (spanMs === 0) return { start, end, seconds: 0, series: [], peak: 0, average: 0 };

  const rows = new Array<number>(buckets).fill(0);
  points.forEach((p, i) => {
    const index = Math.min(buckets - 1, Math.floor(((times[i]! - startMs) * buckets) / spanMs));
    rows[index]! += p.rows;
  });
  const bucketSeconds = seconds / buckets;
  const series = rows.map((r, i) => ({ t: (i + 0.5) * bucketSeconds, rowsPerSecond: r / bucketSeconds }));
  const total = rows.reduce((a, b) => a + b, 0);
  return { start, end, seconds, series, peak: series.reduce((m, b) => Math.max(m, b.rowsPerSecond), 0), average: total / seconds };
}
