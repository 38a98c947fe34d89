/**
 * The change log of delta sync: the source keys each round captured, per entity, until the round
 * is applied and confirmed. `pgChangeLog` is the control database's `sync_changes` table.
 */
import type { Knex } from 'knex';
import { CONTROL_SCHEMA } from '../control/schema';

const TABLE = `${CONTROL_SCHEMA}.sync_changes`;

export interface ChangeLog {
  /** Writes a round's captured keys (a retried capture replaces what it wrote before). */
  record(migrationId: string, round: number, byEntity: ReadonlyMap<string, ReadonlySet<string>>): Promise<void>;
  /** One part of a round's keys of an entity, in key order: `size` keys from `part * size`. */
  part(migrationId: string, round: number, entity: string, part: number, size: number): Promise<string[]>;
  /** Forgets the rounds up to `round` (applied and confirmed), or every round when none is given. */
  forget(migrationId: string, upToRound?: number): Promise<void>;
}

export function pgChangeLog(control: Knex): ChangeLog {
  return {
    async record(migrationId, round, byEntity) {
      await control.transaction(async (trx) => {
        await trx(TABLE).where({ migration_id: migrationId, round }).delete();
        for (const [entity, keys] of byEntity) {
          const all = [...keys];
          for (let i = 0; i < all.length; i += 20_000) {
            await trx.raw(`insert into ${TABLE} (migration_id, round, entity, source_key) select ?, ?, ?, k from json_array_elements_text(?::json) as k on conflict do nothing`, [
              migrationId,
              round,
              entity,
              JSON.stringify(all.slice(i, i + 20_000)),
            ]);
          }
        }
      });
    },
    async part(migrationId, round, entity, part, size) {
      const rows = await control(TABLE).select('source_key').where({ migration_id: migrationId, round, entity }).orderBy('source_key').offset(part * size).limit(size);
      return rows.map((r) => r.source_key as string);
    },
    async forget(migrationId, upToRound) {
      const q = control(TABLE).where({ migration_id: migrationId });
      await (upToRound === undefined ? q : q.andWhere('round', '<=', upToRound)).delete();
    },
  };
}
