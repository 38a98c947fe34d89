import type { EntityProgress, MigrationReport, SyncReport } from './migration';

/** Pure summaries of a migration's progress, shared by the workflow (current details) and the CLI. */

/** What one piece of work adds to an entity's tally: a batch, a partition, a run's live report. */
export type Tally = Pick<EntityProgress, 'batchesDone' | 'extracted' | 'inserted' | 'updated' | 'unchanged' | 'quarantined' | 'skipped' | 'reconcile'>;

/** Reconcile samples kept per entity: enough for status to name a few keys, bounded for the history. */
const SAMPLES_KEPT = 10;

/**
 * Adds a tally to an entity's, the one place counts are summed: a batch's to its run, a
 * partition's to its entity, the live reports of running partitions to the migration's view.
 * `batches` (planned, not done) is not added: only the caller knows how they combine.
 */
export function addTally(total: EntityProgress, part: Tally): void {
  for (const k of ['batchesDone', 'extracted', 'inserted', 'updated', 'unchanged', 'quarantined'] as const) total[k] += part[k];
  if (part.skipped) {
    total.skipped ??= {};
    for (const [name, n] of Object.entries(part.skipped)) total.skipped[name] = (total.skipped[name] ?? 0) + n;
  }
  const r = total.reconcile;
  const p = part.reconcile;
  for (const k of ['expected', 'found', 'missing', 'mismatched', 'duplicated'] as const) r[k] += p[k];
  // The business keys (and columns) a reconcile found wrong: status and the report name them.
  r.sampleMissing = [...r.sampleMissing, ...p.sampleMissing].slice(0, SAMPLES_KEPT);
  r.sampleMismatched = [...r.sampleMismatched, ...p.sampleMismatched].slice(0, SAMPLES_KEPT);
}

export function loadedRows(e: EntityProgress): number {
  return e.inserted + e.updated + e.unchanged;
}

export function rowsLoaded(report: MigrationReport): number {
  return report.entities.reduce((n, e) => n + loadedRows(e), 0);
}

/** Rows a plan's skip filters left out (counted, never loaded). */
export function skippedRows(e: EntityProgress): number {
  return Object.values(e.skipped ?? {}).reduce((n, x) => n + x, 0);
}

/** Source rows read so far: extracted for loading, or skipped by a filter. */
export function readRows(e: EntityProgress): number {
  return e.extracted + skippedRows(e);
}

/** "12 skipped by filter (guest 1, soft_deleted 11)", or '' when none. */
export function skippedText(e: EntityProgress): string {
  const n = skippedRows(e);
  if (!n) return '';
  const by = Object.entries(e.skipped ?? {}).filter(([, x]) => x > 0).map(([name, x]) => `${name} ${thousands(x)}`);
  return `${thousands(n)} skipped by filter (${by.join(', ')})`;
}

/** Source rows processed (loaded, quarantined or skipped) out of all source rows, 0..100. */
export function percentDone(report: MigrationReport): number {
  const total = report.entities.reduce((n, e) => n + e.sourceRows, 0);
  if (total === 0) return report.status === 'completed' ? 100 : 0;
  const done = report.entities.reduce((n, e) => n + Math.min(e.sourceRows, readRows(e)), 0);
  return Math.min(100, Math.floor((done * 1000) / total) / 10);
}

/** 1234567 → "1,234,567" (no Intl: this runs inside workflows too). */
export function thousands(n: number): string {
  const [int, frac] = String(n).split('.');
  const grouped = int!.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return frac ? `${grouped}.${frac}` : grouped;
}

function reconcileCell(e: EntityProgress): string {
  const r = e.reconcile;
  if (r.expected === 0 && e.batchesDone === 0) return '–';
  const problems = [r.missing && `${thousands(r.missing)} missing`, r.mismatched && `${thousands(r.mismatched)} mismatched`, r.duplicated && `${thousands(r.duplicated)} duplicated`].filter(Boolean);
  return problems.length ? `**${problems.join(', ')}**` : `clean (${thousands(r.found)} of ${thousands(r.expected)})`;
}

/**
 * The migration as a Markdown table (the Web UI shows it as the workflow's current details):
 * status, phase, percent, controls, one row per entity, phase reconcile results, approvals.
 * Counts and names only: never row data.
 */
export function progressMarkdown(report: MigrationReport): string {
  const c = report.controls;
  const lines = [
    `### Migration ${report.plan ?? report.migrationId}: ${report.status}${report.phase ? `, phase ${report.phase}` : ''}`,
    '',
    `**${percentDone(report)} %** of source rows processed · **${thousands(rowsLoaded(report))}** rows loaded · ${thousands(report.entities.reduce((n, e) => n + e.quarantined, 0))} quarantined` +
      (c ? ` · throttle ${c.throttleRowsPerSecond ? `${thousands(c.throttleRowsPerSecond)} rows/s` : 'none'} · batch size ${c.batchSize ? thousands(c.batchSize) : 'as planned'}${c.paused ? ' · **PAUSED**' : ''}` : ''),
    '',
    '#### Entity progress',
    '',
    '| entity | batches | source rows | extracted | loaded | quarantined | reconcile |',
    '|---|---:|---:|---:|---:|---:|---|',
    ...report.entities.map(
      (e) => `| ${e.entity} | ${e.batchesDone} of ${e.batches} | ${thousands(e.sourceRows)} | ${thousands(e.extracted)}${skippedRows(e) ? ` (+${thousands(skippedRows(e))} skipped)` : ''} | ${thousands(loadedRows(e))} | ${thousands(e.quarantined)} | ${reconcileCell(e)} |`,
    ),
  ];
  if (report.phases.length) {
    lines.push('', '#### Phase reconcile', '', '| phase | entity | missing | extra | dangling references | result |', '|---|---|---:|---:|---:|---|');
    for (const p of report.phases) {
      for (const e of p.entities) {
        lines.push(`| ${p.phase} | ${e.entity} | ${e.missing} | ${e.extra} | ${e.references.reduce((n, r) => n + r.dangling, 0)} | ${e.clean ? 'clean' : '**differences**'} |`);
      }
    }
  }
  if (report.sync) lines.push('', '#### Delta sync', '', ...syncLines(report));
  if (report.approvals.length) {
    lines.push('', '#### Approvals', '', ...report.approvals.map((a) => `- ${a.phase}: ${a.decision} by ${a.approver} at ${a.decidedAt}`));
  }
  if (report.rollback) {
    lines.push('', `#### Rollback: ${report.rollback.restored ? 'target restored (checksums match)' : 'CHECKSUMS DIFFER'}`, '', report.rollback.reason);
  }
  return lines.join('\n');
}

/** Bytes as MiB (one decimal), for WAL a slot retains. */
const mib = (bytes: number) => `${Math.round(bytes / 104857.6) / 10} MiB`;

/** The sync's state in a few lines (Markdown): lag, rounds, applied changes, conflicts, the cutover. */
export function syncLines(report: MigrationReport): string[] {
  const s = report.sync;
  if (!s) return [];
  const a = s.applied;
  const c = s.conflicts;
  const lines = [
    `- ${s.mode} capture · round ${thousands(s.rounds)}${s.lastRoundAt ? ` at ${s.lastRoundAt}` : ''} · **lag ${thousands(s.lag.seconds)} s, ${thousands(s.lag.changes)} changes**` +
      (s.lag.retainedWalBytes !== undefined ? ` · slot retains ${mib(s.lag.retainedWalBytes)}${s.lag.walAlarm ? ' **ALARM: past the plan\'s limit**' : ''}` : ''),
    `- applied: ${thousands(a.inserted)} inserted, ${thousands(a.updated)} updated, ${thousands(a.deleted)} deleted, ${thousands(a.unchanged)} unchanged, ${thousands(a.quarantined)} quarantined` +
      (s.roundsUnclean ? ` · **${thousands(s.roundsUnclean)} round(s) did not reconcile**` : ''),
    `- conflicts: ${thousands(c.detected)} (${thousands(c.sourceWon)} source won, ${thousands(c.targetKept)} target kept, ${thousands(c.quarantined)} quarantined)`,
  ];
  if (s.held) lines.push(`- **HELD**: ${s.held}`);
  const v = verifiedLine(s.verified);
  if (v) lines.push(v);
  const k = report.cutover;
  if (k) {
    lines.push(
      `- cutover asked by ${k.requestedBy} at ${k.requestedAt}` +
        (k.completedAt ? `, completed at ${k.completedAt}: window ${thousands(k.windowSeconds ?? 0)} s, final delta ${thousands(k.finalChanges)} changes in ${thousands(k.finalRounds)} round(s)` : ', waiting for the final delta') +
        (k.verified ? ` · final ${k.verified.entities.every((e) => e.scope === 'tail') ? 'verification (unverified rows and counts)' : 'reconcile (every row)'} ${k.verified.clean ? 'clean' : '**differences**'}` : ''),
    );
    if (k.refused) lines.push(`- **cutover refused**: ${k.refused}`);
  }
  return lines;
}

/** "verified: N of M rows, up to P", with the entities that have rows not verified. */
export function verifiedLine(v: SyncReport['verified']): string | undefined {
  if (!v) return undefined;
  const loaded = v.entities.reduce((n, e) => n + e.loaded, 0);
  const unverified = v.entities.reduce((n, e) => n + e.unverified, 0);
  const open = v.entities.filter((e) => e.unverified > 0).map((e) => `${e.entity} ${thousands(e.unverified)}`);
  return `- verified: ${thousands(loaded - unverified)} of ${thousands(loaded)} rows${v.upTo ? `, up to ${v.upTo}` : ''}${open.length ? ` · **not verified: ${open.join(', ')}** (verified again when they change, and at the cutover)` : ''}`;
}
