import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveBinary } from '../../src/stack/binaries';
import { COMPOSE_SERVICE_NAMES, DEFAULT_PORTS, LOGICAL_POSTGRES_SETTINGS, SEARCH_ATTRIBUTES, SERVICE_KINDS, SERVICE_NAMES, servicePorts, TOOLS } from '../../src/stack/services';
import { ROOT } from './helpers';

// `docker compose config` parses and interpolates the file without an engine. Where the
// Docker client has no compose plugin, the pinned plugin is built (once) and used.
const SECRETS = { MINIO_ROOT_PASSWORD: 'compose-config-check', MINIO_KMS_SECRET_KEY: 'cutover-sse:AAAA' };

async function composeConfig(secrets: Record<string, string>): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, ...secrets };
  if (!secrets.MINIO_ROOT_PASSWORD) delete env.MINIO_ROOT_PASSWORD;
  let tempConfig: string | undefined;
  try {
    const native = spawnSync('docker', ['compose', 'version'], { encoding: 'utf8' });
    if (native.status !== 0) {
      const plugin = await resolveBinary(TOOLS.compose, process.env, (line) => console.log(line));
      tempConfig = mkdtempSync(join(tmpdir(), 'cutover-docker-'));
      mkdirSync(join(tempConfig, 'cli-plugins'));
      symlinkSync(plugin.path, join(tempConfig, 'cli-plugins', 'docker-compose'));
      env.DOCKER_CONFIG = tempConfig;
    }
    const hasDocker = spawnSync('docker', ['--version']).status === 0;
    const [cmd, args] = hasDocker ? ['docker', ['compose', 'config', '--format', 'json']] : [join(env.DOCKER_CONFIG!, 'cli-plugins', 'docker-compose'), ['config', '--format', 'json']];
    const r = spawnSync(cmd as string, args as string[], { cwd: ROOT, env, encoding: 'utf8' });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  } finally {
    if (tempConfig) rmSync(tempConfig, { recursive: true, force: true });
  }
}

describe('docker-compose.yml', () => {
  let config: { services: Record<string, { ports?: { published: string; target: number; host_ip?: string }[]; command?: string[]; environment?: Record<string, string> }> };

  beforeAll(async () => {
    const r = await composeConfig(SECRETS);
    if (r.status !== 0) throw new Error(`docker compose config failed: ${r.stderr}`);
    config = JSON.parse(r.stdout);
  }, 30 * 60_000); // a fresh machine builds the plugin first

  it('offers the same services as the stack command, except those it runs from this checkout with Node', () => {
    expect(Object.keys(config.services).sort()).toEqual([...COMPOSE_SERVICE_NAMES].sort());
    // The codec server is this repository's code (`cutover codec-server`): `stack up` runs it
    // next to the composed services, once they are up.
    expect(SERVICE_NAMES.filter((s) => !COMPOSE_SERVICE_NAMES.includes(s))).toEqual(['codec']);
    expect(SERVICE_KINDS.codec).toBe('node');
  });

  it('publishes each service on the same loopback ports as the stack command', () => {
    const expected = servicePorts(DEFAULT_PORTS);
    for (const name of COMPOSE_SERVICE_NAMES) {
      const ports = config.services[name]!.ports ?? [];
      expect({ name, ports: ports.map((p) => Number(p.published)).sort() }).toEqual({ name, ports: [...expected[name]].sort() });
      for (const p of ports) expect(p.host_ip).toBe('127.0.0.1');
    }
    expect(config.services.kms!.environment!.PORT).toBe(String(DEFAULT_PORTS.kms));
  });

  it('runs its second PostgreSQL with the settings logical replication needs, as the stack does', () => {
    const command = config.services['postgres-logical']!.command!;
    expect(command[0]).toBe('postgres');
    for (const [name, value] of Object.entries(LOGICAL_POSTGRES_SETTINGS)) expect(command.join(' ')).toContain(`-c ${name}=${value}`);
  });

  it('registers the same search attributes on the dev server', () => {
    const command = config.services.temporal!.command!;
    for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) expect(command).toContain(`--search-attribute=${name}=${type}`);
  });

  it('refuses to render without the MinIO secrets instead of using a default one', async () => {
    const r = await composeConfig({ MINIO_KMS_SECRET_KEY: SECRETS.MINIO_KMS_SECRET_KEY });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('set MINIO_ROOT_PASSWORD');
  });
});
