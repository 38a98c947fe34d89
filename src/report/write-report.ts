import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MigrationReport } from '../shared/migration';
import { headline, rehearsalText, rollbackVerdict } from './headline';
import { renderReportHtml } from './html';
import type { ReportData } from './report-data';
import { shreddedText } from '../migration-status';

/** A readable summary of a migration report: counts, reconcile results, approvals, rollback. */
export function reportMarkdown(r: MigrationReport, extra: Pick<ReportData, 'rollbackWindow' | 'rehearsal' | 'leftBehind' | 'missing' | 'keysShredded'> = {}): string {
  // Only a completed run can have "reconciled clean": any other says what happened (rolled back: to the target).
  const outcome = r.status === 'completed' && r.clean ? ', every batch and phase reconciled clean' : ` — ${headline(r)}`;
  const lines = [`# ${extra.rehearsal ? 'Rehearsal' : 'Migration'} ${r.migrationId}`, ''];
  if (extra.rehearsal) lines.push(`> **${rehearsalText(extra.rehearsal)}**.`, '');
  lines.push(`Status: **${r.status}**${outcome}. Started by ${r.startedBy}. Plan hash \`${r.planHash}\`.`, '');
  const left = extra.leftBehind;
  if (left) {
    const tables = left.note ?? (left.tables.length ? left.tables.map((t) => `${t.table} ${t.inserted} inserted, ${t.updated} updated`).join('; ') : 'nothing');
    lines.push(`**Nothing was undone.** Left in the target: ${tables}${left.files ? `; ${left.files} file(s) copied` : ''}. ${left.refused ? `\`${left.undo}\` is refused: ${left.refused}.` : `\`${left.undo}\` undoes it.`}`, '');
  }
  if (extra.keysShredded) lines.push(`**Keys shredded:** ${shreddedText(extra.keysShredded)}; \`cutover rollback\` is refused.`, '');
  for (const m of extra.missing ?? []) lines.push(`Missing from this report: ${m}`, '');
  lines.push('| entity | source rows | extracted | inserted | updated | unchanged | quarantined | reconcile found/expected | missing | mismatched |', '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const e of r.entities) {
    lines.push(`| ${e.entity} | ${e.sourceRows} | ${e.extracted} | ${e.inserted} | ${e.updated} | ${e.unchanged} | ${e.quarantined} | ${e.reconcile.found}/${e.reconcile.expected} | ${e.reconcile.missing} | ${e.reconcile.mismatched} |`);
  }
  for (const p of r.phases) {
    lines.push('', `## Phase ${p.phase}: ${p.clean ? 'clean' : 'DIFFERENCES'}`, '', '| entity | missing | extra | dangling references | checksum |', '|---|---:|---:|---:|---|');
    for (const e of p.entities) lines.push(`| ${e.entity} | ${e.missing} | ${e.extra} | ${e.references.map((x) => `${x.column}: ${x.dangling}`).join(', ') || '-'} | ${e.checksum.rows} rows, md5 ${e.checksum.md5} |`);
  }
  const samples = [
    ...r.entities.flatMap((e) => [...e.reconcile.sampleMissing.map((k) => `- ${e.entity}, batch, missing: ${k}`), ...e.reconcile.sampleMismatched.map((k) => `- ${e.entity}, batch, mismatched: ${k}`)]),
    ...r.phases.flatMap((p) => p.entities.flatMap((e) => [...e.sampleMissing.map((k) => `- ${e.entity}, phase ${p.phase}, missing: ${k}`), ...e.sampleExtra.map((k) => `- ${e.entity}, phase ${p.phase}, extra: ${k}`)])),
  ];
  if (samples.length) lines.push('', '## Reconcile samples', '', ...samples);
  if (r.approvals.length) lines.push('', '## Approvals', '', ...r.approvals.map((a) => `- phase ${a.phase}: ${a.decision} by ${a.approver} at ${a.decidedAt}`));
  const rw = extra.rollbackWindow;
  if (rw) {
    lines.push(
      '',
      rw.state === 'closed'
        ? `Rollback window: closed by ${rw.closedBy} at ${rw.closedAt}${rw.reason ? ` (${rw.reason})` : ''}; \`cutover rollback\` refuses it.`
        : `Rollback window: open; \`cutover rollback ${r.migrationId}\` can still undo it.`,
    );
  }
  if (r.rollback) {
    const rb = r.rollback;
    const title = rb.blocked ? 'BLOCKED' : rb.restored ? 'target restored (checksums match)' : rollbackVerdict(rb);
    lines.push('', `## Rollback${rb.afterCompletion ? ' after completion' : ''}: ${title}`, '', `Reason: ${rb.reason}`, ...(rb.blocked ? ['', `Blocked: ${rb.blocked}`] : []), '', ...rb.steps.map((s) => `- ${s.step}: ${JSON.stringify(s.result)}`));
  }
  return `${lines.join('\n')}\n`;
}

/** Writes a report as JSON (all its data), HTML (the page with the chart) and Markdown; returns the paths. */
export function writeReportFiles(dir: string, data: ReportData): { json: string; html: string; markdown: string } {
  mkdirSync(dir, { recursive: true });
  const base = join(dir, data.report.migrationId);
  const paths = { json: `${base}.json`, html: `${base}.html`, markdown: `${base}.md` };
  writeFileSync(paths.json, `${JSON.stringify(data, null, 2)}\n`);
  writeFileSync(paths.html, renderReportHtml(data));
  writeFileSync(paths.markdown, reportMarkdown(data.report, data));
  return paths;
}
