import type { Knex } from 'knex';
import { CONTROL_SCHEMA } from './schema';

/** Which of these source keys of an entity are quarantined (a child's parent, say). */
export async function quarantinedKeys(control: Knex, migrationId: string, entity: string, sourceKeys: readonly string[]): Promise<Set<string>> {
  const out = new Set<string>();
  for (let i = 0; i < sourceKeys.length; i += 20_000) {
    const { rows } = await control.raw(`select q.source_key from json_array_elements_text(?::json) as k(k) cross join lateral (select source_key from ${CONTROL_SCHEMA}.quarantine where migration_id = ? and entity = ? and source_key = k.k) as q`, [
      JSON.stringify(sourceKeys.slice(i, i + 20_000)),
      migrationId,
      entity,
    ]);
    for (const r of rows as { source_key: string }[]) out.add(r.source_key);
  }
  return out;
}
