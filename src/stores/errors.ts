import { ApplicationFailure } from '@temporalio/activity';
import { TemporalFailure } from '@temporalio/common';

/** Failure types a retry cannot fix: the workflow stops (and, later, rolls back) on them. */
export { NON_RETRYABLE } from '../shared/non-retryable';

const SQLSTATE_REASONS: Record<string, string> = {
  '23502': 'not_null_violation',
  '23503': 'foreign_key_violation',
  '23505': 'unique_violation',
  '23514': 'check_violation',
  '23P01': 'exclusion_violation',
  '22001': 'value_too_long',
  '22003': 'numeric_out_of_range',
  '22007': 'invalid_datetime',
  '22008': 'datetime_out_of_range',
  '22P02': 'invalid_text_representation',
  '22P05': 'untranslatable_character',
  // The database itself, not the row: retried (an outage, a restart, a full pool).
  '08000': 'connection_exception',
  '08003': 'connection_does_not_exist',
  '08006': 'connection_failure',
  '08001': 'sqlclient_unable_to_establish_sqlconnection',
  '08004': 'sqlserver_rejected_establishment_of_sqlconnection',
  '55000': 'object_not_in_prerequisite_state',
  '55006': 'object_in_use',
  '57P01': 'admin_shutdown',
  '57P02': 'crash_shutdown',
  '57P03': 'cannot_connect_now',
  '53300': 'too_many_connections',
  '40001': 'serialization_failure',
  '40P01': 'deadlock_detected',
};

/** A PostgreSQL error without its values: PostgreSQL puts row data in `message` and `detail`. */
export interface SafeDbError {
  reason: string;
  sqlstate: string;
  column?: string;
  constraint?: string;
  table?: string;
}

export function safeDbError(err: unknown): SafeDbError | undefined {
  const e = err as { code?: string; column?: string; constraint?: string; table?: string };
  // Five characters of digits and capitals, but not a Node errno (EPIPE, EPERM): no SQLSTATE class starts with E.
  if (typeof e?.code !== 'string' || !/^[0-9A-DF-Z][0-9A-Z]{4}$/.test(e.code)) return undefined;
  return { reason: SQLSTATE_REASONS[e.code] ?? `sqlstate_${e.code}`, sqlstate: e.code, column: e.column, constraint: e.constraint, table: e.table };
}

export function describeSafe(e: SafeDbError): string {
  return [e.reason, e.table && `table ${e.table}`, e.column && `column ${e.column}`, e.constraint && `constraint ${e.constraint}`, `SQLSTATE ${e.sqlstate}`].filter(Boolean).join(', ');
}

/**
 * An error whose message was written to carry no value: ids, counts, names of tables, columns,
 * keys and settings. It crosses the activity boundary with its message; any other error does not.
 */
export class SafeError extends Error {
  constructor(message: string, name = 'SafeError') {
    super(message);
    this.name = name;
  }
}

/**
 * Error classes of Cutover's own whose messages are value-free by construction (checked where
 * they are thrown): integrity failures name objects and counts, conversion failures name the
 * rule, configuration errors name the setting, KMS outages name the object and the KMS error's
 * class and code (`KmsUnavailable`, retried: see src/crypto/kms-errors.ts).
 */
const VALUE_FREE_NAMES = new Set(['IntegrityError', 'ConfigError', 'SafeError', 'KmsUnavailable']);

const IDENTIFIER = /^[A-Za-z][A-Za-z0-9_.:-]{0,63}$/;
const SQLSTATE = /^[0-9A-Z]{5}$/;

/**
 * What an error is, without its message: its class (or name), its code and, for AWS, the HTTP
 * status. `SyntaxError (JSON)`, `Error (ECONNREFUSED)`, `NoSuchKey (HTTP 404)`. Messages are left out
 * because libraries put the offending input there (JSON.parse quotes it, BigInt() echoes it).
 */
export function describeError(err: unknown): string {
  const e = (typeof err === 'object' && err !== null ? err : {}) as { name?: unknown; code?: unknown; Code?: unknown; $metadata?: { httpStatusCode?: unknown } };
  const name = typeof e.name === 'string' && IDENTIFIER.test(e.name) ? e.name : err instanceof Error ? 'Error' : typeof err;
  // A PostgreSQL SQLSTATE may be all digits (23505): five characters of [0-9A-Z] are a code, never a value.
  const code = [e.code, e.Code].find((c): c is string | number => (typeof c === 'string' && (IDENTIFIER.test(c) || SQLSTATE.test(c))) || typeof c === 'number');
  const status = typeof e.$metadata?.httpStatusCode === 'number' ? `HTTP ${e.$metadata.httpStatusCode}` : undefined;
  const extra = [code !== undefined && code !== name ? String(code) : undefined, status].filter(Boolean);
  return extra.length ? `${name} (${extra.join(', ')})` : name;
}

function typeOf(err: unknown): string {
  const name = (err as { name?: unknown } | null)?.name;
  return typeof name === 'string' && IDENTIFIER.test(name) ? name : 'Error';
}

/**
 * Rethrows an error so that no value crosses the activity boundary (into Temporal, the worker's
 * log, a workflow's rollback reason and so the audit chain):
 * - a database error keeps its SQLSTATE, table, column and constraint (`DatabaseError`);
 * - Temporal failures (ours, written for the workflow, and cancellations) pass as they are;
 * - Cutover's own value-free errors keep their message;
 * - anything else keeps its class and code, never its message or cause.
 * The failure's type is the error's name, so the retry policy's non-retryable types still apply.
 */
export function withoutValues(what: string, err: unknown): never {
  const safe = safeDbError(err);
  // Class 42 (undefined table or column, syntax, privilege) is a mismatch no retry can fix.
  if (safe) throw ApplicationFailure.create({ message: `${what}: ${describeSafe(safe)}`, type: 'DatabaseError', details: [safe], nonRetryable: safe.sqlstate.startsWith('42') });
  if (err instanceof TemporalFailure) throw err;
  if (err instanceof Error && VALUE_FREE_NAMES.has(err.name)) throw ApplicationFailure.create({ message: `${what}: ${err.message}`, type: err.name });
  throw ApplicationFailure.create({ message: `${what}: ${describeError(err)} (message withheld: it may carry values)`, type: typeOf(err) });
}

/**
 * Wraps every activity of an object so no error leaves it with values (see `withoutValues`; a
 * database error also loses knex's multi-kilobyte SQL text): what reaches Temporal and the logs
 * is the SQLSTATE, table, column and constraint, or the error's class and code.
 */
export function sanitizeDbErrors<T extends Record<string, (...args: never[]) => Promise<unknown>>>(activities: T): T {
  const wrapped: Record<string, (...args: never[]) => Promise<unknown>> = {};
  for (const [name, fn] of Object.entries(activities)) {
    wrapped[name] = async (...args: never[]) => {
      try {
        return await fn(...args);
      } catch (err) {
        return withoutValues(name, err);
      }
    };
  }
  return wrapped as T;
}
