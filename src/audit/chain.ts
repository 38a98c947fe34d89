import { createHmac, timingSafeEqual } from 'node:crypto';
import { canonicalJson } from '../core/canonical-json';

/**
 * The audit trail is a hash chain: each row's hash is an HMAC over the previous row's hash
 * and the row's own fields. Changing, reordering or removing a row breaks every link after
 * it. An HMAC (its key wrapped by KMS) rather than a bare hash, so someone with write access
 * to the database cannot recompute the chain after editing a row.
 *
 * Pure: no I/O. The store (`./store`) reads and writes rows; this module says what a valid
 * chain is.
 */

/**
 * One thing that happened, as a caller records it.
 *
 * `details` must never hold personal data: the trail is kept for years and read by auditors.
 * Pass counts, ids (migration, batch, workflow), names of entities and phases, plan hashes,
 * and operator logins, never column values, tokens' originals, emails or names of people.
 */
export interface AuditEvent {
  migrationId: string;
  /** Who did it: an operator's login, or `worker` for what the workflow did by itself. */
  actor: string;
  /** What happened, kebab-case: `migration-started`, `batch-loaded`, `gate-approved`. */
  action: string;
  /**
   * Unique per event, stable across retries (e.g. `${migrationId}/batch/${batchId}/loaded`):
   * appending an event whose key is already recorded returns the recorded row.
   */
  eventKey: string;
  details: Record<string, string | number | boolean | null>;
}

/** An event as recorded: its place in the chain, when, and the link to the previous row. */
export interface AuditRow extends AuditEvent {
  seq: number;
  /** ISO-8601 UTC with milliseconds, exactly as hashed: `2026-01-31T09:15:02.123Z`. */
  at: string;
  prevHash: string;
  hash: string;
}

/** The last row of a chain (or of a verified prefix). */
export interface AuditHead {
  seq: number;
  hash: string;
}

/** The `prevHash` of row 1. */
export const GENESIS = '0'.repeat(64);

/**
 * - `changed`: the row's hash does not match its content (edited, or rows swapped).
 * - `missing`: a gap in `seq`: rows were deleted from the middle (or the start).
 * - `relinked`: the row is intact but does not follow the previous row's hash, which
 *   someone without the key cannot produce: the chain was re-signed or spliced.
 * - `out-of-order`: rows were handed over out of `seq` order.
 * - `truncated`: the chain ends before an anchored head: rows were removed at the end.
 * - `diverged`: the row at the anchored head's `seq` has another hash.
 *
 * Rows removed at the end leave a shorter chain that is valid by itself: only a head
 * recorded elsewhere (a report, the workflow's history) and passed as an anchor shows it.
 */
export type AuditProblem = 'changed' | 'missing' | 'relinked' | 'out-of-order' | 'truncated' | 'diverged';

export interface AuditBreak {
  /** The first row that is not as it should be (for `missing`, the first missing row). */
  seq: number;
  /** The action and migration of that row, when it is there to read. */
  action?: string;
  migrationId?: string;
  problem: AuditProblem;
  /** One sentence, for people. */
  detail: string;
}

export type LinkResult = { ok: true; last: AuditHead } | { ok: false; broken: AuditBreak };

/** The fields a row's hash covers, picked explicitly so no stray property is hashed. */
function hashedFields(row: Omit<AuditRow, 'hash' | 'prevHash'>): Record<string, unknown> {
  return {
    seq: row.seq,
    at: row.at,
    migrationId: row.migrationId,
    actor: row.actor,
    action: row.action,
    eventKey: row.eventKey,
    details: row.details,
  };
}

/** HMAC-SHA256 (hex) over `prevHash + '\n' + canonicalJson(row fields)`. */
export function linkHash(key: Buffer, prevHash: string, row: Omit<AuditRow, 'hash' | 'prevHash'>): string {
  return createHmac('sha256', key).update(`${prevHash}\n${canonicalJson(hashedFields(row))}`).digest('hex');
}

function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function range(from: number, to: number): string {
  return from === to ? `row ${from} is` : `rows ${from}–${to} are`;
}

/**
 * Checks rows that should continue a chain at `expected` (for the first rows of a chain:
 * `{ prevHash: GENESIS, seq: 1 }`). Returns the last row checked, to continue with the next
 * page as `{ prevHash: last.hash, seq: last.seq + 1 }`, or the first break. With no rows,
 * `last` is the link before `expected`.
 */
export function verifyLinks(rows: readonly AuditRow[], key: Buffer, expected: { prevHash: string; seq: number }): LinkResult {
  let prevHash = expected.prevHash;
  let seq = expected.seq;
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!;
    const at = { action: row.action, migrationId: row.migrationId };
    if (row.seq !== seq && rows.slice(i + 1).some((r) => r.seq === seq)) {
      return { ok: false, broken: { seq: row.seq, ...at, problem: 'out-of-order', detail: `row ${row.seq} comes before row ${seq}` } };
    }
    if (row.seq < seq) {
      return { ok: false, broken: { seq: row.seq, ...at, problem: 'out-of-order', detail: `row ${row.seq} comes after row ${seq - 1}` } };
    }
    if (row.seq > seq) {
      const follows = seq > 1 ? `row ${row.seq} follows row ${seq - 1}` : `the chain starts at row ${row.seq}`;
      return { ok: false, broken: { seq, problem: 'missing', detail: `${range(seq, row.seq - 1)} missing: ${follows}` } };
    }
    if (!sameHash(row.hash, linkHash(key, row.prevHash, row))) {
      return { ok: false, broken: { seq, ...at, problem: 'changed', detail: 'the row was changed after it was written (its hash does not match its content)' } };
    }
    if (!sameHash(row.prevHash, prevHash)) {
      const previous = seq > 1 ? `row ${seq - 1}'s hash` : 'the start of the chain';
      return { ok: false, broken: { seq, ...at, problem: 'relinked', detail: `its link does not match ${previous}: the chain was re-signed or spliced` } };
    }
    prevHash = row.hash;
    seq += 1;
  }
  return { ok: true, last: { seq: seq - 1, hash: prevHash } };
}

/**
 * Compares a verified chain with a head recorded elsewhere (`anchor`; its hash may be a
 * prefix of at least 12 characters, as `audit verify` prints it). `atAnchor` is the row the
 * chain holds at `anchor.seq`, if any; `last` is the chain's head.
 */
export function compareWithAnchor(
  anchor: AuditHead,
  atAnchor: Pick<AuditRow, 'seq' | 'hash' | 'action' | 'migrationId'> | undefined,
  last: AuditHead,
): AuditBreak | undefined {
  if (!atAnchor) {
    if (anchor.seq <= last.seq) throw new Error(`compareWithAnchor: row ${anchor.seq} was not passed`);
    const head = last.seq ? `row ${last.seq}` : 'no row';
    return { seq: last.seq + 1, problem: 'truncated', detail: `${range(last.seq + 1, anchor.seq)} missing at the end: the chain ends at ${head} but its anchored head is row ${anchor.seq}` };
  }
  if (!atAnchor.hash.startsWith(anchor.hash.toLowerCase())) {
    return { seq: atAnchor.seq, action: atAnchor.action, migrationId: atAnchor.migrationId, problem: 'diverged', detail: `its hash ${atAnchor.hash.slice(0, 12)} is not the anchored ${anchor.hash.slice(0, 12)}` };
  }
  return undefined;
}

/** The line `audit verify` prints for a break. */
export function describeBreak(broken: AuditBreak): string {
  if (broken.problem === 'missing' || broken.problem === 'truncated') return `audit chain broken: ${broken.detail}`;
  const context = broken.action ? ` (${broken.action}${broken.migrationId ? `, migration ${broken.migrationId}` : ''})` : '';
  return `audit chain broken at row ${broken.seq}${context}: ${broken.detail}`;
}

type DetailValue = AuditEvent['details'][string];

/** Refuses events the chain could not hash and read back identically (JSON, jsonb). */
export function checkAuditEvent(event: AuditEvent): void {
  for (const field of ['migrationId', 'actor', 'action', 'eventKey'] as const) {
    const value: unknown = event[field];
    if (typeof value !== 'string' || !value) throw new TypeError(`audit event ${field}: expected a non-empty string`);
  }
  if (event.details === null || typeof event.details !== 'object' || Array.isArray(event.details)) {
    throw new TypeError(`audit event ${event.action}: details: expected an object`);
  }
  for (const [name, value] of Object.entries(event.details) as [string, DetailValue | undefined][]) {
    const ok = value === null || typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value));
    if (!ok) throw new TypeError(`audit event ${event.action}: details.${name}: expected a string, finite number, boolean or null`);
    // jsonb refuses \u0000 in text; better a clear error here than a failed insert.
    if (typeof value === 'string' && value.includes('\u0000')) throw new TypeError(`audit event ${event.action}: details.${name}: contains a NUL character`);
  }
}
