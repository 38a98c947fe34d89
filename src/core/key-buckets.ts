/**
 * Key sets compared by hash buckets, pure. Two sets of keys (the source's, and the ones the
 * migration accounts for) are each summarised per bucket: how many keys fall in it and the sum
 * of a second 64-bit hash of each. Both sides compute the same summary in SQL, in their own
 * database, so a round reads one row per bucket instead of every key; only the keys of buckets
 * whose summaries differ are read and compared exactly. A key lands in a bucket by its text, so
 * the source's key type and the key map's text column agree without any shared ordering.
 *
 * Two different sets of keys in one bucket with equal count and equal sum of hashes would be
 * taken as equal: for keys that are not chosen to collide that is a chance of about 2^-64 per
 * bucket and round.
 */

/** One bucket's summary: keys in it, and the sum of their second hashes (a decimal string: exact). */
export interface BucketSummary {
  keys: number;
  sum: string;
}

/** Summaries by bucket; a bucket with no key is absent. */
export type BucketSummaries = ReadonlyMap<number, BucketSummary>;

/** Fewest and most buckets a comparison uses; and about how many keys a bucket holds. */
const MIN_BUCKETS = 16;
const MAX_BUCKETS = 65_536;
const KEYS_PER_BUCKET = 256;

/**
 * The bucket mask for a set of about `rows` keys: a power of two of buckets, each about 256
 * keys, so a bucket that differs costs a few hundred keys read on each side, and the summaries
 * stay one row per 256 keys (at 40 million keys the most, 65,536 buckets of about 600).
 */
export function bucketMaskFor(rows: number): number {
  let n = MIN_BUCKETS;
  while (n < MAX_BUCKETS && n * KEYS_PER_BUCKET < rows) n *= 2;
  return n - 1;
}

/**
 * The SQL of a text expression's bucket and second hash, given the expression (already quoted
 * or a column reference). Both use PostgreSQL's `hashtextextended` under the C collation (the
 * same bytes hash the same way in any database), with different seeds. The mask is bound.
 */
export function bucketSql(textExpr: string): { bucket: string; hash: string } {
  const k = `(${textExpr}) collate "C"`;
  return { bucket: `(hashtextextended(${k}, 0) & ?)::int`, hash: `hashtextextended(${k}, 1)` };
}

/** The buckets whose summaries differ between two sides (a bucket one side lacks differs when the other has keys in it), ascending. */
export function differingBuckets(a: BucketSummaries, b: BucketSummaries): number[] {
  const out: number[] = [];
  for (const [bucket, s] of a) {
    const t = b.get(bucket);
    if (!t || t.keys !== s.keys || t.sum !== s.sum) out.push(bucket);
  }
  for (const bucket of b.keys()) if (!a.has(bucket)) out.push(bucket);
  return out.sort((x, y) => x - y);
}

/** Summaries from SQL rows (`bucket`, `keys`, `sum` as text), skipping empty buckets. */
export function bucketSummaries(rows: readonly { bucket: number | string; keys: number | string; sum: string | null }[]): Map<number, BucketSummary> {
  const out = new Map<number, BucketSummary>();
  for (const r of rows) {
    const keys = Number(r.keys);
    if (keys > 0) out.set(Number(r.bucket), { keys, sum: String(r.sum ?? '0') });
  }
  return out;
}
