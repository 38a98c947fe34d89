/**
 * The slot follower's memory against one large source transaction (`npm run bench`'s follow part).
 * A database of its own on the stack's logical PostgreSQL gets a table, a publication and a
 * pgoutput slot, and one transaction of N rows; a process of its own then follows the slot
 * (src/stores/slot-follower.ts, as the followChanges activity does) until the followed position
 * passes that transaction, while its resident memory is sampled every 20 ms. The keys go to a
 * store that counts them and takes 5 ms a write (the control database's round trip), so the
 * figure is the follower's own. Run as a child (`--child`), so the peak is not the bench's.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Client } from 'pg';
import { readLocalStack } from '../../src/config';
import { compareLsn } from '../../src/core/pgoutput';
import { dropReplicationSlots } from '../../src/stack/postgres-provision';
import { followSlot } from '../../src/stores/slot-follower';

export interface FollowMemoryRun {
  rows: number;
  seconds: number;
  peakRssMiB: number;
  /** The most keys one write carried: what the follower held at once. */
  largestWrite: number;
  error?: string;
}

const SLOT = 'bench_follow_slot';

async function query(url: string, text: string): Promise<{ [k: string]: string }[]> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(text)).rows;
  } finally {
    await c.end();
  }
}

async function child(rows: number): Promise<FollowMemoryRun> {
  const admin = readLocalStack()?.logicalPostgres?.adminUrl;
  if (!admin) throw new Error('the local stack has no logical PostgreSQL: run `node bin/cutover.js stack up`');
  const db = `bench_follow_${Date.now().toString(36)}`;
  await query(admin, `create database ${db}`);
  const url = admin.replace(/\/[^/]*$/, `/${db}`);
  try {
    await query(url, 'create table bulk (id int primary key, v text)');
    await query(url, 'create publication bulk_pub for table bulk');
    await query(url, `select pg_create_logical_replication_slot('${SLOT}', 'pgoutput')`);
    await query(url, `insert into bulk select g, repeat('x', 20) from generate_series(1, ${rows}) g`);
    const committed = (await query(url, 'select pg_current_wal_lsn()::text as lsn'))[0]!.lsn!;
    let kept = 0;
    let largest = 0;
    let done = false;
    let peak = process.memoryUsage().rss;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    const abort = new AbortController();
    const started = performance.now();
    const following = followSlot({
      migrationId: 'bench',
      sourceUrl: url,
      slot: SLOT,
      publication: 'bulk_pub',
      from: '0/0',
      tables: new Map([['public.bulk', { entity: 'bulk', key: 'id' }]]),
      followed: {
        async append(_id, taken, followedTo) {
          kept += taken.length;
          largest = Math.max(largest, taken.length);
          if (followedTo && compareLsn(followedTo, committed) >= 0 && kept >= rows) done = true;
          await new Promise((r) => setTimeout(r, 5));
        },
        state: async () => undefined,
        before: async () => ({ rows: [], through: '0/0', more: false }),
        confirm: async () => undefined,
        forget: async () => undefined,
      },
      beat: () => undefined,
      signal: abort.signal,
    });
    const failed = following.then(() => undefined, (err: Error) => err);
    while (!done) {
      const err = await Promise.race([failed, new Promise<undefined>((r) => setTimeout(r, 50, undefined))]);
      if (err) throw err;
    }
    const seconds = (performance.now() - started) / 1000;
    abort.abort();
    await following;
    clearInterval(sampler);
    return { rows, seconds, peakRssMiB: Math.round(peak / 2 ** 20), largestWrite: largest };
  } finally {
    await dropReplicationSlots(admin, [db]);
    await query(admin, `drop database if exists ${db} with (force)`);
  }
}

/** Runs the measurement in a process of its own and returns its figures (or why it failed). */
export function runFollowMemory(rows: number): Promise<FollowMemoryRun> {
  return new Promise((resolve) => {
    const tsx = join(__dirname, '..', '..', 'node_modules', '.bin', 'tsx');
    const p = spawn(tsx, [__filename, '--child', String(rows)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (b) => (out += b));
    p.stderr.on('data', (b) => (err += b));
    p.on('close', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      if (code === 0 && line.startsWith('{')) resolve(JSON.parse(line) as FollowMemoryRun);
      else resolve({ rows, seconds: 0, peakRssMiB: 0, largestWrite: 0, error: (err.trim().split('\n').find((l) => /Error/.test(l)) ?? `exit ${code}`).slice(0, 300) });
    });
  });
}

if (process.argv[2] === '--child') {
  child(Number(process.argv[3])).then(
    (r) => {
      console.log(JSON.stringify(r));
      process.exit(0);
    },
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
