import { escapeHtml as esc, formatDuration, formatInt, formatTimestamp } from '../report/format';
import { reportCss, selfContainedPage } from '../report/html';
import type { AssessedTable, Assessment } from './assess';

/**
 * The assessment as one self-contained HTML page for a program manager: what is there, where
 * the personal data is and how exposed the plan leaves it, and what the run would quarantine.
 * Inline CSS and SVG, no scripts or network; every string escaped. Names, counts, kinds and
 * reasons only: an assessment holds no value of any row. Pure.
 */

const SCORE_COLOR = ['', '#10b981', '#84cc16', '#f59e0b', '#f97316', '#dc2626'];
const REASON_COLORS = ['#dc2626', '#f59e0b', '#3b82f6', '#8b5cf6', '#10b981', '#ec4899', '#6b7280', '#0ea5e9', '#a16207'];

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

const num = (n: number, cls = '') => `<td class="num${cls ? ` ${cls}` : ''}">${formatInt(n)}</td>`;
const scoreCell = (s: number) => `<td class="num"><span class="score" style="background:${SCORE_COLOR[s]}">${s}</span></td>`;
const badge = (text: string, tone: string) => `<span class="badge ${tone}">${esc(text)}</span>`;

/** A chart label of at most 46 characters (the full name is in the tables below). */
const label = (s: string) => (s.length > 46 ? `…${s.slice(-45)}` : s);

/** Seconds as the report shows them; under one second says so. */
const seconds = (s: number) => (s < 1 ? '< 1 s' : formatDuration(s));

/** Horizontal bars of each table's risk score, highest first. */
function riskChart(tables: readonly AssessedTable[]): string {
  const rows = [...tables].sort((a, b) => b.score - a.score || a.source.localeCompare(b.source));
  const left = 300;
  const width = 700;
  const barW = width - left - 40;
  const h = 22;
  const height = 40 + rows.length * h + 24;
  const bars = rows
    .map((t, i) => {
      const y = 36 + i * h;
      const w = (barW * t.score) / 5;
      return `<text x="${left - 8}" y="${y + 14}" text-anchor="end" class="lbl">${esc(label(`${t.source}${t.entity ? '' : ' (not migrated)'}`))}</text><rect x="${left}" y="${y + 3}" width="${w.toFixed(1)}" height="${h - 7}" rx="3" fill="${SCORE_COLOR[t.score]}"/><text x="${left + w + 6}" y="${y + 14}" class="val">${t.score}</text>`;
    })
    .join('');
  const ticks = [1, 2, 3, 4, 5].map((s) => `<line x1="${left + (barW * s) / 5}" x2="${left + (barW * s) / 5}" y1="32" y2="${height - 20}" class="grid"/><text x="${left + (barW * s) / 5}" y="${height - 6}" text-anchor="middle" class="tick">${s}</text>`).join('');
  return `<svg viewBox="0 0 ${width} ${height}" role="img" aria-label="Risk score by table"><text x="0" y="18" class="title">Risk score by table (1 low – 5 high)</text>${ticks}${bars}</svg>`;
}

/** Stacked bars of each entity's forecast quarantine, one colour per reason. */
function quarantineChart(a: Assessment): string {
  const reasons = Object.keys(a.preflight.byReason).sort((x, y) => a.preflight.byReason[y]! - a.preflight.byReason[x]!);
  const entities = a.preflight.forecast.filter((f) => f.quarantined > 0);
  if (!entities.length) return `<p class="empty">The forecast quarantines no row.</p>`;
  const left = 170;
  const width = 620;
  const barW = width - left - 60;
  const h = 24;
  const max = Math.max(...entities.map((e) => e.quarantined));
  const legendH = 20 * Math.ceil(reasons.length / 2);
  const height = 34 + entities.length * h + legendH + 16;
  const color = (r: string) => REASON_COLORS[reasons.indexOf(r) % REASON_COLORS.length];
  const bars = entities
    .map((e, i) => {
      const y = 30 + i * h;
      let x = left;
      const parts = reasons
        .map((r) => {
          const n = e.reasons.filter((c) => c.reason === r).reduce((s, c) => s + c.count, 0);
          if (!n) return '';
          const w = (barW * n) / max;
          const part = `<rect x="${x.toFixed(1)}" y="${y + 3}" width="${w.toFixed(1)}" height="${h - 8}" fill="${color(r)}"><title>${esc(`${e.entity}: ${n} ${r}`)}</title></rect>`;
          x += w;
          return part;
        })
        .join('');
      return `<text x="${left - 8}" y="${y + 15}" text-anchor="end" class="lbl">${esc(e.entity)}</text>${parts}<text x="${(x + 6).toFixed(1)}" y="${y + 15}" class="val">${formatInt(e.quarantined)}</text>`;
    })
    .join('');
  const legendY = 34 + entities.length * h;
  const legend = reasons.map((r, i) => `<rect x="${left + (i % 2) * 220}" y="${legendY + Math.floor(i / 2) * 20}" width="11" height="11" fill="${color(r)}"/><text x="${left + (i % 2) * 220 + 16}" y="${legendY + Math.floor(i / 2) * 20 + 10}" class="tick">${esc(r)} (${formatInt(a.preflight.byReason[r]!)})</text>`).join('');
  return `<svg viewBox="0 0 ${width} ${height}" role="img" aria-label="Forecast quarantine by entity and reason"><text x="0" y="16" class="title">Rows the run would quarantine, by reason</text>${bars}${legend}</svg>`;
}

function findingsText(c: AssessedTable['columns'][number]): string {
  return c.findings
    .map((f) => {
      const share = f.method === 'content' && f.sampled ? `, ${f.matched ?? 0}/${f.sampled} sampled` : '';
      const inside = f.inside?.length ? ` (${f.inside.join(', ')})` : f.paths?.length ? ` (${f.paths.map((p) => `${p.path}: ${p.kind}`).join(', ')})` : '';
      return `${esc(f.kind.replace(/_/g, ' '))}${esc(inside)} <span class="muted">by ${f.method}, ${Math.round(f.confidence * 100)} %${share}</span>`;
    })
    .join('<br>');
}

function attention(a: Assessment): string {
  const rows = a.tables.flatMap((t) => t.columns.filter((c) => c.findings.length).map((c) => ({ t, c }))).sort((x, y) => y.c.risk.score - x.c.risk.score || x.t.source.localeCompare(y.t.source));
  if (!rows.length) return `<section><h2>Personal data</h2><p class="empty">No column looks personal, by name or by content.</p></section>`;
  const body = rows
    .map(({ t, c }) => {
      const failing = a.strict.failing.some((f) => f.source === t.source && f.column === c.name);
      return `<tr${failing ? ' class="failing"' : ''}><th>${esc(t.source)}.<wbr>${esc(c.name)}</th><td>${findingsText(c)}</td><td>${esc(c.treatment.replace(/_/g, ' '))}${c.targets.length ? `<div class="muted">→ ${esc(c.targets.join(', '))}</div>` : ''}</td>${scoreCell(c.risk.score)}<td>${c.risk.control ? esc(c.risk.control) : '<span class="muted">—</span>'}</td></tr>`;
    })
    .join('\n');
  return `<section><h2>Personal data, by column ${a.strict.failing.length ? badge(`${a.strict.failing.length} above ${a.strict.threshold}, unprotected`, 'bad') : badge(`none above ${a.strict.threshold} unprotected`, 'ok')}</h2>
<p class="hint">Found by column name and by sampling ${formatInt(a.sampleRows)} rows per table. Score = sensitivity × what the plan does with it (copied in clear, tokenized and detokenized, token kept, dropped, not migrated).</p>
<div class="scroll"><table><thead><tr><th>column</th><th>found</th><th>plan</th><th class="num">score</th><th>control that would lower it</th></tr></thead><tbody>
${body}
</tbody></table></div></section>`;
}

function checks(a: Assessment): string {
  const body = a.preflight.checks.map((c) => `<tr><td>${c.ok ? (c.warning ? badge('WARN', 'warn') : badge('ok', 'ok')) : badge('FAIL', 'bad')}</td><td>${esc(c.component)}</td><td>${esc(c.check)}</td><td>${esc(c.detail)}${c.fix ? `<div class="muted">${esc(c.fix)}</div>` : ''}</td></tr>`).join('\n');
  return `<section><h2>Pre-flight checks</h2><div class="scroll"><table><thead><tr><th></th><th>component</th><th>check</th><th>detail</th></tr></thead><tbody>
${body}
</tbody></table></div></section>`;
}

function forecast(a: Assessment): string {
  const body = a.preflight.forecast
    .map((f) => {
      const skipped = Object.values(f.skipped).reduce((x, y) => x + y, 0);
      const reasons = f.reasons.map((r) => `${formatInt(r.count)} ${esc(r.reason)}${r.column || r.constraint ? ` <span class="muted">(${esc([r.column, r.constraint].filter(Boolean).join(', '))})</span>` : ''}`).join('<br>');
      return `<tr><th>${esc(f.entity)}</th>${num(f.rowsRead)}${num(skipped, skipped ? '' : 'zero')}${num(f.wouldLoad)}${num(f.quarantined, f.quarantined ? 'bad' : 'zero')}<td class="num">${(f.ratio * 100).toFixed(2)} %</td><td>${reasons || '<span class="muted">—</span>'}${f.limited ? '<div class="muted">first rows only</div>' : ''}</td></tr>`;
    })
    .join('\n');
  return `<section><h2>What the run would quarantine ${a.preflight.abort ? badge('would abort', 'bad') : ''}</h2>
${a.preflight.abort ? `<p class="headline">${esc(a.preflight.abort)}</p>` : ''}
<p class="hint">Every row read in read-only snapshots and run through the migration's own mapping, tokens (placeholders), references and business keys; the target asked, read-only, for its types, NOT NULL and CHECK constraints.</p>
<div class="scroll"><table><thead><tr><th>entity</th><th class="num">rows</th><th class="num">skipped</th><th class="num">would load</th><th class="num">quarantined</th><th class="num">share</th><th>by reason</th></tr></thead><tbody>
${body}
</tbody></table></div><div class="qchart">${quarantineChart(a)}</div></section>`;
}

function inventory(a: Assessment): string {
  const body = a.tables
    .map((t) => {
      const largest = t.columns.reduce((m, c) => (c.largestBytes > m.largestBytes ? c : m), t.columns[0]!);
      const files = t.files.map((f) => `${esc(f.column)}: ${formatInt(f.objects)} objects, ~${bytes(f.estimatedBytes)}, largest ${bytes(f.largestBytes)}${f.missing ? ` <span class="bad">${f.missing} of ${f.sampled} sampled missing</span>` : ''}<div class="muted">${f.sizeClasses.filter((c) => c.count).map((c) => `${esc(c.label)}: ${c.count}`).join(' · ')}</div>`).join('');
      return `<tr><th>${esc(t.source)}</th><td>${t.entity ? esc(t.entity) : '<span class="muted">not migrated</span>'}</td><td class="num">${formatInt(t.rows)}${t.rowsExact ? '' : ' <span class="muted">est.</span>'}</td><td class="num">${bytes(t.bytes)}</td><td class="num">${t.growth ? `${formatInt(t.growth.perDay)}/day` : '<span class="muted">—</span>'}</td><td>${largest ? `${esc(largest.name)} <span class="muted">${bytes(largest.largestBytes)}</span>` : ''}</td><td>${files || '<span class="muted">—</span>'}</td><td class="num">${t.estimatedSeconds !== undefined ? seconds(t.estimatedSeconds) : '<span class="muted">—</span>'}</td>${scoreCell(t.score)}</tr>`;
    })
    .join('\n');
  return `<section><h2>Inventory</h2>
<p class="hint">Growth from the plan's change column (last 30 days). Duration: rows ÷ the rate at which this machine read, mapped and checked them in the pre-flight; the load's writes, ledger and staging come on top.</p>
<div class="scroll"><table><thead><tr><th>source</th><th>entity</th><th class="num">rows</th><th class="num">size</th><th class="num">growth</th><th>largest value</th><th>files</th><th class="num">read+map</th><th class="num">risk</th></tr></thead><tbody>
${body}
</tbody></table></div></section>`;
}

const css = `${reportCss}
.score{display:inline-block;min-width:22px;text-align:center;color:#fff;font-weight:700;border-radius:4px;padding:2px 6px}
.muted{color:var(--muted);font-size:12px}
tr.failing th,tr.failing td{background:#fef2f2}
svg{width:100%;height:auto}
section.chart svg{max-width:820px;display:block}
.qchart{max-width:760px;margin-top:14px}
svg .title{font-size:13px;font-weight:600;fill:#374151}
svg .lbl{font-size:11.5px;fill:#374151}
svg .val,svg .tick{font-size:11px;fill:#6b7280}
svg .grid{stroke:#e5e7eb}
`;

export function renderAssessmentHtml(a: Assessment): string {
  const personal = a.tables.reduce((n, t) => n + t.columns.filter((c) => c.findings.length).length, 0);
  const migrated = a.tables.filter((t) => t.entity);
  const top = Math.max(1, ...a.tables.map((t) => t.score));
  const quarantined = a.preflight.forecast.reduce((n, f) => n + f.quarantined, 0);
  const failedChecks = a.preflight.checks.filter((c) => !c.ok).length;
  const readMap = migrated.reduce((n, t) => n + (t.estimatedSeconds ?? 0), 0);
  const card = (k: string, v: string, note = '', warn = false) => `<div class="card${warn ? ' warn' : ''}"><div class="k">${esc(k)}</div><div class="v">${v}</div><div class="note">${note}</div></div>`;
  return selfContainedPage(
    `Assessment of ${esc(a.plan.name)}`,
    css,
    `<header><div class="eyebrow">Cutover pre-migration assessment</div>
<h1>${esc(a.plan.name)} ${a.strict.failing.length ? badge('unprotected personal data', 'bad') : badge('personal data protected', 'ok')} ${failedChecks ? badge(`${failedChecks} check(s) failed`, 'bad') : badge('pre-flight ok', 'ok')} ${a.preflight.abort ? badge('would abort', 'bad') : ''}</h1>
<dl class="meta"><div><dt>migration id</dt><dd><code>${esc(a.plan.migrationId)}</code></dd></div><div><dt>assessed</dt><dd>${esc(formatTimestamp(a.assessedAt))}</dd></div><div><dt>strict threshold</dt><dd>score above ${a.strict.threshold} and unprotected fails</dd></div></dl></header>
<section class="cards">
${card('source tables', formatInt(a.tables.length), `${migrated.length} migrated`)}
${card('rows', formatInt(a.tables.reduce((n, t) => n + t.rows, 0)), bytes(a.tables.reduce((n, t) => n + t.bytes, 0)))}
${card('personal columns', formatInt(personal), 'by name or content')}
${card('highest risk', `<span class="score" style="background:${SCORE_COLOR[top]}">${top}</span>`, `${a.strict.failing.length} column(s) fail --strict`, a.strict.failing.length > 0)}
${card('would quarantine', formatInt(quarantined), Object.entries(a.preflight.byReason).map(([r, n]) => `${formatInt(n)} ${esc(r)}`).join(', ') || 'nothing', quarantined > 0)}
${card('read + map', seconds(readMap), 'measured here; writes come on top')}
</section>
<section class="chart">${riskChart(a.tables)}</section>
${attention(a)}
${forecast(a)}
${checks(a)}
${inventory(a)}
<footer>Generated ${esc(formatTimestamp(a.assessedAt))} by Cutover · column names, kinds, counts and reasons only; no value of any row.</footer>`,
  );
}
