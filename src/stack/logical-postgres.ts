/**
 * The stack's own PostgreSQL with wal_level=logical (service `postgres-logical`), for delta
 * sync: a cluster in the stack's data directory, made by the machine's `initdb` and run by its
 * `pg_ctl`. wal_level only changes with a restart, so the machine's server (5432) is never
 * touched; this one is started and stopped with the stack.
 */
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, chownSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { probeLogicalPostgres, tcpOpen, waitHealthy } from './health';
import { isExecutable } from './binaries';
import { sleep } from './process';
import { LOGICAL_POSTGRES_SETTINGS } from './services';
import type { StackPaths } from './state';

/** Why the server cannot be brought up or stopped; the message says what to do. */
export class LogicalPostgresError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LogicalPostgresError';
  }
}

/** Where the stack's cluster lives: all that finding and stopping it needs. */
export interface LogicalPostgresFiles {
  /** The cluster's data directory; its unix socket lives here too (not in /var/run). */
  dataDir: string;
  /** Directories of the stack's own above `dataDir`, which the server's OS user must be able to traverse. */
  stateDirs: string[];
  logFile: string;
}

export interface LogicalPostgresServer extends LogicalPostgresFiles {
  host: string;
  port: number;
  /** Superuser `postgres`, database `postgres`. */
  adminUrl: string;
}

export function logicalPostgresFiles(paths: StackPaths): LogicalPostgresFiles {
  return { dataDir: join(paths.data, 'postgres-logical'), stateDirs: [paths.root, paths.data], logFile: join(paths.logs, 'postgres-logical.log') };
}

/** Linux's sun_path holds 108 bytes with the terminating NUL. */
const SOCKET_PATH_MAX = 107;

/** The file the cluster's postgresql.conf includes; rewritten before every start, so a port change takes effect. */
const SETTINGS_FILE = 'cutover.conf';
const INCLUDE_LINE = `include = '${SETTINGS_FILE}'`;

/** The settings `up` gives the cluster: loopback only, the socket in the data directory, logical decoding. */
export function logicalPostgresConf(dataDir: string, host: string, port: number): string {
  const socket = join(dataDir, `.s.PGSQL.${port}`);
  if (Buffer.byteLength(socket) > SOCKET_PATH_MAX) {
    throw new LogicalPostgresError(`its unix socket ${socket} would be longer than ${SOCKET_PATH_MAX} bytes: set CUTOVER_STATE_DIR to a shorter path`);
  }
  // unix_socket_directories is a comma-separated list that may quote its items: keep it plain.
  if (/[,"'\\\n]/.test(dataDir)) throw new LogicalPostgresError(`its data directory ${JSON.stringify(dataDir)} holds a comma, quote, backslash or newline: set CUTOVER_STATE_DIR to a plainer path`);
  return [
    '# Written by `cutover stack up` before every start: edits here are overwritten.',
    `listen_addresses = '${host}'`,
    `port = ${port}`,
    `unix_socket_directories = '${dataDir}'`,
    ...Object.entries(LOGICAL_POSTGRES_SETTINGS).map(([name, value]) => `${name} = ${value}`),
    '',
  ].join('\n');
}

/**
 * Trust on the loopback address only (the server listens nowhere else); the unix socket sits
 * in the data directory, which only the server's OS user may enter, and asks for that user.
 */
export function logicalPostgresHba(host: string): string {
  return [
    '# Written by `cutover stack up` before every start: edits here are overwritten.',
    '# TYPE  DATABASE     USER  ADDRESS  METHOD',
    'local   all          all            peer',
    'local   replication  all            peer',
    `host    all          all   ${host}/32  trust`,
    `host    replication  all   ${host}/32  trust`,
    '',
  ].join('\n');
}

const SERVER_TOOLS = ['initdb', 'pg_ctl', 'postgres'];

/**
 * Where to look for the server's binaries, best first: an explicit CUTOVER_PG_BINDIR (alone),
 * the Debian directory of the version the cluster was made with, `pg_config --bindir`, the
 * Debian directories newest first, then PATH.
 */
export function postgresBindirCandidates(o: { override?: string; clusterVersion?: string; pgConfigBindir?: string; debianVersions: string[]; pathDirs: string[] }): string[] {
  if (o.override) return [o.override];
  const debian = (version: string) => `/usr/lib/postgresql/${version}/bin`;
  const newestFirst = [...o.debianVersions].sort((a, b) => parseFloat(b) - parseFloat(a));
  const all = [
    ...(o.clusterVersion ? [debian(o.clusterVersion)] : []),
    ...(o.pgConfigBindir ? [o.pgConfigBindir] : []),
    ...newestFirst.map(debian),
    ...o.pathDirs,
  ];
  return [...new Set(all.filter(Boolean))];
}


const hasServerTools = (dir: string) => SERVER_TOOLS.every((tool) => isExecutable(join(dir, tool)));

/** The directory holding initdb, pg_ctl and postgres; throws saying what to install when there is none. */
export function findPostgresBindir(env: NodeJS.ProcessEnv, dataDir: string): string {
  const override = env.CUTOVER_PG_BINDIR;
  if (override && !hasServerTools(override)) throw new LogicalPostgresError(`CUTOVER_PG_BINDIR=${override} does not hold ${SERVER_TOOLS.join(', ')}`);
  const pgConfig = override ? undefined : spawnSync('pg_config', ['--bindir'], { env, encoding: 'utf8' });
  let debianVersions: string[] = [];
  try {
    debianVersions = readdirSync('/usr/lib/postgresql');
  } catch {
    // not Debian, or no server installed
  }
  const candidates = postgresBindirCandidates({
    override,
    clusterVersion: existsSync(join(dataDir, 'PG_VERSION')) ? readFileSync(join(dataDir, 'PG_VERSION'), 'utf8').trim() : undefined,
    pgConfigBindir: pgConfig?.status === 0 ? pgConfig.stdout.trim() : undefined,
    debianVersions,
    pathDirs: (env.PATH ?? '').split(delimiter),
  });
  const found = candidates.find(hasServerTools);
  if (found) return found;
  throw new LogicalPostgresError(
    `no PostgreSQL server binaries (${SERVER_TOOLS.join(', ')}) in \`pg_config --bindir\`, /usr/lib/postgresql/<version>/bin or PATH: ` +
      'install the PostgreSQL server (Debian/Ubuntu: apt-get install postgresql), set CUTOVER_PG_BINDIR to its bin directory, ' +
      'or set CUTOVER_LOGICAL_PG_URL to a server with wal_level=logical',
  );
}

interface OsUser {
  name: string;
  uid: number;
  gid: number;
}

/** How to run PostgreSQL's tools here: from which directory, as whom, with which PATH. */
interface Tools {
  bindir: string;
  /** Set when running as root. */
  user?: OsUser;
  path: string;
}

/** PostgreSQL refuses to run as root: as root, the cluster belongs to the `postgres` OS user. */
function serverOsUser(): OsUser | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const entry = spawnSync('getent', ['passwd', 'postgres'], { encoding: 'utf8' });
  const [, , uid, gid] = entry.status === 0 ? entry.stdout.trim().split(':') : [];
  if (!uid || !gid) {
    throw new LogicalPostgresError('running as root, and there is no `postgres` OS user to run the server as (PostgreSQL refuses to run as root): create one, or run the stack as another user');
  }
  return { name: 'postgres', uid: Number(uid), gid: Number(gid) };
}

/** The pid of the postmaster serving `dataDir`, if one runs (its postmaster.pid names it; pids get reused). */
export function runningPostmaster(dataDir: string): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
  } catch {
    return undefined;
  }
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dataDir) ? pid : undefined;
  } catch {
    return pid; // no /proc: trust the signal check
  }
}

function logTail(file: string, lines = 12): string {
  if (!existsSync(file)) return '';
  return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

/**
 * Runs one of PostgreSQL's tools as the server's OS user, its output appended to the log.
 * The output goes to a file, never a pipe: `pg_ctl start` hands it on to the server, which
 * outlives this process. Resolves with the exit code, or null when it had to be killed.
 */
async function runTool(s: LogicalPostgresFiles, t: Tools, tool: string, args: string[], timeoutMs: number): Promise<number | null> {
  appendFileSync(s.logFile, `--- ${new Date().toISOString()} cutover stack: ${tool} ${args.join(' ')} ---\n`);
  const fd = openSync(s.logFile, 'a');
  try {
    const child = spawn(join(t.bindir, tool), args, {
      cwd: '/',
      env: { PATH: t.path, LC_ALL: 'C' },
      stdio: ['ignore', fd, fd],
      ...(t.user ? { uid: t.user.uid, gid: t.user.gid } : {}),
    });
    return await new Promise<number | null>((resolve, reject) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        resolve(code);
      });
    });
  } finally {
    closeSync(fd);
  }
}

/**
 * As root, the server runs as `postgres`, which must reach the data directory: the stack's
 * own directories (mode 0700) let the `postgres` group traverse them, nothing more. Their
 * parents are not the stack's to change; if those bar the way, say so.
 */
function letServerUserIn(s: LogicalPostgresServer, user: OsUser): void {
  const canReach = () => spawnSync('test', ['-x', dirname(s.dataDir)], { uid: user.uid, gid: user.gid }).status === 0;
  if (canReach()) return;
  for (const dir of s.stateDirs) {
    const st = statSync(dir);
    if (st.gid !== user.gid) chownSync(dir, st.uid, user.gid);
    chmodSync(dir, (st.mode & 0o7777) | 0o010);
  }
  if (!canReach()) {
    throw new LogicalPostgresError(
      `the ${user.name} OS user, which runs the server (PostgreSQL refuses to run as root), cannot reach ${dirname(s.dataDir)}: ` +
        'let it traverse the directories above it, or set CUTOVER_STATE_DIR to a directory it can reach',
    );
  }
}

function writeOwned(file: string, content: string, user: OsUser | undefined): void {
  writeFileSync(file, content, { mode: 0o600 });
  if (user) chownSync(file, user.uid, user.gid);
}

/** Makes the cluster once; true when it did. */
async function initCluster(s: LogicalPostgresServer, t: Tools): Promise<boolean> {
  if (existsSync(join(s.dataDir, 'PG_VERSION'))) return false;
  mkdirSync(s.dataDir, { recursive: true, mode: 0o700 });
  if (t.user) chownSync(s.dataDir, t.user.uid, t.user.gid);
  // Locale C with UTF-8: the same on every machine (en_US.UTF-8 may not be installed).
  const args = ['-D', s.dataDir, '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--auth-local=peer', '--auth-host=trust'];
  const code = await runTool(s, t, 'initdb', args, 120_000);
  if (code !== 0) throw new LogicalPostgresError(`initdb failed (${code === null ? 'timed out' : `exit ${code}`})\n--- last lines of ${s.logFile} ---\n${logTail(s.logFile)}`);
  return true;
}

function writeSettings(s: LogicalPostgresServer, settings: string, user: OsUser | undefined): void {
  writeOwned(join(s.dataDir, SETTINGS_FILE), settings, user);
  writeOwned(join(s.dataDir, 'pg_hba.conf'), logicalPostgresHba(s.host), user);
  const main = join(s.dataDir, 'postgresql.conf');
  if (!readFileSync(main, 'utf8').split('\n').includes(INCLUDE_LINE)) appendFileSync(main, `\n# cutover stack: its settings (listen address, port, socket, logical decoding)\n${INCLUDE_LINE}\n`);
}

/**
 * Stops the cluster if it runs: `pg_ctl stop` in the given mode, then `immediate`, then
 * SIGKILL, so that nothing is left however the server behaves. Without binaries (uninstalled
 * since `up`), the same shutdowns by signal.
 */
async function stopCluster(s: LogicalPostgresFiles, t: Tools | undefined, mode: 'fast' | 'immediate'): Promise<'stopped' | 'not-running'> {
  if (runningPostmaster(s.dataDir) === undefined) return 'not-running';
  const signals: Record<'fast' | 'immediate', NodeJS.Signals> = { fast: 'SIGINT', immediate: 'SIGQUIT' };
  for (const m of mode === 'fast' ? (['fast', 'immediate'] as const) : (['immediate'] as const)) {
    if (t) {
      await runTool(s, t, 'pg_ctl', ['stop', '-D', s.dataDir, '-m', m, '-w', '-t', '30'], 45_000);
    } else {
      const pid = runningPostmaster(s.dataDir);
      if (pid) process.kill(pid, signals[m]);
      for (let i = 0; i < 300 && runningPostmaster(s.dataDir) !== undefined; i++) await sleep(100);
    }
    if (runningPostmaster(s.dataDir) === undefined) return 'stopped';
  }
  const pid = runningPostmaster(s.dataDir);
  if (pid) process.kill(pid, 'SIGKILL'); // its backends exit when they see the postmaster gone
  for (let i = 0; i < 50 && runningPostmaster(s.dataDir) !== undefined; i++) await sleep(100);
  return 'stopped';
}

export interface LogicalPostgresState {
  /** 'stack' when the cluster in the stack's data directory serves it (and `down` will stop it). */
  managedBy: 'stack' | 'external';
  pid?: number;
  detail: string;
}

/** A running cluster may still be starting (another `up` started it a moment ago). */
const HEALTHY_WITHIN_MS = 30_000;
/** After `pg_ctl start -w`, which waits until the server accepts connections: a probe that still fails will not pass by waiting. */
const HEALTHY_AFTER_START_MS = 5_000;

/**
 * Brings the server up, idempotently: adopts the stack's cluster when it runs, or a healthy
 * logical PostgreSQL already on the port (and will not stop it); else makes the cluster
 * (once), writes its settings and starts it. A start that fails stops what it started.
 */
export async function ensureLogicalPostgres(s: LogicalPostgresServer, env: NodeJS.ProcessEnv, log: (line: string) => void): Promise<LogicalPostgresState> {
  const probe = () => probeLogicalPostgres(s.adminUrl);
  const alive = () => runningPostmaster(s.dataDir) !== undefined;
  const running = runningPostmaster(s.dataDir);
  if (running) {
    const health = await waitHealthy(probe, HEALTHY_WITHIN_MS, alive);
    if (!health.ok) {
      throw new LogicalPostgresError(`running (pid ${running}) but unhealthy: ${health.detail}; \`cutover stack down postgres-logical\` then \`up\` restarts it with the stack's settings; log: ${s.logFile}`);
    }
    return { managedBy: 'stack', pid: running, detail: health.detail };
  }
  if (await tcpOpen(s.host, s.port)) {
    const health = await probe();
    if (health.ok) return { managedBy: 'external', detail: `${health.detail} (already running, not started by the stack)` };
    throw new LogicalPostgresError(
      `port ${s.port} is taken by another process that is not a PostgreSQL with wal_level=logical (${health.detail}): stop it, or choose another port (CUTOVER_LOGICAL_PG_PORT)`,
    );
  }
  const settings = logicalPostgresConf(s.dataDir, s.host, s.port); // refuses an unusable path before initdb
  const t: Tools = { bindir: findPostgresBindir(env, s.dataDir), user: serverOsUser(), path: env.PATH ?? '/usr/bin:/bin' };
  if (t.user) letServerUserIn(s, t.user);
  if (await initCluster(s, t)) log(`made a PostgreSQL cluster in ${s.dataDir}`);
  writeSettings(s, settings, t.user);
  log(`starting postgres-logical (${join(t.bindir, 'pg_ctl')} start${t.user ? `, as ${t.user.name}` : ''})`);
  const code = await runTool(s, t, 'pg_ctl', ['start', '-D', s.dataDir, '-w', '-t', '60'], 90_000);
  // Probed even when pg_ctl failed: another `up` may have started the cluster meanwhile.
  const health = alive() ? await waitHealthy(probe, HEALTHY_AFTER_START_MS, alive) : undefined;
  const pid = runningPostmaster(s.dataDir);
  if (health?.ok && pid) return { managedBy: 'stack', pid, detail: health.detail };
  await stopCluster(s, t, 'immediate');
  const why = code !== 0 ? `pg_ctl start failed (${code === null ? 'timed out' : `exit ${code}`})` : `did not become healthy: ${health?.detail ?? 'the server exited'}`;
  throw new LogicalPostgresError(`${why}; stopped it\n--- last lines of ${s.logFile} ---\n${logTail(s.logFile)}`);
}

/** Stops the stack's cluster (`pg_ctl stop -m fast`); never a server it adopted. */
export async function stopLogicalPostgres(s: LogicalPostgresFiles, env: NodeJS.ProcessEnv): Promise<'stopped' | 'not-running'> {
  if (runningPostmaster(s.dataDir) === undefined) return 'not-running';
  let t: Tools | undefined;
  try {
    t = { bindir: findPostgresBindir(env, s.dataDir), user: serverOsUser(), path: env.PATH ?? '/usr/bin:/bin' };
  } catch {
    t = undefined; // no binaries, or no postgres user any more: stop it by signal
  }
  return stopCluster(s, t, 'fast');
}
