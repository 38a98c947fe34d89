import type { RehearsalSpec } from '../plan/types';
import type { MigrationReport, RollbackRecord, TableChecksum } from '../shared/migration';

/** What a rehearsal is, in one line: shared by `start`, `status` and the reports. */
export function rehearsalText(r: RehearsalSpec): string {
  return `REHEARSAL of ${r.of} into the masked sandbox $${r.sandboxEnv}: nothing detokenized (every personal value is a token), files not copied`;
}

/** Tables whose checksum after the rollback differs from before the migration (or that one side lacks). */
export function differingTables(rb: RollbackRecord): string[] {
  if (rb.differs?.length) return rb.differs;
  const tables = [...new Set([...rb.before.map((c) => c.table), ...rb.after.map((c) => c.table)])];
  const same = (a?: TableChecksum, b?: TableChecksum) => !!a && !!b && a.rows === b.rows && a.md5 === b.md5;
  return tables.filter((t) => !same(rb.before.find((c) => c.table === t), rb.after.find((c) => c.table === t)));
}

/** A reconcile difference found so far, in a batch or a whole phase. */
export function hasReconcileDifferences(r: MigrationReport): boolean {
  return r.entities.some((e) => e.reconcile.missing + e.reconcile.mismatched + e.reconcile.duplicated > 0) || r.phases.some((p) => !p.clean);
}

/**
 * What a finished rollback proved: "target restored", or that the target's checksums differ
 * (naming the tables), or that nothing could be proved (no checksums from before). Never claims
 * the target restored unless every table's checksum matched.
 */
export function rollbackVerdict(rb: RollbackRecord): string {
  if (rb.blocked) return 'BLOCKED';
  if (rb.restored) return 'target restored';
  if (rb.before.length === 0) return 'target NOT verified: no checksums from before the migration';
  const differs = differingTables(rb);
  return `TARGET CHECKSUMS DIFFER${differs.length ? ` (${differs.join(', ')})` : ''}`;
}

/**
 * The one-line outcome shared by `start --wait`, `status`, the HTML report and the Markdown one.
 * Only a completed migration can be "reconciled clean": a rolled-back, blocked or failed run
 * says what happened to the target instead.
 */
export function headline(r: MigrationReport): string {
  const rb = r.rollback;
  // A rollback workflow run after a failure, cancel, … (not after completion) says after which end.
  const afterEnd = (rb as (RollbackRecord & { afterEnd?: string }) | undefined)?.afterEnd;
  const after = rb?.afterCompletion ? (afterEnd ? ` after the migration ${afterEnd === 'failed' ? 'failed' : `was ${afterEnd}`}` : ' after completion') : '';
  switch (r.status) {
    case 'completed':
      return r.clean ? 'completed, every batch reconciled clean' : 'completed, RECONCILE DIFFERENCES';
    case 'rolled-back':
      if (!rb) return 'rolled back (target NOT verified: no rollback record)';
      if (rb.restored) return `rolled back${after} (target restored)`;
      return `rolled back${after} — ${rollbackVerdict(rb)}`;
    case 'rollback-blocked':
      return `rollback${after} BLOCKED${rb?.blocked ? `: ${rb.blocked}` : ''}`;
    case 'rolling-back':
      return `rolling back${after}`;
    case 'failed':
      return `failed${!r.clean || hasReconcileDifferences(r) ? ', RECONCILE DIFFERENCES' : ''}`;
    default:
      // In flight: nothing is final yet, so nothing is "clean" yet either.
      return `${r.status}${hasReconcileDifferences(r) ? ', RECONCILE DIFFERENCES so far' : ''}`;
  }
}
