import { createHash } from 'node:crypto';
import { canonicalJson } from '../core/canonical-json';
import type { Plan } from './types';

export { canonicalJson };

/** SHA-256 of the normalized plan: part of every batch's identity. */
export function planHash(plan: Plan): string {
  return createHash('sha256').update(canonicalJson(plan)).digest('hex');
}

/** A migration's id: the plan's name and the start of its hash (a changed plan is a new migration). */
export function migrationId(plan: Plan): string {
  return `${plan.name}-${planHash(plan).slice(0, 12)}`;
}
