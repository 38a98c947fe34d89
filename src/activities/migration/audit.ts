import { AuditEvent } from '../../audit/chain';
import { appendAudit } from '../../audit/store';
import { MigrationContext } from '../../stores/migration-context';

export function createAuditActivities(ctx: MigrationContext) {
  return {
    /** Appends an event to the audit chain; a retry with the same event key records nothing new. */
    async recordAudit(event: AuditEvent): Promise<{ seq: number; hash: string }> {
      const { seq, hash } = await appendAudit(ctx.deps.control, await ctx.deps.keys.get('audit'), event);
      return { seq, hash };
    },
  };
}
