import knex, { Knex } from 'knex';
import { types } from 'pg';

// A `date` column read as a JS Date lands at local midnight and shifts with the time zone:
// keep it as the 'YYYY-MM-DD' text PostgreSQL sent.
types.setTypeParser(1082, (v: string) => v);

/** A knex pool for one database. Pools are small: activities hold one connection per batch. */
export function createDb(url: string, options: { max?: number; applicationName?: string } = {}): Knex {
  return knex({
    client: 'pg',
    connection: { connectionString: url, application_name: options.applicationName ?? 'cutover' },
    pool: { min: 0, max: options.max ?? 4 },
    acquireConnectionTimeout: 10_000,
  });
}
