import type { EntityProgress, MigrationReport, RollbackRecord } from '../shared/migration';
import { throughputSvg } from './chart';
import { escapeHtml as esc, formatDuration, formatInt, formatOffset, formatRate, formatTimestamp, parseTime } from './format';
import { differingTables, headline, rollbackVerdict } from './headline';
import type { ReportData } from './report-data';
import { shreddedText } from '../migration-status';
import { throughputSeries, type ThroughputSeries } from './throughput';
import { skippedRows, skippedText, verifiedLine } from '../shared/progress';

/** About four batches per bucket, at most 60: fewer and the line is noise, more and it is a comb. */
function bucketCount(points: number): number {
  return Math.min(60, Math.max(1, Math.ceil(points / 4)));
}

const loadedRows = (e: EntityProgress) => e.inserted + e.updated + e.unchanged;
const sum = <T>(xs: readonly T[], f: (x: T) => number) => xs.reduce((a, x) => a + f(x), 0);
const num = (n: number, cls = '') => `<td class="num${cls ? ` ${cls}` : ''}">${formatInt(n)}</td>`;
/** A count that should be zero: red when it is not. */
const bad = (n: number) => num(n, n ? 'bad' : 'zero');

const statusTone: Record<MigrationReport['status'], string> = {
  running: 'info',
  paused: 'warn',
  'awaiting-approval': 'warn',
  syncing: 'info',
  'cutting-over': 'info',
  completed: 'ok',
  failed: 'bad',
  cancelled: 'warn',
  'rolling-back': 'warn',
  'rollback-blocked': 'bad',
  'rolled-back': 'neutral',
};

function badge(text: string, tone: string): string {
  return `<span class="badge ${tone}">${esc(text)}</span>`;
}

function hasDifferences(r: MigrationReport): boolean {
  return r.entities.some((e) => e.reconcile.missing + e.reconcile.mismatched + e.reconcile.duplicated > 0) || r.phases.some((p) => !p.clean);
}

/**
 * The outcome beside the status: for a rolled-back, blocked or failed run what happened to the
 * target (never "clean"), otherwise whether it reconciled.
 */
function cleanBadge(r: MigrationReport): string {
  const rb = r.rollback;
  if (r.status === 'rolled-back') return rb?.restored ? badge('target restored', 'ok') : badge(rb && rb.before.length === 0 ? 'target not verified' : 'target checksums differ', 'bad');
  if (r.status === 'rollback-blocked') return badge('rollback blocked', 'bad');
  if (r.status === 'rolling-back') return badge('rolling back', 'warn');
  if (r.status === 'failed') return badge('failed', 'bad');
  if (r.clean) return badge('clean', 'ok');
  if (!hasDifferences(r) && ['running', 'paused', 'awaiting-approval'].includes(r.status)) return badge('not yet reconciled', 'neutral');
  return badge('differences', 'bad');
}

/** Only http(s) links: a javascript: URL in the data must not become clickable. */
function link(url: string | undefined, text: string): string {
  return url && /^https?:\/\//i.test(url) ? `<a href="${esc(url)}" rel="noopener noreferrer">${esc(text)}</a>` : '';
}

interface Clock {
  startMs?: number;
  endMs?: number;
  /** No close time yet: the end is the report's own time. */
  open: boolean;
}

function clockOf(data: ReportData): Clock {
  const startMs = parseTime(data.workflow.startTime) ?? parseTime(data.timings[0]?.at);
  const closeMs = parseTime(data.workflow.closeTime);
  return { startMs, endMs: closeMs ?? parseTime(data.generatedAt), open: closeMs === undefined };
}

const elapsedSeconds = (c: Clock) => (c.startMs !== undefined && c.endMs !== undefined && c.endMs >= c.startMs ? (c.endMs - c.startMs) / 1000 : undefined);

function header(data: ReportData, clock: Clock): string {
  const r = data.report;
  const w = data.workflow;
  const elapsed = elapsedSeconds(clock);
  const webUi = link(w.url, 'Open in Temporal Web UI ↗');
  const meta: [string, string][] = [
    ['Started by', esc(r.startedBy)],
    ['Plan hash', `<code class="hash">${esc(r.planHash)}</code>`],
    ['Workflow', `<code>${esc(w.workflowId)}</code> ${badge(w.status, 'neutral')}${webUi ? `<br>${webUi}` : ''}`],
    ['Started', w.startTime ? esc(formatTimestamp(w.startTime)) : '—'],
    [clock.open ? 'Elapsed so far' : 'Duration', elapsed === undefined ? '—' : esc(formatDuration(elapsed))],
  ];
  if (w.closeTime) meta.splice(4, 0, ['Closed', esc(formatTimestamp(w.closeTime))]);
  if (r.plan) meta.unshift(['Plan', esc(r.plan)]);
  if (r.phase) meta.push(['Current phase', esc(r.phase)]);
  if (data.rollbackWindow) {
    const rw = data.rollbackWindow;
    meta.push([
      'Rollback window',
      rw.state === 'closed'
        ? `${badge('closed', 'neutral')} by ${esc(rw.closedBy ?? '?')}${rw.closedAt ? ` at ${esc(formatTimestamp(rw.closedAt))}` : ''}${rw.reason ? ` (${esc(rw.reason)})` : ''}`
        : `${badge('open', 'warn')} <code>cutover rollback ${esc(r.migrationId)}</code> can still undo it`,
    ]);
  }
  if (data.keysShredded) meta.push(['Keys', `${badge('shredded', 'bad')} ${esc(shreddedText({ ...data.keysShredded, at: formatTimestamp(data.keysShredded.at) }))}; <code>cutover rollback</code> is refused`]);
  if (data.leftBehind) {
    const left = data.leftBehind;
    const tables = left.note ? esc(left.note) : left.tables.length ? left.tables.map((t) => `<code>${esc(t.table)}</code> ${formatInt(t.inserted)} inserted, ${formatInt(t.updated)} updated`).join('<br>') : 'nothing';
    meta.push(['Left in the target', `${badge('nothing undone', 'bad')} ${tables}${left.files ? `<br>${formatInt(left.files)} file(s) copied` : ''}<br>${left.refused ? `<code>${esc(left.undo)}</code> is refused: ${esc(left.refused)}` : `<code>${esc(left.undo)}</code> undoes it`}`]);
  }
  for (const m of data.missing ?? []) meta.push(['Missing from this report', esc(m)]);
  if (data.rollbackWorkflow) {
    const link2 = link(data.rollbackWorkflow.url, 'Open in Temporal Web UI ↗');
    meta.push([data.workflow.status === 'COMPLETED' ? 'Rollback after completion' : 'Rollback after its end', `<code>${esc(data.rollbackWorkflow.workflowId)}</code> ${badge(data.rollbackWorkflow.status, 'neutral')}${link2 ? `<br>${link2}` : ''}`]);
  }
  if (r.controls) {
    const c = r.controls;
    const throttle = c.throttleRowsPerSecond ? `${formatInt(c.throttleRowsPerSecond)} rows/s` : 'none';
    meta.push(['Controls', `throttle ${esc(throttle)} · batch size ${c.batchSize ? formatInt(c.batchSize) : 'as planned'}${c.paused ? ` ${badge('paused', 'warn')}` : ''}`]);
  }
  if (r.residency) {
    const u = r.residency.used;
    meta.push([
      'Residency',
      `${r.residency.required.map((q) => `${esc(q.region)} (<code>${esc(q.path)}</code>)`).join(', ')}<br>bucket ${esc(u.bucket)} · keys ${Object.entries(u.keys)
        .map(([k, v]) => `${esc(k)} ${esc(v)}`)
        .join(', ')} · clients ${Object.entries(u.clients)
        .map(([k, v]) => `${esc(k)} ${esc(v)}`)
        .join(', ')}`,
    ]);
  }
  const rehearsal = data.rehearsal;
  if (rehearsal) meta.unshift(['Rehearsal of', `<code>${esc(rehearsal.of)}</code> · sandbox <code>$${esc(rehearsal.sandboxEnv)}</code>`]);
  return `<header>
${rehearsal ? rehearsalBanner(rehearsal) : ''}<div class="eyebrow">Cutover ${rehearsal ? 'rehearsal' : 'migration'} report</div>
<h1>${esc(r.migrationId)} ${badge(r.status, statusTone[r.status] ?? 'neutral')} ${cleanBadge(r)}</h1>
<p class="headline" data-testid="headline">${esc(headline(r))}</p>
<dl class="meta">${meta.map(([k, v]) => `<div><dt>${k}</dt><dd>${v}</dd></div>`).join('')}</dl>
</header>`;
}

/** A rehearsal's report says so before anything else: what it loaded is tokens, into a sandbox. */
function rehearsalBanner(r: NonNullable<ReportData['rehearsal']>): string {
  return `<div class="rehearsal" role="note" data-testid="rehearsal"><strong>REHEARSAL</strong> — masked sandbox, nothing detokenized. ${esc(
    `A rehearsal of ${r.of} into the sandbox database $${r.sandboxEnv}, not the real target: every personal value there is a token, no file was copied, and no delta sync ran.`,
  )}</div>
`;
}

function summary(data: ReportData, clock: Clock, series: ThroughputSeries): string {
  const es = data.report.entities;
  const elapsed = elapsedSeconds(clock);
  const loaded = sum(es, loadedRows);
  const average = series.series.length ? series.average : elapsed ? loaded / elapsed : undefined;
  const done = es.filter((e) => e.batches > 0 && e.batchesDone >= e.batches).length;
  const quarantined = sum(es, (e) => e.quarantined);
  const cards: [string, string, string][] = [
    ['Rows extracted', formatInt(sum(es, (e) => e.extracted)), `of ${formatInt(sum(es, (e) => e.sourceRows))} source rows${sum(es, skippedRows) ? ` · ${formatInt(sum(es, skippedRows))} skipped by filter` : ''}`],
    ['Rows loaded', formatInt(loaded), `${formatInt(sum(es, (e) => e.inserted))} inserted · ${formatInt(sum(es, (e) => e.updated))} updated · ${formatInt(sum(es, (e) => e.unchanged))} unchanged`],
    ['Rows quarantined', formatInt(quarantined), `${formatInt(data.quarantine.length)} reason${data.quarantine.length === 1 ? '' : 's'}`],
    ['Entities', formatInt(es.length), `${formatInt(done)} fully loaded`],
    [clock.open ? 'Elapsed so far' : 'Elapsed', elapsed === undefined ? '—' : formatDuration(elapsed), clock.open ? 'still running' : 'start to close'],
    ['Average rate', average === undefined ? '—' : `${formatRate(average)}`, series.series.length ? `rows/s · peak ${formatRate(series.peak)}` : 'rows/s'],
  ];
  return `<section class="cards">${cards
    .map(([k, v, note]) => `<div class="card${k === 'Rows quarantined' && quarantined ? ' warn' : ''}"><div class="k">${esc(k)}</div><div class="v">${esc(v)}</div><div class="note">${esc(note)}</div></div>`)
    .join('')}</section>`;
}

function chart(data: ReportData, series: ThroughputSeries): string {
  let body: string;
  if (data.throughput.length === 0) body = '<p class="empty">No batch has been loaded yet, so there is no throughput to chart.</p>';
  else if (series.series.length === 0) body = `<p class="empty">${formatInt(sum(data.throughput, (p) => p.rows))} rows loaded at a single instant; a rate needs a span of time.</p>`;
  else return `<section class="chart">${throughputSvg(series, { title: 'Throughput over time', width: 1200 })}</section>`;
  return `<section><h2>Throughput over time</h2>${body}</section>`;
}

function progressBar(e: EntityProgress): string {
  const fraction = e.batches > 0 ? Math.min(1, e.batchesDone / e.batches) : 0;
  const pct = Math.round(fraction * 100);
  return `<div class="progress" title="${pct}%"><div class="bar${fraction >= 1 ? ' done' : ''}" style="width:${pct}%"></div></div><div class="batches">${formatInt(e.batchesDone)}/${formatInt(e.batches)} batches</div>`;
}

function entities(r: MigrationReport): string {
  if (r.entities.length === 0) return '<section><h2>Entities</h2><p class="empty">No entity has been prepared yet.</p></section>';
  const row = (e: EntityProgress) => {
    const c = e.reconcile;
    return `<tr><th scope="row">${esc(e.entity)}</th><td class="prog">${progressBar(e)}</td>${num(e.sourceRows)}${num(e.extracted)}${num(e.inserted)}${num(e.updated)}${num(e.unchanged)}${num(e.quarantined, e.quarantined ? 'warn' : 'zero')}<td class="num sep${c.found === c.expected ? '' : ' bad'}">${formatInt(c.found)}/${formatInt(c.expected)}</td>${bad(c.missing)}${bad(c.mismatched)}${bad(c.duplicated)}</tr>`;
  };
  const es = r.entities;
  const t = (f: (e: EntityProgress) => number) => num(sum(es, f));
  const found = sum(es, (e) => e.reconcile.found);
  const expected = sum(es, (e) => e.reconcile.expected);
  const totals = `<tr><th scope="row">Total</th><td class="prog"><div class="batches">${formatInt(sum(es, (e) => e.batchesDone))}/${formatInt(sum(es, (e) => e.batches))} batches</div></td>${t((e) => e.sourceRows)}${t((e) => e.extracted)}${t((e) => e.inserted)}${t((e) => e.updated)}${t((e) => e.unchanged)}${t((e) => e.quarantined)}<td class="num sep">${formatInt(found)}/${formatInt(expected)}</td>${t((e) => e.reconcile.missing)}${t((e) => e.reconcile.mismatched)}${t((e) => e.reconcile.duplicated)}</tr>`;
  return `<section><h2>Entities</h2><div class="scroll"><table data-testid="entities">
<thead><tr><th rowspan="2">Entity</th><th rowspan="2">Progress</th><th colspan="6" class="group">Rows</th><th colspan="4" class="group sep">Batch reconcile</th></tr>
<tr><th class="num">Source</th><th class="num">Extracted</th><th class="num">Inserted</th><th class="num">Updated</th><th class="num">Unchanged</th><th class="num">Quarantined</th><th class="num sep">Found/expected</th><th class="num">Missing</th><th class="num">Mismatched</th><th class="num">Duplicated</th></tr></thead>
<tbody>
${es.map(row).join('\n')}
</tbody>
<tfoot>${totals}</tfoot>
</table></div>${skippedNote(es)}</section>`;
}

/** Rows the plan's skip filters left out: counted by filter, never loaded (not in the table's columns). */
function skippedNote(es: EntityProgress[]): string {
  const lines = es.filter((e) => skippedText(e)).map((e) => `<li><strong>${esc(e.entity)}</strong>: ${esc(skippedText(e))}</li>`);
  return lines.length ? `<p class="note">Skipped by the plan's filters (read, counted, not loaded):</p><ul data-testid="skipped">${lines.join('')}</ul>` : '';
}

function phases(r: MigrationReport): string {
  if (r.phases.length === 0) return '<section><h2>Phase reconcile</h2><p class="empty">No phase has been reconciled yet.</p></section>';
  const rows = r.phases.flatMap((p) =>
    p.entities.map((e, i) => {
      const refs = e.references.length
        ? e.references.map((x) => `<span class="${x.dangling ? 'bad' : 'zero'}">${esc(x.column)} → ${esc(x.parent)}: ${formatInt(x.dangling)}</span>`).join('<br>')
        : '<span class="zero">—</span>';
      const phaseCell = i === 0 ? `<th scope="rowgroup" rowspan="${p.entities.length}">${esc(p.phase)}<br>${badge(p.clean ? 'clean' : 'differences', p.clean ? 'ok' : 'bad')}</th>` : '';
      return `<tr${i === 0 ? ' class="group-start"' : ''}>${phaseCell}<td>${esc(e.entity)}</td>${bad(e.missing)}${bad(e.extra)}<td class="refs">${refs}</td><td class="num">${formatInt(e.checksum.rows)}</td><td><code class="hash">${esc(e.checksum.md5)}</code></td><td>${badge(e.clean ? 'clean' : 'differences', e.clean ? 'ok' : 'bad')}</td></tr>`;
    }),
  );
  return `<section><h2>Phase reconcile</h2><div class="scroll"><table data-testid="phases">
<thead><tr><th>Phase</th><th>Entity</th><th class="num">Missing</th><th class="num">Extra</th><th>Dangling references</th><th class="num">Checksum rows</th><th>Checksum md5</th><th>Result</th></tr></thead>
<tbody>
${rows.join('\n')}
</tbody>
</table></div></section>`;
}

/** Reconcile samples (business keys, perhaps with the columns that differ: "42 (columns: email)"), as text. */
function samples(r: MigrationReport): string {
  const rows: [string, string, string][] = [];
  for (const e of r.entities) {
    for (const k of e.reconcile.sampleMissing) rows.push([e.entity, 'batch: missing', k]);
    for (const k of e.reconcile.sampleMismatched) rows.push([e.entity, 'batch: mismatched', k]);
  }
  for (const p of r.phases) {
    for (const e of p.entities) {
      for (const k of e.sampleMissing) rows.push([e.entity, `phase ${p.phase}: missing`, k]);
      for (const k of e.sampleExtra) rows.push([e.entity, `phase ${p.phase}: extra`, k]);
    }
  }
  if (rows.length === 0) return '';
  return `<section><h2>Reconcile samples</h2><p class="hint">Business keys of rows that differ (up to 10 of each kind per entity).</p><div class="scroll"><table data-testid="samples">
<thead><tr><th>Entity</th><th>Kind</th><th>Business key</th></tr></thead>
<tbody>
${rows.map(([entity, kind, key]) => `<tr><td>${esc(entity)}</td><td>${esc(kind)}</td><td><code>${esc(key)}</code></td></tr>`).join('\n')}
</tbody>
</table></div></section>`;
}

function quarantine(data: ReportData): string {
  const q = data.quarantine;
  if (q.length === 0) return '<section><h2>Quarantine</h2><p class="empty">No rows quarantined.</p></section>';
  return `<section><h2>Quarantine</h2><p class="hint">Reason codes and counts only; the rows stay in the quarantine store.</p><div class="scroll narrow"><table data-testid="quarantine">
<thead><tr><th>Entity</th><th>Reason</th><th class="num">Rows</th></tr></thead>
<tbody>
${q.map((x) => `<tr><td>${esc(x.entity)}</td><td><code>${esc(x.reason)}</code></td>${num(x.rows)}</tr>`).join('\n')}
</tbody>
<tfoot><tr><th scope="row" colspan="2">Total</th>${num(sum(q, (x) => x.rows))}</tr></tfoot>
</table></div></section>`;
}

function timings(data: ReportData, clock: Clock): string {
  if (data.timings.length === 0) return '';
  const offset = (at: string) => {
    const ms = parseTime(at);
    return ms === undefined || clock.startMs === undefined ? '—' : `+${formatOffset((ms - clock.startMs) / 1000)}`;
  };
  return `<section class="half"><h2>Timings</h2><table data-testid="timings">
<thead><tr><th>Milestone</th><th>Time</th><th class="num">Since start</th></tr></thead>
<tbody>
${data.timings.map((t) => `<tr><td>${esc(t.label)}</td><td class="time">${esc(formatTimestamp(t.at))}</td><td class="num">${esc(offset(t.at))}</td></tr>`).join('\n')}
</tbody>
</table></section>`;
}

function approvals(r: MigrationReport): string {
  const body = r.approvals.length
    ? `<table data-testid="approvals">
<thead><tr><th>Phase</th><th>Decision</th><th>Approver</th><th>Decided</th></tr></thead>
<tbody>
${r.approvals.map((a) => `<tr><td>${esc(a.phase)}</td><td>${badge(a.decision, a.decision === 'approve' ? 'ok' : 'bad')}</td><td>${esc(a.approver)}</td><td class="time">${esc(formatTimestamp(a.decidedAt))}</td></tr>`).join('\n')}
</tbody>
</table>`
    : '<p class="empty">No approvals recorded.</p>';
  return `<section class="half"><h2>Approvals</h2>${body}</section>`;
}

function rollback(rb: RollbackRecord | undefined): string {
  if (!rb) return '';
  const tables = [...new Set([...rb.before.map((c) => c.table), ...rb.after.map((c) => c.table)])];
  const checksums = tables.map((table) => {
    const b = rb.before.find((c) => c.table === table);
    const a = rb.after.find((c) => c.table === table);
    const same = !!a && !!b && a.rows === b.rows && a.md5 === b.md5;
    const cell = (c: typeof a) => (c ? `${num(c.rows)}<td><code class="hash">${esc(c.md5)}</code></td>` : '<td class="num">—</td><td>—</td>');
    return `<tr><td>${esc(table)}</td>${cell(b)}${cell(a)}<td>${badge(same ? 'match' : 'differs', same ? 'ok' : 'bad')}</td></tr>`;
  });
  const steps = rb.steps.map((s) => {
    const result = Object.entries(s.result)
      .map(([k, v]) => `${esc(k)}: ${formatInt(v)}`)
      .join(' · ');
    return `<tr><td>${esc(s.step)}</td><td>${result || '—'}</td></tr>`;
  });
  const state = rb.blocked ? 'blocked' : rb.restored ? 'target restored' : rb.before.length === 0 && rb.after.length > 0 ? 'not verified' : 'checksums differ';
  const differs = rb.blocked || rb.restored ? [] : differingTables(rb);
  return `<section class="rollback" data-testid="rollback"><h2>Rollback${rb.afterCompletion ? ' after completion' : ''} ${badge(state, rb.restored ? 'ok' : 'bad')}</h2>${rb.blocked ? `<p class="blocked">${esc(rb.blocked)}</p>` : ''}
<dl class="meta"><div class="wide"><dt>Reason</dt><dd>${esc(rb.reason)}</dd></div>${rb.requestedBy ? `<div><dt>Requested by</dt><dd>${esc(rb.requestedBy)}</dd></div>` : ''}<div><dt>Restored</dt><dd>${rb.restored ? 'yes' : 'no'}</dd></div>${
    !rb.blocked && !rb.restored ? `<div class="wide"><dt>Verdict</dt><dd>${esc(rollbackVerdict(rb))}</dd></div>` : ''
  }${differs.length ? `<div class="wide"><dt>Tables that differ from before</dt><dd>${differs.map((t) => `<code>${esc(t)}</code>`).join(' ')}</dd></div>` : ''}</dl>
<h3>Steps</h3>
<table><thead><tr><th>Step</th><th>Result</th></tr></thead><tbody>
${steps.join('\n')}
</tbody></table>
<h3>Target checksums</h3>
<div class="scroll"><table><thead><tr><th rowspan="2">Table</th><th colspan="2" class="group">Before migration</th><th colspan="2" class="group">After rollback</th><th rowspan="2">Result</th></tr>
<tr><th class="num">Rows</th><th>md5</th><th class="num">Rows</th><th>md5</th></tr></thead><tbody>
${checksums.join('\n')}
</tbody></table></div>
</section>`;
}

/** The delta sync and the cutover: rounds, what they applied, conflicts, lag, and the final reconcile per entity. */
function sync(r: MigrationReport): string {
  const s = r.sync;
  if (!s) return '';
  const k = r.cutover;
  const a = s.applied;
  const state = k?.completedAt ? badge('cut over', 'ok') : k?.refused ? badge('cutover refused', 'bad') : k ? badge('cutting over', 'info') : badge('syncing', 'info');
  const verified = (k?.verified?.entities ?? []).map(
    (e) => `<tr><td>${esc(e.entity)}</td>${num(e.sourceRows)}${num(e.compared)}${bad(e.missing)}${bad(e.mismatched)}${bad(e.extra)}${num(e.quarantined)}${num(e.skipped)}</tr>`,
  );
  return `<section data-testid="sync"><h2>Delta sync and cutover ${state}</h2>
<dl class="meta">
<div><dt>Capture</dt><dd>${esc(s.mode)} · ${formatInt(s.rounds)} rounds</dd></div>
<div><dt>Applied</dt><dd>${formatInt(a.inserted)} inserted · ${formatInt(a.updated)} updated · ${formatInt(a.deleted)} deleted · ${formatInt(a.unchanged)} unchanged · ${formatInt(a.quarantined)} quarantined</dd></div>
<div><dt>Conflicts</dt><dd>${formatInt(s.conflicts.detected)} (${formatInt(s.conflicts.sourceWon)} source won · ${formatInt(s.conflicts.targetKept)} target kept · ${formatInt(s.conflicts.quarantined)} quarantined)</dd></div>
<div><dt>Last lag</dt><dd>${formatInt(s.lag.seconds)} s · ${formatInt(s.lag.changes)} changes${s.lag.retainedWalBytes !== undefined ? ` · ${formatInt(Math.round(s.lag.retainedWalBytes / 1048576))} MiB WAL retained${s.lag.walAlarm ? ' (ALARM)' : ''}` : ''}</dd></div>
${s.roundsUnclean ? `<div><dt>Rounds not reconciled</dt><dd>${formatInt(s.roundsUnclean)}</dd></div>` : ''}
${s.verified ? `<div class="wide"><dt>Verified</dt><dd data-testid="verified">${esc(verifiedLine(s.verified)!.replace(/^- /, '').replace(/\*\*/g, ''))}</dd></div>` : ''}
${k ? `<div><dt>Cutover</dt><dd>asked by ${esc(k.requestedBy)} at ${esc(k.requestedAt)}${k.completedAt ? ` · completed ${esc(k.completedAt)} · window ${esc(String(k.windowSeconds))} s · final delta ${formatInt(k.finalChanges)} changes in ${formatInt(k.finalRounds)} rounds` : ''}</dd></div>` : ''}
${k?.refused ? `<div class="wide"><dt>Refused</dt><dd>${esc(k.refused)}</dd></div>` : ''}
</dl>
${
  verified.length
    ? `<h3>${k!.verified!.entities.every((e) => e.scope === 'tail') ? 'Final verification: the rows not verified since their last change, compared again by digest, and the counts both ways' : 'Final reconcile: every source row against the target, by digest'}</h3><div class="scroll"><table data-testid="final-reconcile"><thead><tr><th>Entity</th><th class="num">Source rows</th><th class="num">Compared</th><th class="num">Missing</th><th class="num">Mismatched</th><th class="num">Extra</th><th class="num">Quarantined / kept</th><th class="num">Skipped</th></tr></thead><tbody>
${verified.join('\n')}
</tbody></table></div>`
    : ''
}
</section>`;
}

function audit(data: ReportData): string {
  const a = data.audit;
  if (!a) return '';
  const verified = a.verified === undefined ? badge('not checked', 'neutral') : a.verified ? badge('verified', 'ok') : badge('broken', 'bad');
  return `<section data-testid="audit"><h2>Audit chain</h2><dl class="meta">
<div><dt>Head</dt><dd>seq ${formatInt(a.head.seq)} · <code class="hash">${esc(a.head.hash)}</code></dd></div>
<div><dt>Events</dt><dd>${formatInt(a.events)}</dd></div>
<div><dt>Chain</dt><dd>${verified}</dd></div>
</dl></section>`;
}

export const reportCss = `
:root{--fg:#111827;--muted:#6b7280;--line:#e5e7eb;--bg:#f9fafb;--ok:#047857;--ok-bg:#d1fae5;--bad:#b91c1c;--bad-bg:#fee2e2;--warn:#b45309;--warn-bg:#fef3c7;--info:#1d4ed8;--info-bg:#dbeafe}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1340px;margin:0 auto;padding:28px 32px 40px}
header{margin-bottom:20px}
.eyebrow{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.06em}
h1{font-size:26px;margin:4px 0 12px;display:flex;flex-wrap:wrap;align-items:center;gap:10px;word-break:break-all}
h2{font-size:17px;margin:0 0 12px;display:flex;align-items:center;gap:10px}
h3{font-size:14px;margin:16px 0 8px;color:#374151}
section{background:#fff;border:1px solid var(--line);border-radius:8px;padding:18px 20px;margin:0 0 18px}
section.chart{padding:14px 16px 8px}
.meta{display:grid;grid-template-columns:repeat(auto-fill,minmax(260px,1fr));gap:10px 24px;margin:0}
.meta div{min-width:0}
.meta div.wide{grid-column:span 2}
.meta dt{color:var(--muted);font-size:12px}
.meta dd{margin:2px 0 0;overflow-wrap:anywhere}
code{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#f3f4f6;border-radius:4px;padding:1px 5px}
code.hash{overflow-wrap:anywhere;word-break:break-all}
a{color:var(--info)}
.badge{display:inline-block;font-size:12px;font-weight:600;line-height:1;padding:5px 9px;border-radius:999px;white-space:nowrap;vertical-align:middle;letter-spacing:.01em}
.badge.ok{color:var(--ok);background:var(--ok-bg)}.badge.bad{color:var(--bad);background:var(--bad-bg)}.badge.warn{color:var(--warn);background:var(--warn-bg)}.badge.info{color:var(--info);background:var(--info-bg)}.badge.neutral{color:#374151;background:#e5e7eb}
.cards{display:grid;grid-template-columns:repeat(6,1fr);gap:12px;background:none;border:0;padding:0}
.card{background:#fff;border:1px solid var(--line);border-radius:8px;padding:14px 16px;min-width:0}
.card.warn{border-color:#fcd34d}
.card .k{color:var(--muted);font-size:12px}
.card .v{font-size:24px;font-weight:650;margin:4px 0 2px;font-variant-numeric:tabular-nums;white-space:nowrap}
.card .note{color:var(--muted);font-size:11.5px}
.scroll{overflow-x:auto}
.scroll.narrow{max-width:720px}
table{border-collapse:collapse;width:100%;font-size:13px;font-variant-numeric:tabular-nums}
th,td{padding:6px 9px;border-bottom:1px solid var(--line);text-align:left;vertical-align:middle}
thead th{font-size:12px;color:#4b5563;font-weight:600;background:#f9fafb;white-space:nowrap}
thead th.group{text-align:center;border-bottom:1px solid #d1d5db}
tbody th{font-weight:600}
tfoot th,tfoot td{font-weight:650;border-top:2px solid #d1d5db;border-bottom:0}
.num{text-align:right;white-space:nowrap}
.sep{border-left:1px solid var(--line)}
td.zero,span.zero{color:#9ca3af}
td.bad,span.bad{color:var(--bad);font-weight:650}
td.warn{color:var(--warn);font-weight:650}
tr.group-start td,tr.group-start th{border-top:2px solid #d1d5db}
tbody th[scope=rowgroup]{vertical-align:top;white-space:nowrap}
td.prog{min-width:110px;width:130px}
.progress{height:8px;background:#e5e7eb;border-radius:4px;overflow:hidden}
.progress .bar{height:100%;background:#3b82f6}
.progress .bar.done{background:#10b981}
.batches{font-size:11.5px;color:var(--muted);margin-top:3px;white-space:nowrap}
td.refs{font-size:12.5px}
td.time{white-space:nowrap}
.empty,.hint{color:var(--muted);margin:0}
.hint{font-size:12.5px;margin:-6px 0 10px}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:18px}
.pair section{margin:0}
.pair+section,.pair+footer{margin-top:18px}
.rollback{border-color:#fca5a5}
.headline{margin:-4px 0 12px;font-size:15px;font-weight:600;color:#374151}
.rehearsal{margin:0 0 14px;padding:12px 16px;border:2px dashed var(--warn);border-radius:8px;background:var(--warn-bg);color:#78350f;font-size:14px}
.rehearsal strong{font-size:16px;letter-spacing:.08em;margin-right:4px}
footer{color:var(--muted);font-size:12px;text-align:center}
@media (max-width:900px){.cards{grid-template-columns:repeat(2,1fr)}.pair{grid-template-columns:1fr}}
@media print{body{background:#fff}section,.card{break-inside:avoid}}
`;

/**
 * A report page that stands alone: inline CSS, no scripts, fonts or network, and a
 * Content-Security-Policy telling the browser so. `title` and `main` are HTML, escaped by the caller.
 */
export function selfContainedPage(title: string, css: string, main: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>${title}</title>
<style>${css}</style>
</head>
<body>
<main>
${main}
</main>
</body>
</html>
`;
}

/**
 * The migration report as one self-contained HTML document: inline CSS and an inline SVG chart,
 * no scripts, fonts or network (a Content-Security-Policy says so to the browser). Every value from
 * the data is escaped. Pure: the page depends only on `data`.
 */
export function renderReportHtml(data: ReportData): string {
  const r = data.report;
  const clock = clockOf(data);
  const series = throughputSeries(data.throughput, bucketCount(data.throughput.length), {
    start: clock.startMs === undefined ? undefined : new Date(clock.startMs).toISOString(),
  });
  const pair = [timings(data, clock), approvals(r)].filter(Boolean);
  return selfContainedPage(
    `${data.rehearsal ? 'REHEARSAL' : 'Migration'} ${esc(r.migrationId)} — ${esc(headline(r))}`,
    reportCss,
    `${header(data, clock)}
${summary(data, clock, series)}
${chart(data, series)}
${entities(r)}
${phases(r)}
${samples(r)}
${quarantine(data)}
<div class="pair">${pair.join('\n')}</div>
${sync(r)}
${rollback(r.rollback)}
${audit(data)}
<footer>Generated ${esc(formatTimestamp(data.generatedAt))} by Cutover · counts, reason codes and checksums only; no row data.</footer>`,
  );
}
