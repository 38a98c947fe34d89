import type { AfterCompletion } from '../rollback-client';
import type { MigrationView } from '../migration-view';
import { rehearsalText, rollbackVerdict } from '../report/headline';
import { syncLines } from '../shared/progress';
import type { EntityProgress, MigrationReport, PhaseReconcile } from '../shared/migration';
import { endedText, leftLoaded, shreddedText } from '../migration-status';
import { loadedRows, readRows, skippedRows, thousands } from '../shared/progress';

/** What `cutover status` shows: the migration and, once it completed, its life after completion. */
export type StatusView = MigrationView & { afterCompletion?: AfterCompletion };

/** Reconcile samples of an entity as text (business keys, perhaps with the columns that differ: "42 (columns: email, status)"). */
export function sampleLine(e: EntityProgress): string | undefined {
  const r = e.reconcile;
  const parts = [r.sampleMissing.length ? `missing e.g. ${r.sampleMissing.join('; ')}` : '', r.sampleMismatched.length ? `mismatched e.g. ${r.sampleMismatched.join('; ')}` : ''].filter(Boolean);
  return parts.length ? `${e.entity}: ${parts.join(' | ')}` : undefined;
}

/** The rollback window of a completed migration, in one line (or none when not known or not applicable). */
export function windowLine(view: StatusView): string | undefined {
  const after = view.afterCompletion;
  if (!after) return undefined;
  if (after.rollback) return `rollback after ${view.execution === 'COMPLETED' ? 'completion' : `the migration ended (${view.execution.toLowerCase().replace(/_/g, ' ')})`}: ${view.status} — workflow ${after.rollback.workflowId} (Web UI: ${after.rollback.url})`;
  const w = after.window;
  if (!w) return undefined;
  if (w.state === 'closed') return `rollback window: closed by ${w.closedBy} at ${w.closedAt}${w.reason ? ` (${w.reason})` : ''} — \`cutover rollback\` refuses it`;
  return `rollback window: open — \`cutover rollback ${view.migrationId}\` undoes it from the target's ledger; \`cutover close ${view.migrationId}\` closes the window`;
}

/**
 * Whether the sync's clean final reconcile (every row, both ways, at the cutover) settled what the
 * full load's reconciles found: those figures are history then, not the target's state.
 */
export function settledByCutover(r: MigrationReport): boolean {
  return r.status === 'completed' && !!r.cutover?.completedAt && !!r.cutover.verified?.clean;
}

/** A phase's reconcile in one line; a difference the cutover's final reconcile settled reads as settled. */
export function phaseLine(p: PhaseReconcile, r: MigrationReport): string {
  if (p.clean) return `phase ${p.phase}: reconciled clean`;
  if (settledByCutover(r)) return `phase ${p.phase}: differences during the full load, settled (the cutover's final reconcile of every row was clean)`;
  return `phase ${p.phase}: RECONCILE DIFFERENCES`;
}

/**
 * An entity's quarantined rows: in quarantine now (what `cutover quarantine` lists), with the
 * count the load recorded beside it when the two differ (rows a later round or run loaded).
 */
export function quarantineText(e: EntityProgress, now: Record<string, number> | undefined): string {
  if (!now) return `quarantined ${thousands(e.quarantined)}`;
  const current = now[e.entity] ?? 0;
  return current === e.quarantined ? `quarantined ${thousands(current)}` : `quarantined ${thousands(current)} now (${thousands(e.quarantined)} when loaded)`;
}

/** What an end without undoing left in the target, and how to undo it (none for other ends). */
export function leftBehindLines(view: MigrationView): string[] {
  if (!leftLoaded(view.status)) return [];
  const lines = [`${view.status.toUpperCase()}: ${endedText(view.status)}`];
  const left = view.leftBehind;
  const undoes = (what: string) => (left?.refused ? `\`${left.undo}\` is refused: ${left.refused}` : `\`${left?.undo ?? `cutover rollback ${view.migrationId}`}\` undoes ${what}`);
  if (!left) lines.push(`what it loaded is still in the target: ${undoes('it')}`);
  else if (left.note) lines.push(`left in the target: ${left.note}; ${undoes('whatever its ledger holds')}`);
  else if (!left.tables.length && !left.files) lines.push(`left in the target: nothing (its ledger holds no row of it)`);
  else {
    const tables = left.tables.map((t) => `${t.table} ${thousands(t.inserted)} inserted, ${thousands(t.updated)} updated`);
    lines.push(`left in the target (half-loaded): ${tables.join('; ') || 'no rows'}${left.files ? `; ${thousands(left.files)} file(s) copied` : ''} — ${undoes('them')}`);
  }
  return lines;
}

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
export function renderStatus(view: StatusView, samples: readonly Sample[] = [], width = 30): string {
  const r = view.report;
  const plan = view.plan ?? r?.plan;
  const phase = view.phase ?? r?.phase;
  const lines = [
    `migration ${view.migrationId}${plan ? ` (plan ${plan})` : ''}: ${view.status}${phase ? `, phase ${phase}` : ''}${r?.controls?.paused ? ' — PAUSED' : ''}`,
    `  Web UI: ${view.url}`,
  ];
  if (view.rehearsal) lines.splice(1, 0, `  ${rehearsalText(view.rehearsal)}`);
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
      const fraction = e.sourceRows ? Math.min(1, readRows(e) / e.sourceRows) : e.batches && e.batchesDone === e.batches ? 1 : 0;
      const rate = rates[e.entity] ?? 0;
      const left = Math.max(0, e.sourceRows - readRows(e));
      const eta = left === 0 ? 'done' : rate > 0 ? `ETA ${duration(left / rate)}` : 'ETA –';
      const pace = live ? `${thousands(Math.round(rate)).padStart(7)} rows/s  ${eta.padEnd(12)} ` : '';
      lines.push(
        `  ${e.entity.padEnd(name)} ${bar(fraction, width)} ${(fraction * 100).toFixed(1).padStart(5)} %  ${thousands(e.extracted).padStart(9)}/${thousands(e.sourceRows).padEnd(9)} ` +
          `${pace}loaded ${thousands(loadedRows(e))}, ${quarantineText(e, view.quarantinedNow)}${skippedRows(e) ? `, skipped ${thousands(skippedRows(e))}` : ''}, batches ${e.batchesDone}/${e.batches}`,
      );
    }
    for (const p of r.phases) lines.push(`  ${phaseLine(p, r)}`);
    if (r.sync) lines.push('  delta sync:', ...syncLines(r).map((l) => `    ${l.replace(/\*\*/g, '').replace(/^- /, '')}`));
    for (const a of r.approvals) lines.push(`  phase ${a.phase}: ${a.decision === 'approve' ? 'approved' : 'rejected'} by ${a.approver} at ${a.decidedAt}`);
    for (const e of r.entities) {
      const line = sampleLine(e);
      if (line) lines.push(`  reconcile samples${settledByCutover(r) ? ' (full load, settled since)' : ''}: ${line}`);
    }
    if (r.rollback?.blocked) lines.push(`  rollback BLOCKED: ${r.rollback.blocked}`);
    else if (r.rollback && r.status === 'rolling-back') lines.push(`  rollback: under way — ${r.rollback.reason}`);
    else if (r.rollback) lines.push(`  rollback: ${r.rollback.restored ? 'target restored (checksums match)' : rollbackVerdict(r.rollback)} — ${r.rollback.reason}`);
  }
  for (const l of leftBehindLines(view)) lines.push(`  ${l}`);
  for (const m of view.missing ?? []) lines.push(`  missing: ${m}`);
  const window = windowLine(view);
  if (window) lines.push(`  ${window}`);
  if (view.keysShredded) lines.push(`  keys: SHREDDED — ${shreddedText(view.keysShredded)}; \`cutover rollback\` and a new start of its plan are refused`);
  if (view.afterCompletion?.note) lines.push(`  note: ${view.afterCompletion.note}`);
  for (const a of view.retrying ?? []) {
    const where = a.workflowId === view.workflowId ? 'the migration' : a.workflowId.slice(view.workflowId.length + 1);
    lines.push(`  retrying: ${a.activity} in ${where}, attempt ${a.attempt}${a.lastFailure ? ` — ${a.lastFailure}` : ''}`);
  }
  if (view.failure) lines.push(`  failure: ${view.failure}`);
  if (view.note) lines.push(`  note: ${view.note}`);
  return lines.join('\n');
}
