import { migrationId } from './hash';
import type { ColumnSpec, Plan } from './types';

/**
 * A rehearsal: the real plan run once into a masked sandbox database, to see it work on the
 * real source (counts, quarantine, timings, reconcile) without a clear personal value leaving
 * the vault. Everything here is pure: the plan layer derives the rehearsal's plan, the CLI
 * checks the sandbox, the report says what it was.
 */

/** The environment variable naming the sandbox database when `--sandbox-env` names none. */
export const DEFAULT_SANDBOX_ENV = 'CUTOVER_REHEARSAL_TARGET_URL';

const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/;

/**
 * The rehearsal of `plan`, into the database `sandboxEnv` names:
 * - name `<name>-rehearsal`, and with it another migration id: its ledger, key map, batches,
 *   vault uses and staged objects (`<prefix>/<its id>/`) are its own;
 * - `target.urlEnv` is `sandboxEnv`;
 * - every personal column and JSON path the plan would detokenize (`protect: detokenize`, the
 *   default) keeps its token instead: nothing is ever detokenized into the sandbox; `drop` stays;
 * - file columns are not copied: the column keeps the object key and no object is read or
 *   written (documents such as certificates hold personal data in clear, which no token masks);
 * - no `sync`: a rehearsal is a one-off load;
 * - `rehearsal` marks it, naming the real migration and both targets' variables.
 * Phases and their gates stay as planned: the rehearsal follows the real run's procedure.
 */
export function rehearsalPlan(plan: Plan, sandboxEnv: string = DEFAULT_SANDBOX_ENV): Plan {
  if (plan.rehearsal) throw new Error(`plan ${plan.name} is already a rehearsal (of ${plan.rehearsal.of})`);
  if (!ENV_NAME.test(sandboxEnv)) throw new Error(`the sandbox variable must be an environment variable name (A-Z, 0-9, _), got ${JSON.stringify(sandboxEnv)}`);
  if (sandboxEnv === plan.target.urlEnv) throw new Error(`the sandbox variable ${sandboxEnv} is the plan's own target variable: a rehearsal needs a database of its own`);
  if (sandboxEnv === plan.source.urlEnv) throw new Error(`the sandbox variable ${sandboxEnv} is the plan's source variable: a rehearsal needs a database of its own`);
  // Rest destructuring leaves `sync` out (absent, not undefined: the hash skips either way).
  const { sync: _sync, ...rest } = plan;
  return {
    ...rest,
    name: `${plan.name}-rehearsal`,
    target: { ...plan.target, urlEnv: sandboxEnv },
    entities: plan.entities.map((e) => ({ ...e, columns: e.columns.map(maskedColumn) })),
    phases: plan.phases.map((p) => ({ ...p, entities: [...p.entities] })),
    rehearsal: { of: migrationId(plan), sandboxEnv, realTargetEnv: plan.target.urlEnv },
  };
}

function maskedColumn(c: ColumnSpec): ColumnSpec {
  const { file: _file, ...rest } = c;
  const personal = c.pii !== undefined || (c.piiPaths?.length ?? 0) > 0;
  // A personal column without `protect` is detokenized by default: it keeps its token here.
  if (personal && (c.protect === undefined || c.protect === 'detokenize')) return { ...rest, protect: 'keep_token' };
  return rest;
}

/**
 * Columns of a plan that would put a clear personal value into its target (`entity.column`):
 * detokenized, explicitly or by default. Empty for every rehearsal plan; `start --rehearsal`
 * checks it again before starting one.
 */
export function detokenizedColumns(plan: Plan): string[] {
  return plan.entities.flatMap((e) =>
    e.columns.filter((c) => (c.pii !== undefined || (c.piiPaths?.length ?? 0) > 0) && (c.protect ?? 'detokenize') === 'detokenize').map((c) => `${e.name}.${c.name}`),
  );
}

/** Columns of a plan whose objects it copies (`entity.column`). */
export function fileColumns(plan: Plan): string[] {
  return plan.entities.flatMap((e) => e.columns.filter((c) => c.file).map((c) => `${e.name}.${c.name}`));
}

/** Where a PostgreSQL connection string points: host, port and database (never the credentials). */
export interface DatabaseIdentity {
  host: string;
  port: number;
  database: string;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '::1', '[::1]', '']);

/** Loopback names and Unix sockets are one host: the comparison errs towards "the same". */
function hostOf(raw: string | undefined): string {
  const h = (raw ?? '').trim().toLowerCase();
  return LOOPBACK.has(h) || h.startsWith('/') || h.startsWith('%2f') ? 'localhost' : h;
}

/**
 * The host, port and database a connection string names: a `postgres://` / `postgresql://`
 * URL (with `?host=`, `?port=`, `?dbname=` overrides) or a libpq `key=value` string. The
 * database defaults to the user name, as libpq's does. Undefined when it cannot be read.
 */
export function databaseIdentity(connection: string): DatabaseIdentity | undefined {
  const text = connection.trim();
  if (/^postgres(ql)?:\/\//i.test(text)) {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      return undefined;
    }
    const q = url.searchParams;
    const user = decodeURIComponent(url.username) || q.get('user') || '';
    const database = q.get('dbname') || decodeURIComponent(url.pathname.replace(/^\//, '')) || user;
    const port = Number(q.get('port') || url.port || 5432);
    if (!database || !Number.isInteger(port)) return undefined;
    return { host: hostOf(q.get('host') ?? url.hostname), port, database };
  }
  if (/^\s*\w+\s*=/.test(text)) {
    const kv = new Map<string, string>();
    for (const m of text.matchAll(/(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|\S*)/g)) kv.set(m[1]!.toLowerCase(), m[2]!.replace(/^'|'$/g, '').replace(/\\(.)/g, '$1'));
    const database = kv.get('dbname') || kv.get('user') || '';
    const port = Number(kv.get('port') || 5432);
    if (!database || !Number.isInteger(port)) return undefined;
    return { host: hostOf(kv.get('host') ?? kv.get('hostaddr')), port, database };
  }
  return undefined;
}

/** Whether two connection strings name one database (host, port, database); undefined when either cannot be read. */
export function sameDatabase(a: string, b: string): boolean | undefined {
  const x = databaseIdentity(a);
  const y = databaseIdentity(b);
  if (!x || !y) return undefined;
  return x.host === y.host && x.port === y.port && x.database === y.database;
}

/** A database for messages: `name on host:port` (no user, no password). */
export function describeDatabase(connection: string): string {
  const d = databaseIdentity(connection);
  return d ? `database ${d.database} on ${d.host}:${d.port}` : 'a connection string that cannot be read';
}
