import { existsSync, readFileSync } from 'node:fs';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { NativeConnectionOptions } from '@temporalio/worker';
import { KMS_ALIASES, portsFromEnv } from './stack/services';
import type { StackEndpoints } from './stack/endpoints';
import { readSecrets, stackPaths } from './stack/state';

/**
 * Cutover's whole runtime configuration, read once from the environment.
 *
 * Every setting comes from an environment variable when it is set (a real Temporal
 * cluster through Temporal's own environment configuration, real AWS through the SDK's
 * default chain); otherwise from the local stack (`cutover stack up`), which is the
 * default. `CUTOVER_LOCAL_STACK=0` turns that fallback off.
 */
export interface CutoverConfig {
  temporal: {
    connection: NativeConnectionOptions;
    namespace: string;
    /** Base URL of the Web UI, for links. */
    uiUrl: string;
    taskQueue: string;
  };
  databases: { sourceUrl?: string; targetUrl?: string; controlUrl?: string };
  s3: {
    endpoint?: string;
    region: string;
    bucket: string;
    forcePathStyle: boolean;
    credentials?: { accessKeyId: string; secretAccessKey: string };
    /** SSE-KMS key id for staged objects (MinIO names its own key; on AWS, a KMS key). */
    sseKmsKeyId?: string;
  };
  kms: {
    endpoint?: string;
    region: string;
    credentials?: { accessKeyId: string; secretAccessKey: string };
    aliases: { staging: string; vault: string; codec: string };
  };
  /** Where each part came from, for `doctor` and error messages. */
  origin: { temporal: Origin; databases: Origin; s3: Origin; kms: Origin };
}

export type Origin = 'environment' | 'local stack' | 'default';

/**
 * The process's environment: this file is the one place that reads it (lint-free rule, see
 * test/unit/layers.test.ts); everything else takes an `env` from here or its caller.
 */
export function processEnv(): NodeJS.ProcessEnv {
  return process.env;
}

/** Sets a variable for this process and the children it starts (the Moodle demo points the plan's URLs at its databases). */
export function setProcessEnv(name: string, value: string): void {
  process.env[name] = value;
}

/** CUTOVER_OPERATOR: who an operator's command is recorded as (the audit's actor), when not the login name. */
export function operatorFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.CUTOVER_OPERATOR || undefined;
}

/** CUTOVER_DEBUG=1: the CLI prints a failing command's whole error (stack included), not only its message. */
export function debugErrors(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.CUTOVER_DEBUG === '1';
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Reads the local stack's endpoints file, when `stack up` has written one. */
export function readLocalStack(env: NodeJS.ProcessEnv = process.env): StackEndpoints | undefined {
  if (env.CUTOVER_LOCAL_STACK === '0') return undefined;
  const file = stackPaths(env).endpointsFile;
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, 'utf8')) as StackEndpoints;
}

/** `local`: the stack's endpoints; omitted, read from the state dir; `null`, no local stack. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, stack?: StackEndpoints | null): CutoverConfig {
  const local = stack === undefined ? readLocalStack(env) : (stack ?? undefined);
  const region = env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? local?.s3.region ?? 'us-east-1';

  // Temporal: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*,
  // TEMPORAL_PROFILE and TEMPORAL_CONFIG_FILE, exactly as the temporal CLI reads them.
  let temporalProfile;
  try {
    temporalProfile = loadClientConnectConfig({ overrideEnvVars: env as Record<string, string> });
  } catch (err) {
    throw new ConfigError(`Temporal environment configuration: ${(err as Error).message}`);
  }
  const temporalFromEnv = Boolean(temporalProfile.connectionOptions.address);
  const connection: NativeConnectionOptions = {
    ...temporalProfile.connectionOptions,
    address: temporalProfile.connectionOptions.address ?? local?.temporal.address ?? 'localhost:7233',
  };
  const namespace = temporalProfile.namespace ?? local?.temporal.namespace ?? 'default';

  const fromEnvOrLocal = (name: string, localValue: string | undefined) => env[name] || localValue;
  const s3Endpoint = env.CUTOVER_S3_ENDPOINT || env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || local?.s3.endpoint;
  const s3FromLocal = Boolean(local) && s3Endpoint === local?.s3.endpoint;
  const kmsEndpoint = env.CUTOVER_KMS_ENDPOINT || env.AWS_ENDPOINT_URL_KMS || env.AWS_ENDPOINT_URL || local?.kms.endpoint;
  const kmsFromLocal = Boolean(local) && kmsEndpoint === local?.kms.endpoint;

  const databases = {
    sourceUrl: fromEnvOrLocal('CUTOVER_SOURCE_URL', local?.postgres.sourceUrl),
    targetUrl: fromEnvOrLocal('CUTOVER_TARGET_URL', local?.postgres.targetUrl),
    controlUrl: fromEnvOrLocal('CUTOVER_CONTROL_URL', local?.postgres.controlUrl),
  };

  return {
    temporal: {
      connection,
      namespace,
      uiUrl: (env.CUTOVER_TEMPORAL_UI_URL || local?.temporal.uiUrl || 'http://localhost:8233').replace(/\/$/, ''),
      taskQueue: env.CUTOVER_TASK_QUEUE || 'cutover',
    },
    databases,
    s3: {
      endpoint: s3Endpoint,
      region,
      bucket: fromEnvOrLocal('CUTOVER_STAGING_BUCKET', local?.s3.bucket) ?? 'cutover-staging',
      forcePathStyle: env.CUTOVER_S3_FORCE_PATH_STYLE ? env.CUTOVER_S3_FORCE_PATH_STYLE === '1' : s3FromLocal,
      // Local MinIO's root credentials; anywhere else the SDK's default chain decides.
      credentials: s3FromLocal && local ? { accessKeyId: local.s3.accessKeyId, secretAccessKey: local.s3.secretAccessKey } : undefined,
      sseKmsKeyId: env.CUTOVER_SSE_KMS_KEY_ID || (s3FromLocal ? local?.s3.sseKmsKeyId : undefined),
    },
    kms: {
      endpoint: kmsEndpoint,
      region: local && kmsFromLocal ? local.kms.region : region,
      // local-kms accepts any credentials; give it some so no real ones are looked up.
      credentials: kmsFromLocal ? { accessKeyId: 'local', secretAccessKey: 'local' } : undefined,
      aliases: {
        staging: env.CUTOVER_KMS_ALIAS_STAGING || KMS_ALIASES.staging,
        vault: env.CUTOVER_KMS_ALIAS_VAULT || KMS_ALIASES.vault,
        codec: env.CUTOVER_KMS_ALIAS_CODEC || KMS_ALIASES.codec,
      },
    },
    origin: {
      temporal: temporalFromEnv ? 'environment' : local ? 'local stack' : 'default',
      databases: env.CUTOVER_SOURCE_URL || env.CUTOVER_TARGET_URL || env.CUTOVER_CONTROL_URL ? 'environment' : local ? 'local stack' : 'default',
      s3: s3FromLocal ? 'local stack' : s3Endpoint || env.AWS_REGION ? 'environment' : 'default',
      kms: kmsFromLocal ? 'local stack' : kmsEndpoint || env.AWS_REGION ? 'environment' : 'default',
    },
  };
}

/** The Web UI page of one workflow. */
export function workflowUrl(config: CutoverConfig, workflowId: string): string {
  return `${config.temporal.uiUrl}/namespaces/${encodeURIComponent(config.temporal.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}

// Settings read when they are used, not by loadConfig: the variable may be set after the
// configuration was loaded (a test, `demo moodle`, a rehearsal sandbox), and each is read where
// its value is needed, so a bad one fails the step that needs it and nothing else. They are
// here so that this file stays the one place that reads the environment.

/** Cutover's own database variables, by role. */
export const DATABASE_VARIABLES = { source: 'CUTOVER_SOURCE_URL', target: 'CUTOVER_TARGET_URL', control: 'CUTOVER_CONTROL_URL' } as const;

/** The configured database URLs (the environment's, else the local stack's) by Cutover's variable, for `planConnectionUrl`'s fallback. */
export function configuredUrls(config: Pick<CutoverConfig, 'databases'>, ...roles: (keyof typeof DATABASE_VARIABLES)[]): Record<string, string | undefined> {
  return Object.fromEntries(roles.map((role) => [DATABASE_VARIABLES[role], config.databases[`${role}Url`]]));
}

/**
 * The connection string a plan's `url_env` (or a sandbox's variable) names, as the worker resolves
 * it: the variable when it is set and not empty, else `fallback[name]` (see `configuredUrls`: a
 * plan naming CUTOVER_TARGET_URL gets the configured target, the local stack's when unset).
 * @default undefined when neither is there
 */
export function planConnectionUrl(name: string, fallback: Record<string, string | undefined> = {}, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env[name] || fallback[name];
}

/** Log levels of Temporal's runtime logger. */
export const LOG_LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'] as const;

/**
 * CUTOVER_LOG_LEVEL: the log level of Temporal's runtime in this process, one of LOG_LEVELS.
 * @default undefined (the caller's default: INFO for a worker, WARN for the demos)
 */
export function logLevel(env: NodeJS.ProcessEnv = process.env): (typeof LOG_LEVELS)[number] | undefined {
  const raw = env.CUTOVER_LOG_LEVEL;
  if (!raw) return undefined;
  if (!(LOG_LEVELS as readonly string[]).includes(raw)) throw new ConfigError(`CUTOVER_LOG_LEVEL: expected one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(raw)}`);
  return raw as (typeof LOG_LEVELS)[number];
}

/**
 * CUTOVER_LOG_FORMAT: `json` (one redacted JSON object per line, src/clients/log.ts) or `text`
 * (Temporal's default logger, for a terminal).
 * @default json
 */
export function logFormat(env: NodeJS.ProcessEnv = process.env): 'json' | 'text' {
  const raw = env.CUTOVER_LOG_FORMAT || 'json';
  if (raw !== 'json' && raw !== 'text') throw new ConfigError(`CUTOVER_LOG_FORMAT: expected json or text, got ${JSON.stringify(raw)}`);
  return raw;
}

/**
 * CUTOVER_METRICS_ADDRESS: where a worker serves Prometheus metrics, `host:port`, or `off`.
 * @default undefined (the worker takes 127.0.0.1:9464 when that port is free)
 */
export function metricsAddress(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const wanted = env.CUTOVER_METRICS_ADDRESS;
  if (!wanted || wanted === 'off') return wanted || undefined;
  if (!/^[^\s:]+:\d+$/.test(wanted)) throw new Error(`CUTOVER_METRICS_ADDRESS: expected host:port or off, got ${JSON.stringify(wanted)}`);
  return wanted;
}

/**
 * How many activities one worker runs at once: CUTOVER_MAX_CONCURRENT_ACTIVITIES, 1 to 1000.
 * Each batch activity holds a batch in memory and a database connection per side, so this
 * bounds a worker's memory and connections whatever a plan's parallelism; lanes beyond it wait
 * in the task queue for any worker (see the README's scale-out notes).
 * @default 16
 */
export function maxConcurrentActivities(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.CUTOVER_MAX_CONCURRENT_ACTIVITIES;
  if (raw === undefined || raw === '') return 16;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 1000) throw new Error(`CUTOVER_MAX_CONCURRENT_ACTIVITIES: expected a whole number from 1 to 1000, got ${JSON.stringify(raw)}`);
  return n;
}

/**
 * CUTOVER_WORKFLOW_BUNDLE: the path of a workflow bundle prebuilt with bundleWorkflowCode (same
 * workflowsPath and failureConverterPath), so a worker starts without webpack.
 * @default undefined (the worker bundles src/workflows at start)
 */
export function workflowBundlePath(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.CUTOVER_WORKFLOW_BUNDLE || undefined;
}

/**
 * CUTOVER_SYNC_SLOT_WAIT_SECONDS: how long one attempt of startCapture waits for its replication
 * slot before it fails saying what it waits for (the next attempt waits again). A value that is
 * not a positive number is ignored (the default), as it always was: an activity must not fail on it.
 * @default 30
 */
export function syncSlotWaitSeconds(env: NodeJS.ProcessEnv = process.env): number {
  const s = Number(env.CUTOVER_SYNC_SLOT_WAIT_SECONDS);
  return Number.isFinite(s) && s > 0 ? s : 30;
}

/**
 * The codec server's token: CUTOVER_CODEC_TOKEN, else the one `cutover stack up` generated for this machine.
 * @default the local stack's (secrets.json); no default without a stack
 */
export function codecServerToken(env: NodeJS.ProcessEnv = process.env): string {
  const token = env.CUTOVER_CODEC_TOKEN || readSecrets(stackPaths(env))?.codecToken;
  if (!token) throw new ConfigError('no codec token: run `cutover stack up` (it generates one) or set CUTOVER_CODEC_TOKEN');
  return token;
}

/**
 * The codec server's port: CUTOVER_CODEC_PORT (see the stack's ports).
 * @default the stack's codec port
 */
export function codecServerPort(env: NodeJS.ProcessEnv = process.env): number {
  return portsFromEnv(env).codec;
}

/**
 * CUTOVER_CODEC_ALLOWED_ORIGINS: the Web UI origins the codec server answers, comma-separated.
 * @default undefined (the configured Web UI's origin)
 */
export function codecAllowedOrigins(env: NodeJS.ProcessEnv = process.env): string[] | undefined {
  const raw = env.CUTOVER_CODEC_ALLOWED_ORIGINS;
  return raw ? raw.split(',').map((o) => o.trim()).filter(Boolean) : undefined;
}

/**
 * The demo seed's connections: CUTOVER_SOURCE_ADMIN_URL (a role that may create tables) and
 * CUTOVER_TARGET_URL.
 * @default the local stack's source owner and target
 */
export function demoSeedUrls(local: StackEndpoints | undefined, env: NodeJS.ProcessEnv = process.env): { sourceUrl?: string; targetUrl?: string } {
  return { sourceUrl: env.CUTOVER_SOURCE_ADMIN_URL || local?.postgres.sourceOwnerUrl, targetUrl: env.CUTOVER_TARGET_URL || local?.postgres.targetUrl };
}
