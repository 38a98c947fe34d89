import knex, { Knex } from 'knex';

/** A knex pool for one database. Pools are small: activities hold one connection per batch. */
export function createDb(url: string, options: { max?: number; applicationName?: string } = {}): Knex {
  return knex({
    client: 'pg',
    connection: { connectionString: url, application_name: options.applicationName ?? 'cutover' },
    pool: { min: 0, max: options.max ?? 4 },
    acquireConnectionTimeout: 10_000,
  });
}
