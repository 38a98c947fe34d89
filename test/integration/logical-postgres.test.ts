import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureLogicalPostgres, logicalPostgresFiles, LogicalPostgresServer, runningPostmaster, stopLogicalPostgres } from '../../src/stack/logical-postgres';
import pg from 'pg';
import { databaseNames } from '../../src/stack/endpoints';
import { dropDatabases, provisionDatabases } from '../../src/stack/postgres-provision';
import { ensureDirs, stackPaths } from '../../src/stack/state';
import { freePort, sql } from './helpers';

// The stack's own logical PostgreSQL, brought up in a state directory and on a port of this
// test's own, with the machine's PostgreSQL binaries: the stack's server is not touched.

/** Processes whose command line names the cluster's data directory: what a failed start must not leave. */
function processesOf(dataDir: string): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dataDir);
      } catch {
        return false;
      }
    })
    .map(Number);
}

describe("the stack's logical PostgreSQL", () => {
  let root: string;
  let server: LogicalPostgresServer;
  const log: string[] = [];
  const ensure = () => ensureLogicalPostgres(server, process.env, (line) => log.push(line));

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'cutover-logical-pg-'));
    const paths = stackPaths({ CUTOVER_STATE_DIR: root });
    ensureDirs(paths);
    const port = await freePort();
    server = { ...logicalPostgresFiles(paths), host: '127.0.0.1', port, adminUrl: `postgres://postgres@127.0.0.1:${port}/postgres` };
  });

  afterAll(async () => {
    if (server) await stopLogicalPostgres(server, process.env);
    rmSync(root, { recursive: true, force: true });
  });

  it('makes its cluster once and serves logical replication on loopback: a test may create its own database and a pgoutput slot', async () => {
    const up = await ensure();
    expect(up.managedBy).toBe('stack');
    expect(up.pid).toBe(runningPostmaster(server.dataDir));
    expect(log.filter((l) => l.startsWith('made a PostgreSQL cluster'))).toHaveLength(1);
    expect(await sql<{ wal_level: string }>(server.adminUrl, 'show wal_level')).toEqual([{ wal_level: 'logical' }]);
    await sql(server.adminUrl, 'create database it_logical_probe');
    const dbUrl = server.adminUrl.replace(/\/postgres$/, '/it_logical_probe');
    await sql(dbUrl, 'create table t (id int primary key, v text)');
    await sql(dbUrl, 'create publication it_pub for table t');
    const [slot] = await sql<{ slot_name: string }>(dbUrl, "select slot_name from pg_create_logical_replication_slot('it_slot', 'pgoutput')");
    expect(slot).toEqual({ slot_name: 'it_slot' });
    await sql(dbUrl, "select pg_drop_replication_slot('it_slot')");
    // Its log is in the stack's logs directory.
    expect(readFileSync(server.logFile, 'utf8')).toContain('database system is ready to accept connections');
  });

  it('adopts its running cluster instead of starting another', async () => {
    const before = runningPostmaster(server.dataDir);
    const again = await ensure();
    expect(again).toMatchObject({ managedBy: 'stack', pid: before });
    expect(log.filter((l) => l.startsWith('starting'))).toHaveLength(1);
  });

  it("a test's databases are dropped even when it failed mid-sync: its slots go first, a streaming one too", async () => {
    const names = databaseNames('it_dropslots');
    await provisionDatabases({ adminUrl: server.adminUrl, names, readerPassword: 'r', appPassword: 'a' });
    const sourceUrl = server.adminUrl.replace(/\/postgres$/, `/${names.source}`);
    await sql(sourceUrl, "select pg_create_logical_replication_slot('it_idle', 'test_decoding')");
    await sql(sourceUrl, "select pg_create_logical_replication_slot('it_streaming', 'test_decoding')");
    // A follower still streaming from one of them, as a migration's left running by a failed test is.
    const walsender = new pg.Client({ connectionString: sourceUrl, replication: 'database' } as pg.ClientConfig);
    walsender.on('error', () => undefined);
    await walsender.connect();
    const streaming = walsender.query("START_REPLICATION SLOT it_streaming LOGICAL 0/0").catch((err: Error) => err);
    const active = async () => (await sql<{ n: string }>(server.adminUrl, "select count(*) as n from pg_replication_slots where slot_name = 'it_streaming' and active")).map((r) => Number(r.n))[0];
    for (let i = 0; i < 50 && (await active()) !== 1; i++) await new Promise((r) => setTimeout(r, 100));
    expect(await active()).toBe(1);

    await dropDatabases(server.adminUrl, names);
    expect(await streaming).toBeInstanceOf(Error); // its walsender was ended
    await walsender.end().catch(() => undefined);
    expect(await sql(server.adminUrl, "select slot_name from pg_replication_slots where slot_name like 'it_%'")).toEqual([]);
    expect(await sql(server.adminUrl, 'select datname from pg_database where datname = any($1)', [[names.source, names.target, names.control]])).toEqual([]);
  });

  it('stops with pg_ctl, and starts again on the same cluster with its databases', async () => {
    expect(await stopLogicalPostgres(server, process.env)).toBe('stopped');
    expect(runningPostmaster(server.dataDir)).toBeUndefined();
    expect(processesOf(server.dataDir)).toEqual([]);
    expect(await stopLogicalPostgres(server, process.env)).toBe('not-running');
    await ensure();
    expect(log.filter((l) => l.startsWith('made a PostgreSQL cluster'))).toHaveLength(1);
    const dbs = await sql<{ datname: string }>(server.adminUrl, "select datname from pg_database where datname = 'it_logical_probe'");
    expect(dbs).toHaveLength(1);
  });

  it('stops what it started when the server comes up without wal_level=logical, and says why', async () => {
    await sql(server.adminUrl, 'alter system set wal_level = replica'); // overrides the stack's settings file
    await stopLogicalPostgres(server, process.env);
    await expect(ensure()).rejects.toThrow(/did not become healthy: .*wal_level=replica, not logical; stopped it/);
    expect(runningPostmaster(server.dataDir)).toBeUndefined();
    expect(processesOf(server.dataDir)).toEqual([]);
    writeFileSync(join(server.dataDir, 'postgresql.auto.conf'), '');
    expect((await ensure()).managedBy).toBe('stack');
  });

  it('stops what it started when the server does not start at all, with the log lines that say why', async () => {
    await stopLogicalPostgres(server, process.env);
    const auto = join(server.dataDir, 'postgresql.auto.conf');
    writeFileSync(auto, 'shared_buffers = nonsense\n');
    await expect(ensure()).rejects.toThrow(/pg_ctl start failed \(exit \d+\); stopped it\n--- last lines of .*\n[\s\S]*shared_buffers/);
    expect(processesOf(server.dataDir)).toEqual([]);
    writeFileSync(auto, '');
  });

  it('refuses a port taken by something that is not a logical PostgreSQL, starting nothing', async () => {
    expect(runningPostmaster(server.dataDir)).toBeUndefined();
    const squatter: Server = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => squatter.listen(server.port, '127.0.0.1', resolve));
    try {
      await expect(ensure()).rejects.toThrow(new RegExp(`port ${server.port} is taken by another process .*CUTOVER_LOGICAL_PG_PORT`));
      expect(processesOf(server.dataDir)).toEqual([]);
      expect(existsSync(join(server.dataDir, 'postmaster.pid'))).toBe(false);
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
  });
});
