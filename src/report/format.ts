/** Text for the HTML report: escaping, and numbers and times that read the same on every machine. */

const entities: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for an HTML text node or a quoted attribute value. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => entities[c]!);
}

/** 1234567 → "1,234,567" (no locale: the page must not depend on the machine that rendered it). */
export function formatInt(n: number): string {
  if (!Number.isFinite(n)) return '—';
  const sign = n < 0 ? '-' : '';
  return sign + String(Math.round(Math.abs(n))).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** A rate: one decimal below 10, whole numbers above. */
export function formatRate(n: number): string {
  if (!Number.isFinite(n)) return '—';
  return Math.abs(n) < 10 && n !== 0 ? n.toFixed(1) : formatInt(n);
}

/** Seconds as "1h 02m 03s", "2m 05s", "42s" or "0.4s". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '—';
  if (seconds < 10) return `${Number(seconds.toFixed(1))}s`;
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (x: number) => String(x).padStart(2, '0');
  if (h) return `${h}h ${pad(m)}m ${pad(s % 60)}s`;
  if (m) return `${m}m ${pad(s % 60)}s`;
  return `${s}s`;
}

/** Seconds as a clock offset: "0:00", "1:30", "1:02:03". */
export function formatOffset(seconds: number): string {
  if (seconds < 0) return `-${formatOffset(-seconds)}`;
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** Milliseconds since the epoch, or undefined for a missing or unparseable time. */
export function parseTime(iso: string | undefined): number | undefined {
  if (!iso) return undefined;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? undefined : ms;
}

/** "14:03:20" in UTC. */
export function formatClock(ms: number): string {
  return new Date(ms).toISOString().slice(11, 19);
}

/** "2025-05-01 14:03:20 UTC"; an unparseable value is shown as given. */
export function formatTimestamp(iso: string): string {
  const ms = parseTime(iso);
  return ms === undefined ? iso : `${new Date(ms).toISOString().slice(0, 10)} ${formatClock(ms)} UTC`;
}
