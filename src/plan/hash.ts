import { createHash } from 'node:crypto';
import type { Plan } from './types';

/** JSON with keys sorted at every level: the same plan always serializes the same way. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** SHA-256 of the normalized plan: part of every batch's identity. */
export function planHash(plan: Plan): string {
  return createHash('sha256').update(canonicalJson(plan)).digest('hex');
}

/** A migration's id: the plan's name and the start of its hash (a changed plan is a new migration). */
export function migrationId(plan: Plan): string {
  return `${plan.name}-${planHash(plan).slice(0, 12)}`;
}
