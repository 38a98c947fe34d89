import { ApplicationFailure } from '@temporalio/activity';

/** Failure types a retry cannot fix: the workflow stops (and, later, rolls back) on them. */
export const NON_RETRYABLE = ['IntegrityError', 'PlanMismatch', 'SourceWritable', 'AbortThresholdExceeded'] as const;

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
  if (typeof e?.code !== 'string' || !/^[0-9A-Z]{5}$/.test(e.code)) return undefined;
  return { reason: SQLSTATE_REASONS[e.code] ?? `sqlstate_${e.code}`, sqlstate: e.code, column: e.column, constraint: e.constraint, table: e.table };
}

export function describeSafe(e: SafeDbError): string {
  return [e.reason, e.table && `table ${e.table}`, e.column && `column ${e.column}`, e.constraint && `constraint ${e.constraint}`, `SQLSTATE ${e.sqlstate}`].filter(Boolean).join(', ');
}

/** Rethrows a database error with its values stripped; other errors pass through. */
export function withoutValues(what: string, err: unknown): never {
  const safe = safeDbError(err);
  // Class 42 (undefined table or column, syntax, privilege) is a mismatch no retry can fix.
  if (safe) throw ApplicationFailure.create({ message: `${what}: ${describeSafe(safe)}`, type: 'DatabaseError', details: [safe], nonRetryable: safe.sqlstate.startsWith('42') });
  throw err;
}

/**
 * Wraps every activity of an object so a database error leaves it without values (and
 * without knex's multi-kilobyte SQL text): what reaches Temporal and the logs is the
 * SQLSTATE, table, column and constraint. Retryable unless the code says otherwise.
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
