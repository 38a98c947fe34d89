import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';

/** The project's root: above src/, or above dist/ when the CLI runs its build of src/ (dist/<fingerprint>/src/, scripts/build.js). */
export const PROJECT_ROOT = projectRoot(resolve(__dirname, '..'));

function projectRoot(src: string): string {
  const above = dirname(src);
  return /^[0-9a-f]{16}$/.test(basename(above)) && basename(dirname(above)) === 'dist' ? dirname(dirname(above)) : above;
}

/** Where the local stack keeps pids, logs, data and generated credentials. Never in git. */
export function stateDir(env: NodeJS.ProcessEnv): string {
  return resolve(env.CUTOVER_STATE_DIR ?? join(PROJECT_ROOT, '.cutover'));
}

/** User-level cache for built binaries, shared by every clone (and by CI on this machine). */
export function cacheDir(env: NodeJS.ProcessEnv): string {
  if (env.CUTOVER_CACHE_DIR) return resolve(env.CUTOVER_CACHE_DIR);
  const base = env.XDG_CACHE_HOME ?? join(homedir(), '.cache');
  return join(base, 'cutover');
}

/**
 * User-level state shared by every clone on the machine: the stack's generated credentials
 * and KMS key material. The stack's databases live in the machine's PostgreSQL and outlive
 * any clone, and what they hold (wrapped data keys, the vault) must stay decryptable by the
 * next clone's stack, so the key material belongs to the machine too.
 */
export function userStateDir(env: NodeJS.ProcessEnv): string {
  const base = env.XDG_STATE_HOME ?? join(homedir(), '.local', 'state');
  return join(base, 'cutover');
}

export interface StackPaths {
  root: string;
  pids: string;
  logs: string;
  data: string;
  secretsFile: string;
  endpointsFile: string;
  kmsSeedFile: string;
}

export function stackPaths(env: NodeJS.ProcessEnv): StackPaths {
  const root = stateDir(env);
  return {
    root,
    pids: join(root, 'pids'),
    logs: join(root, 'logs'),
    data: join(root, 'data'),
    secretsFile: resolve(env.CUTOVER_SECRETS_FILE ?? join(userStateDir(env), 'secrets.json')),
    endpointsFile: join(root, 'endpoints.json'),
    kmsSeedFile: join(root, 'kms-seed.yaml'),
  };
}

/** Credentials the local stack generates once and keeps (mode 0600) in its state dir. */
export interface StackSecrets {
  minioRootUser: string;
  minioRootPassword: string;
  /** Base64 of 32 random bytes: MinIO's static SSE key. */
  minioSseKey: string;
  readerPassword: string;
  appPassword: string;
  /** KMS key ids and their hex backing keys, by alias. */
  kmsKeys: Record<string, { keyId: string; backingKeyHex: string }>;
  /** Hex of 32 random bytes: what a Web UI viewer presents to the codec server. */
  codecToken: string;
  /** The PostgreSQL-backed Temporal server's database role's password (CUTOVER_TEMPORAL_SERVER=postgres). */
  temporalDbPassword: string;
}

export function ensureDirs(paths: StackPaths): void {
  for (const dir of [paths.root, paths.pids, paths.logs, paths.data, dirname(paths.secretsFile)]) mkdirSync(dir, { recursive: true, mode: 0o700 });
}

/** Writes a file atomically (temp + rename) with the given mode. */
export function writeFileAtomic(file: string, content: string, mode = 0o600): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, content, { mode });
  renameSync(tmp, file);
}

/** The stack's generated secrets, if `stack up` has created them; never creates any. */
export function readSecrets(paths: StackPaths): Partial<StackSecrets> | undefined {
  if (!existsSync(paths.secretsFile)) return undefined;
  return JSON.parse(readFileSync(paths.secretsFile, 'utf8')) as Partial<StackSecrets>;
}

export function loadOrCreateSecrets(paths: StackPaths, aliases: readonly string[]): StackSecrets {
  let secrets: StackSecrets | undefined;
  if (existsSync(paths.secretsFile)) secrets = JSON.parse(readFileSync(paths.secretsFile, 'utf8')) as StackSecrets;
  const token = (n: number) => randomBytes(n).toString('hex');
  const fresh: StackSecrets = secrets ?? {
    minioRootUser: 'cutover',
    minioRootPassword: token(16),
    minioSseKey: randomBytes(32).toString('base64'),
    readerPassword: token(16),
    appPassword: token(16),
    kmsKeys: {},
    codecToken: token(32),
    temporalDbPassword: token(16),
  };
  let changed = secrets === undefined;
  if (!fresh.codecToken) {
    fresh.codecToken = token(32); // a secrets file from before the codec server
    changed = true;
  }
  if (!fresh.temporalDbPassword) {
    fresh.temporalDbPassword = token(16); // or from before the PostgreSQL-backed Temporal
    changed = true;
  }
  for (const alias of aliases) {
    if (!fresh.kmsKeys[alias]) {
      fresh.kmsKeys[alias] = { keyId: randomUUID(), backingKeyHex: token(32) };
      changed = true;
    }
  }
  if (changed) writeFileAtomic(paths.secretsFile, JSON.stringify(fresh, null, 2));
  return fresh;
}
