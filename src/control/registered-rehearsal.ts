import type { Knex } from 'knex';
import type { RehearsalSpec } from '../plan/types';
import { CONTROL_SCHEMA } from './schema';

/**
 * The rehearsal marker of the plan the control database registered for a migration (its
 * `prepare` ran), if it is one. Read from the control database rather than a workflow memo:
 * Temporal encodes a memo with the codec key of the deployment that started it, so one
 * another deployment (or a test's own control database) cannot decode would break `list`.
 */
export async function registeredRehearsal(control: Knex, migrationId: string): Promise<RehearsalSpec | undefined> {
  const row = await control(`${CONTROL_SCHEMA}.migrations`).select(control.raw("plan->'rehearsal' as rehearsal")).where({ migration_id: migrationId }).first();
  return (row?.rehearsal as RehearsalSpec | null | undefined) ?? undefined;
}
