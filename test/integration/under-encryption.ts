import { gunzipSync } from 'node:zlib';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { Payload } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { encryptionContext, fileContext } from '../../src/core/staging-keys';
import type { Manifest, StagedRows } from '../../src/stores/manifest';
import { createKmsClient, createS3Client } from '../../src/clients/aws';
import { createDb } from '../../src/clients/postgres';
import { connectClient } from '../../src/clients/temporal';
import { createDataConverter } from '../../src/codec/data-converter';
import type { CutoverConfig } from '../../src/config';
import { createKeyRing } from '../../src/crypto/key-ring-factory';
import { MigrationKeyRing } from '../../src/crypto/migration-key-ring';
import { StagingCipher } from '../../src/crypto/staging-cipher';
import { sql } from './helpers';

/**
 * What a migration left in Temporal and in S3, looked at under the encryption: history payloads
 * decoded with the project's own codec, staged objects decrypted with its staging cipher. A
 * search for personal data in ciphertext finds nothing whatever travelled; these give a search
 * something to find.
 */

/** A text to search and where it came from. */
export interface Plaintext {
  where: string;
  text: string;
}

export interface DecodedHistory {
  workflowId: string;
  runId: string;
  events: number;
  /** The history as Temporal stores it (protobuf), payloads still encrypted. */
  raw: Buffer;
  /** Payloads found in the history, how many of them were encrypted by the codec, and their plaintexts. */
  payloads: number;
  encrypted: number;
  plaintexts: Plaintext[];
}

const ENCRYPTED = 'binary/encrypted';
const utf8 = (b: Uint8Array | null | undefined) => (b ? Buffer.from(b).toString('utf8') : '');

function isPayload(node: object): node is Payload {
  const metadata = (node as { metadata?: unknown }).metadata;
  return !!metadata && typeof metadata === 'object' && 'encoding' in metadata && Object.values(metadata).every((v) => v instanceof Uint8Array);
}

/** Every Payload anywhere in a history (inputs, results, heartbeats, failures, headers, memo, user metadata, search attributes). */
function collectPayloads(node: unknown, out: Payload[]): void {
  if (!node || typeof node !== 'object' || node instanceof Uint8Array) return;
  if (isPayload(node)) {
    out.push(node);
    return;
  }
  for (const v of Array.isArray(node) ? node : Object.values(node)) collectPayloads(v, out);
}

/**
 * The histories of a migration: its workflow and every workflow under it (entity runs,
 * partitions, every run of each, continued-as-new or not), each payload decoded with the
 * codec every client and worker uses.
 */
export async function decodedHistories(config: CutoverConfig, rootWorkflowId: string): Promise<DecodedHistory[]> {
  const control = createDb(config.databases.controlUrl!, { max: 1, applicationName: 'cutover-test-codec' });
  const kms = createKmsClient(config.kms);
  let codecs;
  try {
    codecs = (await createDataConverter(createKeyRing(config, control, kms))).payloadCodecs ?? [];
  } finally {
    kms.destroy();
    await control.destroy();
  }
  if (!codecs.length) throw new Error('the data converter has no payload codec');
  const { client, connection } = await connectClient(config);
  try {
    const runs = new Map<string, { workflowId: string; runId: string }>();
    for await (const w of client.workflow.list({ query: `RootWorkflowId = '${rootWorkflowId.replace(/'/g, "''")}'` })) runs.set(`${w.workflowId} ${w.runId}`, { workflowId: w.workflowId, runId: w.runId });
    const out: DecodedHistory[] = [];
    for (const { workflowId, runId } of runs.values()) {
      const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
      const payloads: Payload[] = [];
      collectPayloads(history.events, payloads);
      const plaintexts: Plaintext[] = [];
      let encrypted = 0;
      for (const [n, p] of payloads.entries()) {
        let decoded = [p];
        if (utf8(p.metadata?.encoding) === ENCRYPTED) {
          encrypted++;
          for (const codec of [...codecs].reverse()) decoded = await codec.decode(decoded);
          if (utf8(decoded[0]!.metadata?.encoding) === ENCRYPTED) throw new Error(`${workflowId}: payload ${n} is still encrypted after decoding`);
        }
        const inner = decoded[0]!;
        const meta = Object.entries(inner.metadata ?? {}).map(([k, v]) => `${k}=${utf8(v)}`);
        plaintexts.push({ where: `history ${workflowId} payload ${n}`, text: `${meta.join(' ')}\n${utf8(inner.data)}` });
      }
      const raw = Buffer.from(temporal.api.history.v1.History.encode(history).finish());
      out.push({ workflowId, runId, events: history.events?.length ?? 0, raw, payloads: payloads.length, encrypted, plaintexts });
    }
    return out;
  } finally {
    await connection.close();
  }
}

export interface StagedObject {
  key: string;
  part: 'rows' | 'manifest' | 'file';
  entity: string;
  batchId: string;
  /** The decrypted bytes (rows: gunzipped). */
  plain: Buffer;
  rows?: StagedRows;
  manifest?: Manifest;
}

/**
 * Every object a migration staged, decrypted with the staging cipher under the encryption
 * context its key says it must have (rows gunzipped and parsed, as `readStagedRows` does).
 */
export async function decryptedStaged(config: CutoverConfig, migrationId: string, options: { prefix?: string; stagingKey?: string } = {}): Promise<StagedObject[]> {
  const prefix = `${options.prefix ?? 'migrations'}/${migrationId}/`;
  const s3 = createS3Client(config.s3);
  const kms = createKmsClient(config.kms);
  const control = createDb(config.databases.controlUrl!);
  // The migration's own staging key (a migration registered before had a KMS data key per object).
  const stagingKey = options.stagingKey ?? config.kms.aliases.staging;
  const ring = new MigrationKeyRing(control, kms);
  const shared = createKeyRing(config, control, kms);
  const cipher = new StagingCipher(kms, stagingKey, async () => {
    const keys = await ring.sealing(migrationId, stagingKey, async () => ({ vault: await shared.get('vault'), token: await shared.get('token') }));
    return keys.staging ? { name: migrationId, key: keys.staging } : undefined;
  });
  try {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const listed = await s3.send(new ListObjectsV2Command({ Bucket: config.s3.bucket, Prefix: prefix, ContinuationToken: token }));
      keys.push(...(listed.Contents ?? []).map((o) => o.Key!));
      token = listed.IsTruncated ? listed.NextContinuationToken : undefined;
    } while (token);
    const out: StagedObject[] = [];
    for (const key of keys.sort()) {
      const m = /^([^/]+)\/([^/]+)\/(rows\.json\.gz\.enc|manifest\.json\.enc|files\/([^/]+)\.enc)$/.exec(key.slice(prefix.length));
      if (!m) throw new Error(`an object staging does not write: ${key}`);
      const [, entity, batchId, name, fileId] = m as unknown as [string, string, string, string, string | undefined];
      const body = Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: config.s3.bucket, Key: key }))).Body!.transformToByteArray());
      if (name === 'rows.json.gz.enc') {
        const plain = gunzipSync(await cipher.decrypt(body, encryptionContext(migrationId, entity, batchId, 'rows'), key));
        out.push({ key, part: 'rows', entity, batchId, plain, rows: JSON.parse(plain.toString('utf8')) as StagedRows });
      } else if (name === 'manifest.json.enc') {
        const plain = await cipher.decrypt(body, encryptionContext(migrationId, entity, batchId, 'manifest'), key);
        out.push({ key, part: 'manifest', entity, batchId, plain, manifest: JSON.parse(plain.toString('utf8')) as Manifest });
      } else {
        out.push({ key, part: 'file', entity, batchId, plain: await cipher.decrypt(body, fileContext(migrationId, entity, batchId, fileId!), key) });
      }
    }
    return out;
  } finally {
    s3.destroy();
    kms.destroy();
    await control.destroy();
  }
}

export interface UnderEncryption {
  histories: DecodedHistory[];
  staged: StagedObject[];
  /** Decoded history payloads and decrypted staged objects. */
  plaintexts: Plaintext[];
  /** The histories as stored (payloads encrypted): what a search without the codec sees. */
  raw: Plaintext[];
}

/** Everything a migration left in Temporal and in staging, in clear. */
export async function underEncryption(config: CutoverConfig, migrationId: string): Promise<UnderEncryption> {
  const histories = await decodedHistories(config, `cutover-${migrationId}`);
  const staged = await decryptedStaged(config, migrationId);
  return {
    histories,
    staged,
    plaintexts: [...histories.flatMap((h) => h.plaintexts), ...staged.map((o) => ({ where: `staged ${o.key}`, text: o.plain.toString('utf8') }))],
    raw: histories.map((h) => ({ where: `history ${h.workflowId} as stored`, text: h.raw.toString('utf8') })),
  };
}

/** The personal values seeded in the demo source: names (whole, first, rest, each word), logins, emails (as seeded and lowercased), phones. */
export async function seededPersonalValues(sourceOwnerUrl: string): Promise<string[]> {
  const people = await sql<{ full_name: string; email: string | null; phone: string | null; login: string }>(sourceOwnerUrl, 'select full_name, email, phone, login from legacy_users');
  const values = new Set<string>();
  for (const p of people) {
    const words = p.full_name.split(' ');
    for (const v of [p.full_name, words[0], words.slice(1).join(' '), ...words, p.login, p.email, p.email?.toLowerCase(), p.phone]) if (v && v.length >= 3) values.add(v);
  }
  return [...values];
}

/**
 * Letters and digits (any non-ASCII letter too, not the replacement character that stands for
 * binary bytes): a value found inside a longer word is not that value.
 */
function isWordChar(code: number): boolean {
  return (code >= 48 && code <= 57) || (code >= 65 && code <= 90) || (code >= 97 && code <= 122) || (code >= 0xc0 && code !== 0xd7 && code !== 0xf7 && code !== 0xfffd);
}

/**
 * Where any of `values` occurs in the texts, as a whole: not preceded or followed by a letter
 * or digit (so "Ava" is found in `"Ava"` or `Ava Smith`, not in "Available"). One pass per text
 * whatever the number of values: at each place a value can start, the lengths values have.
 */
export function findValues(texts: Iterable<Plaintext>, values: Iterable<string>): { where: string; value: string }[] {
  const wanted = new Set([...values].filter((v) => v.length > 0));
  const lengths = [...new Set([...wanted].map((v) => v.length))].sort((a, b) => a - b);
  const firsts = new Set([...wanted].map((v) => v.charCodeAt(0)));
  const found: { where: string; value: string }[] = [];
  for (const { where, text } of texts) {
    const seen = new Set<string>();
    const n = text.length;
    for (let i = 0; i < n; i++) {
      const c = text.charCodeAt(i);
      if (!firsts.has(c)) continue;
      if (i > 0 && isWordChar(c) && isWordChar(text.charCodeAt(i - 1))) continue;
      for (const len of lengths) {
        const end = i + len;
        if (end > n) break;
        if (end < n && isWordChar(text.charCodeAt(end)) && isWordChar(text.charCodeAt(end - 1))) continue;
        const candidate = text.slice(i, end);
        if (wanted.has(candidate) && !seen.has(candidate)) {
          seen.add(candidate);
          found.push({ where, value: candidate });
        }
      }
    }
  }
  return found;
}
