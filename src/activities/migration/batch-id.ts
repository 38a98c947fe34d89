import { createHash } from 'node:crypto';

/** A batch's identity: plan hash + entity + key range. The same range of the same plan is the same batch. */
export function batchIdOf(planHash: string, entity: string, afterKey: string | null, lastKey: string): string {
  return createHash('sha256').update(JSON.stringify([planHash, entity, afterKey, lastKey])).digest('hex').slice(0, 24);
}
