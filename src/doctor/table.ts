export interface CheckResult {
  component: string;
  check: string;
  ok: boolean;
  detail: string;
  /** What to do about a failure. */
  fix?: string;
}

/** Renders results as a fixed-width table for a terminal. */
export function renderTable(results: CheckResult[]): string {
  const rows = results.map((r) => [r.component, r.check, r.ok ? 'ok' : 'FAIL', r.ok ? r.detail : [r.detail, r.fix].filter(Boolean).join(' — ')]);
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
