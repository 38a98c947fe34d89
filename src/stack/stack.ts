import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { CreateAliasCommand, CreateKeyCommand, DescribeKeyCommand } from '@aws-sdk/client-kms';
import { CreateBucketCommand, HeadBucketCommand } from '@aws-sdk/client-s3';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { Client as PgClient } from 'pg';
import { createKmsClient, createS3Client } from '../clients/aws';
import { CutoverConfig, loadConfig, processEnv } from '../config';
import { BinaryUnavailableError, resolveBinary } from './binaries';
import { buildEndpoints, databaseNames, redactUrl, StackEndpoints } from './endpoints';
import { describeError, httpOk, Probe, probeCodec, probeKms, probeLogicalPostgres, probePostgres, probeTemporal, tcpOpen, waitHealthy } from './health';
import { kmsSeedYaml } from './kms-seed';
import { ensureLogicalPostgres, findPostgresBindir, LogicalPostgresError, logicalPostgresFiles, LogicalPostgresServer, runningPostmaster, stopLogicalPostgres } from './logical-postgres';
import { provisionDatabases } from './postgres-provision';
import { isOurProcess, readPid, startDetached, stopProcess } from './process';
import { BINARIES, KMS_ALIASES, portsFromEnv, SEARCH_ATTRIBUTES, ServiceName, SERVICE_NAMES, StackPorts } from './services';
import { ensureDirs, loadOrCreateSecrets, PROJECT_ROOT, stackPaths, StackPaths, StackSecrets, writeFileAtomic } from './state';
import {
  allTemporalServerPorts,
  DB_PASSWORD_ENV,
  dynamicConfigYaml,
  SCHEMA_NAMES,
  sqlToolSteps,
  SQL_PLUGIN,
  temporalDatabases,
  TemporalServerKind,
  temporalServerKindFromEnv,
  temporalServerPorts,
  temporalServerConfigYaml,
  temporalUiConfigYaml,
  TEMPORAL_SERVER_SWITCH,
} from './temporal-server';

const HOST = '127.0.0.1';

/** A service that cannot be brought up; the message says what to do (it may span lines: a log tail). */
export class StackError extends Error {
  constructor(
    readonly service: ServiceName | 'stack',
    message: string,
  ) {
    super(service === 'stack' ? message : `${service}: ${message}`);
    this.name = 'StackError';
  }
}

export interface ServiceStatus {
  service: ServiceName;
  /** The process, when the service runs as more than one (the PostgreSQL-backed Temporal: temporal-server, temporal-ui). */
  process?: string;
  healthy: boolean;
  /** 'stack' when `up` started it (and `down` will stop it), else 'external'. */
  managedBy: 'stack' | 'external' | 'none';
  pid?: number;
  endpoint: string;
  detail: string;
  log?: string;
}

export interface StackStatus {
  /** Which Temporal the stack runs (or would start): the dev server, or Temporal's server on PostgreSQL. */
  temporal: TemporalStatus;
  services: ServiceStatus[];
  endpoints: StackEndpoints;
}

export interface TemporalStatus {
  kind: TemporalServerKind;
  /** What runs, in words, with where its history is. */
  description: string;
}

function temporalStatus(c: Context): TemporalStatus {
  if (c.temporal === 'dev') return { kind: 'dev', description: `Temporal CLI ${BINARIES.temporal.version} dev server, history in SQLite (${join(c.paths.data, 'temporal.db')})` };
  const names = temporalDatabasesOf(c);
  return { kind: 'postgres', description: `temporal-server ${BINARIES.temporalServer.version}, history in PostgreSQL (${names.main}, ${names.visibility}; ${TEMPORAL_SERVER_SWITCH}=postgres)` };
}

interface Context {
  env: NodeJS.ProcessEnv;
  paths: StackPaths;
  ports: StackPorts;
  secrets: StackSecrets;
  endpoints: StackEndpoints;
  config: CutoverConfig;
  /** Which Temporal this stack runs (CUTOVER_TEMPORAL_SERVER, else the one running, else the dev server). */
  temporal: TemporalServerKind;
  log: (line: string) => void;
}

function context(env: NodeJS.ProcessEnv, log: (line: string) => void): Context {
  const paths = stackPaths(env);
  ensureDirs(paths);
  const ports = portsFromEnv(env);
  const generated = loadOrCreateSecrets(paths, Object.values(KMS_ALIASES));
  // A MinIO started elsewhere (docker compose) brings its own credentials.
  const secrets: StackSecrets = {
    ...generated,
    minioRootUser: env.MINIO_ROOT_USER || generated.minioRootUser,
    minioRootPassword: env.MINIO_ROOT_PASSWORD || generated.minioRootPassword,
    minioSseKey: env.MINIO_KMS_SECRET_KEY?.split(':')[1] || generated.minioSseKey,
  };
  const names = databaseNames(env.CUTOVER_PG_PREFIX || 'cutover');
  const endpoints = buildEndpoints({
    ports,
    host: HOST,
    pgAdminUrl: env.CUTOVER_PG_ADMIN_URL || `postgres://postgres@${HOST}:${ports.postgres}/postgres`,
    logicalPgAdminUrl: env.CUTOVER_LOGICAL_PG_URL || undefined,
    names,
    readerPassword: secrets.readerPassword,
    appPassword: secrets.appPassword,
    minioRootUser: secrets.minioRootUser,
    minioRootPassword: secrets.minioRootPassword,
    region: 'us-east-1',
  });
  // Probes use the stack's own endpoints, never the environment's: with no TEMPORAL_* and
  // no HOME, Temporal's env config reads no variable and no temporal.toml either.
  const config = loadConfig({ CUTOVER_STATE_DIR: paths.root, PATH: env.PATH }, endpoints);
  const temporal = temporalServerKindFromEnv(env) ?? runningTemporal(paths) ?? 'dev';
  return { env, paths, ports, secrets, endpoints, config, temporal, log };
}

interface Runner {
  service: Exclude<ServiceName, 'postgres' | 'postgres-logical'>;
  /** The process's name: its pid and log files. @default service (a service may run as two processes: the PostgreSQL-backed Temporal and its Web UI) */
  id?: string;
  /** Which Temporal it belongs to; absent: runs with either. */
  temporal?: TemporalServerKind;
  /** A pinned binary (built when missing), or this repository's CLI under the running Node. */
  program: { binary: keyof typeof BINARIES } | { cli: true };
  /** More binaries it needs before it starts (built with the rest, before anything starts). */
  tools?: (keyof typeof BINARIES)[];
  /**
   * `start`: started together, first. `provisioned`: after them and after the stack is
   * provisioned (key aliases, bucket, endpoints file), because it uses the stack as a client.
   */
  stage: 'start' | 'provisioned';
  ports: (p: StackPorts) => number[];
  /** How `status` shows where it listens. @default every port */
  endpoint?: (p: StackPorts) => string;
  args: (c: Context) => string[];
  env: (c: Context) => NodeJS.ProcessEnv;
  prepare?: (c: Context) => void | Promise<void>;
  /** What must hold before `afterStart` runs. @default probe */
  ready?: (c: Context) => Promise<Probe>;
  /** Provisioning the process itself needs before `probe` can pass (the PostgreSQL-backed Temporal's namespace). */
  afterStart?: (c: Context) => Promise<void>;
  probe: (c: Context) => Promise<Probe>;
  startTimeoutMs: number;
}

const runnerId = (r: Runner) => r.id ?? r.service;

/** Where the PostgreSQL-backed Temporal's configuration lives: `config/` for the server, `ui/` for its Web UI. */
function temporalServerDir(c: Pick<Context, 'paths'>): string {
  return join(c.paths.root, 'temporal-server');
}

/** The Temporal whose process the stack started and still runs, if any. */
function runningTemporal(paths: StackPaths): TemporalServerKind | undefined {
  for (const r of RUNNERS) {
    if (!r.temporal) continue;
    const record = readPid(paths.pids, runnerId(r));
    if (record && isOurProcess(record)) return r.temporal;
  }
  return undefined;
}

/** The runners of the stack's Temporal (`kind`) and every other service. */
function runnersFor(kind: TemporalServerKind): Runner[] {
  return RUNNERS.filter((r) => !r.temporal || r.temporal === kind);
}

function temporalDatabasesOf(c: Pick<Context, 'env'>) {
  return temporalDatabases(c.env.CUTOVER_PG_PREFIX || 'cutover');
}

/**
 * Before every start of the PostgreSQL-backed server: its role and databases in the stack's
 * PostgreSQL (created when missing, the password set to the generated one), their schemas made
 * current by Temporal's SQL tool (idempotent), and its configuration files written.
 */
async function prepareTemporalServer(c: Context): Promise<void> {
  const names = temporalDatabasesOf(c);
  const admin = new PgClient({ connectionString: c.endpoints.postgres.adminUrl, connectionTimeoutMillis: 5000, application_name: 'cutover-stack' });
  await admin.connect();
  try {
    const id = (v: string) => admin.escapeIdentifier(v);
    const me = (await admin.query<{ u: string }>('select current_user as u')).rows[0]!.u;
    const exists = await admin.query('select 1 from pg_roles where rolname = $1', [names.role]);
    await admin.query(`${exists.rowCount ? 'alter' : 'create'} role ${id(names.role)} with login nosuperuser nocreatedb nocreaterole noreplication password ${admin.escapeLiteral(c.secrets.temporalDbPassword)}`);
    if (!exists.rowCount) await admin.query(`grant ${id(names.role)} to ${id(me)}`); // lets the admin create databases it owns
    for (const db of [names.main, names.visibility]) {
      const found = await admin.query('select 1 from pg_database where datname = $1', [db]);
      if (found.rowCount) continue;
      await admin.query(`create database ${id(db)} owner ${id(names.role)}`);
      await admin.query(`revoke all on database ${id(db)} from public`);
      c.log(`created database ${db} for Temporal`);
    }
  } finally {
    await admin.end().catch(() => undefined);
  }
  const server = new URL(c.endpoints.postgres.adminUrl);
  const tool = await resolveBinary(BINARIES.temporalSqlTool, c.env, c.log);
  const schemaLog = logFile(c, 'temporal-schema');
  for (const [database, schemaName] of [
    [names.main, SCHEMA_NAMES.main],
    [names.visibility, SCHEMA_NAMES.visibility],
  ] as const) {
    for (const args of sqlToolSteps({ host: server.hostname, port: Number(server.port || 5432), user: names.role, database, schemaName })) {
      const code = await runTool(tool.path, args, { PATH: c.env.PATH, SQL_PASSWORD: c.secrets.temporalDbPassword }, schemaLog);
      if (code !== 0) throw new StackError('temporal', `temporal-sql-tool ${args.slice(-3).join(' ')} on ${database} exited ${code}\n--- last lines of ${schemaLog} ---\n${logTail(schemaLog)}`);
    }
  }
  const dir = temporalServerDir(c);
  mkdirSync(join(dir, 'config'), { recursive: true, mode: 0o700 });
  const dynamicConfigFile = join(dir, 'config', 'dynamic.yaml');
  writeFileAtomic(dynamicConfigFile, dynamicConfigYaml((c.env.CUTOVER_TEMPORAL_DYNAMIC_CONFIG ?? '').split(/\s+/).filter(Boolean)));
  const yaml = temporalServerConfigYaml({
    host: HOST,
    ports: temporalServerPorts(c.ports.temporal),
    database: { address: `${server.hostname}:${server.port || 5432}`, user: names.role, names },
    dynamicConfigFile,
  });
  writeFileAtomic(join(dir, 'config', 'cutover.yaml'), yaml);
}

/** Runs a tool to completion, its output appended to `log`; resolves with its exit code. */
function runTool(binary: string, args: string[], env: NodeJS.ProcessEnv, log: string): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const out = openSync(log, 'a');
    const child = spawn(binary, args, { env, stdio: ['ignore', out, out] });
    child.on('error', (err) => {
      closeSync(out);
      reject(err);
    });
    child.on('exit', (code) => {
      closeSync(out);
      resolvePromise(code ?? -1);
    });
  });
}

/** The frontend answers (before the namespace exists). */
async function probeFrontend(c: Context): Promise<Probe> {
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address: c.config.temporal.connection.address, connectTimeout: '3s' });
    const info = await connection.workflowService.getSystemInfo({});
    return { ok: true, detail: `server ${info.serverVersion || '?'}` };
  } catch (err) {
    return { ok: false, detail: describeError(err) };
  } finally {
    await connection?.close().catch(() => undefined);
  }
}

/** Retention of closed workflows in the namespace the stack registers: a day, as the dev server's. */
const NAMESPACE_RETENTION = '1 day';

/**
 * Registers the stack's namespace on the PostgreSQL-backed server (the dev server makes its
 * own), then waits until the frontend serves it: a new namespace reaches the frontend's cache
 * some seconds after it is written.
 */
async function ensureNamespace(c: Context): Promise<void> {
  const namespace = c.config.temporal.namespace;
  const connection = await Connection.connect({ address: c.config.temporal.connection.address, connectTimeout: '5s' });
  try {
    const known = await connection.workflowService.describeNamespace({ namespace }).then(
      () => true,
      (err: { code?: number }) => {
        if (err.code === grpcStatus.NOT_FOUND) return false;
        throw err;
      },
    );
    if (!known) {
      await connection.workflowService
        .registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs(NAMESPACE_RETENTION) })
        .catch((err: { code?: number }) => {
          if (err.code !== grpcStatus.ALREADY_EXISTS) throw err;
        });
      c.log(`registered namespace ${namespace}`);
    }
    const served = await waitHealthy(
      () =>
        connection.workflowService.listWorkflowExecutions({ namespace, pageSize: 1 }).then(
          () => ({ ok: true, detail: 'served' }),
          (err: unknown) => ({ ok: false, detail: describeError(err) }),
        ),
      60_000,
    );
    if (!served.ok) throw new StackError('temporal', `namespace ${namespace}: ${served.detail}`);
  } finally {
    await connection.close();
  }
}

/** gRPC status codes this file tells apart. */
const grpcStatus = { NOT_FOUND: 5, ALREADY_EXISTS: 6 } as const;

const RUNNERS: Runner[] = [
  {
    service: 'kms',
    program: { binary: 'kms' },
    stage: 'start',
    ports: (p) => [p.kms],
    args: () => [],
    env: (c) => ({
      PORT: String(c.ports.kms),
      KMS_REGION: c.endpoints.kms.region,
      KMS_ACCOUNT_ID: '111122223333',
      KMS_SEED_PATH: c.paths.kmsSeedFile,
      KMS_DATA_PATH: join(c.paths.data, 'kms'),
    }),
    prepare: (c) => writeFileAtomic(c.paths.kmsSeedFile, kmsSeedYaml(c.secrets.kmsKeys)),
    probe: (c) => probeKms(c.config.kms, Object.values(KMS_ALIASES)),
    startTimeoutMs: 30_000,
  },
  {
    service: 'minio',
    program: { binary: 'minio' },
    stage: 'start',
    ports: (p) => [p.minio, p.minioConsole],
    args: (c) => ['server', join(c.paths.data, 'minio'), '--address', `${HOST}:${c.ports.minio}`, '--console-address', `${HOST}:${c.ports.minioConsole}`],
    env: (c) => ({
      MINIO_ROOT_USER: c.secrets.minioRootUser,
      MINIO_ROOT_PASSWORD: c.secrets.minioRootPassword,
      // MinIO's own key manager for SSE (it cannot use local-kms); a static key kept in the state dir.
      MINIO_KMS_SECRET_KEY: `${c.endpoints.s3.sseKmsKeyId}:${c.secrets.minioSseKey}`,
      MINIO_UPDATE: 'off',
      MINIO_BROWSER_REDIRECT: 'off',
    }),
    probe: (c) => httpOk(`${c.endpoints.s3.endpoint}/minio/health/live`),
    startTimeoutMs: 60_000,
  },
  {
    service: 'temporal',
    temporal: 'dev',
    program: { binary: 'temporal' },
    stage: 'start',
    ports: (p) => [p.temporal, p.temporalUi],
    args: (c) => {
      const args = [
        'server', 'start-dev',
        '--ip', HOST,
        '--port', String(c.ports.temporal),
        '--ui-port', String(c.ports.temporalUi),
        '--db-filename', join(c.paths.data, 'temporal.db'),
        '--namespace', c.endpoints.temporal.namespace,
        '--log-format', 'json',
        '--log-level', 'warn',
      ];
      for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) args.push('--search-attribute', `${name}=${type}`);
      for (const value of (c.env.CUTOVER_TEMPORAL_DYNAMIC_CONFIG ?? '').split(/\s+/).filter(Boolean)) args.push('--dynamic-config-value', value);
      return args;
    },
    env: () => ({}),
    probe: async (c) => {
      const server = await probeTemporal(c.config);
      if (!server.ok) return server;
      const ui = await httpOk(c.endpoints.temporal.uiUrl);
      return ui.ok ? { ok: true, detail: `${server.detail}; Web UI ${c.endpoints.temporal.uiUrl}` } : { ok: false, detail: `Web UI: ${ui.detail}` };
    },
    startTimeoutMs: 90_000,
  },
  {
    // Temporal's own server on PostgreSQL persistence: the four services in one process.
    service: 'temporal',
    id: 'temporal-server',
    temporal: 'postgres',
    program: { binary: 'temporalServer' },
    tools: ['temporalSqlTool'],
    stage: 'start',
    ports: (p) => allTemporalServerPorts(temporalServerPorts(p.temporal)),
    endpoint: (p) => {
      const ports = allTemporalServerPorts(temporalServerPorts(p.temporal));
      return `${HOST}:${ports[0]} (its services: ${ports[1]}-${ports[ports.length - 1]})`;
    },
    args: (c) => ['--root', temporalServerDir(c), '--config', 'config', '--env', 'cutover', '--allow-no-auth', 'start'],
    env: (c) => ({ [DB_PASSWORD_ENV]: c.secrets.temporalDbPassword }),
    prepare: prepareTemporalServer,
    ready: (c) => probeFrontend(c),
    afterStart: ensureNamespace,
    probe: (c) => probeTemporal(c.config, SQL_PLUGIN),
    startTimeoutMs: 120_000,
  },
  {
    // Its Web UI: Temporal's UI server, the one the dev server embeds, as a process of its own.
    service: 'temporal',
    id: 'temporal-ui',
    temporal: 'postgres',
    program: { binary: 'temporalUi' },
    stage: 'start',
    ports: (p) => [p.temporalUi],
    args: (c) => ['--root', temporalServerDir(c), '--config', 'ui', '--env', 'cutover', 'start'],
    env: () => ({}),
    prepare: (c) => {
      mkdirSync(join(temporalServerDir(c), 'ui'), { recursive: true, mode: 0o700 });
      const ui = temporalUiConfigYaml({ host: HOST, port: c.ports.temporalUi, temporalGrpcAddress: c.endpoints.temporal.address, namespace: c.endpoints.temporal.namespace });
      writeFileAtomic(join(temporalServerDir(c), 'ui', 'cutover.yaml'), ui);
    },
    // Through the UI to the server: the UI answers, and is connected to this stack's frontend.
    probe: async (c) => {
      const ui = await httpOk(`${c.endpoints.temporal.uiUrl}/api/v1/cluster-info`);
      return ui.ok ? { ok: true, detail: `Web UI ${c.endpoints.temporal.uiUrl} (ui-server ${BINARIES.temporalUi.version})` } : { ok: false, detail: `Web UI: ${ui.detail}` };
    },
    startTimeoutMs: 120_000,
  },
  {
    // Decrypts payloads for the Web UI. It unwraps the codec key with KMS from the control
    // database, like every client of the stack: it reads the endpoints file `up` writes, and
    // its token from secrets.json (never from its command line, which `ps` shows to anyone).
    service: 'codec',
    program: { cli: true },
    stage: 'provisioned',
    ports: (p) => [p.codec],
    args: (c) => ['codec-server', '--host', HOST, '--port', String(c.ports.codec)],
    env: (c) => ({
      CUTOVER_STATE_DIR: c.paths.root,
      CUTOVER_SECRETS_FILE: c.paths.secretsFile,
      ...(c.env.CUTOVER_CODEC_ALLOWED_ORIGINS ? { CUTOVER_CODEC_ALLOWED_ORIGINS: c.env.CUTOVER_CODEC_ALLOWED_ORIGINS } : {}),
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    }),
    probe: (c) => probeCodec(c.endpoints.codec.url, c.secrets.codecToken),
    startTimeoutMs: 60_000,
  },
];

/** The CLI entry point the stack runs Node services from. */
const CLI_ENTRY = join(PROJECT_ROOT, 'bin', 'cutover.js');

/** What to execute for a runner; `marker` tells our process apart from any other `node`. */
async function programOf(c: Context, r: Runner): Promise<{ path: string; args: string[]; marker?: string }> {
  if ('cli' in r.program) {
    const args = r.args(c);
    return { path: process.execPath, args: [CLI_ENTRY, ...args], marker: args[0] };
  }
  const binary = await resolveBinary(BINARIES[r.program.binary], c.env, c.log);
  return { path: binary.path, args: r.args(c) };
}

function logTail(file: string, lines = 8): string {
  if (!existsSync(file)) return '';
  const text = readFileSync(file, 'utf8').trimEnd().split('\n');
  return text.slice(-lines).join('\n');
}

function logFile(c: Context, service: string): string {
  return join(c.paths.logs, `${service}.log`);
}

function endpointOf(c: Context, r: Runner): string {
  return r.endpoint ? r.endpoint(c.ports) : r.ports(c.ports).map((p) => `${HOST}:${p}`).join(', ');
}

async function ensureService(c: Context, r: Runner): Promise<ServiceStatus> {
  const endpoint = endpointOf(c, r);
  const id = runnerId(r);
  const log = logFile(c, id);
  const status = (pid: number | undefined, managedBy: ServiceStatus['managedBy'], detail: string): ServiceStatus => ({
    service: r.service,
    ...(id !== r.service ? { process: id } : {}),
    healthy: true,
    managedBy,
    pid,
    endpoint,
    detail,
    log,
  });
  // Ready, then what the process needs provisioned (once per start: it is idempotent), then healthy.
  const settle = async (alive: () => boolean): Promise<Probe> => {
    if (r.afterStart) {
      const ready = await waitHealthy(() => (r.ready ?? r.probe)(c), r.startTimeoutMs, alive);
      if (!ready.ok) return ready;
      await r.afterStart(c);
    }
    return waitHealthy(() => r.probe(c), r.startTimeoutMs, alive);
  };
  const record = readPid(c.paths.pids, id);
  if (record && isOurProcess(record)) {
    const health = await settle(() => isOurProcess(record));
    if (!health.ok) throw new StackError(r.service, `running (pid ${record.pid}) but unhealthy: ${health.detail}; log: ${log}`);
    return status(record.pid, 'stack', health.detail);
  }
  const taken: number[] = [];
  for (const port of r.ports(c.ports)) if (await tcpOpen(HOST, port)) taken.push(port);
  if (taken.length) {
    // Something else listens there: adopt it only if it is the service we expect.
    const health = await r.probe(c);
    if (health.ok) return { ...status(undefined, 'external', `${health.detail} (already running, not started by the stack)`), log: undefined };
    throw new StackError(r.service, `port ${taken.join(', ')} is taken by another process that is not a healthy ${id}: stop it, or choose other ports (CUTOVER_*_PORT)`);
  }
  const program = await programOf(c, r);
  await r.prepare?.(c);
  c.log(`starting ${id} (${program.marker ? `${program.path} ${program.args.join(' ')}` : program.path})`);
  const started = startDetached({
    service: id,
    binary: program.path,
    args: program.args,
    env: { PATH: c.env.PATH, HOME: c.env.HOME, ...r.env(c) },
    cwd: c.paths.root,
    logFile: log,
    pidsDir: c.paths.pids,
    marker: program.marker,
  });
  const health = await settle(() => isOurProcess(started));
  if (!health.ok) {
    throw new StackError(r.service, `${id !== r.service ? `${id} ` : ''}did not become healthy: ${health.detail}\n--- last lines of ${log} ---\n${logTail(log)}`);
  }
  return status(started.pid, 'stack', health.detail);
}

async function ensurePostgres(c: Context): Promise<ServiceStatus> {
  const admin = c.endpoints.postgres.adminUrl;
  const probe = await probePostgres(admin);
  const endpoint = redactUrl(admin);
  if (!probe.ok) {
    throw new StackError(
      'postgres',
      `${endpoint}: ${probe.detail}. Start the local server (pg_ctlcluster <version> main start) or set CUTOVER_PG_ADMIN_URL to a server where you may create databases and roles`,
    );
  }
  const names = databaseNames(c.env.CUTOVER_PG_PREFIX || 'cutover');
  await provisionDatabases({ adminUrl: admin, names, readerPassword: c.secrets.readerPassword, appPassword: c.secrets.appPassword });
  return { service: 'postgres', healthy: true, managedBy: 'external', endpoint, detail: `${probe.detail}; databases ${names.source}, ${names.target}, ${names.control}` };
}

function logicalServer(c: Pick<Context, 'paths' | 'ports' | 'endpoints'>): LogicalPostgresServer {
  return { ...logicalPostgresFiles(c.paths), host: HOST, port: c.ports.logicalPostgres, adminUrl: c.endpoints.logicalPostgres.adminUrl };
}

/** Rethrows the logical server's errors as the stack's, naming the service. */
function asStackError(err: unknown): never {
  if (err instanceof LogicalPostgresError) throw new StackError('postgres-logical', err.message);
  throw err;
}

/** The stack's own PostgreSQL with wal_level=logical; or, when CUTOVER_LOGICAL_PG_URL names one, that server, checked. */
async function ensureLogicalPostgresService(c: Context): Promise<ServiceStatus> {
  const server = logicalServer(c);
  const endpoint = redactUrl(server.adminUrl);
  if (c.env.CUTOVER_LOGICAL_PG_URL) {
    const probe = await probeLogicalPostgres(server.adminUrl);
    if (!probe.ok) throw new StackError('postgres-logical', `${endpoint} (CUTOVER_LOGICAL_PG_URL): ${probe.detail}; unset it to let the stack run its own server`);
    return { service: 'postgres-logical', healthy: true, managedBy: 'external', endpoint, detail: probe.detail };
  }
  const state = await ensureLogicalPostgres(server, c.env, c.log).catch(asStackError);
  return { service: 'postgres-logical', healthy: true, endpoint, log: server.logFile, ...state };
}

/** Creates the staging bucket if it is missing. */
async function ensureBucket(c: Context): Promise<void> {
  const s3 = createS3Client(c.config.s3);
  try {
    await s3.send(new HeadBucketCommand({ Bucket: c.config.s3.bucket })).catch(async (err) => {
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 403) {
        throw new StackError('minio', `the MinIO on ${c.config.s3.endpoint} refuses this stack's credentials (started by another clone or by hand?): stop it, or set MINIO_ROOT_USER and MINIO_ROOT_PASSWORD to its credentials`);
      }
      if (status !== 404) throw err;
      await s3.send(new CreateBucketCommand({ Bucket: c.config.s3.bucket }));
      c.log(`created bucket ${c.config.s3.bucket}`);
    });
  } finally {
    s3.destroy();
  }
}

/** Makes sure every alias exists (a seeded local-kms has them; an adopted KMS may not). */
async function ensureKeyAliases(c: Context): Promise<void> {
  const kms = createKmsClient(c.config.kms);
  try {
    for (const alias of Object.values(KMS_ALIASES)) {
      const found = await kms.send(new DescribeKeyCommand({ KeyId: alias })).then(
        () => true,
        () => false,
      );
      if (found) continue;
      const key = await kms.send(new CreateKeyCommand({ Description: `${alias} (cutover local stack)` }));
      await kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: key.KeyMetadata!.KeyId! }));
      c.log(`created KMS key for ${alias}`);
    }
  } finally {
    kms.destroy();
  }
}

/** Registers the custom search attributes (the dev server's flags do too; an adopted server may lack them). */
async function ensureSearchAttributes(c: Context): Promise<void> {
  const { address } = c.config.temporal.connection;
  const connection = await Connection.connect({ address, connectTimeout: '5s' });
  try {
    const namespace = c.config.temporal.namespace;
    const existing = await connection.operatorService.listSearchAttributes({ namespace });
    const missing: Record<string, number> = {};
    const typeCodes: Record<string, number> = { Text: 1, Keyword: 2, Int: 3, Double: 4, Bool: 5, Datetime: 6, KeywordList: 7 };
    for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) {
      if (!existing.customAttributes?.[name]) missing[name] = typeCodes[type]!;
    }
    if (Object.keys(missing).length) {
      await connection.operatorService.addSearchAttributes({ namespace, searchAttributes: missing });
      c.log(`registered search attributes ${Object.keys(missing).join(', ')}`);
    }
  } finally {
    await connection.close();
  }
}

function writeEndpoints(c: Context): void {
  writeFileAtomic(c.paths.endpointsFile, JSON.stringify(c.endpoints, null, 2));
}

/** Brings every service up (idempotent) and waits until each is healthy. */
export async function stackUp(env: NodeJS.ProcessEnv = processEnv(), log: (line: string) => void = () => {}, only?: ServiceName[]): Promise<StackStatus> {
  const c = context(env, log);
  const wanted = (s: ServiceName) => !only || only.includes(s);
  const asked = temporalServerKindFromEnv(env);
  const running = runningTemporal(c.paths);
  if (wanted('temporal') && asked && running && asked !== running) {
    throw new StackError(
      'temporal',
      `the stack runs the ${running === 'dev' ? 'dev server' : 'PostgreSQL-backed server'}, not the ${asked === 'dev' ? 'dev server' : 'PostgreSQL-backed server'} ${TEMPORAL_SERVER_SWITCH}=${asked} asks for: \`cutover stack down temporal\` first (each keeps its history)`,
    );
  }
  const runners = runnersFor(c.temporal);
  // Build any missing binary first (in parallel): a build failure should surface before anything starts.
  await Promise.all(
    runners.filter((r) => wanted(r.service)).flatMap((r) => {
      const record = readPid(c.paths.pids, runnerId(r));
      if (record && isOurProcess(record)) return [];
      const binaries = [...('binary' in r.program ? [r.program.binary] : []), ...(r.tools ?? [])];
      return binaries.map((b) =>
        resolveBinary(BINARIES[b], env, log).catch((err) => {
          if (err instanceof BinaryUnavailableError) throw new StackError(r.service, err.hint);
          throw err;
        }),
      );
    }),
  );
  // Likewise missing PostgreSQL binaries for the stack's own server.
  const { dataDir } = logicalPostgresFiles(c.paths);
  if (wanted('postgres-logical') && !env.CUTOVER_LOGICAL_PG_URL && runningPostmaster(dataDir) === undefined) {
    try {
      findPostgresBindir(env, dataDir);
    } catch (err) {
      asStackError(err);
    }
  }
  const services: ServiceStatus[] = [];
  if (wanted('postgres')) services.push(await ensurePostgres(c));
  if (wanted('postgres-logical')) services.push(await ensureLogicalPostgresService(c));
  const startStage = async (stage: Runner['stage']) => {
    const started = await Promise.allSettled(runners.filter((r) => r.stage === stage && wanted(r.service)).map((r) => ensureService(c, r)));
    const errors: unknown[] = [];
    for (const result of started) {
      if (result.status === 'fulfilled') services.push(result.value);
      else errors.push(result.reason);
    }
    if (errors.length === 1) throw errors[0];
    if (errors.length) throw new StackError('stack', errors.map((e) => (e as Error).message).join('\n'));
  };
  await startStage('start');
  if (wanted('kms')) await ensureKeyAliases(c);
  if (wanted('minio')) await ensureBucket(c);
  if (wanted('temporal')) await ensureSearchAttributes(c);
  writeEndpoints(c);
  await startStage('provisioned');
  return { temporal: temporalStatus(c), services: sortServices(services), endpoints: c.endpoints };
}

/** Stops what `up` started (never a service it adopted, never the machine's PostgreSQL). */
export async function stackDown(env: NodeJS.ProcessEnv = processEnv(), log: (line: string) => void = () => {}, only?: ServiceName[]): Promise<void> {
  const paths = stackPaths(env);
  // Both Temporals' processes: whichever runs.
  for (const r of [...RUNNERS].reverse()) {
    if (only && !only.includes(r.service)) continue;
    const result = await stopProcess(paths.pids, runnerId(r));
    if (result === 'stopped' || !r.temporal || r.temporal === 'dev') log(`${runnerId(r)}: ${result}`);
  }
  if (!only || only.includes('postgres-logical')) {
    log(`postgres-logical: ${await stopLogicalPostgres(logicalPostgresFiles(paths), env)}`);
  }
}

/** The services `restart` can restart: those whose processes the stack starts. */
export const RESTARTABLE: readonly ServiceName[] = ['postgres-logical', 'kms', 'minio', 'temporal', 'codec'];

/**
 * Stops the processes of `services` that the stack started and brings them up again (with
 * whatever `up` provisions for them), the rest of the stack left running: for a restart of the
 * Temporal server under running migrations. Refuses a service the stack did not start (it could
 * not stop it, so it would not restart).
 */
export async function stackRestart(
  services: ServiceName[],
  env: NodeJS.ProcessEnv = processEnv(),
  log: (line: string) => void = () => {},
  options: {
    /** SIGKILL instead of a graceful stop: the process crashes, with no chance to finish what it was doing. */
    kill?: boolean;
  } = {},
): Promise<StackStatus> {
  const c = context(env, log);
  for (const service of services) {
    if (!RESTARTABLE.includes(service)) throw new StackError(service, `not started by the stack: it cannot restart it (restartable: ${RESTARTABLE.join(', ')})`);
    if (service === 'postgres-logical') {
      if (options.kill) throw new StackError(service, 'restarts only gracefully (pg_ctl): leave out --kill');
      if (env.CUTOVER_LOGICAL_PG_URL || runningPostmaster(logicalPostgresFiles(c.paths).dataDir) === undefined) throw new StackError(service, 'not running under the stack: nothing to restart');
      log(`postgres-logical: ${await stopLogicalPostgres(logicalPostgresFiles(c.paths), env)}`);
      continue;
    }
    const runners = runnersFor(c.temporal).filter((r) => r.service === service);
    const records = runners.map((r) => readPid(c.paths.pids, runnerId(r)));
    if (!records.some((record) => record && isOurProcess(record))) throw new StackError(service, 'not running under the stack (down, or adopted from elsewhere): nothing to restart; `cutover stack up` starts it');
    for (const r of [...runners].reverse()) log(`${runnerId(r)}: ${await stopProcess(c.paths.pids, runnerId(r), 15_000, options.kill ? 'SIGKILL' : 'SIGTERM')}${options.kill ? ' (SIGKILL)' : ''}`);
    // Started again only once its ports are free (a killed process lets go of them as it exits, not at once).
    const ports = runners.flatMap((r) => r.ports(c.ports));
    const deadline = Date.now() + 15_000;
    for (;;) {
      const taken = [];
      for (const port of ports) if (await tcpOpen(HOST, port)) taken.push(port);
      if (!taken.length) break;
      if (Date.now() > deadline) throw new StackError(service, `stopped, but port ${taken.join(', ')} is still taken after 15 s: see what holds it (ss -ltnp)`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return stackUp(env, log, services);
}

/** Probes every service without starting anything. */
export async function stackStatus(env: NodeJS.ProcessEnv = processEnv()): Promise<StackStatus> {
  const c = context(env, () => {});
  const services: ServiceStatus[] = [];
  const pg = await probePostgres(c.endpoints.postgres.adminUrl);
  services.push({ service: 'postgres', healthy: pg.ok, managedBy: 'external', endpoint: redactUrl(c.endpoints.postgres.adminUrl), detail: pg.detail });
  const logical = logicalServer(c);
  const postmaster = env.CUTOVER_LOGICAL_PG_URL ? undefined : runningPostmaster(logical.dataDir);
  const logicalProbe = await probeLogicalPostgres(logical.adminUrl);
  services.push({
    service: 'postgres-logical',
    healthy: logicalProbe.ok,
    managedBy: postmaster ? 'stack' : logicalProbe.ok ? 'external' : 'none',
    pid: postmaster,
    endpoint: redactUrl(logical.adminUrl),
    detail: logicalProbe.detail,
    log: logical.logFile,
  });
  const probes = await Promise.all(
    runnersFor(c.temporal).map(async (r): Promise<ServiceStatus> => {
      const record = readPid(c.paths.pids, runnerId(r));
      const ours = record !== undefined && isOurProcess(record);
      const probe = await r.probe(c);
      const endpoint = endpointOf(c, r);
      return {
        service: r.service,
        ...(runnerId(r) !== r.service ? { process: runnerId(r) } : {}),
        healthy: probe.ok,
        managedBy: ours ? 'stack' : probe.ok ? 'external' : 'none',
        pid: ours ? record.pid : undefined,
        endpoint,
        detail: probe.detail,
        log: logFile(c, runnerId(r)),
      };
    }),
  );
  services.push(...probes);
  return { temporal: temporalStatus(c), services: sortServices(services), endpoints: c.endpoints };
}

function sortServices(s: ServiceStatus[]): ServiceStatus[] {
  return [...s].sort((a, b) => SERVICE_NAMES.indexOf(a.service) - SERVICE_NAMES.indexOf(b.service));
}

/** The codec endpoint a Web UI viewer configures, with its token: for people allowed to see payloads. */
export function codecEndpointWithToken(env: NodeJS.ProcessEnv = processEnv()): string {
  const c = context(env, () => {});
  return `${c.endpoints.codec.url}/${c.secrets.codecToken}`;
}


/** Removes the stack's data (Temporal history, objects, keys): only when stopped. */
export function stackReset(env: NodeJS.ProcessEnv = processEnv()): void {
  const paths = stackPaths(env);
  for (const r of RUNNERS) {
    const record = readPid(paths.pids, runnerId(r));
    if (record && isOurProcess(record)) throw new StackError(r.service, 'still running: run `cutover stack down` first');
  }
  if (runningPostmaster(logicalPostgresFiles(paths).dataDir) !== undefined) throw new StackError('postgres-logical', 'still running: run `cutover stack down` first');
  rmSync(paths.root, { recursive: true, force: true });
}
