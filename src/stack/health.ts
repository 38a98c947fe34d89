import { createConnection } from 'node:net';
import { DescribeKeyCommand, ListKeysCommand } from '@aws-sdk/client-kms';
import { HeadBucketCommand } from '@aws-sdk/client-s3';
import { Connection } from '@temporalio/client';
import { Client as PgClient } from 'pg';
import { createKmsClient, createS3Client } from '../clients/aws';
import type { CutoverConfig } from '../config';

/** The result of one probe: ok, or a one-line reason a person can act on. */
export interface Probe {
  ok: boolean;
  detail: string;
}

const ok = (detail: string): Probe => ({ ok: true, detail });
const fail = (detail: string): Probe => ({ ok: false, detail });

/** Short, value-free description of a connection error. */
export function describeError(err: unknown): string {
  const e = err as { code?: string; name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  if (e?.code === 'ECONNREFUSED') return 'connection refused (not running?)';
  if (e?.code === 'ETIMEDOUT' || e?.name === 'TimeoutError') return 'timed out';
  if (e?.code === 'ENOTFOUND') return 'host not found';
  if (e?.code === '28P01' || e?.code === '28000') return 'authentication failed';
  if (e?.code === '3D000') return 'database does not exist';
  const status = e?.$metadata?.httpStatusCode;
  const msg = (e?.message ?? String(err)).split('\n')[0]!.slice(0, 160);
  return status ? `${e?.name ?? 'error'} (HTTP ${status}): ${msg}` : msg;
}

export function tcpOpen(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const done = (result: boolean) => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export async function httpOk(url: string, timeoutMs = 3000): Promise<Probe> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    return res.ok ? ok(`HTTP ${res.status}`) : fail(`HTTP ${res.status} from ${url}`);
  } catch (err) {
    return fail(`${url}: ${describeError((err as { cause?: unknown }).cause ?? err)}`);
  }
}

export async function probePostgres(url: string): Promise<Probe> {
  const client = new PgClient({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    const row = (await client.query<{ server_version: string }>('show server_version')).rows[0];
    return ok(`PostgreSQL ${row?.server_version ?? '?'}`);
  } catch (err) {
    return fail(describeError(err));
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** A PostgreSQL that can serve logical replication: wal_level=logical, and the admin is a superuser. */
export async function probeLogicalPostgres(url: string): Promise<Probe> {
  const client = new PgClient({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    const row = (
      await client.query<{ version: string; wal_level: string; slots: string; senders: string; superuser: boolean }>(
        `select current_setting('server_version') as version, current_setting('wal_level') as wal_level,
                current_setting('max_replication_slots') as slots, current_setting('max_wal_senders') as senders,
                (select rolsuper from pg_roles where rolname = current_user) as superuser`,
      )
    ).rows[0]!;
    if (row.wal_level !== 'logical') return fail(`PostgreSQL ${row.version} has wal_level=${row.wal_level}, not logical`);
    if (!row.superuser) return fail(`PostgreSQL ${row.version}: ${new URL(url).username || 'the user'} is not a superuser`);
    return ok(`PostgreSQL ${row.version}, wal_level=logical, ${row.slots} slots, ${row.senders} WAL senders`);
  } catch (err) {
    return fail(describeError(err));
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * The server answers and knows the namespace. The detail names the stores the server reports
 * (GetClusterInfo: `sqlite` for the dev server, `postgres12` for the PostgreSQL-backed one), so
 * `stack status` and `doctor` say which Temporal runs; with `expectStore`, another store fails.
 */
export async function probeTemporal(config: CutoverConfig, expectStore?: string): Promise<Probe> {
  let connection: Connection | undefined;
  try {
    const { address, tls, apiKey, metadata } = config.temporal.connection;
    connection = await Connection.connect({ address, tls, apiKey, metadata, connectTimeout: '3s' });
    const info = await connection.workflowService.getSystemInfo({});
    const cluster = await connection.workflowService.getClusterInfo({}).catch(() => undefined);
    const stores = cluster?.persistenceStore ? ` (persistence ${cluster.persistenceStore}, visibility ${cluster.visibilityStore || '?'})` : '';
    if (expectStore && cluster?.persistenceStore !== expectStore) return fail(`server ${info.serverVersion || '?'}${stores || ' (persistence unknown)'}: not the ${expectStore} server the stack runs`);
    await connection.workflowService.describeNamespace({ namespace: config.temporal.namespace });
    return ok(`server ${info.serverVersion || '?'}${stores}, namespace ${config.temporal.namespace}`);
  } catch (err) {
    return fail(describeError(err));
  } finally {
    await connection?.close().catch(() => undefined);
  }
}

export async function probeS3Bucket(s3: CutoverConfig['s3']): Promise<Probe> {
  const client = createS3Client({ ...s3 });
  try {
    await client.send(new HeadBucketCommand({ Bucket: s3.bucket }), { abortSignal: AbortSignal.timeout(3000) });
    return ok(`bucket ${s3.bucket}`);
  } catch (err) {
    const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (status === 404) return fail(`bucket ${s3.bucket} does not exist`);
    if (status === 403) return fail(`access to bucket ${s3.bucket} denied (credentials?)`);
    return fail(describeError((err as { cause?: unknown }).cause ?? err));
  } finally {
    client.destroy();
  }
}

export async function probeKms(kms: CutoverConfig['kms'], aliases: string[]): Promise<Probe> {
  const client = createKmsClient(kms);
  try {
    await client.send(new ListKeysCommand({ Limit: 1 }), { abortSignal: AbortSignal.timeout(3000) });
    const missing: string[] = [];
    for (const alias of aliases) {
      try {
        await client.send(new DescribeKeyCommand({ KeyId: alias }));
      } catch {
        missing.push(alias);
      }
    }
    return missing.length ? fail(`missing key alias ${missing.join(', ')}`) : ok(`aliases ${aliases.length}/${aliases.length}`);
  } catch (err) {
    return fail(describeError((err as { cause?: unknown }).cause ?? err));
  } finally {
    client.destroy();
  }
}

/** Polls `probe` until it passes or `timeoutMs` runs out; `stillAlive` stops early when the process died. */
export async function waitHealthy(probe: () => Promise<Probe>, timeoutMs: number, stillAlive: () => boolean = () => true): Promise<Probe> {
  const deadline = Date.now() + timeoutMs;
  let last: Probe = fail('not probed');
  while (Date.now() < deadline) {
    last = await probe();
    if (last.ok) return last;
    if (!stillAlive()) return fail(`process exited (${last.detail})`);
    await new Promise((r) => setTimeout(r, 500));
  }
  return fail(`not healthy after ${Math.round(timeoutMs / 1000)}s: ${last.detail}`);
}

/**
 * The codec server answers a round trip for this token: a probe payload encoded and decoded
 * back. Proves the server runs, holds the codec key, and accepts the stack's token.
 */
export async function probeCodec(url: string, token: string, timeoutMs = 3000): Promise<Probe> {
  const probe = { metadata: { encoding: Buffer.from('json/plain').toString('base64') }, data: Buffer.from('"cutover-codec-probe"').toString('base64') };
  const call = async (action: 'encode' | 'decode', body: unknown) => {
    const res = await fetch(`${url}/${token}/${action}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!res.ok) throw new Error(`HTTP ${res.status} from ${url}/<token>/${action}${res.status === 401 ? ' (another codec server, with another token?)' : ''}`);
    return (await res.json()) as { payloads: { metadata: Record<string, string>; data: string }[] };
  };
  try {
    const encoded = await call('encode', { payloads: [probe] });
    if (Buffer.from(encoded.payloads[0]?.metadata.encoding ?? '', 'base64').toString() !== 'binary/encrypted') return fail(`${url}: encode did not encrypt`);
    const decoded = await call('decode', encoded);
    if (decoded.payloads[0]?.data !== probe.data) return fail(`${url}: decode did not give the probe back`);
    return ok(`encode/decode round trip; ${url}/<token> (cutover stack codec-url)`);
  } catch (err) {
    return fail(describeError((err as { cause?: unknown }).cause ?? err));
  }
}
