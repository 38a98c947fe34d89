/**
 * A live legacy LMS for the sync bench, set up as test/integration/sync-fixture.ts does: the demo
 * LMS seeded into a database of the stack's PostgreSQL with wal_level=logical (port 5433), a
 * `changed_at` column on the four synced tables (NULL for the seeded rows: the full load finds
 * them), the read-only role given REPLICATION and a publication of the tables, as the source's
 * DBA would. The targets and the control database are on the stack's main PostgreSQL, as a
 * source and its new system are two servers in a real migration (and the load's WAL then stays
 * out of the stream the slot decodes).
 */
import { randomBytes } from 'node:crypto';
import { seedLms, SeedResult } from '../../demo/lms/seed';
import { CutoverConfig, loadConfig, readLocalStack } from '../../src/config';
import { DatabaseNames, databaseNames, postgresUrl } from '../../src/stack/endpoints';
import { dropDatabases, provisionDatabases } from '../../src/stack/postgres-provision';
import type { Cleanup } from './cleanup';
import { dbUrl, withDb } from './resources';

/** The four entities of examples/lms.plan.yaml the sync bench moves, and their source tables. */
export const SYNC_ENTITIES = ['org_units', 'users', 'courses', 'enrollments'];
export const SYNC_TABLES = ['legacy_org_units', 'legacy_users', 'legacy_courses', 'legacy_enrollments'];

export interface SyncSource {
  users: number;
  seeded: SeedResult;
  seedSeconds: number;
  names: DatabaseNames;
  /** Superuser URLs: the logical server (the source) and the main server (targets, control). */
  logicalAdmin: string;
  mainAdmin: string;
  /** The source through a role that writes (the legacy application's). */
  ownerUrl: string;
  appPassword: string;
  publication: string;
  /** The stack's configuration with this source, the main server's target and control databases, and a task queue of its own. */
  config: CutoverConfig;
}

/** Provisions the databases on both servers, seeds the source and prepares it for logical capture; `cleanup` drops it all (slots first). */
export async function syncSource(users: number, cleanup: Cleanup): Promise<SyncSource> {
  const local = readLocalStack();
  if (!local) throw new Error('no local stack: run `node bin/cutover.js stack up` first');
  if (!local.logicalPostgres?.adminUrl) throw new Error('the local stack has no logical PostgreSQL (an endpoints file from before it): run `node bin/cutover.js stack up`');
  const hex = randomBytes(3).toString('hex');
  const names = databaseNames(`bench_sync_${users}_${hex}`);
  const readerPassword = randomBytes(12).toString('hex');
  const appPassword = randomBytes(12).toString('hex');
  const logicalAdmin = local.logicalPostgres.adminUrl;
  const mainAdmin = local.postgres.adminUrl;
  // Registered before they exist: a half-made setup is removed too (dropDatabases drops their slots first).
  cleanup.defer(`drop databases ${names.source}, _target, _control and roles on the logical server`, () => dropDatabases(logicalAdmin, names));
  await provisionDatabases({ adminUrl: logicalAdmin, names, readerPassword, appPassword });
  cleanup.defer(`drop databases ${names.source}, _target, _control and roles on the main server`, () => dropDatabases(mainAdmin, names));
  await provisionDatabases({ adminUrl: mainAdmin, names, readerPassword, appPassword });

  const ownerUrl = dbUrl(logicalAdmin, names.source);
  const t0 = process.hrtime.bigint();
  const seeded = await seedLms({ sourceUrl: ownerUrl, users, full: true });
  const seedSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const publication = `bench_pub_${hex}`;
  await withDb(ownerUrl, async (db) => {
    for (const t of SYNC_TABLES) await db.query(`alter table ${t} add column changed_at timestamptz`);
    // The legacy application deletes a user's enrollments with the user: the index it would have for that.
    await db.query('create index on legacy_enrollments (user_id)');
    // And, as `cutover doctor --plan` asks of a poll source, an index on each change column (a
    // round reads the rows changed since its watermark through it, not by scanning the table).
    for (const t of SYNC_TABLES) await db.query(`create index on ${t} (changed_at)`);
    await db.query(`create publication ${publication} for table ${SYNC_TABLES.join(', ')}`);
    await db.query('analyze');
  });
  await withDb(logicalAdmin, (db) => db.query(`alter role ${db.escapeIdentifier(names.reader)} replication`));

  const base = loadConfig();
  const config: CutoverConfig = {
    ...base,
    temporal: { ...base.temporal, taskQueue: `bench-${names.source}` },
    databases: {
      sourceUrl: postgresUrl(logicalAdmin, names.reader, readerPassword, names.source),
      targetUrl: postgresUrl(mainAdmin, names.app, appPassword, names.target),
      controlUrl: postgresUrl(mainAdmin, names.app, appPassword, names.control),
    },
  };
  return { users, seeded, seedSeconds, names, logicalAdmin, mainAdmin, ownerUrl, appPassword, publication, config };
}
