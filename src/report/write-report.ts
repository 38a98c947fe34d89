import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MigrationReport } from '../shared/migration';
import { renderReportHtml } from './html';
import type { ReportData } from './report-data';

/** A readable summary of a migration report: counts, reconcile results, approvals, rollback. */
export function reportMarkdown(r: MigrationReport): string {
  const lines = [`# Migration ${r.migrationId}`, '', `Status: **${r.status}**${r.clean ? ', every batch and phase reconciled clean' : ''}. Started by ${r.startedBy}. Plan hash \`${r.planHash}\`.`, ''];
  lines.push('| entity | source rows | extracted | inserted | updated | unchanged | quarantined | reconcile found/expected | missing | mismatched |', '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const e of r.entities) {
    lines.push(`| ${e.entity} | ${e.sourceRows} | ${e.extracted} | ${e.inserted} | ${e.updated} | ${e.unchanged} | ${e.quarantined} | ${e.reconcile.found}/${e.reconcile.expected} | ${e.reconcile.missing} | ${e.reconcile.mismatched} |`);
  }
  for (const p of r.phases) {
    lines.push('', `## Phase ${p.phase}: ${p.clean ? 'clean' : 'DIFFERENCES'}`, '', '| entity | missing | extra | dangling references | checksum |', '|---|---:|---:|---:|---|');
    for (const e of p.entities) lines.push(`| ${e.entity} | ${e.missing} | ${e.extra} | ${e.references.map((x) => `${x.column}: ${x.dangling}`).join(', ') || '-'} | ${e.checksum.rows} rows, md5 ${e.checksum.md5} |`);
  }
  if (r.approvals.length) lines.push('', '## Approvals', '', ...r.approvals.map((a) => `- phase ${a.phase}: ${a.decision} by ${a.approver} at ${a.decidedAt}`));
  if (r.rollback) {
    lines.push('', `## Rollback: ${r.rollback.blocked ? 'BLOCKED' : r.rollback.restored ? 'target restored (checksums match)' : 'CHECKSUMS DIFFER'}`, '', `Reason: ${r.rollback.reason}`, ...(r.rollback.blocked ? ['', `Blocked: ${r.rollback.blocked}`] : []), '', ...r.rollback.steps.map((s) => `- ${s.step}: ${JSON.stringify(s.result)}`));
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
  writeFileSync(paths.markdown, reportMarkdown(data.report));
  return paths;
}
