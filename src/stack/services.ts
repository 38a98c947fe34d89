/**
 * The local stack's catalogue: which services run, on which ports, from which pinned
 * binaries. Pure data and pure functions; docker-compose.yml must agree with it
 * (test/integration/compose-file.test.ts checks that).
 */

export type ServiceName = 'postgres' | 'postgres-logical' | 'kms' | 'minio' | 'temporal' | 'codec';

/** In the order `up` brings them up: the codec server needs PostgreSQL and KMS for its key. */
export const SERVICE_NAMES: readonly ServiceName[] = ['postgres', 'postgres-logical', 'kms', 'minio', 'temporal', 'codec'];

/**
 * How each service runs: the machine's own server (`external`), a server of the stack's own
 * from the machine's PostgreSQL install (`installed`: initdb and pg_ctl, never a build), a
 * pinned binary, or this repository's code under Node (the codec server: `cutover
 * codec-server`). docker-compose.yml offers all but the last; a Node service needs this
 * checkout, so `stack up` runs it.
 */
export type ServiceKind = 'external' | 'installed' | 'binary' | 'node';

export const SERVICE_KINDS: Record<ServiceName, ServiceKind> = {
  postgres: 'external',
  // A second PostgreSQL for delta sync: logical replication needs wal_level=logical, a
  // restart-only setting, so the machine's server (5432) is left as it is.
  'postgres-logical': 'installed',
  kms: 'binary',
  minio: 'binary',
  temporal: 'binary',
  codec: 'node',
};

/** The services docker-compose.yml offers. */
export const COMPOSE_SERVICE_NAMES: readonly ServiceName[] = SERVICE_NAMES.filter((s) => SERVICE_KINDS[s] !== 'node');

export interface StackPorts {
  /** Temporal frontend (gRPC). @default 7233 */
  temporal: number;
  /** Temporal Web UI (HTTP). @default 8233 */
  temporalUi: number;
  /** PostgreSQL (the machine's own server unless CUTOVER_PG_ADMIN_URL names another). @default 5432 */
  postgres: number;
  /** The stack's own PostgreSQL with wal_level=logical, for delta sync (unless CUTOVER_LOGICAL_PG_URL names another). @default 5433 */
  logicalPostgres: number;
  /** MinIO S3 API. @default 9000 */
  minio: number;
  /** MinIO console. @default 9001 */
  minioConsole: number;
  /** local-kms (AWS KMS JSON API). @default 4599 */
  kms: number;
  /** Codec server for the Web UI (HTTP, token in the path). @default 8234 */
  codec: number;
}

export const DEFAULT_PORTS: StackPorts = {
  temporal: 7233,
  temporalUi: 8233,
  postgres: 5432,
  logicalPostgres: 5433,
  minio: 9000,
  minioConsole: 9001,
  kms: 4599,
  codec: 8234,
};

/** Which ports each service listens on; docker-compose.yml publishes the same ones (for the services it offers). */
export function servicePorts(ports: StackPorts): Record<ServiceName, number[]> {
  return {
    postgres: [ports.postgres],
    'postgres-logical': [ports.logicalPostgres],
    kms: [ports.kms],
    minio: [ports.minio, ports.minioConsole],
    temporal: [ports.temporal, ports.temporalUi],
    codec: [ports.codec],
  };
}

/**
 * What the `postgres-logical` server needs beyond the defaults: logical decoding, and room
 * for many tests' slots and subscriptions at once. docker-compose.yml passes the same.
 */
export const LOGICAL_POSTGRES_SETTINGS = {
  wal_level: 'logical',
  max_replication_slots: '16',
  max_wal_senders: '16',
} as const;

/** KMS key aliases the project uses; the stack seeds them, `doctor` checks them. */
export const KMS_ALIASES = {
  /** Wraps the per-batch data keys of staged objects. */
  staging: 'alias/cutover-staging',
  /** Wraps the token vault's keys. */
  vault: 'alias/cutover-vault',
  /** Wraps the keys of the Temporal payload codec. */
  codec: 'alias/cutover-codec',
} as const;

/** The S3 bucket batches are staged to. */
export const DEFAULT_STAGING_BUCKET = 'cutover-staging';

/** Name of MinIO's own SSE key (MinIO's KMS is separate from local-kms: see platform notes). */
export const DEFAULT_SSE_KEY_ID = 'cutover-sse';

/** Custom search attributes registered on the Temporal namespace. */
export const SEARCH_ATTRIBUTES = {
  CutoverPhase: 'Keyword',
  CutoverStatus: 'Keyword',
  CutoverPlan: 'Keyword',
  CutoverRowsLoaded: 'Int',
  CutoverPercent: 'Double',
} as const;

export type SearchAttributeType = (typeof SEARCH_ATTRIBUTES)[keyof typeof SEARCH_ATTRIBUTES];

/** A binary the stack runs, pinned to a version and buildable from the Go module proxy. */
export interface BinarySpec {
  name: string;
  /** Human version, part of the cache path. */
  version: string;
  /** Go package to build. */
  goPackage: string;
  /** Module and exact version to require (a pseudo-version where tags are not semver). */
  goModule: string;
  goModuleVersion: string;
  ldflags?: string;
  /** Oldest Go toolchain that builds it. */
  minGo: string;
  /** Name of the binary on PATH that may be used instead of building. */
  pathName: string;
  /** Environment variable that names an explicit binary. */
  envOverride: string;
}

/**
 * The Temporal server release the CLI above embeds (github.com/temporalio/cli v1.5.1 requires
 * go.temporal.io/server v1.29.1 and github.com/temporalio/ui-server/v2 v2.42.1), so the dev server
 * and the PostgreSQL-backed server run the same server code.
 */
export const TEMPORAL_SERVER_VERSION = '1.29.1';
export const TEMPORAL_UI_SERVER_VERSION = '2.42.1';

export const BINARIES: Record<'temporal' | 'temporalServer' | 'temporalSqlTool' | 'temporalUi' | 'minio' | 'kms', BinarySpec> = {
  temporal: {
    name: 'temporal',
    version: '1.5.1',
    goPackage: 'github.com/temporalio/cli/cmd/temporal',
    goModule: 'github.com/temporalio/cli',
    goModuleVersion: 'v1.5.1',
    ldflags: '-X github.com/temporalio/cli/temporalcli.Version=1.5.1',
    minGo: '1.25',
    pathName: 'temporal',
    envOverride: 'CUTOVER_TEMPORAL_BIN',
  },
  // Temporal's own server, its SQL schema tool and its Web UI server, for the stack's
  // PostgreSQL-backed Temporal (CUTOVER_TEMPORAL_SERVER=postgres). Each is a package of the
  // module the CLI requires, at the version it requires.
  temporalServer: {
    name: 'temporal-server',
    version: TEMPORAL_SERVER_VERSION,
    goPackage: 'go.temporal.io/server/cmd/server',
    goModule: 'go.temporal.io/server',
    goModuleVersion: `v${TEMPORAL_SERVER_VERSION}`,
    minGo: '1.25',
    pathName: 'temporal-server',
    envOverride: 'CUTOVER_TEMPORAL_SERVER_BIN',
  },
  temporalSqlTool: {
    name: 'temporal-sql-tool',
    version: TEMPORAL_SERVER_VERSION,
    goPackage: 'go.temporal.io/server/cmd/tools/sql',
    goModule: 'go.temporal.io/server',
    goModuleVersion: `v${TEMPORAL_SERVER_VERSION}`,
    minGo: '1.25',
    pathName: 'temporal-sql-tool',
    envOverride: 'CUTOVER_TEMPORAL_SQL_TOOL_BIN',
  },
  temporalUi: {
    name: 'temporal-ui-server',
    version: TEMPORAL_UI_SERVER_VERSION,
    goPackage: 'github.com/temporalio/ui-server/v2/cmd/server',
    goModule: 'github.com/temporalio/ui-server/v2',
    goModuleVersion: `v${TEMPORAL_UI_SERVER_VERSION}`,
    minGo: '1.24',
    pathName: 'temporal-ui-server',
    envOverride: 'CUTOVER_TEMPORAL_UI_BIN',
  },
  minio: {
    // MinIO publishes community builds as source only; this is the newest commit the
    // module proxy serves (its RELEASE.* tags are not semver, so they cannot be named).
    name: 'minio',
    version: '2026-02-12-7aac2a2c5b7c',
    goPackage: 'github.com/minio/minio',
    goModule: 'github.com/minio/minio',
    goModuleVersion: 'v0.0.0-20260212201848-7aac2a2c5b7c',
    minGo: '1.24',
    pathName: 'minio',
    envOverride: 'CUTOVER_MINIO_BIN',
  },
  kms: {
    // local-kms tags are "3.11.7" without the "v", so only a pseudo-version resolves,
    // and the proxy refuses its version list, which `go install` needs: we build it
    // from a throwaway module that requires the pinned commit instead.
    name: 'local-kms',
    version: '3.11.7',
    goPackage: 'github.com/nsmithuk/local-kms',
    goModule: 'github.com/nsmithuk/local-kms',
    goModuleVersion: 'v0.0.0-20231025161602-e4d9425700fe',
    minGo: '1.20',
    pathName: 'local-kms',
    envOverride: 'CUTOVER_KMS_BIN',
  },
};

/** Reads a port override such as CUTOVER_MINIO_PORT; rejects anything that is not a port. */
export function portsFromEnv(env: Record<string, string | undefined>): StackPorts {
  const read = (name: string, fallback: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < 1 || value > 65535) {
      throw new Error(`${name}: expected a port number 1-65535, got ${JSON.stringify(raw)}`);
    }
    return value;
  };
  return {
    temporal: read('CUTOVER_TEMPORAL_PORT', DEFAULT_PORTS.temporal),
    temporalUi: read('CUTOVER_TEMPORAL_UI_PORT', DEFAULT_PORTS.temporalUi),
    postgres: read('CUTOVER_PG_PORT', DEFAULT_PORTS.postgres),
    logicalPostgres: read('CUTOVER_LOGICAL_PG_PORT', DEFAULT_PORTS.logicalPostgres),
    minio: read('CUTOVER_MINIO_PORT', DEFAULT_PORTS.minio),
    minioConsole: read('CUTOVER_MINIO_CONSOLE_PORT', DEFAULT_PORTS.minioConsole),
    kms: read('CUTOVER_KMS_PORT', DEFAULT_PORTS.kms),
    codec: read('CUTOVER_CODEC_PORT', DEFAULT_PORTS.codec),
  };
}

/** Compares "1.26.8" with "1.25": true when `have` is at least `need`. */
export function goVersionAtLeast(have: string, need: string): boolean {
  const parse = (v: string) => v.replace(/^go/, '').split('.').map((p) => parseInt(p, 10) || 0);
  const a = parse(have);
  const b = parse(need);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x > y;
  }
  return true;
}

/**
 * Tools the project uses besides the stack. The Docker client here may lack its compose
 * plugin; the compose-file test builds this one to run `docker compose config`.
 */
export const TOOLS: Record<'compose', BinarySpec> = {
  compose: {
    name: 'docker-compose',
    version: '2.40.3',
    goPackage: 'github.com/docker/compose/v2/cmd',
    goModule: 'github.com/docker/compose/v2',
    goModuleVersion: 'v2.40.3',
    ldflags: '-X github.com/docker/compose/v2/internal.Version=v2.40.3',
    minGo: '1.24.9',
    pathName: 'docker-compose',
    envOverride: 'CUTOVER_COMPOSE_BIN',
  },
};
