import knex, { Knex } from 'knex';
import { types } from 'pg';

// A `date` column read as a JS Date lands at local midnight and shifts with the time zone:
// keep it as the 'YYYY-MM-DD' text PostgreSQL sent.
types.setTypeParser(1082, (v: string) => v);
// Likewise a `timestamp without time zone`: a Date would read it in the worker's zone; the
// wall-clock text is what the column holds (target-types.ts compares it as such).
types.setTypeParser(1114, (v: string) => v);

/** A knex pool for one database. Pools are small: activities hold one connection per batch. */
export function createDb(url: string, options: { max?: number; applicationName?: string; readOnly?: boolean } = {}): Knex {
  return knex({
    client: 'pg',
    connection: {
      connectionString: url,
      application_name: options.applicationName ?? 'cutover',
      // Every transaction of a read-only pool is read-only unless it says otherwise (Cutover never does).
      ...(options.readOnly ? { options: '-c default_transaction_read_only=on' } : {}),
    },
    pool: { min: 0, max: options.max ?? 4 },
    acquireConnectionTimeout: 10_000,
  });
}
