/**
 * Operators' decisions at phase gates, with the time each was taken. `pgApprovalLog` is the
 * control database's `approvals` table.
 */
import type { Knex } from 'knex';
import { CONTROL_SCHEMA } from '../control/schema';

export interface ApprovalLog {
  /** Records (or, decided again, replaces) a gate's decision; returns when it was taken. */
  record(decision: { migrationId: string; phase: string; approver: string; decision: 'approve' | 'reject' }): Promise<{ decidedAt: string }>;
}

export function pgApprovalLog(control: Knex): ApprovalLog {
  return {
    async record(d) {
      await control(`${CONTROL_SCHEMA}.approvals`)
        .insert({ migration_id: d.migrationId, phase: d.phase, approver: d.approver, decision: d.decision })
        .onConflict(['migration_id', 'phase'])
        .merge({ approver: d.approver, decision: d.decision, decided_at: control.fn.now() });
      const row = await control(`${CONTROL_SCHEMA}.approvals`).where({ migration_id: d.migrationId, phase: d.phase }).first();
      return { decidedAt: new Date(row.decided_at).toISOString() };
    },
  };
}
