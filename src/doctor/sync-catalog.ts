import type { Knex } from 'knex';
import { changeColumnSql } from '../plan/source-sql';
import type { EntitySpec, Plan } from '../plan/types';
import { entityTables, LONG_TRANSACTION_SECONDS, WRITING_TRANSACTION_SECONDS, type ChangeColumnFacts, type LogicalSyncFacts, type TableIdentityFacts } from './sync-rows';

// The catalog reads behind doctor's delta-sync rows, through the plan's source role. Reads
// only: settings, pg_roles, pg_publication*, pg_class/pg_index, pg_replication_slots,
// pg_stat_activity (never its query text), pg_prepared_xacts (never its gid), and for poll a count of NULL change values.

/** How long the count of NULL change values may take per entity (a full scan of a big table). */
const NULL_COUNT_TIMEOUT = '20s';

type Row = Record<string, unknown>;
const rows = async (db: Knex | Knex.Transaction, sql: string, bindings: unknown[] = []): Promise<Row[]> => (await db.raw(sql, bindings as never)).rows as Row[];

async function tableIdentity(db: Knex, t: { schema: string; table: string; key: string }): Promise<TableIdentityFacts & { key: string }> {
  const [c] = await rows(
    db,
    `select c.oid::text as oid, c.relreplident as ident from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = ? and c.relname = ? and c.relkind in ('r', 'p')`,
    [t.schema, t.table],
  );
  if (!c) return { ...t, exists: false, replicaIdentity: 'n', identityColumns: [] };
  const ident = c.ident as TableIdentityFacts['replicaIdentity'];
  const [index] = await rows(
    db,
    `select ci.relname as name, array(select a.attname::text from unnest(i.indkey) with ordinality k(attnum, ord)
        join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum order by k.ord) as columns
     from pg_index i join pg_class ci on ci.oid = i.indexrelid
     where i.indrelid = ?::oid and (case ?::text when 'd' then i.indisprimary when 'i' then i.indisreplident else false end)`,
    [c.oid, ident],
  );
  const [keyIndex] = await rows(
    db,
    `select ci.relname as name from pg_index i join pg_class ci on ci.oid = i.indexrelid
       join pg_attribute a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
     where i.indrelid = ?::oid and i.indisunique and i.indnatts = 1 and i.indpred is null and i.indexprs is null
       and i.indimmediate and a.attname = ? and a.attnotnull
     order by i.indisprimary desc, ci.relname limit 1`,
    [c.oid, t.key],
  );
  return {
    ...t,
    exists: true,
    replicaIdentity: ident,
    identityColumns: (index?.columns as string[] | undefined) ?? [],
    ...(index ? { identityIndex: index.name as string } : {}),
    ...(keyIndex ? { keyIndex: keyIndex.name as string } : {}),
  };
}

/** What logical sync needs of the source, for `logicalSyncRows` (`writingSeconds`: from what age a writing transaction is named). */
export async function readLogicalSyncFacts(db: Knex, plan: Plan, writingSeconds = WRITING_TRANSACTION_SECONDS): Promise<LogicalSyncFacts> {
  const sync = plan.sync!;
  const [s] = await rows(
    db,
    `select current_database() as database, current_setting('wal_level') as wal_level,
       current_setting('max_replication_slots')::int as max_slots, current_setting('server_version_num')::int as version,
       r.rolname as role, r.rolsuper as superuser, r.rolreplication as replication,
       pg_has_role(current_user, 'pg_read_all_stats', 'usage') as sees_all
     from pg_roles r where r.rolname = current_user`,
  );
  const database = s!.database as string;

  const [pub] = await rows(db, 'select pubinsert, pubupdate, pubdelete, pubtruncate from pg_publication where pubname = ?', [sync.publication]);
  // Row filters are PostgreSQL 15's (pg_publication_tables.rowfilter).
  const filter = Number(s!.version) >= 150000 ? 'rowfilter' : 'null::text';
  const published = pub ? await rows(db, `select schemaname, tablename, ${filter} as rowfilter from pg_publication_tables where pubname = ?`, [sync.publication]) : [];

  const tables = [];
  for (const t of entityTables(plan.entities)) tables.push(await tableIdentity(db, t));

  const [slot] = await rows(
    db,
    `select s.slot_type, s.plugin, s.database, s.active, s.active_pid, a.application_name,
       pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn)::float8 as retained, s.confirmed_flush_lsn is not null as consistent, ${Number(s!.version) >= 130000 ? 's.wal_status' : 'null::text'} as wal_status
     from pg_replication_slots s left join pg_stat_activity a on a.pid = s.active_pid where s.slot_name = ?`,
    [sync.slot],
  );
  const all = await rows(db, 'select slot_name, active from pg_replication_slots order by slot_name');

  const open = await rows(
    db,
    `select pid, datname, extract(epoch from now() - xact_start)::float8 as age, state, backend_xid is not null as writing
     from pg_stat_activity
     where xact_start is not null and pid <> pg_backend_pid() and now() - xact_start > make_interval(secs => ?)
     order by xact_start`,
    [LONG_TRANSACTION_SECONDS],
  );
  // Writing (an xid) and open a while, on any database: a slot's creation waits for each. Other
  // roles' sessions show their xid but no transaction start without pg_read_all_stats: not named here (hiddenSessions).
  const writers = await rows(
    db,
    `select pid, datname, extract(epoch from now() - xact_start)::float8 as age, state, backend_xid::text as xid
     from pg_stat_activity
     where backend_xid is not null and pid <> pg_backend_pid() and now() - xact_start > make_interval(secs => ?)
     order by xact_start`,
    [writingSeconds],
  );
  const prepared = await rows(db, 'select transaction::text as xid, database, extract(epoch from now() - prepared)::float8 as age from pg_prepared_xacts order by prepared');
  // Without pg_read_all_stats, pg_stat_activity shows other roles' sessions with no transaction start.
  const [hidden] = s!.sees_all
    ? [{ n: 0 }]
    : await rows(db, `select count(*)::int as n from pg_stat_activity where usesysid is not null and pid <> pg_backend_pid() and not pg_has_role(current_user, usesysid, 'usage')`);

  return {
    database,
    walLevel: s!.wal_level as string,
    role: { name: s!.role as string, superuser: Boolean(s!.superuser), replication: Boolean(s!.replication) },
    ...(pub
      ? {
          publication: {
            insert: Boolean(pub.pubinsert),
            update: Boolean(pub.pubupdate),
            delete: Boolean(pub.pubdelete),
            truncate: Boolean(pub.pubtruncate),
            tables: published.map((p) => ({ schema: p.schemaname as string, table: p.tablename as string, rowFilter: (p.rowfilter as string | null) ?? null })),
          },
        }
      : {}),
    tables,
    ...(slot
      ? {
          slot: {
            type: slot.slot_type as string,
            plugin: (slot.plugin as string | null) ?? null,
            database: (slot.database as string | null) ?? null,
            active: Boolean(slot.active),
            activePid: slot.active_pid === null ? null : Number(slot.active_pid),
            activeApplication: (slot.application_name as string | null) ?? null,
            retainedBytes: slot.retained === null ? null : Math.max(0, Number(slot.retained)),
            walStatus: (slot.wal_status as string | null) ?? null,
            ...(slot.slot_type === 'logical' ? { consistent: Boolean(slot.consistent) } : {}),
          },
        }
      : {}),
    slots: { max: Number(s!.max_slots), used: all.length, inactive: all.filter((r) => !r.active).map((r) => r.slot_name as string) },
    longTransactions: open.map((t) => ({ pid: Number(t.pid), database: (t.datname as string | null) ?? null, ageSeconds: Number(t.age), state: (t.state as string | null) ?? null, writing: Boolean(t.writing) })),
    hiddenSessions: Number(hidden!.n),
    writingTransactions: writers.map((t) => ({ pid: Number(t.pid), database: (t.datname as string | null) ?? null, ageSeconds: Number(t.age), state: (t.state as string | null) ?? null, writing: true, xid: t.xid as string })),
    preparedTransactions: prepared.map((t) => ({ xid: t.xid as string, database: (t.database as string | null) ?? null, ageSeconds: Number(t.age) })),
  };
}

/** The entity's relation in SQL (a table, or its query as a subquery), as the sync reads it. */
function relationSql(e: EntitySpec): { sql: string; bindings: string[] } {
  if (e.source.query !== undefined) return { sql: `(${e.source.query.replace(/\?/g, '\\?')})`, bindings: [] };
  return { sql: '??.??', bindings: [e.source.schema, e.source.table!] };
}

const pgCode = (err: unknown) => (err as { code?: string }).code;

async function changeColumnFacts(db: Knex, e: EntitySpec): Promise<ChangeColumnFacts> {
  const column = e.source.change!.column;
  const base = { entity: e.name };
  let typeOid: number;
  try {
    const q = changeColumnSql(e);
    const r = await db.transaction((trx) => trx.raw(q.sql, q.bindings as never), { readOnly: true });
    typeOid = (r as { fields: { dataTypeID: number }[] }).fields[0]!.dataTypeID;
  } catch (err) {
    // Only the error's code: its message may quote the plan's query, never rows, but keep to names.
    if (pgCode(err) === '42P01') return { ...base, relationFound: false, columnFound: false };
    if (pgCode(err) === '42703') return { ...base, relationFound: true, columnFound: false };
    throw err;
  }
  const [type] = await rows(db, 'select format_type(?::oid, null) as name', [typeOid]);
  let index: string | null | undefined;
  if (e.source.table !== undefined) {
    const [i] = await rows(
      db,
      `select ci.relname as name from pg_index i join pg_class ci on ci.oid = i.indexrelid
         join pg_attribute a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
       where i.indrelid = to_regclass(format('%I.%I', ?::text, ?::text)) and a.attname = ? and i.indpred is null
       order by ci.relname limit 1`,
      [e.source.schema, e.source.table, column],
    );
    index = (i?.name as string | undefined) ?? null;
  }
  const rel = relationSql(e);
  let counted: { rows?: number; nullRows?: number; notCounted?: string } = {};
  try {
    const [c] = await db.transaction(
      async (trx) => {
        await trx.raw(`set local statement_timeout = '${NULL_COUNT_TIMEOUT}'`);
        return rows(trx, `select count(*)::float8 as n, count(*) filter (where s.?? is null)::float8 as nulls from ${rel.sql} s`, [column, ...rel.bindings]);
      },
      { readOnly: true },
    );
    counted = { rows: Number(c!.n), nullRows: Number(c!.nulls) };
  } catch (err) {
    if (pgCode(err) !== '57014') throw err;
    counted = { notCounted: `the count took over ${NULL_COUNT_TIMEOUT}` };
  }
  return { ...base, relationFound: true, columnFound: true, typeOid, typeName: type!.name as string, ...(index !== undefined ? { index } : {}), ...counted };
}

/** Each entity's change column, for `pollSyncRows`. */
export async function readPollSyncFacts(db: Knex, plan: Plan): Promise<ChangeColumnFacts[]> {
  const out: ChangeColumnFacts[] = [];
  for (const e of plan.entities) if (e.source.change) out.push(await changeColumnFacts(db, e));
  return out;
}
