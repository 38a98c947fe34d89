/** Databases and buckets for the bench: made fresh, measured, compared, removed. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CreateBucketCommand, DeleteBucketCommand, DeleteObjectsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { Client } from 'pg';
import type { Plan } from '../../src/plan/types';

const TARGET_SQL = join(__dirname, '..', '..', 'demo', 'lms', 'target.sql');

export async function withDb<T>(url: string, fn: (db: Client) => Promise<T>): Promise<T> {
  const db = new Client({ connectionString: url, application_name: 'cutover-bench' });
  await db.connect();
  try {
    return await fn(db);
  } finally {
    await db.end();
  }
}

export function dbUrl(adminUrl: string, database: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

/** Drops `name` if it exists and creates it empty, owned by `owner`, closed to PUBLIC. */
export async function freshDatabase(adminUrl: string, name: string, owner: string): Promise<void> {
  await withDb(adminUrl, async (db) => {
    const id = (s: string) => db.escapeIdentifier(s);
    await db.query(`drop database if exists ${id(name)} with (force)`);
    await db.query(`create database ${id(name)} owner ${id(owner)}`);
    await db.query(`revoke all on database ${id(name)} from public`);
  });
}

export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  await withDb(adminUrl, (db) => db.query(`drop database if exists ${db.escapeIdentifier(name)} with (force)`));
}

/** The new LMS's schema (demo/lms/target.sql): every table, index and constraint, empty. */
export async function createTargetSchema(url: string): Promise<void> {
  await withDb(url, (db) => db.query(readFileSync(TARGET_SQL, 'utf8')));
}

export async function databaseMiB(adminUrl: string, name: string): Promise<number> {
  return withDb(adminUrl, async (db) => Number((await db.query('select pg_database_size($1) as b', [name])).rows[0].b) / 2 ** 20);
}

/** The tables (with their indexes and TOAST) of one schema. */
export async function schemaMiB(url: string, schema: string): Promise<number> {
  return withDb(url, async (db) => {
    const { rows } = await db.query("select coalesce(sum(pg_total_relation_size(c.oid)), 0) as b from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1 and c.relkind in ('r', 'm')", [schema]);
    return Number(rows[0].b) / 2 ** 20;
  });
}

/** Each table of a schema with its indexes and TOAST, MiB, largest first. */
export async function schemaTablesMiB(url: string, schema: string): Promise<[string, number][]> {
  return withDb(url, async (db) => {
    const { rows } = await db.query("select c.relname as t, pg_total_relation_size(c.oid) as b from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1 and c.relkind = 'r' order by 2 desc", [schema]);
    return rows.map((r: { t: string; b: string }) => [r.t, Number(r.b) / 2 ** 20] as [string, number]);
  });
}

/** A CHECKPOINT, so that one run's dirty pages are not written during the next one's timing. */
export async function checkpoint(adminUrl: string): Promise<void> {
  await withDb(adminUrl, (db) => db.query('checkpoint'));
}

/**
 * Per entity of the plan: its target table's rows and a checksum of its content, comparable
 * between two targets: surrogate keys left out, each reference column replaced by the parent's
 * business key, tokens (`keep_token`) and dropped columns left out. An order-independent sum of
 * row hashes, so that it needs no sort and little memory at millions of rows.
 */
export async function contentOf(url: string, plan: Plan): Promise<Map<string, { rows: number; sum: string }>> {
  const out = new Map<string, { rows: number; sum: string }>();
  await withDb(url, async (db) => {
    for (const entity of plan.entities) {
      const id = (s: string) => db.escapeIdentifier(s);
      const joins: string[] = [];
      const values: string[] = [];
      for (const c of entity.columns) {
        if (c.protect === 'keep_token' || c.protect === 'drop') continue;
        if (c.reference) {
          const parent = plan.entities.find((e) => e.name === c.reference!.entity)!;
          const alias = `r${joins.length}`;
          joins.push(`left join ${id(parent.target.schema)}.${id(parent.target.table)} ${alias} on ${alias}.${id(parent.target.key ?? 'id')} = t.${id(c.name)}`);
          values.push(`${alias}.${id(parent.target.businessKey[0]!)}`);
        } else values.push(`t.${id(c.name)}`);
      }
      const sql = `select count(*)::int as rows, coalesce(sum(('x' || substr(md5(row(${values.join(', ')})::text), 1, 15))::bit(60)::bigint), 0)::text as sum
                   from ${id(entity.target.schema)}.${id(entity.target.table)} t ${joins.join(' ')}`;
      const row = (await db.query<{ rows: number; sum: string }>(sql)).rows[0]!;
      out.set(entity.name, row);
    }
  });
  return out;
}

export async function createBucket(s3: S3Client, bucket: string): Promise<void> {
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
}

async function deleteListed(s3: S3Client, bucket: string, prefix?: string): Promise<void> {
  for (;;) {
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
    if (!listed.Contents?.length) return;
    await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: listed.Contents.map((o) => ({ Key: o.Key! })), Quiet: true } }));
  }
}

/** Deletes every object under `prefix`. */
export const deletePrefix = (s3: S3Client, bucket: string, prefix: string) => deleteListed(s3, bucket, prefix);

/** Empties and deletes a bucket (nothing if it is not there). */
export async function removeBucket(s3: S3Client, bucket: string): Promise<void> {
  try {
    await deleteListed(s3, bucket);
  } catch (err) {
    if ((err as { name?: string }).name === 'NoSuchBucket') return;
    throw err;
  }
  await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
}

/** How many objects and bytes under `prefix`. */
export async function objectStats(s3: S3Client, bucket: string, prefix?: string): Promise<{ objects: number; bytes: number }> {
  let objects = 0;
  let bytes = 0;
  let token: string | undefined;
  do {
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of listed.Contents ?? []) {
      objects++;
      bytes += o.Size ?? 0;
    }
    token = listed.IsTruncated ? listed.NextContinuationToken : undefined;
  } while (token);
  return { objects, bytes };
}
