import type { MigrationView } from '../migration-view';
import { loadedRows, thousands } from '../shared/progress';

/** One observation of a migration, for rates: when, and rows processed per entity. */
export interface Sample {
  at: number;
  processed: Record<string, number>;
}

export function sampleOf(view: MigrationView, at: number): Sample {
  const processed: Record<string, number> = {};
  for (const e of view.report?.entities ?? []) processed[e.entity] = e.extracted;
  return { at, processed };
}

/** Rows per second per entity over the samples of the last `windowMs` (the first and the last of them). */
export function ratesOf(samples: readonly Sample[], windowMs = 30_000): Record<string, number> {
  const last = samples[samples.length - 1];
  if (!last) return {};
  const first = samples.find((s) => last.at - s.at <= windowMs) ?? last;
  const seconds = (last.at - first.at) / 1000;
  const rates: Record<string, number> = {};
  for (const [entity, n] of Object.entries(last.processed)) rates[entity] = seconds > 0 ? Math.max(0, (n - (first.processed[entity] ?? 0)) / seconds) : 0;
  return rates;
}

export function bar(fraction: number, width: number): string {
  const f = Math.max(0, Math.min(1, Number.isFinite(fraction) ? fraction : 0));
  const full = Math.round(f * width);
  return `${'█'.repeat(full)}${'░'.repeat(width - full)}`;
}

export function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '–';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** The status screen: header, one progress bar per entity with rows/s and ETA, phase results, notes. */
export function renderStatus(view: MigrationView, samples: readonly Sample[] = [], width = 30): string {
  const r = view.report;
  const plan = view.plan ?? r?.plan;
  const phase = view.phase ?? r?.phase;
  const lines = [
    `migration ${view.migrationId}${plan ? ` (plan ${plan})` : ''}: ${view.status}${phase ? `, phase ${phase}` : ''}${r?.controls?.paused ? ' — PAUSED' : ''}`,
    `  Web UI: ${view.url}`,
  ];
  if (r?.controls) lines.push(`  throttle ${r.controls.throttleRowsPerSecond ? `${thousands(r.controls.throttleRowsPerSecond)} rows/s` : 'none'}, batch size ${r.controls.batchSize ?? 'as planned'}`);
  if (!r) {
    lines.push(`  ${view.percent ?? 0} % done, ${thousands(view.rowsLoaded ?? 0)} rows loaded (from search attributes)`);
  } else {
    // Rates need two observations of a running migration.
    const live = view.execution === 'RUNNING' && samples.length >= 2;
    const rates = ratesOf(samples);
    const name = Math.max(6, ...r.entities.map((e) => e.entity.length));
    lines.push('');
    for (const e of r.entities) {
      const fraction = e.sourceRows ? e.extracted / e.sourceRows : e.batches && e.batchesDone === e.batches ? 1 : 0;
      const rate = rates[e.entity] ?? 0;
      const left = Math.max(0, e.sourceRows - e.extracted);
      const eta = left === 0 ? 'done' : rate > 0 ? `ETA ${duration(left / rate)}` : 'ETA –';
      const pace = live ? `${thousands(Math.round(rate)).padStart(7)} rows/s  ${eta.padEnd(12)} ` : '';
      lines.push(
        `  ${e.entity.padEnd(name)} ${bar(fraction, width)} ${(fraction * 100).toFixed(1).padStart(5)} %  ${thousands(e.extracted).padStart(9)}/${thousands(e.sourceRows).padEnd(9)} ` +
          `${pace}loaded ${thousands(loadedRows(e))}, quarantined ${thousands(e.quarantined)}, batches ${e.batchesDone}/${e.batches}`,
      );
    }
    for (const p of r.phases) lines.push(`  phase ${p.phase}: ${p.clean ? 'reconciled clean' : 'RECONCILE DIFFERENCES'}`);
    for (const a of r.approvals) lines.push(`  phase ${a.phase}: ${a.decision === 'approve' ? 'approved' : 'rejected'} by ${a.approver} at ${a.decidedAt}`);
    if (r.rollback?.blocked) lines.push(`  rollback BLOCKED: ${r.rollback.blocked}`);
    else if (r.rollback) lines.push(`  rollback: ${r.rollback.restored ? 'target restored (checksums match)' : 'CHECKSUMS DIFFER'} — ${r.rollback.reason}`);
  }
  for (const a of view.retrying ?? []) {
    const where = a.workflowId === view.workflowId ? 'the migration' : a.workflowId.slice(view.workflowId.length + 1);
    lines.push(`  retrying: ${a.activity} in ${where}, attempt ${a.attempt}${a.lastFailure ? ` — ${a.lastFailure}` : ''}`);
  }
  if (view.failure) lines.push(`  failure: ${view.failure}`);
  if (view.note) lines.push(`  note: ${view.note}`);
  return lines.join('\n');
}
