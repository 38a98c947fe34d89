import { escapeHtml, formatClock, formatDuration, formatOffset, formatRate, parseTime } from './format';
import type { ThroughputSeries } from './throughput';

export interface ThroughputChartOptions {
  /** Width of the drawing in SVG units; the element scales to its container. @default 1100 */
  width?: number;
  /** @default 300 */
  height?: number;
  /** @default 'Throughput' */
  title?: string;
}

const margin = { top: 46, right: 28, bottom: 58, left: 70 };

/** A "nice" step (1, 2 or 5 × 10^k) near `raw`. */
function niceStep(raw: number): number {
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const f = raw / magnitude;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * magnitude;
}

/** Seconds between time ticks: steps a reader counts in, at most about 8 ticks. */
const timeSteps = [1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];
function timeStep(seconds: number): number {
  return timeSteps.find((s) => seconds / s <= 8) ?? niceStep(seconds / 8);
}

const n = (x: number) => Number(x.toFixed(1));

/**
 * The throughput series as an inline SVG line-and-area chart with axes, grid and tick labels:
 * elapsed time and clock time (UTC) below, rows per second at the left, the average as a dashed line.
 * Self-contained: no scripts, fonts or external references.
 */
export function throughputSvg(s: ThroughputSeries, opts: ThroughputChartOptions = {}): string {
  const width = opts.width ?? 1100;
  const height = opts.height ?? 300;
  const title = opts.title ?? 'Throughput';
  const w = width - margin.left - margin.right;
  const h = height - margin.top - margin.bottom;
  const x0 = margin.left;
  const y0 = margin.top + h; // the baseline

  const top = Math.max(s.peak, s.average);
  const yStep = niceStep((top > 0 ? top : 1) / 5);
  const yMax = Math.max(yStep, Math.ceil(top / yStep) * yStep);
  const x = (t: number) => x0 + (s.seconds > 0 ? (t / s.seconds) * w : w / 2);
  const y = (r: number) => y0 - (r / yMax) * h;

  const parts: string[] = [];
  const bucketSeconds = s.series.length ? s.seconds / s.series.length : 0;
  const subtitle = s.series.length
    ? `rows loaded per second · ${s.series.length} bucket${s.series.length === 1 ? '' : 's'} of ${formatDuration(bucketSeconds)} · peak ${formatRate(s.peak)} · average ${formatRate(s.average)}`
    : 'no data';
  parts.push(`<text class="chart-title" x="${x0}" y="18" font-size="16" font-weight="600" fill="#1f2937">${escapeHtml(title)}</text>`);
  parts.push(`<text x="${x0}" y="37" font-size="12" fill="#6b7280">${escapeHtml(subtitle)}</text>`);

  // Rows-per-second axis: grid lines and labels.
  for (let i = 0; i <= Math.round(yMax / yStep); i++) {
    const v = i * yStep;
    const yy = n(y(v));
    parts.push(`<line x1="${x0}" x2="${x0 + w}" y1="${yy}" y2="${yy}" stroke="${v === 0 ? '#9ca3af' : '#e5e7eb'}" stroke-width="1"/>`);
    parts.push(`<text x="${x0 - 8}" y="${yy + 4}" font-size="11" text-anchor="end" fill="#4b5563">${formatRate(v)}</text>`);
  }
  parts.push(`<text transform="translate(16 ${n(margin.top + h / 2)}) rotate(-90)" font-size="11" text-anchor="middle" fill="#4b5563">rows/s</text>`);

  // Time axis: elapsed above, clock time (UTC) below.
  const startMs = parseTime(s.start);
  if (s.seconds > 0) {
    const step = timeStep(s.seconds);
    for (let i = 0; i * step <= s.seconds + 1e-9; i++) {
      const t = i * step;
      const xx = n(x(t));
      parts.push(`<line x1="${xx}" x2="${xx}" y1="${y0}" y2="${y0 + 5}" stroke="#9ca3af"/>`);
      parts.push(`<text x="${xx}" y="${y0 + 18}" font-size="11" text-anchor="middle" fill="#374151">${formatOffset(t)}</text>`);
      if (startMs !== undefined) parts.push(`<text x="${xx}" y="${y0 + 32}" font-size="10" text-anchor="middle" fill="#9ca3af">${formatClock(startMs + t * 1000)}</text>`);
    }
  }
  parts.push(`<text x="${x0 + w}" y="${height - 6}" font-size="11" text-anchor="end" fill="#4b5563">elapsed (m:ss) · clock time UTC</text>`);

  if (s.series.length) {
    const xy = s.series.map((b) => [n(x(b.t)), n(y(b.rowsPerSecond))] as const);
    const pts = xy.map(([px, py]) => `${px},${py}`);
    const first = n(x(s.series[0]!.t));
    const last = n(x(s.series[s.series.length - 1]!.t));
    // One bucket is one rate over the whole span: shade all of it, not a zero-width sliver.
    const area = xy.length === 1 ? `M${x0},${y0} L${x0},${xy[0]![1]} L${x0 + w},${xy[0]![1]} L${x0 + w},${y0} Z` : `M${first},${y0} L${pts.join(' L')} L${last},${y0} Z`;
    parts.push(`<path class="area" d="${area}" fill="#2563eb" fill-opacity="0.12" stroke="none"/>`);
    parts.push(`<polyline class="line" points="${pts.join(' ')}" fill="none" stroke="#2563eb" stroke-width="2" stroke-linejoin="round"/>`);
    // Few buckets make a line hard to see; mark each one.
    if (s.series.length <= 12) for (const [px, py] of xy) parts.push(`<circle cx="${px}" cy="${py}" r="3.5" fill="#2563eb"/>`);
    const ya = n(y(s.average));
    parts.push(`<line class="average" x1="${x0}" x2="${x0 + w}" y1="${ya}" y2="${ya}" stroke="#d97706" stroke-width="1.5" stroke-dasharray="6 4"/>`);
    // Legend at the top right, clear of the line.
    const lx = x0 + w;
    parts.push(`<line x1="${lx - 250}" x2="${lx - 226}" y1="33" y2="33" stroke="#2563eb" stroke-width="2"/>`);
    parts.push(`<text x="${lx - 220}" y="37" font-size="11" fill="#374151">rows/s per bucket</text>`);
    parts.push(`<line x1="${lx - 112}" x2="${lx - 88}" y1="33" y2="33" stroke="#d97706" stroke-width="1.5" stroke-dasharray="6 4"/>`);
    parts.push(`<text x="${lx - 82}" y="37" font-size="11" fill="#374151">average ${formatRate(s.average)}</text>`);
  } else {
    parts.push(`<text x="${n(x0 + w / 2)}" y="${n(margin.top + h / 2)}" font-size="13" text-anchor="middle" fill="#6b7280">No throughput to plot</text>`);
  }

  const label = `${title}: ${subtitle}`;
  return [
    `<svg data-testid="throughput-chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="100%" role="img" aria-label="${escapeHtml(label)}" font-family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif" style="width:100%;height:auto;display:block">`,
    `<title>${escapeHtml(label)}</title>`,
    ...parts,
    '</svg>',
  ].join('\n');
}
