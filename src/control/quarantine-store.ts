import type { Knex } from 'knex';
import type { QuarantineRecord } from '../core/quarantine-record';
import { sealJson } from '../crypto/seal-json';
import { CONTROL_SCHEMA } from './schema';
import { textArray } from './text-array';

/** Records rows refused at `stage` or `load`, each sealed under the vault key; a retry overwrites its own entries. */
export async function writeQuarantine(control: Knex, vaultKey: Uint8Array, ref: { migrationId: string; entity: string; batchId: string }, stage: 'stage' | 'load', records: QuarantineRecord[]): Promise<void> {
  if (!records.length) return;
  const rows = records.map((r) => ({
    migration_id: ref.migrationId,
    entity: ref.entity,
    source_key: r.sourceKey,
    batch_id: ref.batchId,
    stage,
    business_key: r.businessKey ?? null,
    reason: r.reason,
    column_name: r.column ?? null,
    detail: r.detail,
    payload: sealJson(r.row, vaultKey, `quarantine:${ref.migrationId}:${ref.entity}:${r.sourceKey}`),
  }));
  await control(`${CONTROL_SCHEMA}.quarantine`).insert(rows).onConflict(['migration_id', 'entity', 'source_key']).merge(['batch_id', 'stage', 'business_key', 'reason', 'column_name', 'detail', 'payload']);
}

/**
 * Clears quarantine entries of rows that have now gone through (an operator fixed the source
 * row and ran the migration again): at `stage`, entries recorded at staging; at `load`, any.
 * Returns how many entries were cleared.
 */
export async function resolveQuarantine(control: Knex, ref: { migrationId: string; entity: string }, step: 'stage' | 'load', sourceKeys: readonly string[]): Promise<number> {
  let cleared = 0;
  for (let i = 0; i < sourceKeys.length; i += 20_000) {
    const r = await control.raw(
      `delete from ${CONTROL_SCHEMA}.quarantine where migration_id = ? and entity = ? and source_key = any(?::text[])${step === 'stage' ? " and stage = 'stage'" : ''}`,
      [ref.migrationId, ref.entity, textArray(sourceKeys.slice(i, i + 20_000))],
    );
    cleared += r.rowCount ?? 0;
  }
  return cleared;
}

/** The source keys of an entity in quarantine, at any step. */
export async function quarantinedSourceKeys(control: Knex, migrationId: string, entity: string): Promise<Set<string>> {
  return new Set((await control(`${CONTROL_SCHEMA}.quarantine`).select('source_key').where({ migration_id: migrationId, entity })).map((r) => r.source_key as string));
}

/** The rows of one batch its load quarantined: keys only. */
export async function refusedAtLoad(control: Knex, ref: { migrationId: string; entity: string; batchId: string }): Promise<{ source_key: string; business_key: string }[]> {
  return control(`${CONTROL_SCHEMA}.quarantine`).select('source_key', 'business_key').where({ migration_id: ref.migrationId, entity: ref.entity, batch_id: ref.batchId, stage: 'load' });
}
