import { createHash } from 'node:crypto';

/** A batch's identity: plan hash + entity + key range (+ a tree's level). The same range of the same plan is the same batch. */
export function batchIdOf(planHash: string, entity: string, afterKey: string | null, lastKey: string, level?: number): string {
  const parts = level === undefined ? [planHash, entity, afterKey, lastKey] : [planHash, entity, afterKey, lastKey, level];
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 24);
}
