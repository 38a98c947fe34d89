import { parse } from 'yaml';
import { stillExiting } from '../../src/stack/process';
import { BINARIES, DEFAULT_PORTS, servicePorts, TEMPORAL_SERVER_VERSION } from '../../src/stack/services';
import {
  allTemporalServerPorts,
  DB_PASSWORD_ENV,
  dynamicConfigYaml,
  sqlToolSteps,
  temporalDatabases,
  temporalServerConfigYaml,
  temporalServerKindFromEnv,
  temporalServerPorts,
  temporalUiConfigYaml,
} from '../../src/stack/temporal-server';

/** What Temporal's loader does to a file that says `enable-template`, for the one template this config uses. */
function render(template: string, env: Record<string, string>): string {
  return template.replace(/\{\{ env "([A-Z_]+)" \| quote \}\}/g, (_, name: string) => JSON.stringify(env[name] ?? ''));
}

describe('choosing the Temporal the stack runs', () => {
  it('is the dev server unless CUTOVER_TEMPORAL_SERVER says postgres', () => {
    expect(temporalServerKindFromEnv({})).toBeUndefined();
    expect(temporalServerKindFromEnv({ CUTOVER_TEMPORAL_SERVER: '' })).toBeUndefined();
    expect(temporalServerKindFromEnv({ CUTOVER_TEMPORAL_SERVER: 'dev' })).toBe('dev');
    expect(temporalServerKindFromEnv({ CUTOVER_TEMPORAL_SERVER: 'postgres' })).toBe('postgres');
  });

  it.each(['sqlite', 'Postgres', 'cassandra'])('refuses %j, naming the variable and the choices', (raw) => {
    expect(() => temporalServerKindFromEnv({ CUTOVER_TEMPORAL_SERVER: raw })).toThrow(`CUTOVER_TEMPORAL_SERVER: expected dev or postgres, got ${JSON.stringify(raw)}`);
  });
});

describe('the PostgreSQL-backed server binaries', () => {
  it('are the server, SQL tool and UI server releases the pinned Temporal CLI requires', () => {
    expect(BINARIES.temporal.goModuleVersion).toBe('v1.5.1');
    expect(TEMPORAL_SERVER_VERSION).toBe('1.29.1');
    expect(BINARIES.temporalServer).toMatchObject({ name: 'temporal-server', goModule: 'go.temporal.io/server', goModuleVersion: 'v1.29.1', goPackage: 'go.temporal.io/server/cmd/server' });
    expect(BINARIES.temporalSqlTool).toMatchObject({ name: 'temporal-sql-tool', goModule: 'go.temporal.io/server', goModuleVersion: 'v1.29.1', goPackage: 'go.temporal.io/server/cmd/tools/sql' });
    expect(BINARIES.temporalUi).toMatchObject({ name: 'temporal-ui-server', goModule: 'github.com/temporalio/ui-server/v2', goModuleVersion: 'v2.42.1', goPackage: 'github.com/temporalio/ui-server/v2/cmd/server' });
    // Each its own cache directory and override.
    const specs = [BINARIES.temporal, BINARIES.temporalServer, BINARIES.temporalSqlTool, BINARIES.temporalUi];
    expect(new Set(specs.map((b) => `${b.name}-${b.version}`)).size).toBe(specs.length);
    expect(new Set(specs.map((b) => b.envOverride)).size).toBe(specs.length);
  });
});

describe('the server ports', () => {
  it('are a block of nine from the stack Temporal port, clear of every other port of the stack', () => {
    const ports = temporalServerPorts(DEFAULT_PORTS.temporal);
    expect(allTemporalServerPorts(ports)).toEqual([7233, 7234, 7235, 7236, 7237, 7238, 7239, 7240, 7241]);
    const others = Object.entries(servicePorts(DEFAULT_PORTS))
      .filter(([service]) => service !== 'temporal')
      .flatMap(([, p]) => p)
      .concat(DEFAULT_PORTS.temporalUi);
    expect(allTemporalServerPorts(ports).filter((p) => others.includes(p))).toEqual([]);
  });

  it('move with CUTOVER_TEMPORAL_PORT, so a second stack does not collide with the first', () => {
    const second = allTemporalServerPorts(temporalServerPorts(7533));
    expect(second).toEqual([7533, 7534, 7535, 7536, 7537, 7538, 7539, 7540, 7541]);
    expect(second.filter((p) => allTemporalServerPorts(temporalServerPorts(7233)).includes(p))).toEqual([]);
  });

  it('refuse a frontend port whose block would pass 65535', () => {
    expect(() => temporalServerPorts(65530)).toThrow(/CUTOVER_TEMPORAL_PORT: the PostgreSQL-backed server needs 65530-65538/);
  });
});

describe('the server configuration', () => {
  const names = temporalDatabases('cutover');
  const yaml = temporalServerConfigYaml({
    host: '127.0.0.1',
    ports: temporalServerPorts(7533),
    database: { address: '127.0.0.1:5432', user: names.role, names },
    dynamicConfigFile: '/state/temporal-server/config/dynamic.yaml',
  });

  it('names the stack databases and a role of its own', () => {
    expect(names).toEqual({ role: 'cutover_temporal', main: 'cutover_temporal', visibility: 'cutover_temporal_visibility' });
    expect(temporalDatabases('it_tpg_1a2b')).toEqual({ role: 'it_tpg_1a2b_temporal', main: 'it_tpg_1a2b_temporal', visibility: 'it_tpg_1a2b_temporal_visibility' });
  });

  it('is a template Temporal renders, with the password taken from the environment, never written', () => {
    expect(yaml.slice(0, 1024)).toContain('enable-template');
    expect(yaml).toContain(`{{ env "${DB_PASSWORD_ENV}" | quote }}`);
    const config = parse(render(yaml, { [DB_PASSWORD_ENV]: 's3cret' }));
    expect(config.persistence.datastores['postgres-default'].sql.password).toBe('s3cret');
    expect(config.persistence.datastores['postgres-visibility'].sql.password).toBe('s3cret');
  });

  it('keeps history and visibility in PostgreSQL (postgres12), each in its database', () => {
    const config = parse(render(yaml, {}));
    expect(config.persistence).toMatchObject({ defaultStore: 'postgres-default', visibilityStore: 'postgres-visibility', numHistoryShards: 4 });
    expect(config.persistence.datastores['postgres-default'].sql).toMatchObject({ pluginName: 'postgres12', databaseName: 'cutover_temporal', connectAddr: '127.0.0.1:5432', user: 'cutover_temporal' });
    expect(config.persistence.datastores['postgres-visibility'].sql).toMatchObject({ pluginName: 'postgres12', databaseName: 'cutover_temporal_visibility', user: 'cutover_temporal' });
  });

  it('keeps its connections within a share of a 100-connection PostgreSQL: each of its four services has its own pools', () => {
    const { datastores } = parse(render(yaml, {})).persistence;
    const most = 4 * (datastores['postgres-default'].sql.maxConns + datastores['postgres-visibility'].sql.maxConns);
    const idle = 4 * (datastores['postgres-default'].sql.maxIdleConns + datastores['postgres-visibility'].sql.maxIdleConns);
    expect(most).toBeLessThanOrEqual(52);
    expect(idle).toBeLessThanOrEqual(12);
  });

  it('runs the four services on loopback, on the ports of its block, the frontend where clients look for it', () => {
    const config = parse(render(yaml, {}));
    expect(config.services).toEqual({
      frontend: { rpc: { grpcPort: 7533, membershipPort: 7537, bindOnIP: '127.0.0.1', httpPort: 7541 } },
      history: { rpc: { grpcPort: 7534, membershipPort: 7538, bindOnIP: '127.0.0.1' } },
      matching: { rpc: { grpcPort: 7535, membershipPort: 7539, bindOnIP: '127.0.0.1' } },
      worker: { rpc: { grpcPort: 7536, membershipPort: 7540, bindOnIP: '127.0.0.1' } },
    });
    expect(config.global.membership.broadcastAddress).toBe('127.0.0.1');
    expect(config.clusterMetadata.clusterInformation.active.rpcAddress).toBe('127.0.0.1:7533');
    expect(config.dynamicConfigClient.filepath).toBe('/state/temporal-server/config/dynamic.yaml');
    expect(config.global.metrics).toBeUndefined();
  });
});

describe('the dynamic configuration', () => {
  it('takes the key=value settings the dev server takes as --dynamic-config-value', () => {
    expect(parse(dynamicConfigYaml(['limit.historyCount.suggestContinueAsNew=200', 'frontend.enableUpdateWorkflowExecution=true']))).toEqual({
      'limit.historyCount.suggestContinueAsNew': [{ value: 200 }],
      'frontend.enableUpdateWorkflowExecution': [{ value: true }],
    });
    expect(parse(dynamicConfigYaml([]))).toBeNull();
  });

  it.each(['no-equals', '=1', 'bad key=1'])('refuses %j', (setting) => {
    expect(() => dynamicConfigYaml([setting])).toThrow(/^CUTOVER_TEMPORAL_DYNAMIC_CONFIG: /);
  });
});

describe('the Web UI configuration', () => {
  it('serves the UI on the stack UI port against the server frontend', () => {
    expect(parse(temporalUiConfigYaml({ host: '127.0.0.1', port: 8533, temporalGrpcAddress: '127.0.0.1:7533', namespace: 'default' }))).toMatchObject({
      temporalGrpcAddress: '127.0.0.1:7533',
      host: '127.0.0.1',
      port: 8533,
      enableUi: true,
      defaultNamespace: 'default',
    });
  });
});

describe('the schema steps', () => {
  it('set up the version tables (a no-op past 0.0), then apply every embedded version the database lacks, the password left out of the arguments', () => {
    const steps = sqlToolSteps({ host: '127.0.0.1', port: 5432, user: 'cutover_temporal', database: 'cutover_temporal_visibility', schemaName: 'postgresql/v12/visibility' });
    const common = ['--plugin', 'postgres12', '--endpoint', '127.0.0.1', '--port', '5432', '--user', 'cutover_temporal', '--database', 'cutover_temporal_visibility'];
    expect(steps).toEqual([
      [...common, 'setup-schema', '-v', '0.0'],
      [...common, 'update-schema', '--schema-name', 'postgresql/v12/visibility'],
    ]);
    expect(steps.flat().some((a) => /password/i.test(a))).toBe(false);
  });
});

describe('a stopped process lets go of its ports before the stack starts it again', () => {
  it('treats a running process (this one) and a pid that no longer exists as not exiting', () => {
    expect(stillExiting(process.pid)).toBe(false);
    expect(stillExiting(2 ** 22 + 12345)).toBe(false);
  });
});
