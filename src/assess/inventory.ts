import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Knex } from 'knex';
import { inLanes } from '../core/lanes';

/**
 * The assessment's reads of the source and the object store, each bounded: counts exact up
 * to a size (else the planner's estimate), samples of a fixed number of rows, a fixed number
 * of objects looked up. Read-only: SELECTs in read-only transactions, HEAD requests.
 */

/** A relation to read: a table, or a plan's SELECT. */
export type Relation = { schema: string; table: string } | { query: string };

function from(r: Relation): { sql: string; bindings: unknown[] } {
  return 'query' in r ? { sql: `(${r.query.replace(/\?/g, '\\?')}) as __cutover_q`, bindings: [] } : { sql: '??.??', bindings: [r.schema, r.table] };
}

/** Counted exactly below this many estimated rows; above it, the planner's estimate is reported as such. */
export const EXACT_COUNT_BELOW = 5_000_000;

export async function rowCount(db: Knex, r: Relation, estimated: number): Promise<{ rows: number; exact: boolean }> {
  if ('table' in r && estimated >= EXACT_COUNT_BELOW) return { rows: estimated, exact: false };
  const f = from(r);
  const row = (await db.raw(`select count(*)::bigint as n from ${f.sql}`, f.bindings as never)).rows[0];
  return { rows: Number(row.n), exact: true };
}

/**
 * Up to `n` rows of the relation, spread over it (a Bernoulli sample of a large table, sized
 * for about twice `n`), else its first `n` rows. Held in memory only, never written anywhere.
 */
export async function sampleRows(db: Knex, r: Relation, columns: readonly string[], n: number, estimated: number): Promise<Record<string, unknown>[]> {
  const f = from(r);
  const list = columns.map(() => '??').join(', ');
  const percent = 'table' in r && estimated > n * 4 ? Math.min(100, (200 * n) / estimated) : undefined;
  const sample = percent !== undefined ? ` tablesample bernoulli (${percent.toFixed(6)})` : '';
  return db.transaction(async (trx) => (await trx.raw(`select ${list} from ${f.sql}${sample} limit ${Math.floor(n)}`, [...columns, ...f.bindings] as never)).rows, { readOnly: true });
}

/** Rows changed in the last 30 days by the plan's change column (epoch seconds, milliseconds, or a timestamp). */
export async function recentChanges(db: Knex, r: Relation, column: string, unit: 's' | 'ms' | 'timestamp'): Promise<number> {
  const f = from(r);
  const since = unit === 'timestamp' ? `now() - interval '30 days'` : `extract(epoch from now() - interval '30 days')${unit === 'ms' ? ' * 1000' : ''}`;
  const row = (await db.raw(`select count(*)::bigint as n from ${f.sql} where ?? >= ${since}`, [...f.bindings, column] as never)).rows[0];
  return Number(row.n);
}

/** Non-NULL values of a column (object keys of a file column). */
export async function nonNullCount(db: Knex, r: Relation, column: string): Promise<number> {
  const f = from(r);
  return Number((await db.raw(`select count(??)::bigint as n from ${f.sql}`, [column, ...f.bindings] as never)).rows[0].n);
}

/** Size classes of the objects a plan copies, for the report's histogram. */
export const SIZE_CLASSES: readonly { label: string; below: number }[] = [
  { label: '< 100 KB', below: 100 * 1024 },
  { label: '100 KB – 1 MB', below: 1024 * 1024 },
  { label: '1 – 10 MB', below: 10 * 1024 * 1024 },
  { label: '10 – 100 MB', below: 100 * 1024 * 1024 },
  { label: '≥ 100 MB', below: Infinity },
];

export interface FileInventory {
  column: string;
  bucket: string;
  /** Rows naming an object. */
  objects: number;
  /** Objects looked up (a sample of the keys). */
  sampled: number;
  /** Sampled keys with no object in the bucket: the migration would fail on them. */
  missing: number;
  largestBytes: number;
  /** Mean size of the sampled objects × objects. */
  estimatedBytes: number;
  sizeClasses: { label: string; count: number }[];
}

/** Looks up sampled object keys (HEAD only: nothing is downloaded) and sizes the column's objects. */
export async function fileInventory(s3: S3Client, bucket: string, column: string, objects: number, keys: readonly string[]): Promise<FileInventory> {
  const sizes: number[] = [];
  let missing = 0;
  await inLanes(keys, 8, async (key) => {
    try {
      const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      sizes.push(head.ContentLength ?? 0);
    } catch (err) {
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status !== 404 && status !== 403) throw err;
      missing++;
    }
  });
  const total = sizes.reduce((a, b) => a + b, 0);
  const sizeClasses = SIZE_CLASSES.map((c) => ({ label: c.label, count: 0 }));
  for (const s of sizes) sizeClasses[SIZE_CLASSES.findIndex((c) => s < c.below)]!.count++;
  return {
    column,
    bucket,
    objects,
    sampled: keys.length,
    missing,
    largestBytes: sizes.reduce((a, b) => Math.max(a, b), 0),
    estimatedBytes: sizes.length ? Math.round((total / sizes.length) * objects) : 0,
    sizeClasses,
  };
}

/** The largest value of each column in a sample, in bytes of its text (or JSON) form. */
export function largestValues(rows: readonly Record<string, unknown>[], columns: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of columns) {
    let max = 0;
    for (const r of rows) {
      const v = r[c];
      if (v === null || v === undefined) continue;
      const len = typeof v === 'string' ? Buffer.byteLength(v) : Buffer.isBuffer(v) ? v.length : v instanceof Date ? 8 : Buffer.byteLength(JSON.stringify(v) ?? '');
      if (len > max) max = len;
    }
    out[c] = max;
  }
  return out;
}
