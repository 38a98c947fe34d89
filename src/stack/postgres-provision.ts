import { Client } from 'pg';
import type { DatabaseNames } from './endpoints';

export interface ProvisionInput {
  adminUrl: string;
  names: DatabaseNames;
  readerPassword: string;
  appPassword: string;
}

async function withClient<T>(url: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 5000, application_name: 'cutover-stack' });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

function withDatabase(adminUrl: string, database: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

/**
 * Creates (idempotently) the source, target and control databases and two roles:
 * a read-only role for the source, and an application role that owns target and control.
 */
export async function provisionDatabases(p: ProvisionInput): Promise<void> {
  const { names } = p;
  await withClient(p.adminUrl, async (c) => {
    const id = (s: string) => c.escapeIdentifier(s);
    const lit = (s: string) => c.escapeLiteral(s);
    const admin = (await c.query<{ u: string }>('select current_user as u')).rows[0]!.u;
    for (const [role, password] of [
      [names.reader, p.readerPassword],
      [names.app, p.appPassword],
    ] as const) {
      const exists = await c.query('select 1 from pg_roles where rolname = $1', [role]);
      const verb = exists.rowCount ? 'alter' : 'create';
      await c.query(`${verb} role ${id(role)} with login nosuperuser nocreatedb nocreaterole noreplication password ${lit(password)}`);
    }
    // The source role cannot write even if someone grants it a table by mistake.
    await c.query(`alter role ${id(names.reader)} set default_transaction_read_only = on`);
    await c.query(`grant ${id(names.app)} to ${id(admin)}`); // lets the admin create objects owned by app
    for (const [db, owner] of [
      [names.source, admin],
      [names.target, names.app],
      [names.control, names.app],
    ] as const) {
      const exists = await c.query('select 1 from pg_database where datname = $1', [db]);
      if (!exists.rowCount) await c.query(`create database ${id(db)} owner ${id(owner)}`);
      await c.query(`revoke all on database ${id(db)} from public`);
    }
    await c.query(`grant connect on database ${id(names.source)} to ${id(names.reader)}`);
  });
  await withClient(withDatabase(p.adminUrl, names.source), async (c) => {
    const id = (s: string) => c.escapeIdentifier(s);
    await c.query('revoke create on schema public from public');
    await c.query(`grant usage on schema public to ${id(names.reader)}`);
    await c.query(`grant select on all tables in schema public to ${id(names.reader)}`);
    await c.query(`alter default privileges in schema public grant select on tables to ${id(names.reader)}`);
  });
}

/**
 * Drops the replication slots on these databases, ending a walsender still streaming from one
 * (what a test or bench run that stopped mid-sync leaves): a slot keeps the server's WAL for
 * ever, and a database with one cannot be dropped.
 */
async function dropSlotsOn(c: Client, databases: readonly string[]): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const slots = await c.query<{ slot_name: string; active_pid: number | null }>('select slot_name, active_pid from pg_replication_slots where database = any($1)', [databases]);
    if (!slots.rowCount) return;
    for (const s of slots.rows) {
      if (s.active_pid) await c.query('select pg_terminate_backend($1)', [s.active_pid]);
      await c.query('select pg_drop_replication_slot($1)', [s.slot_name]).catch((err: Error & { code?: string }) => {
        if (err.code === '42704') return; // dropped meanwhile (a worker still ending the sync)
        if (err.code !== '55006' || attempt >= 50) throw err;
      });
    }
    // A walsender just terminated may hold its slot a moment longer: the next pass tries again.
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function dropReplicationSlots(adminUrl: string, databases: readonly string[]): Promise<void> {
  await withClient(adminUrl, (c) => dropSlotsOn(c, databases));
}

/** Drops what `provisionDatabases` made (their replication slots first): for tests that provision their own prefix. */
export async function dropDatabases(adminUrl: string, names: DatabaseNames): Promise<void> {
  await withClient(adminUrl, async (c) => {
    const id = (s: string) => c.escapeIdentifier(s);
    const databases = [names.source, names.target, names.control];
    await dropSlotsOn(c, databases);
    for (const db of databases) await c.query(`drop database if exists ${id(db)} with (force)`);
    for (const role of [names.reader, names.app]) {
      const exists = await c.query('select 1 from pg_roles where rolname = $1', [role]);
      if (exists.rowCount) {
        await c.query(`drop owned by ${id(role)}`);
        await c.query(`drop role ${id(role)}`);
      }
    }
  });
}
