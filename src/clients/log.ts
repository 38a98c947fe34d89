import type { LogLevel, LogMetadata, Logger } from '@temporalio/common';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import pino from 'pino';
import { describeError } from '../stores/errors';

/**
 * The worker's log: one JSON object per line (pino), on stderr, for a log pipeline a security
 * review can read. Nothing that could carry a value reaches it:
 * - fields that hold values in any library's objects (rows, values, parameters, bindings, SQL
 *   text, a database error's detail, connection strings, credentials, tokens) are replaced by
 *   `[redacted]` wherever they appear, two levels deep;
 * - an error is logged as its class, its code and its failure type; its message only when the
 *   error is one whose message is value-free by construction (a Temporal failure, which every
 *   activity error becomes through `withoutValues`, or Cutover's own), never its cause or stack
 *   frames' arguments.
 * Every line an activity logs carries the activity's type, attempt and workflow id (Temporal's
 * own attributes) and the migration id, entity, batch id and round its request names (see
 * `activityLogAttributes`).
 */

/** Fields redacted wherever they appear (at the top of a line, or one object down). */
export const REDACTED_FIELDS = [
  'row',
  'rows',
  'value',
  'values',
  'parameters',
  'bindings',
  'sql',
  'detail',
  'where',
  'url',
  'connectionString',
  'password',
  'secretAccessKey',
  'sessionToken',
  'token',
  'authorization',
  'plaintext',
  'payload',
  'payloads',
];

const VALUE_FREE_ERRORS = new Set(['IntegrityError', 'ConfigError', 'SafeError', 'KmsUnavailable']);

/** An error as the log keeps it: class, code, failure type, and the message only where it is value-free. */
export function loggedError(err: unknown): Record<string, unknown> {
  const e = (typeof err === 'object' && err !== null ? err : {}) as { name?: unknown; message?: unknown; type?: unknown; nonRetryable?: unknown };
  const valueFree = typeof e.name === 'string' && (VALUE_FREE_ERRORS.has(e.name) || e.name.endsWith('Failure'));
  return {
    kind: describeError(err),
    ...(typeof e.type === 'string' ? { type: e.type } : {}),
    ...(typeof e.nonRetryable === 'boolean' ? { nonRetryable: e.nonRetryable } : {}),
    message: valueFree && typeof e.message === 'string' ? e.message : '(withheld: it may carry values)',
  };
}

export type Log = pino.Logger;

/** The worker's JSON log at a Temporal level, to `destination` (default stderr). */
export function createLog(level: LogLevel = 'INFO', destination: pino.DestinationStream = pino.destination(2)): Log {
  return pino(
    {
      level: level.toLowerCase(),
      base: { service: 'cutover-worker', pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      messageKey: 'message',
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACTED_FIELDS.flatMap((f) => [f, `*.${f}`]), censor: '[redacted]' },
      serializers: { err: loggedError, error: loggedError, failure: loggedError },
    },
    destination,
  );
}

const LEVELS: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' };

/** Temporal's logger interface over the JSON log: the SDK's worker, activity and workflow lines all go through it. */
export class TemporalLog implements Logger {
  constructor(private readonly out: Log) {}

  log(level: LogLevel, message: string, meta?: LogMetadata): void {
    this.out[LEVELS[level] ?? 'info'](meta ?? {}, message);
  }

  trace(message: string, meta?: LogMetadata): void {
    this.out.trace(meta ?? {}, message);
  }

  debug(message: string, meta?: LogMetadata): void {
    this.out.debug(meta ?? {}, message);
  }

  info(message: string, meta?: LogMetadata): void {
    this.out.info(meta ?? {}, message);
  }

  warn(message: string, meta?: LogMetadata): void {
    this.out.warn(meta ?? {}, message);
  }

  error(message: string, meta?: LogMetadata): void {
    this.out.error(meta ?? {}, message);
  }
}

/** The request fields an activity's log lines carry (its first argument's, when they are plain ids). */
const REQUEST_FIELDS = ['migrationId', 'entity', 'batchId', 'round', 'part', 'phase'] as const;

/** The ids of an activity's request, for its log lines: migration id, entity, batch id, round, part, phase. */
export function activityLogAttributes(request: unknown): Record<string, string | number> {
  if (typeof request !== 'object' || request === null) return {};
  const out: Record<string, string | number> = {};
  for (const f of REQUEST_FIELDS) {
    const v = (request as Record<string, unknown>)[f];
    if ((typeof v === 'string' && v.length <= 200) || typeof v === 'number') out[f] = v;
  }
  return out;
}

/**
 * An activity interceptor that adds the request's ids (`activityLogAttributes`) to every line the
 * activity's execution logs, Temporal's own lines ("Activity failed") included.
 */
export const requestIdsInLogs: ActivityInterceptorsFactory = () => {
  let ids: Record<string, string | number> = {};
  return {
    inbound: {
      execute: (input, next) => {
        ids = activityLogAttributes(input.args[0]);
        return next(input);
      },
    },
    outbound: { getLogAttributes: (attrs, next) => next({ ...attrs, ...ids }) },
  };
};
