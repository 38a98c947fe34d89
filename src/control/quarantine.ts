import type { Knex } from 'knex';
import { CONTROL_SCHEMA } from './schema';

/** Which of these source keys of an entity are quarantined (a child's parent, say). */
export async function quarantinedKeys(control: Knex, migrationId: string, entity: string, sourceKeys: readonly string[]): Promise<Set<string>> {
  const out = new Set<string>();
  for (let i = 0; i < sourceKeys.length; i += 5000) {
    const rows = await control(`${CONTROL_SCHEMA}.quarantine`).select('source_key').where({ migration_id: migrationId, entity }).whereIn('source_key', sourceKeys.slice(i, i + 5000));
    for (const r of rows) out.add(r.source_key as string);
  }
  return out;
}
