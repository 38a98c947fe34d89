import type { AuditEvent } from '../../audit/chain';
import type { Stores } from '../../stores/stores';

export function createAuditActivities(stores: Pick<Stores, 'audit'>) {
  return {
    /** Appends an event to the audit chain; a retry with the same event key records nothing new. */
    recordAudit: (event: AuditEvent): Promise<{ seq: number; hash: string }> => stores.audit.append(event),
  };
}
