import { sourceLabel, type EntitySpec, type Plan, type SyncSpec } from '../plan/types';
import type { CheckResult } from './table';

// Whether a source is ready for delta sync, from catalog facts (read by sync-catalog.ts):
// pure, so every verdict and fix is unit-tested without a server.

export const SYNC_COMPONENT = 'Delta sync';

/** A transaction open longer than this is reported (a slot's creation waits for it; the slot then retains WAL from it). */
export const LONG_TRANSACTION_SECONDS = 300;

/**
 * A transaction that has written (it holds an xid) and is open longer than this is named before the
 * start: the slot's creation, and the full load after it, waits for every such transaction open
 * when it begins. One that has been open a minute may well stay open (idle in transaction).
 */
export const WRITING_TRANSACTION_SECONDS = 60;

/** Result type OIDs a poll change column may have: epoch numbers, and dates and timestamps. */
export const NUMBER_TYPE_OIDS: readonly number[] = [20, 21, 23, 700, 701, 1700];
export const TIME_TYPE_OIDS: readonly number[] = [1082, 1114, 1184];

/** An entity's source table and how its changes identify rows. */
export interface TableIdentityFacts {
  schema: string;
  table: string;
  exists: boolean;
  /** pg_class.relreplident: d default (the primary key), i an index, f full, n nothing. */
  replicaIdentity: 'd' | 'i' | 'f' | 'n';
  /** Columns of the identity's index (the primary key for `d`); empty when there is none. */
  identityColumns: string[];
  /** The index `replica identity using index` names, for `i`. */
  identityIndex?: string;
  /** A unique, non-partial index on the entity's key alone, the key NOT NULL: what `using index` could name. */
  keyIndex?: string;
}

export interface PublicationFacts {
  insert: boolean;
  update: boolean;
  delete: boolean;
  truncate: boolean;
  /** The tables it publishes (`for all tables` and `tables in schema` resolved), with a row filter if any. */
  tables: { schema: string; table: string; rowFilter: string | null }[];
}

export interface SlotFacts {
  type: string;
  plugin: string | null;
  database: string | null;
  active: boolean;
  activePid: number | null;
  /** application_name of the session using the slot (Cutover's are `cutover-…`), when known. */
  activeApplication: string | null;
  /** pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn); null when it holds none. */
  retainedBytes: number | null;
  /** reserved, extended, unreserved or lost (PostgreSQL 13+). */
  walStatus: string | null;
  /** It has its position (confirmed_flush_lsn); false while a session is still creating it. */
  consistent?: boolean;
}

/** A session in a transaction: no query text, ever (it may hold personal data). */
export interface OpenTransaction {
  pid: number;
  database: string | null;
  ageSeconds: number;
  state: string | null;
  /** It has a transaction id: it has written, and a slot's creation waits for it. */
  writing: boolean;
  /** Its transaction id, when it has one. */
  xid?: string;
}

/** A prepared (two-phase) transaction: it holds its xid until COMMIT or ROLLBACK PREPARED, with no session. */
export interface PreparedTransaction {
  xid: string;
  database: string | null;
  ageSeconds: number;
}

export interface LogicalSyncFacts {
  database: string;
  walLevel: string;
  role: { name: string; superuser: boolean; replication: boolean };
  /** Absent: no such publication. */
  publication?: PublicationFacts;
  /** One per distinct entity table and key. */
  tables: (TableIdentityFacts & { key: string })[];
  /** Absent: the slot does not exist (yet). */
  slot?: SlotFacts;
  slots: { max: number; used: number; inactive: string[] };
  /** Transactions open longer than LONG_TRANSACTION_SECONDS, oldest first. */
  longTransactions: OpenTransaction[];
  /** Sessions of other roles whose transactions this role may not see (no pg_read_all_stats). */
  hiddenSessions: number;
  /** Transactions that have written and are open longer than WRITING_TRANSACTION_SECONDS, on any database of the server, oldest first. */
  writingTransactions?: OpenTransaction[];
  /** Prepared transactions on the server, oldest first. */
  preparedTransactions?: PreparedTransaction[];
}

export interface ChangeColumnFacts {
  entity: string;
  relationFound: boolean;
  columnFound: boolean;
  /** The column's type OID as a result field reports it (a domain's base type). */
  typeOid?: number;
  typeName?: string;
  /** The name of an index that leads with the column; null: none; undefined: not checked (a query source). */
  index?: string | null;
  rows?: number;
  nullRows?: number;
  /** Why NULLs were not counted (e.g. the count took too long). */
  notCounted?: string;
}

const RESERVED = new Set(['all', 'analyse', 'analyze', 'and', 'any', 'array', 'as', 'check', 'column', 'constraint', 'create', 'default', 'desc', 'do', 'end', 'for', 'from', 'grant', 'group', 'having', 'in', 'limit', 'not', 'null', 'offset', 'on', 'or', 'order', 'primary', 'references', 'select', 'table', 'to', 'user', 'using', 'when', 'where', 'with']);

/** An identifier as SQL text: quoted only when it must be. */
export function quoteIdent(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) && !RESERVED.has(name) ? name : `"${name.replace(/"/g, '""')}"`;
}

const qualified = (schema: string, table: string) => `${quoteIdent(schema)}.${quoteIdent(table)}`;
const literal = (s: string) => `'${s.replace(/'/g, "''")}'`;
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** Bytes as MB (MiB, as max_retained_wal_mb counts them), one decimal. */
export function formatMb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

export function formatAge(seconds: number): string {
  const s = Math.floor(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  const h = Math.floor(s / 3600);
  return s < 86_400 ? `${h} h ${Math.floor((s % 3600) / 60)} min` : `${Math.floor(h / 24)} d ${h % 24} h`;
}

const row = (check: string, ok: boolean, detail: string, fix?: string, warning = false): CheckResult => ({
  component: SYNC_COMPONENT,
  check,
  ok,
  ...(ok && warning ? { warning: true } : {}),
  detail,
  ...(fix && (!ok || warning) ? { fix } : {}),
});

export function walLevelRow(f: Pick<LogicalSyncFacts, 'walLevel'>): CheckResult {
  return f.walLevel === 'logical'
    ? row('wal_level is logical', true, 'wal_level = logical')
    : row(
        'wal_level is logical',
        false,
        `wal_level = ${f.walLevel}: the source writes no logical changes, so no slot can be made`,
        "the source's DBA runs `alter system set wal_level = logical` and restarts the server",
      );
}

export function replicationRow(f: Pick<LogicalSyncFacts, 'role'>): CheckResult {
  const check = `role ${f.role.name} may replicate`;
  if (f.role.replication) return row(check, true, 'REPLICATION');
  if (f.role.superuser) return row(check, true, "superuser (which a source role may not be: see 'source role is read-only')");
  return row(
    check,
    false,
    `${f.role.name} has no REPLICATION attribute: it can neither create the slot nor read its changes`,
    `as a superuser: alter role ${quoteIdent(f.role.name)} replication`,
  );
}

/** Each entity's source table once, with its key (logical sync follows tables only: the plan requires `table`). */
export function entityTables(entities: EntitySpec[]): { schema: string; table: string; key: string }[] {
  const seen = new Map<string, { schema: string; table: string; key: string }>();
  for (const e of entities) {
    if (e.source.table === undefined) continue;
    const t = { schema: e.source.schema, table: e.source.table, key: e.source.key };
    seen.set(JSON.stringify(t), t);
  }
  return [...seen.values()];
}

export function publicationRow(sync: SyncSpec, entities: EntitySpec[], f: Pick<LogicalSyncFacts, 'publication' | 'database'>): CheckResult {
  const check = `publication ${sync.publication}`;
  const wanted = [...new Map(entityTables(entities).map((t) => [`${t.schema}.${t.table}`, t])).values()];
  const list = (ts: { schema: string; table: string }[]) => ts.map((t) => qualified(t.schema, t.table)).join(', ');
  const pub = f.publication;
  if (!pub) {
    return row(check, false, `no publication ${sync.publication} on database ${f.database}`, `the tables' owner runs: create publication ${quoteIdent(sync.publication)} for table ${list(wanted)}`);
  }
  const setPublish = `alter publication ${quoteIdent(sync.publication)} set (publish = 'insert, update, delete, truncate')`;
  const problems: string[] = [];
  const fixes: string[] = [];
  const missing = wanted.filter((t) => !pub.tables.some((p) => p.schema === t.schema && p.table === t.table));
  if (missing.length) {
    problems.push(`does not publish ${list(missing)}`);
    fixes.push(`alter publication ${quoteIdent(sync.publication)} add table ${list(missing)}`);
  }
  const actions = (['insert', 'update', 'delete'] as const).filter((a) => !pub[a]);
  if (actions.length) {
    problems.push(`does not publish ${actions.map((a) => `${a}s`).join(', ')}`);
    fixes.push(setPublish);
  }
  if (problems.length) return row(check, false, problems.join('; '), fixes.join('; '));
  if (!pub.truncate) {
    return row(check, true, 'does not publish truncates: a TRUNCATE of an entity table goes unseen until the final reconcile (published, a round compares key sets)', setPublish, true);
  }
  const filtered = wanted.filter((t) => pub.tables.some((p) => p.schema === t.schema && p.table === t.table && p.rowFilter));
  if (filtered.length) {
    return row(
      check,
      true,
      `publishes ${list(filtered)} with a row filter: changes to rows outside it are not sent, and the final reconcile finds them`,
      `unless the filter matches the plan's skip rules: alter publication ${quoteIdent(sync.publication)} set table … without the WHERE`,
      true,
    );
  }
  return row(check, true, `publishes ${plural(wanted.length, 'table')} of the plan (inserts, updates, deletes, truncates)`);
}

/** Whether a table's replica identity carries the key in every update and delete. */
export function identityIncludesKey(t: TableIdentityFacts, key: string): boolean {
  if (t.replicaIdentity === 'f') return true;
  if (t.replicaIdentity === 'n') return false;
  return t.identityColumns.includes(key);
}

function describeIdentity(t: TableIdentityFacts): string {
  switch (t.replicaIdentity) {
    case 'f':
      return 'full';
    case 'n':
      return 'nothing';
    case 'i':
      return `index ${t.identityIndex ?? '?'} (${t.identityColumns.join(', ')})`;
    default:
      return t.identityColumns.length ? `primary key (${t.identityColumns.join(', ')})` : 'default, and no primary key';
  }
}

export function replicaIdentityRow(f: Pick<LogicalSyncFacts, 'tables'>): CheckResult {
  const check = 'replica identity includes the key';
  const bad = f.tables.filter((t) => !t.exists || !identityIncludesKey(t, t.key));
  if (!bad.length) return row(check, true, f.tables.map((t) => `${qualified(t.schema, t.table)}: ${describeIdentity(t)}`).join('; '));
  const detail = bad
    .map((t) => (t.exists ? `${qualified(t.schema, t.table)}: ${describeIdentity(t)}, without ${t.key}` : `no table ${qualified(t.schema, t.table)}`))
    .join('; ');
  const fixes = bad
    .filter((t) => t.exists)
    .map((t) =>
      t.keyIndex
        ? `alter table ${qualified(t.schema, t.table)} replica identity using index ${quoteIdent(t.keyIndex)}`
        : `alter table ${qualified(t.schema, t.table)} replica identity full (or give it a primary key on ${quoteIdent(t.key)})`,
    );
  return row(check, false, `${detail}: deletes and key changes of these rows cannot be followed`, fixes.length ? `the tables' owner runs: ${fixes.join('; ')}` : 'check the plan names the source tables');
}

/** The slot's own row, and (when it exists) its retained WAL, or (when it does not) a free slot. */
export function slotRows(sync: SyncSpec, f: Pick<LogicalSyncFacts, 'slot' | 'slots' | 'database'>): CheckResult[] {
  const check = `slot ${sync.slot}`;
  const s = f.slot;
  if (!s) {
    const free = f.slots.max - f.slots.used;
    const freeRow =
      free > 0
        ? row('a replication slot is free', true, `${f.slots.used} of max_replication_slots ${f.slots.max} in use`)
        : row(
            'a replication slot is free',
            false,
            `all ${f.slots.max} replication slots (max_replication_slots) are in use: Cutover cannot create ${sync.slot}`,
            [
              f.slots.inactive.length ? `drop an unused one (inactive: ${f.slots.inactive.join(', ')}): select pg_drop_replication_slot(${literal(f.slots.inactive[0]!)})` : undefined,
              'or raise max_replication_slots (a restart)',
            ]
              .filter(Boolean)
              .join(', '),
          );
    return [row(check, true, 'does not exist yet: Cutover creates it (logical, pgoutput) when the migration starts'), freeRow];
  }
  const problems: string[] = [];
  if (s.type !== 'logical') problems.push(`is a ${s.type} slot`);
  else if (s.plugin !== 'pgoutput') problems.push(`uses plugin ${s.plugin ?? 'none'}, not pgoutput`);
  if (s.database !== null && s.database !== f.database) problems.push(`is on database ${s.database}, not ${f.database}`);
  if (problems.length) {
    return [row(check, false, problems.join('; '), `name another slot in the plan's sync.slot, or (if nothing uses it) drop it: select pg_drop_replication_slot(${literal(sync.slot)})`)];
  }
  if (s.walStatus === 'lost') {
    return [row(check, false, 'its WAL was removed (wal_status lost): the changes it held are gone', `drop it (select pg_drop_replication_slot(${literal(sync.slot)})) and migrate again: a sync cannot go on from it`)];
  }
  const rows: CheckResult[] = [];
  const byCutover = s.activeApplication?.startsWith('cutover') ?? false;
  if (s.active && !byCutover) {
    rows.push(
      row(
        check,
        false,
        `active in pid ${s.activePid ?? '?'}${s.activeApplication ? ` (${s.activeApplication})` : ''}: another consumer reads it, and its changes are confirmed away from Cutover`,
        `stop that consumer, or name another slot in the plan's sync.slot`,
      ),
    );
  } else {
    rows.push(row(check, true, `logical, pgoutput, on ${f.database}${s.active ? `, in use by Cutover (pid ${s.activePid})` : ', not active'}`));
  }
  const max = sync.maxRetainedWalMb * 1024 * 1024;
  const retained = s.retainedBytes ?? 0;
  rows.push(
    retained > max
      ? row(
          `slot ${sync.slot} retained WAL`,
          true,
          `${formatMb(retained)} retained, over max_retained_wal_mb ${sync.maxRetainedWalMb}: the source keeps this WAL on disk until the slot advances`,
          "check the migration's sync is running (`cutover status`); a slot no migration reads must be dropped before the disk fills",
          true,
        )
      : row(`slot ${sync.slot} retained WAL`, true, `${formatMb(retained)} retained, under max_retained_wal_mb ${sync.maxRetainedWalMb}`),
  );
  return rows;
}

export function transactionsRow(f: Pick<LogicalSyncFacts, 'longTransactions' | 'hiddenSessions' | 'slot' | 'role'>): CheckResult {
  const check = `no transaction open over ${formatAge(LONG_TRANSACTION_SECONDS)}`;
  const notes: string[] = [];
  const fixes: string[] = [];
  if (f.longTransactions.length) {
    const shown = f.longTransactions.slice(0, 5).map((t) => `pid ${t.pid}${t.database ? ` on ${t.database}` : ''} for ${formatAge(t.ageSeconds)}${t.state ? ` (${t.state}${t.writing ? ', has written' : ''})` : ''}`);
    const more = f.longTransactions.length - shown.length;
    notes.push(`${plural(f.longTransactions.length, 'transaction')} open: ${shown.join(', ')}${more > 0 ? ` and ${more} more` : ''}`);
    fixes.push(
      f.slot
        ? 'the slot retains WAL from the oldest open transaction: have them end'
        : "the slot's creation waits until every transaction open at that moment ends: have them end before the migration starts",
    );
  }
  if (f.hiddenSessions > 0) {
    notes.push(`the transactions of ${plural(f.hiddenSessions, 'session')} of other roles are hidden from ${f.role.name}`);
    fixes.push(`to see them: grant pg_read_all_stats to ${quoteIdent(f.role.name)} (statistics only, no data)`);
  }
  if (!notes.length) return row(check, true, 'none');
  return row(check, true, notes.join('; '), fixes.join('; '), true);
}

/**
 * Transactions the slot's creation would wait for: those that have written and stay open (on
 * any database of the server: a slot waits for them all) and prepared ones. Named by pid,
 * transaction id, state and age, never a query. Once the slot has its position, nothing to wait for.
 */
export function writingTransactionsRow(f: Pick<LogicalSyncFacts, 'slot' | 'writingTransactions' | 'preparedTransactions'>): CheckResult {
  const check = `no writing transaction open over ${formatAge(WRITING_TRANSACTION_SECONDS)}`;
  if (f.slot && f.slot.consistent !== false) return row(check, true, 'the slot exists: its creation waits for nothing more');
  const writing = f.writingTransactions ?? [];
  const prepared = f.preparedTransactions ?? [];
  if (!writing.length && !prepared.length) return row(check, true, 'none');
  const shown = [
    ...writing.map((t) => `pid ${t.pid}${t.database ? ` on ${t.database}` : ''} for ${formatAge(t.ageSeconds)}${t.xid || t.state ? ` (${[t.xid && `transaction ${t.xid}`, t.state].filter(Boolean).join(', ')})` : ''}`),
    ...prepared.map((t) => `prepared transaction ${t.xid}${t.database ? ` on ${t.database}` : ''} for ${formatAge(t.ageSeconds)}`),
  ];
  const n = writing.length + prepared.length;
  const detail = `${plural(n, 'transaction that has written', 'transactions that have written')} open: ${shown.slice(0, 5).join(', ')}${n > 5 ? ` and ${n - 5} more` : ''}`;
  const end = `have them commit or roll back${writing.length ? ` (or end the session: select pg_terminate_backend(<pid>))` : ''}${prepared.length ? '; a prepared one: COMMIT PREPARED or ROLLBACK PREPARED (pg_prepared_xacts names it)' : ''}`;
  const fix = f.slot
    ? `the slot is being created and waits until each has ended; the full load starts after it: ${end}`
    : `\`cutover start\` creates the slot, which waits until every transaction that has written by then has ended, and the full load waits with it: ${end} first`;
  return row(check, true, detail, fix, true);
}

/** Every logical-sync row, in the order an operator fixes them. */
export function logicalSyncRows(plan: Plan, f: LogicalSyncFacts): CheckResult[] {
  const sync = plan.sync!;
  return [walLevelRow(f), replicationRow(f), publicationRow(sync, plan.entities, f), replicaIdentityRow(f), ...slotRows(sync, f), writingTransactionsRow(f), transactionsRow(f)];
}

/** One poll entity's change column: present, a number or a time, indexed; how many rows lack it. */
export function changeColumnRow(entity: EntitySpec, f: ChangeColumnFacts): CheckResult {
  const column = entity.source.change!.column;
  const check = `change column ${entity.name}.${column}`;
  const where = sourceLabel(entity);
  const hint = `or name another in entities.${entity.name}.source.change_column`;
  if (!f.relationFound) return row(check, false, `no relation ${where}`, 'check the plan names the source table');
  if (!f.columnFound) {
    return row(
      check,
      false,
      `${where} has no column ${column}`,
      entity.source.table !== undefined
        ? `add it (alter table ${qualified(entity.source.schema, entity.source.table)} add column ${quoteIdent(column)} timestamptz) and have every insert and update set it, ${hint}`
        : `select it in the query, ${hint}`,
    );
  }
  const type = f.typeName ?? `type ${f.typeOid}`;
  if (f.typeOid === undefined || ![...NUMBER_TYPE_OIDS, ...TIME_TYPE_OIDS].includes(f.typeOid)) {
    return row(check, false, `${column} is ${type}: a change column is a number (epoch ${entity.source.change!.unit}), a date or a timestamp`, hint.replace(/^or /, ''));
  }
  const parts = [type];
  let warning: string | undefined;
  if (f.index === undefined) parts.push('a query: its index is not checked');
  else if (f.index) parts.push(`indexed (${f.index})`);
  else {
    parts.push(`no index: each round reads all of ${where} for ${column} >= watermark`);
    warning = `the source's DBA creates one: create index concurrently on ${qualified(entity.source.schema, entity.source.table!)} (${quoteIdent(column)})`;
  }
  if (f.nullRows !== undefined && f.rows !== undefined) {
    parts.push(
      f.nullRows > 0
        ? `${f.nullRows} of ${plural(f.rows, 'row')} have it NULL: those are found only by comparing key sets each round`
        : `no NULL in ${plural(f.rows, 'row')}`,
    );
  } else if (f.notCounted) parts.push(`NULLs not counted: ${f.notCounted}`);
  return row(check, true, parts.join('; '), warning, warning !== undefined);
}

export function pollSyncRows(plan: Plan, facts: ChangeColumnFacts[]): CheckResult[] {
  return plan.entities.map((e) => {
    const f = facts.find((x) => x.entity === e.name);
    return f ? changeColumnRow(e, f) : row(`change column ${e.name}`, false, 'not read');
  });
}

/** The plan's source connection: its env var, or (for CUTOVER_SOURCE_URL) the configured source, as the worker resolves it. */
export function planSourceUrl(plan: Plan, env: NodeJS.ProcessEnv, configured: string | undefined): string | undefined {
  return env[plan.source.urlEnv] || (plan.source.urlEnv === 'CUTOVER_SOURCE_URL' ? configured : undefined);
}
