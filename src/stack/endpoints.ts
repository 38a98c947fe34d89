import { DEFAULT_SSE_KEY_ID, DEFAULT_STAGING_BUCKET, KMS_ALIASES, StackPorts } from './services';

/** Everything a client needs to reach the local stack; `cutover stack status --json` prints it. */
export interface StackEndpoints {
  temporal: { address: string; namespace: string; uiUrl: string };
  postgres: {
    /** Admin connection used to provision databases and roles. */
    adminUrl: string;
    /** Source through the read-only role: what migrations use. */
    sourceUrl: string;
    /** Source through its owner: for seeding demo data only. */
    sourceOwnerUrl: string;
    targetUrl: string;
    controlUrl: string;
  };
  /**
   * The stack's own PostgreSQL with wal_level=logical (service `postgres-logical`), for delta
   * sync: a test creates its own databases, publications and slots there. Superuser
   * `postgres`, database `postgres`; trust on 127.0.0.1 only.
   */
  logicalPostgres: { adminUrl: string };
  s3: {
    endpoint: string;
    region: string;
    bucket: string;
    accessKeyId: string;
    secretAccessKey: string;
    sseKmsKeyId: string;
    forcePathStyle: boolean;
  };
  kms: { endpoint: string; region: string; aliases: Record<string, string> };
  /**
   * The codec server that decrypts payloads for the Web UI. Without its token: a viewer's
   * endpoint is `<url>/<token>` (`cutover stack codec-url`); the token is in secrets.json.
   */
  codec: { url: string };
}

export interface DatabaseNames {
  source: string;
  target: string;
  control: string;
  reader: string;
  app: string;
}

/** Database and role names for a prefix: `cutover` for the stack, a unique one per test. */
export function databaseNames(prefix: string): DatabaseNames {
  if (!/^[a-z][a-z0-9_]{0,40}$/.test(prefix)) {
    throw new Error(`database prefix: expected lower-case letters, digits and _ (max 41), got ${JSON.stringify(prefix)}`);
  }
  return {
    source: `${prefix}_source`,
    target: `${prefix}_target`,
    control: `${prefix}_control`,
    reader: `${prefix}_reader`,
    app: `${prefix}_app`,
  };
}

/** The same server as `adminUrl`, with another user, password and database. */
export function postgresUrl(adminUrl: string, user: string, password: string | undefined, database: string): string {
  const url = new URL(adminUrl);
  url.username = encodeURIComponent(user);
  url.password = password ? encodeURIComponent(password) : '';
  url.pathname = `/${database}`;
  return url.toString();
}

/** Hides the password of a connection string, for logs and tables. */
export function redactUrl(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return '<unparseable url>';
  }
}

export interface EndpointInputs {
  ports: StackPorts;
  host: string;
  pgAdminUrl: string;
  /** @default postgres://postgres@<host>:<ports.logicalPostgres>/postgres (the stack's own server) */
  logicalPgAdminUrl?: string;
  names: DatabaseNames;
  readerPassword: string;
  appPassword: string;
  minioRootUser: string;
  minioRootPassword: string;
  region: string;
}

export function buildEndpoints(i: EndpointInputs): StackEndpoints {
  const ownerOfSource = new URL(i.pgAdminUrl);
  return {
    temporal: {
      address: `${i.host}:${i.ports.temporal}`,
      namespace: 'default',
      uiUrl: `http://${i.host}:${i.ports.temporalUi}`,
    },
    postgres: {
      adminUrl: i.pgAdminUrl,
      sourceUrl: postgresUrl(i.pgAdminUrl, i.names.reader, i.readerPassword, i.names.source),
      sourceOwnerUrl: postgresUrl(
        i.pgAdminUrl,
        decodeURIComponent(ownerOfSource.username),
        decodeURIComponent(ownerOfSource.password) || undefined,
        i.names.source,
      ),
      targetUrl: postgresUrl(i.pgAdminUrl, i.names.app, i.appPassword, i.names.target),
      controlUrl: postgresUrl(i.pgAdminUrl, i.names.app, i.appPassword, i.names.control),
    },
    logicalPostgres: { adminUrl: i.logicalPgAdminUrl || `postgres://postgres@${i.host}:${i.ports.logicalPostgres}/postgres` },
    s3: {
      endpoint: `http://${i.host}:${i.ports.minio}`,
      region: i.region,
      bucket: DEFAULT_STAGING_BUCKET,
      accessKeyId: i.minioRootUser,
      secretAccessKey: i.minioRootPassword,
      sseKmsKeyId: DEFAULT_SSE_KEY_ID,
      forcePathStyle: true,
    },
    kms: { endpoint: `http://${i.host}:${i.ports.kms}`, region: i.region, aliases: { ...KMS_ALIASES } },
    codec: { url: `http://${i.host}:${i.ports.codec}` },
  };
}
