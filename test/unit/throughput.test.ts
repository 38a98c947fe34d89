import { throughputSeries } from '../../src/report/throughput';

const at = (s: number) => new Date(Date.UTC(2025, 5, 3, 14, 0, 0) + s * 1000).toISOString();

describe('throughputSeries', () => {
  it('sums the rows of the batches that finished in each bucket and divides by the bucket seconds', () => {
    // Span 0..60 s in 3 buckets of 20 s: [0,20) [20,40) [40,60].
    const points = [
      { at: at(0), rows: 100 },
      { at: at(5), rows: 300 },
      { at: at(19.999), rows: 200 },
      { at: at(20), rows: 400 },
      { at: at(60), rows: 1000 },
    ];
    const s = throughputSeries(points, 3);
    expect(s.seconds).toBe(60);
    expect(s.start).toBe(at(0));
    expect(s.end).toBe(at(60));
    expect(s.series.map((b) => b.t)).toEqual([10, 30, 50]);
    expect(s.series.map((b) => b.rowsPerSecond)).toEqual([600 / 20, 400 / 20, 1000 / 20]);
    expect(s.peak).toBe(50);
    expect(s.average).toBeCloseTo(2000 / 60, 10);
  });

  it('preserves the total: the sum of rate × bucket seconds is every row, whatever the bucket count', () => {
    const points = Array.from({ length: 600 }, (_, i) => ({ at: at(i * 0.3 + (i % 7) * 0.05), rows: 100 + ((i * 37) % 250) }));
    const total = points.reduce((a, p) => a + p.rows, 0);
    for (const buckets of [1, 7, 40, 60, 80]) {
      const s = throughputSeries(points, buckets);
      expect(s.series).toHaveLength(buckets);
      const width = s.seconds / buckets;
      expect(s.series.reduce((a, b) => a + b.rowsPerSecond * width, 0)).toBeCloseTo(total, 6);
      expect(s.average * s.seconds).toBeCloseTo(total, 6);
      expect(s.peak).toBe(Math.max(...s.series.map((b) => b.rowsPerSecond)));
    }
  });

  it('does not depend on the order of the points', () => {
    const points = [0, 12, 3, 40, 25].map((t, i) => ({ at: at(t), rows: (i + 1) * 10 }));
    expect(throughputSeries([...points].reverse(), 4)).toEqual(throughputSeries(points, 4));
  });

  it('widens the span to an earlier start given, and leaves the leading buckets empty', () => {
    const s = throughputSeries([{ at: at(10), rows: 500 }], 2, { start: at(0) });
    expect(s.seconds).toBe(10);
    expect(s.series).toEqual([
      { t: 2.5, rowsPerSecond: 0 },
      { t: 7.5, rowsPerSecond: 100 },
    ]);
    // A start after the first point cannot drop rows: the first point wins.
    expect(throughputSeries([{ at: at(0), rows: 5 }, { at: at(10), rows: 5 }], 1, { start: at(5) }).start).toBe(at(0));
  });

  it('returns an empty series for no points, and for a span of zero (a rate needs time)', () => {
    expect(throughputSeries([], 60)).toEqual({ start: '', end: '', seconds: 0, series: [], peak: 0, average: 0 });
    const single = throughputSeries([{ at: at(3), rows: 42 }], 60);
    expect(single).toMatchObject({ start: at(3), end: at(3), seconds: 0, series: [], peak: 0, average: 0 });
  });

  it('names the field it rejects', () => {
    expect(() => throughputSeries([], 0)).toThrow('buckets: expected a positive integer, got 0');
    expect(() => throughputSeries([], 2.5)).toThrow('buckets: expected a positive integer');
    expect(() => throughputSeries([{ at: at(0), rows: 1 }, { at: 'yesterday', rows: 1 }], 5)).toThrow('points[1].at: expected an ISO timestamp, got "yesterday"');
    expect(() => throughputSeries([{ at: at(0), rows: -1 }], 5)).toThrow('points[0].rows: expected a non-negative number');
    expect(() => throughputSeries([{ at: at(0), rows: 1 }], 5, { start: 'soon' })).toThrow('span.start');
  });
});
