/**
 * The audit chain as the activities see it: append an event (a retry with the same event key
 * records nothing new). `pgAuditLog` chains it in the control database under the audit key.
 */
import type { Knex } from 'knex';
import type { AuditEvent } from '../audit/chain';
import { appendAudit } from '../audit/store';
import type { KeyRing } from '../crypto/key-ring';

export interface AuditLog {
  append(event: AuditEvent): Promise<{ seq: number; hash: string }>;
}

export function pgAuditLog(control: Knex, keys: Pick<KeyRing, 'get'>): AuditLog {
  return {
    async append(event) {
      const { seq, hash } = await appendAudit(control, await keys.get('audit'), event);
      return { seq, hash };
    },
  };
}
