import type { Knex } from 'knex';
import { CONTROL_SCHEMA, ensureControlSchema } from '../control/schema';
import { AuditBreak, AuditEvent, AuditHead, AuditRow, checkAuditEvent, compareWithAnchor, GENESIS, linkHash, verifyLinks } from './chain';

/** The audit trail, in the control database. */
export const AUDIT_TABLE = `${CONTROL_SCHEMA}.audit`;

// `at` is hashed as text, so it is always read back as the exact text that was hashed:
// UTC, milliseconds (the value is stored truncated to them), whatever the session's time zone.
const AT_TEXT = `to_char(at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
const COLUMNS = `seq, ${AT_TEXT} as at, migration_id, actor, action, event_key, details, prev_hash, hash`;

let ready = new WeakSet<Knex>();

/**
 * Creates the audit table if missing, with triggers that refuse UPDATE, DELETE and TRUNCATE.
 * Safe to call from concurrent activities.
 *
 * The triggers stop mistakes and casual edits, not the table's owner or a superuser (who can
 * drop them, or `set session_replication_role = replica`): the HMAC chain is what shows such
 * an edit afterwards.
 */
export async function ensureAuditSchema(control: Knex): Promise<void> {
  if (ready.has(control)) return;
  await ensureControlSchema(control);
  await control.transaction(async (trx) => {
    await trx.raw("select pg_advisory_xact_lock(hashtext('cutover.audit-schema'))");
    await trx.raw(`
      create table if not exists ${AUDIT_TABLE} (
        seq bigint primary key,
        at timestamptz not null,
        migration_id text not null,
        actor text not null,
        action text not null,
        event_key text not null unique,
        details jsonb not null,
        prev_hash text not null,
        hash text not null
      );
      create index if not exists audit_migration on ${AUDIT_TABLE} (migration_id, seq);
      create or replace function ${CONTROL_SCHEMA}.audit_append_only() returns trigger language plpgsql as $fn$
      begin
        raise exception '${AUDIT_TABLE} is append-only: % refused', tg_op
          using hint = 'the audit trail is hash-chained; record a new event instead';
      end
      $fn$;
      do $do$
      begin
        if not exists (select 1 from pg_trigger where tgrelid = '${AUDIT_TABLE}'::regclass and tgname = 'audit_no_update_delete') then
          create trigger audit_no_update_delete before update or delete on ${AUDIT_TABLE}
            for each row execute function ${CONTROL_SCHEMA}.audit_append_only();
        end if;
        if not exists (select 1 from pg_trigger where tgrelid = '${AUDIT_TABLE}'::regclass and tgname = 'audit_no_truncate') then
          create trigger audit_no_truncate before truncate on ${AUDIT_TABLE}
            for each statement execute function ${CONTROL_SCHEMA}.audit_append_only();
        end if;
      end
      $do$;`);
  });
  ready.add(control);
}

/** For tests that drop and recreate databases. */
export function forgetAuditSchema(): void {
  ready = new WeakSet<Knex>();
}

interface DbRow {
  seq: string | number;
  at: string;
  migration_id: string;
  actor: string;
  action: string;
  event_key: string;
  details: AuditEvent['details'];
  prev_hash: string;
  hash: string;
}

function fromDb(r: DbRow): AuditRow {
  return {
    seq: Number(r.seq), // bigint arrives as text
    at: r.at,
    migrationId: r.migration_id,
    actor: r.actor,
    action: r.action,
    eventKey: r.event_key,
    details: r.details,
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}

export class AuditKeyConflictError extends Error {
  constructor(
    readonly eventKey: string,
    readonly recorded: { seq: number; migrationId: string; action: string },
  ) {
    super(`audit event key ${eventKey} is already recorded for another event (row ${recorded.seq}: ${recorded.action}, migration ${recorded.migrationId})`);
    this.name = 'AuditKeyConflictError';
  }
}

/**
 * Appends one event to the chain, or returns the row already recorded under its
 * `eventKey` (activities are retried). Appends are serialized by an advisory lock, so `seq`
 * has no gaps and each row links to the one before it.
 */
export async function appendAudit(control: Knex, key: Buffer, event: AuditEvent): Promise<{ seq: number; hash: string; at: string }> {
  checkAuditEvent(event);
  await ensureAuditSchema(control);
  return control.transaction(async (trx) => {
    await trx.raw("select pg_advisory_xact_lock(hashtext('cutover.audit-chain'))");
    const existing = (await trx.raw(`select ${COLUMNS} from ${AUDIT_TABLE} where event_key = ?`, [event.eventKey])).rows[0] as DbRow | undefined;
    if (existing) {
      const row = fromDb(existing);
      if (row.migrationId !== event.migrationId || row.action !== event.action) throw new AuditKeyConflictError(event.eventKey, row);
      return { seq: row.seq, hash: row.hash, at: row.at };
    }
    const last = (await trx.raw(`select seq, hash from ${AUDIT_TABLE} order by seq desc limit 1`)).rows[0] as { seq: string; hash: string } | undefined;
    const at = (await trx.raw(`select to_char(date_trunc('milliseconds', clock_timestamp()) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as at`)).rows[0].at as string;
    const prevHash = last?.hash ?? GENESIS;
    const row = {
      seq: last ? Number(last.seq) + 1 : 1,
      at,
      migrationId: event.migrationId,
      actor: event.actor,
      action: event.action,
      eventKey: event.eventKey,
      details: event.details,
    };
    const hash = linkHash(key, prevHash, row);
    await trx.raw(
      `insert into ${AUDIT_TABLE} (seq, at, migration_id, actor, action, event_key, details, prev_hash, hash) values (?, ?::timestamptz, ?, ?, ?, ?, ?::jsonb, ?, ?)`,
      [row.seq, at, row.migrationId, row.actor, row.action, row.eventKey, JSON.stringify(row.details), prevHash, hash],
    );
    return { seq: row.seq, hash, at };
  });
}

async function auditTableExists(control: Knex): Promise<boolean> {
  const r = await control.raw('select to_regclass(?) is not null as present', [AUDIT_TABLE]);
  return Boolean(r.rows[0].present);
}

export interface VerifyAuditOptions {
  /**
   * Rows read per query; the table is never loaded whole.
   * @default 5000
   */
  pageSize?: number;
  /**
   * A head recorded elsewhere (`audit verify` output, a report): the chain must still hold
   * that row with that hash (a prefix of at least 12 characters is enough). Without one,
   * rows removed at the end go unnoticed: what remains is a valid chain.
   */
  anchor?: AuditHead;
}

export interface AuditVerification {
  ok: boolean;
  /** Rows verified intact (before the break, if any). */
  rows: number;
  /** The last row, when the chain has rows and is intact. */
  head?: AuditHead;
  broken?: AuditBreak;
}

/** Recomputes every link, page by page in `seq` order, and stops at the first break. */
export async function verifyAudit(control: Knex, key: Buffer, options: VerifyAuditOptions = {}): Promise<AuditVerification> {
  const pageSize = options.pageSize ?? 5000;
  if (!Number.isInteger(pageSize) || pageSize < 1) throw new RangeError('verifyAudit: pageSize must be a positive integer');
  const anchor = options.anchor;
  if (anchor && (!Number.isInteger(anchor.seq) || anchor.seq < 1 || !/^[0-9a-f]{12,64}$/i.test(anchor.hash))) {
    throw new RangeError('verifyAudit: anchor must be a row number and at least 12 hex characters of its hash');
  }
  let expected = { prevHash: GENESIS, seq: 1 };
  let atAnchor: AuditRow | undefined;
  if (await auditTableExists(control)) {
    for (;;) {
      const page = ((await control.raw(`select ${COLUMNS} from ${AUDIT_TABLE} where seq >= ? order by seq limit ?`, [expected.seq, pageSize])).rows as DbRow[]).map(fromDb);
      const result = verifyLinks(page, key, expected);
      if (!result.ok) return { ok: false, rows: result.broken.seq - 1, broken: result.broken };
      atAnchor ??= anchor && page.find((r) => r.seq === anchor.seq);
      expected = { prevHash: result.last.hash, seq: result.last.seq + 1 };
      if (page.length < pageSize) break;
    }
  }
  const last = { seq: expected.seq - 1, hash: expected.prevHash };
  const rows = last.seq;
  if (anchor) {
    const broken = compareWithAnchor(anchor, atAnchor, last);
    if (broken) return { ok: false, rows, broken };
  }
  return rows ? { ok: true, rows, head: last } : { ok: true, rows };
}

/** The chain's last row, if any. */
export async function auditHead(control: Knex): Promise<AuditHead | undefined> {
  if (!(await auditTableExists(control))) return undefined;
  const row = (await control.raw(`select seq, hash from ${AUDIT_TABLE} order by seq desc limit 1`)).rows[0] as { seq: string; hash: string } | undefined;
  return row && { seq: Number(row.seq), hash: row.hash };
}

/**
 * Recorded events in `seq` order: one migration's, or every migration's when `migrationId`
 * is omitted. With `limit`, the most recent `limit` of them.
 */
export async function auditEvents(control: Knex, migrationId?: string, options: { limit?: number } = {}): Promise<AuditRow[]> {
  if (!(await auditTableExists(control))) return [];
  const where = migrationId === undefined ? '' : 'where migration_id = ?';
  const bindings: unknown[] = migrationId === undefined ? [] : [migrationId];
  let text = `select ${COLUMNS} from ${AUDIT_TABLE} ${where} order by seq`;
  if (options.limit !== undefined) {
    text = `select * from (select ${COLUMNS} from ${AUDIT_TABLE} ${where} order by seq desc limit ?) latest order by seq`;
    bindings.push(options.limit);
  }
  return ((await control.raw(text, bindings as Knex.RawBinding[])).rows as DbRow[]).map(fromDb);
}
