import { CancellationScope, condition } from '@temporalio/workflow';
import { nothingWritten, rollbackVerdict, RollbackVerdict } from '../core/rollback-verdict';
import type { Compensation, RollbackRecord, TableChecksum } from '../shared/migration';
import { compensate } from './proxies';

/**
 * The one saga: what undoes a migration, whether it is still running (its own rollback) or has
 * ended (the `<workflow id>/rollback` workflow). Close the load fence, run the compensations in
 * order (children before parents, then staged objects, then vault entries), wait for an operator
 * where the target refuses an undo, drop the replication slot if one is held, then compare the
 * target's checksums with those from before the migration: one verdict, decided here.
 */

type AuditDetails = Record<string, string | number | boolean | null>;

/** What a rollback undoes and how: each workflow decides it from what it knows. */
export interface SagaPlan {
  migrationId: string;
  /** Undo steps in the order to run them. */
  compensations: readonly Compensation[];
  /** Close the load fence before undoing anything, so no load or stage can commit behind the compensations. */
  fence: boolean;
  /** Wait for an operator where the target refuses an undo; otherwise that refusal fails the rollback. */
  waitWhenBlocked: boolean;
  /**
   * Whether a replication slot is still held, asked once the compensations are done (the answer
   * may write a patch marker, which must come at that point of the history).
   */
  holdsSlot: () => boolean;
  /** The migration got as far as its checksums from before: without them it wrote nothing, and nothing is checked. */
  prepared: boolean;
  /** The target's checksums from before the migration's first write. */
  before: readonly TableChecksum[];
  /** Added to the details of every audit event of the rollback (an after-completion rollback says so). */
  auditTags?: AuditDetails;
  /** Added to the rollback-started event only. */
  startDetails?: AuditDetails;
}

/** How the workflow running the saga records and shows it. */
export interface SagaHooks {
  audit(action: string, actor: string, details: AuditDetails): Promise<unknown>;
  /** The saga's state changed: the workflow shows it (status, details, search attributes). */
  show(status: 'rolling-back' | 'rollback-blocked' | 'verdict'): void;
}

/**
 * A `rollback` asked while a compensation is blocked: the operator has acted, run the rest again.
 * The workflow's rollback signal hands every request here; only one that arrives while blocked counts.
 */
export class BlockedRetry {
  private blocked = false;
  private request: { requestedBy: string } | undefined;

  ask(request: { requestedBy: string }): void {
    if (this.blocked) this.request = request;
  }

  block(): void {
    this.blocked = true;
    this.request = undefined;
  }

  /** Waits for the operator's request; returns who asked. */
  async resumed(): Promise<string> {
    await condition(() => this.request !== undefined);
    this.blocked = false;
    return this.request!.requestedBy;
  }
}

/** The verdict the saga records: from the checksums, unless the migration never wrote anything. */
export function sagaVerdict(plan: Pick<SagaPlan, 'prepared' | 'before'>, after: readonly TableChecksum[]): RollbackVerdict {
  return plan.prepared ? rollbackVerdict(plan.before, after) : nothingWritten();
}

function stepName(c: Compensation): string {
  return c.kind === 'unload' ? `unload ${c.entity}` : c.kind === 'delete-staged' ? 'delete staged objects' : 'purge vault entries';
}

function undo(migrationId: string, c: Compensation): Promise<Record<string, number>> {
  if (c.kind === 'unload') return compensate.unloadEntity({ migrationId, entity: c.entity });
  if (c.kind === 'delete-staged') return compensate.deleteStaged({ migrationId });
  return compensate.purgeVault({ migrationId });
}

/** The innermost failure of a chain (an activity's ApplicationFailure inside a child's failure, say). */
export function innermost(err: unknown): { message?: string; type?: string } | undefined {
  let e = err as { message?: string; cause?: unknown; type?: string } | undefined;
  while (e?.cause && typeof e.cause === 'object') e = e.cause as typeof e;
  return e;
}

/**
 * Runs the saga in a scope nothing can cancel, filling `record` (its steps, `blocked` while an
 * operator must act, then `after`, `restored` and `differs`); returns the verdict. The record is
 * written only with what was checked: `restored` comes from the checksums read after the undo.
 */
export function runSaga(plan: SagaPlan, hooks: SagaHooks, retry: BlockedRetry, record: RollbackRecord): Promise<RollbackVerdict> {
  const { migrationId } = plan;
  const audit = (action: string, actor: string, details: AuditDetails) => hooks.audit(action, actor, { ...details, ...plan.auditTags });

  /** The target refuses an undo no retry can fix: say so in one line, keep the rest, wait for the operator. */
  const waitForOperator = async (step: string, blocked: string) => {
    record.blocked = blocked;
    retry.block();
    hooks.show('rollback-blocked');
    await audit('rollback-blocked', 'cutover', { step, blocked: blocked.slice(0, 500) });
    await audit('rollback-resumed', await retry.resumed(), { step });
    delete record.blocked;
    hooks.show('rolling-back');
  };
  const undoUntilDone = async (c: Compensation): Promise<Record<string, number>> => {
    for (;;) {
      try {
        return await undo(migrationId, c);
      } catch (err) {
        const root = innermost(err);
        if (!plan.waitWhenBlocked || root?.type !== 'RollbackBlocked') throw err;
        await waitForOperator(stepName(c), root.message ?? '');
      }
    }
  };

  return CancellationScope.nonCancellable(async () => {
    await audit('rollback-started', record.requestedBy ?? 'cutover', { reason: record.reason.slice(0, 500), ...plan.startDetails });
    if (plan.fence) record.steps.push({ step: 'close the load fence', result: await compensate.fenceLoads({ migrationId }) });
    for (const c of plan.compensations) record.steps.push({ step: stepName(c), result: await undoUntilDone(c) });
    if (plan.holdsSlot()) record.steps.push({ step: 'drop the replication slot', result: await compensate.endCapture({ migrationId }).then((r) => ({ slotDropped: r.slotDropped ? 1 : 0 })) });
    const after = plan.prepared ? await compensate.checksumTargets({ migrationId }) : [];
    const verdict = sagaVerdict(plan, after);
    Object.assign(record, { after, ...verdict });
    delete record.blocked;
    hooks.show('verdict');
    await audit('rolled-back', record.requestedBy ?? 'cutover', { restored: verdict.restored, steps: record.steps.length, differs: verdict.differs.length ? verdict.differs.join(', ').slice(0, 500) : null });
    return verdict;
  });
}
