import { logicalPostgresConf, logicalPostgresFiles, logicalPostgresHba, postgresBindirCandidates } from '../../src/stack/logical-postgres';
import { LOGICAL_POSTGRES_SETTINGS } from '../../src/stack/services';
import { stackPaths } from '../../src/stack/state';

describe('the postgres-logical server', () => {
  it('keeps its cluster in the stack data directory and its log with the other logs', () => {
    const files = logicalPostgresFiles(stackPaths({ CUTOVER_STATE_DIR: '/srv/state' }));
    expect(files).toEqual({
      dataDir: '/srv/state/data/postgres-logical',
      stateDirs: ['/srv/state', '/srv/state/data'],
      logFile: '/srv/state/logs/postgres-logical.log',
    });
  });

  it('is configured for logical decoding, on loopback only, with its socket in the data directory', () => {
    const conf = logicalPostgresConf('/srv/state/data/postgres-logical', '127.0.0.1', 5433);
    expect(conf).toContain("listen_addresses = '127.0.0.1'");
    expect(conf).toContain('port = 5433');
    expect(conf).toContain("unix_socket_directories = '/srv/state/data/postgres-logical'");
    for (const [name, value] of Object.entries(LOGICAL_POSTGRES_SETTINGS)) expect(conf).toContain(`${name} = ${value}`);
    expect(LOGICAL_POSTGRES_SETTINGS).toEqual({ wal_level: 'logical', max_replication_slots: '16', max_wal_senders: '16' });
  });

  it('refuses a data directory whose socket path would be too long for a unix socket, naming the fix', () => {
    expect(() => logicalPostgresConf(`/${'x'.repeat(100)}/data/postgres-logical`, '127.0.0.1', 5433)).toThrow(/longer than 107 bytes: set CUTOVER_STATE_DIR/);
  });

  it('refuses a data directory that unix_socket_directories would split or unquote', () => {
    expect(() => logicalPostgresConf('/srv/a,b/data/postgres-logical', '127.0.0.1', 5433)).toThrow(/comma, quote/);
    expect(() => logicalPostgresConf("/srv/it's/data/postgres-logical", '127.0.0.1', 5433)).toThrow(/comma, quote/);
  });

  it('trusts the loopback address only; the socket asks for the OS user', () => {
    const lines = logicalPostgresHba('127.0.0.1')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => l.split(/\s+/));
    expect(lines).toEqual([
      ['local', 'all', 'all', 'peer'],
      ['local', 'replication', 'all', 'peer'],
      ['host', 'all', 'all', '127.0.0.1/32', 'trust'],
      ['host', 'replication', 'all', '127.0.0.1/32', 'trust'],
    ]);
  });
});

describe('where the PostgreSQL binaries are looked for', () => {
  it('takes CUTOVER_PG_BINDIR alone when it is set', () => {
    expect(postgresBindirCandidates({ override: '/opt/pg/bin', pgConfigBindir: '/usr/lib/postgresql/16/bin', debianVersions: ['16'], pathDirs: ['/usr/bin'] })).toEqual(['/opt/pg/bin']);
  });

  it("prefers the cluster's own version, then pg_config, then Debian's newest first, then PATH", () => {
    expect(
      postgresBindirCandidates({
        clusterVersion: '15',
        pgConfigBindir: '/usr/lib/postgresql/17/bin',
        debianVersions: ['9.6', '15', '17', '16'],
        pathDirs: ['/usr/local/bin', '', '/usr/bin'],
      }),
    ).toEqual([
      '/usr/lib/postgresql/15/bin',
      '/usr/lib/postgresql/17/bin',
      '/usr/lib/postgresql/16/bin',
      '/usr/lib/postgresql/9.6/bin',
      '/usr/local/bin',
      '/usr/bin',
    ]);
  });
});
