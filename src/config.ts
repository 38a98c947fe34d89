import { existsSync, readFileSync } from 'node:fs';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { NativeConnectionOptions } from '@temporalio/worker';
import { KMS_ALIASES } from './stack/services';
import type { StackEndpoints } from './stack/endpoints';
import { stackPaths } from './stack/state';

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
