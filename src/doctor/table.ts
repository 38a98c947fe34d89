export interface CheckResult {
  component: string;
  check: string;
  ok: boolean;
  /**
   * Passed, but needs a look (WAL piling up, a long transaction, no index): shown as WARN
   * with its fix; it does not fail doctor.
   */
  warning?: boolean;
  detail: string;
  /** What to do about a failure or a warning. */
  fix?: string;
}

/** A row's STATUS column: ok, WARN or FAIL. */
export function statusOf(r: CheckResult): 'ok' | 'WARN' | 'FAIL' {
  if (!r.ok) return 'FAIL';
  return r.warning ? 'WARN' : 'ok';
}

/** Renders results as a fixed-width table for a terminal. */
export function renderTable(results: CheckResult[]): string {
  const rows = results.map((r) => {
    const status = statusOf(r);
    return [r.component, r.check, status, status === 'ok' ? r.detail : [r.detail, r.fix].filter(Boolean).join(' — ')];
  });
  const header = ['COMPONENT', 'CHECK', 'STATUS', 'DETAIL'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  widths[3] = Math.min(widths[3]!, 120);
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** The components whose checks failed, once each, in order. */
export function failedComponents(results: CheckResult[]): string[] {
  return [...new Set(results.filter((r) => !r.ok).map((r) => r.component))];
}
