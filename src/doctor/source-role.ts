import type { Knex } from 'knex';
import { SourceRoleFacts } from './read-only';

/** Reads what the connected role may do, from the catalog (no write is attempted). */
export async function readSourceRole(db: Knex): Promise<SourceRoleFacts> {
  const role = (await db.raw('select rolname, rolsuper, rolcreaterole, rolcreatedb from pg_roles where rolname = current_user')).rows[0];
  const writable = await db.raw(`
    select count(*) as n from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg_toast%'
      and (has_table_privilege(c.oid, 'INSERT') or has_table_privilege(c.oid, 'UPDATE')
        or has_table_privilege(c.oid, 'DELETE') or has_table_privilege(c.oid, 'TRUNCATE'))`);
  const schemas = await db.raw(`
    select nspname from pg_namespace
    where has_schema_privilege(oid, 'CREATE') and nspname not like 'pg\\_%' and nspname <> 'information_schema'`);
  const ro = await db.raw('show default_transaction_read_only');
  return {
    role: role.rolname,
    superuser: role.rolsuper,
    createRole: role.rolcreaterole,
    createDb: role.rolcreatedb,
    writableTables: Number(writable.rows[0].n),
    creatableSchemas: schemas.rows.map((r: { nspname: string }) => r.nspname),
    defaultReadOnly: ro.rows[0].default_transaction_read_only === 'on',
  };
}
