/**
 * The stack's PostgreSQL-backed Temporal: Temporal's own server (`temporal-server`) on databases
 * of the stack's PostgreSQL, its schema set up with Temporal's SQL tool, and its Web UI server.
 * Pure: which Temporal the environment asks for, the ports, database names, the configuration
 * files and the schema tool's steps. stack.ts does the I/O.
 */

/** Which Temporal `cutover stack up` runs. */
export type TemporalServerKind = 'dev' | 'postgres';

/** The environment variable that chooses it. */
export const TEMPORAL_SERVER_SWITCH = 'CUTOVER_TEMPORAL_SERVER';

/**
 * `dev` (the default): the Temporal CLI's dev server, history in a SQLite file. `postgres`:
 * Temporal's own server on PostgreSQL persistence. Undefined when the variable is unset, so a
 * caller can tell "asked for the default" from "said nothing".
 */
export function temporalServerKindFromEnv(env: Record<string, string | undefined>): TemporalServerKind | undefined {
  const raw = env[TEMPORAL_SERVER_SWITCH];
  if (raw === undefined || raw === '') return undefined;
  if (raw === 'dev' || raw === 'postgres') return raw;
  throw new Error(`${TEMPORAL_SERVER_SWITCH}: expected dev or postgres, got ${JSON.stringify(raw)}`);
}

/**
 * The ports one server process listens on, all derived from the frontend's (the stack's
 * Temporal port) so they move together: the frontend's gRPC and HTTP ports, and a gRPC and a
 * membership (ringpop) port for each of the four services. At 7233 that is 7233-7241: nothing
 * else of the stack's lies there (Web UI 8233, codec 8234, MinIO 9000-9001, KMS 4599, PostgreSQL
 * 5432-5433). Temporal's own sample configuration spreads them wider (membership on 6933-6939,
 * HTTP on 7243); a compact block is easier to keep clear of a second stack's.
 */
export interface TemporalServerPorts {
  frontend: number;
  frontendHttp: number;
  history: number;
  matching: number;
  worker: number;
  membership: { frontend: number; history: number; matching: number; worker: number };
}

export function temporalServerPorts(frontend: number): TemporalServerPorts {
  const ports: TemporalServerPorts = {
    frontend,
    history: frontend + 1,
    matching: frontend + 2,
    worker: frontend + 3,
    membership: { frontend: frontend + 4, history: frontend + 5, matching: frontend + 6, worker: frontend + 7 },
    frontendHttp: frontend + 8,
  };
  const highest = Math.max(...allTemporalServerPorts(ports));
  if (highest > 65535) throw new Error(`CUTOVER_TEMPORAL_PORT: the PostgreSQL-backed server needs ${frontend}-${highest}; choose a frontend port below ${65535 - 8}`);
  return ports;
}

/** Every port of the server process, frontend first. */
export function allTemporalServerPorts(p: TemporalServerPorts): number[] {
  return [p.frontend, p.history, p.matching, p.worker, p.membership.frontend, p.membership.history, p.membership.matching, p.membership.worker, p.frontendHttp];
}

/** The role and databases the server keeps its state in, for a stack's database prefix (`cutover`). */
export interface TemporalDatabases {
  role: string;
  main: string;
  visibility: string;
}

export function temporalDatabases(prefix: string): TemporalDatabases {
  return { role: `${prefix}_temporal`, main: `${prefix}_temporal`, visibility: `${prefix}_temporal_visibility` };
}

/** The SQL tool's plugin and the schemas the server embeds for it (`temporal-sql-tool update-schema --help` lists them). */
export const SQL_PLUGIN = 'postgres12';
export const SCHEMA_NAMES = { main: 'postgresql/v12/temporal', visibility: 'postgresql/v12/visibility' } as const;

/** The environment variable the server's configuration reads the database password from (never written to a file). */
export const DB_PASSWORD_ENV = 'CUTOVER_TEMPORAL_DB_PASSWORD';

export interface TemporalServerConfigInput {
  host: string;
  ports: TemporalServerPorts;
  /** host:port of the PostgreSQL server. */
  database: { address: string; user: string; names: TemporalDatabases };
  /** Where the dynamic configuration file is (see dynamicConfigYaml). */
  dynamicConfigFile: string;
  /** @default 4: history shards; fixed for the life of the databases. */
  historyShards?: number;
  /** @default 'warn' */
  logLevel?: string;
}

const quote = (s: string) => JSON.stringify(s);

/**
 * The server's configuration: PostgreSQL persistence for history and visibility (advanced
 * visibility on SQL: custom search attributes and list filters), the four services in one
 * process on `ports`, loopback only, no archival, no metrics listener. A template (Temporal
 * renders files that say `enable-template`): the password comes from the process's environment.
 */
export function temporalServerConfigYaml(i: TemporalServerConfigInput): string {
  // Each of the four services opens its own pools: at most 4 x (10 + 3) connections, 4 x (2 + 1)
  // kept idle, on a server that may allow only 100 (the machine's PostgreSQL does).
  const store = (database: string, maxConns: number, maxIdleConns: number) => [
    '      sql:',
    `        pluginName: ${quote(SQL_PLUGIN)}`,
    `        databaseName: ${quote(database)}`,
    `        connectAddr: ${quote(i.database.address)}`,
    '        connectProtocol: "tcp"',
    `        user: ${quote(i.database.user)}`,
    `        password: {{ env ${quote(DB_PASSWORD_ENV)} | quote }}`,
    `        maxConns: ${maxConns}`,
    `        maxIdleConns: ${maxIdleConns}`,
    '        maxConnLifetime: "1h"',
  ];
  const service = (name: string, grpc: number, membership: number, http?: number) => [
    `  ${name}:`,
    '    rpc:',
    `      grpcPort: ${grpc}`,
    `      membershipPort: ${membership}`,
    `      bindOnIP: ${quote(i.host)}`,
    ...(http === undefined ? [] : [`      httpPort: ${http}`]),
  ];
  const p = i.ports;
  return [
    '# enable-template',
    '# Written by `cutover stack up` (CUTOVER_TEMPORAL_SERVER=postgres) before every start: edits here are overwritten.',
    'log:',
    '  stdout: true',
    `  level: ${quote(i.logLevel ?? 'warn')}`,
    '  format: "json"',
    'persistence:',
    '  defaultStore: postgres-default',
    '  visibilityStore: postgres-visibility',
    `  numHistoryShards: ${i.historyShards ?? 4}`,
    '  datastores:',
    '    postgres-default:',
    ...store(i.database.names.main, 10, 2),
    '    postgres-visibility:',
    ...store(i.database.names.visibility, 3, 1),
    'global:',
    '  membership:',
    '    maxJoinDuration: 30s',
    `    broadcastAddress: ${quote(i.host)}`,
    'services:',
    ...service('frontend', p.frontend, p.membership.frontend, p.frontendHttp),
    ...service('history', p.history, p.membership.history),
    ...service('matching', p.matching, p.membership.matching),
    ...service('worker', p.worker, p.membership.worker),
    'clusterMetadata:',
    '  enableGlobalNamespace: false',
    '  failoverVersionIncrement: 10',
    '  masterClusterName: "active"',
    '  currentClusterName: "active"',
    '  clusterInformation:',
    '    active:',
    '      enabled: true',
    '      initialFailoverVersion: 1',
    '      rpcName: "frontend"',
    `      rpcAddress: ${quote(`${i.host}:${p.frontend}`)}`,
    'dcRedirectionPolicy:',
    '  policy: "noop"',
    'dynamicConfigClient:',
    `  filepath: ${quote(i.dynamicConfigFile)}`,
    '  pollInterval: "10s"',
    '',
  ].join('\n');
}

/**
 * Temporal's dynamic configuration from `key=value` settings (CUTOVER_TEMPORAL_DYNAMIC_CONFIG,
 * the same the dev server takes as --dynamic-config-value): each value is YAML (a number, true,
 * a quoted string), set for every namespace and task queue.
 */
export function dynamicConfigYaml(settings: readonly string[]): string {
  const lines = ['# Written by `cutover stack up` from CUTOVER_TEMPORAL_DYNAMIC_CONFIG: edits here are overwritten.'];
  for (const setting of settings) {
    const eq = setting.indexOf('=');
    if (eq <= 0) throw new Error(`CUTOVER_TEMPORAL_DYNAMIC_CONFIG: expected key=value, got ${JSON.stringify(setting)}`);
    const key = setting.slice(0, eq);
    if (!/^[A-Za-z0-9_.]+$/.test(key)) throw new Error(`CUTOVER_TEMPORAL_DYNAMIC_CONFIG: ${JSON.stringify(key)} is not a dynamic config key`);
    lines.push(`${key}:`, `  - value: ${setting.slice(eq + 1)}`);
  }
  return `${lines.join('\n')}\n`;
}

export interface TemporalUiConfigInput {
  host: string;
  port: number;
  /** host:port of the server's frontend. */
  temporalGrpcAddress: string;
  namespace: string;
}

/** The Web UI server's configuration (its `--env` file): the UI on `port`, against the frontend. */
export function temporalUiConfigYaml(i: TemporalUiConfigInput): string {
  return [
    '# Written by `cutover stack up` (CUTOVER_TEMPORAL_SERVER=postgres) before every start: edits here are overwritten.',
    `temporalGrpcAddress: ${quote(i.temporalGrpcAddress)}`,
    `host: ${quote(i.host)}`,
    `port: ${i.port}`,
    'enableUi: true',
    `defaultNamespace: ${quote(i.namespace)}`,
    'cors:',
    '  cookieInsecure: true',
    'hideLogs: true',
    'notifyOnNewVersion: false',
    '',
  ].join('\n');
}

export interface SqlToolTarget {
  /** PostgreSQL host and port. */
  host: string;
  port: number;
  user: string;
  database: string;
  schemaName: string;
}

/**
 * The SQL tool's runs that make a database's schema current, idempotently: `setup-schema -v 0.0`
 * creates the version tables (and leaves a database already past 0.0 as it is), then
 * `update-schema` applies every embedded version newer than the database's. The password goes
 * in the environment (SQL_PASSWORD), not on a command line.
 */
export function sqlToolSteps(t: SqlToolTarget): string[][] {
  const common = ['--plugin', SQL_PLUGIN, '--endpoint', t.host, '--port', String(t.port), '--user', t.user, '--database', t.database];
  return [
    [...common, 'setup-schema', '-v', '0.0'],
    [...common, 'update-schema', '--schema-name', t.schemaName],
  ];
}
