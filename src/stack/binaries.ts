import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, createWriteStream, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { BinarySpec, goVersionAtLeast } from './services';
import { cacheDir } from './state';

export class BinaryUnavailableError extends Error {
  constructor(
    readonly binary: string,
    readonly hint: string,
  ) {
    super(`${binary}: ${hint}`);
    this.name = 'BinaryUnavailableError';
  }
}

export interface ResolvedBinary {
  path: string;
  source: 'env' | 'cache' | 'path' | 'built';
}

export function cachedBinaryPath(spec: BinarySpec, env: NodeJS.ProcessEnv): string {
  return join(cacheDir(env), 'bin', `${spec.name}-${spec.version}`, spec.name);
}

/** True when the file exists and this process may run it. */
export function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir && isExecutable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/** The Go toolchain's version ("1.26.8"), or undefined when there is none. */
export function goVersion(env: NodeJS.ProcessEnv): string | undefined {
  const result = spawnSync('go', ['env', 'GOVERSION'], { env, encoding: 'utf8' });
  if (result.status !== 0) return undefined;
  return result.stdout.trim().replace(/^go/, '');
}

function dockerEngineAvailable(): boolean {
  return spawnSync('docker', ['info'], { stdio: 'ignore', timeout: 5000 }).status === 0;
}

/**
 * Finds a binary without building: an explicit override, the pinned build in the user
 * cache, or the same name on PATH, in that order.
 */
export function findBinary(spec: BinarySpec, env: NodeJS.ProcessEnv): ResolvedBinary | undefined {
  const override = env[spec.envOverride];
  if (override) {
    if (!isExecutable(override)) throw new BinaryUnavailableError(spec.name, `${spec.envOverride}=${override} is not an executable file`);
    return { path: override, source: 'env' };
  }
  const cached = cachedBinaryPath(spec, env);
  if (isExecutable(cached)) return { path: cached, source: 'cache' };
  const found = onPath(spec.pathName, env);
  if (found) return { path: found, source: 'path' };
  return undefined;
}

/**
 * Builds the pinned version from the Go module proxy into the user cache. A throwaway
 * module requires the exact version, so no `go install` version-list lookup is needed
 * (the proxy refuses it for some modules).
 */
export async function buildBinary(spec: BinarySpec, env: NodeJS.ProcessEnv, log: (line: string) => void = () => {}): Promise<string> {
  const have = goVersion(env);
  if (!have) {
    const docker = dockerEngineAvailable();
    throw new BinaryUnavailableError(
      spec.name,
      docker
        ? `not found, and no Go toolchain to build it: run \`docker compose up -d\` instead, or install Go >= ${spec.minGo}, or set ${spec.envOverride}`
        : `not found, and neither a Go toolchain nor a Docker engine is present: install Go >= ${spec.minGo} (the stack builds ${spec.name} ${spec.version} from source), or put ${spec.pathName} on PATH, or set ${spec.envOverride}`,
    );
  }
  if (!goVersionAtLeast(have, spec.minGo)) {
    log(`go ${have} is older than ${spec.minGo}; relying on GOTOOLCHAIN to fetch a newer one`);
  }
  const target = cachedBinaryPath(spec, env);
  const root = cacheDir(env);
  mkdirSync(join(root, 'logs'), { recursive: true });
  mkdirSync(join(root, 'tmp'), { recursive: true });
  const work = mkdtempSync(join(root, 'tmp', `${spec.name}-`));
  const logFile = join(root, 'logs', `build-${spec.name}-${spec.version}.log`);
  const out = createWriteStream(logFile, { flags: 'w' });
  try {
    writeFileSync(
      join(work, 'go.mod'),
      `module cutover.local/build/${spec.name.replace(/[^a-z0-9]/g, '')}\n\ngo ${spec.minGo}\n\nrequire ${spec.goModule} ${spec.goModuleVersion}\n`,
    );
    writeFileSync(join(work, 'tools.go'), `//go:build tools\n\npackage tools\n\nimport _ "${spec.goPackage}"\n`);
    const goEnv = { ...env, GOFLAGS: '-mod=mod', CGO_ENABLED: '0' };
    log(`building ${spec.name} ${spec.version} with go ${have} (a few minutes the first time; log: ${logFile})`);
    await run('go', ['mod', 'tidy'], work, goEnv, out);
    const tmpBinary = join(work, spec.name);
    const args = ['build', '-trimpath', '-o', tmpBinary];
    if (spec.ldflags) args.push('-ldflags', spec.ldflags);
    args.push(spec.goPackage);
    await run('go', args, work, goEnv, out);
    mkdirSync(join(target, '..'), { recursive: true });
    renameSync(tmpBinary, target);
    return target;
  } catch (err) {
    throw new BinaryUnavailableError(spec.name, `build of ${spec.goModule}@${spec.goModuleVersion} failed (${(err as Error).message}); see ${logFile}`);
  } finally {
    out.end();
    rmSync(work, { recursive: true, force: true });
  }
}

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, out: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.pipe(out, { end: false });
    child.stderr.pipe(out, { end: false });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolvePromise() : reject(new Error(`${cmd} ${args[0]} exited ${code}`))));
  });
}

export async function resolveBinary(spec: BinarySpec, env: NodeJS.ProcessEnv, log?: (line: string) => void): Promise<ResolvedBinary> {
  const found = findBinary(spec, env);
  if (found) return found;
  return { path: await buildBinary(spec, env, log), source: 'built' };
}
