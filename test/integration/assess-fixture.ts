import { assessPlan, type Assessment } from '../../src/assess/assess';
import { createS3Client } from '../../src/clients/aws';
import { createDb } from '../../src/clients/postgres';
import type { Plan } from '../../src/plan/types';
import { Isolated, sql } from './helpers';

/** Counts by entity, then by quarantine reason. */
export type ReasonCounts = Record<string, Record<string, number>>;

/** Assesses a plan in-process against the test's own databases (the source through its read-only role). */
export async function assessIn(env: Isolated, plan: Plan): Promise<Assessment> {
  const source = createDb(env.config.databases.sourceUrl!, { max: 2, readOnly: true });
  const target = createDb(env.config.databases.targetUrl!, { max: 2, readOnly: true });
  const s3 = createS3Client(env.config.s3);
  try {
    return await assessPlan(plan, { source, target, s3 }, { now: new Date().toISOString() });
  } finally {
    s3.destroy();
    await Promise.all([source.destroy(), target.destroy()]);
  }
}

/** The assessment's forecast quarantine, by entity and reason (entities with none left out). */
export function forecastCounts(a: Assessment): ReasonCounts {
  const out: ReasonCounts = {};
  for (const f of a.preflight.forecast) for (const r of f.reasons) (out[f.entity] ??= {})[r.reason] = (out[f.entity]?.[r.reason] ?? 0) + r.count;
  return out;
}

/** What a migration really quarantined, by entity and reason. */
export async function quarantineCounts(env: Isolated, migrationId: string): Promise<ReasonCounts> {
  const rows = await sql<{ entity: string; reason: string; n: string }>(env.config.databases.controlUrl!, 'select entity, reason, count(*) as n from cutover.quarantine where migration_id = $1 group by 1, 2', [migrationId]);
  const out: ReasonCounts = {};
  for (const r of rows) (out[r.entity] ??= {})[r.reason] = Number(r.n);
  return out;
}
