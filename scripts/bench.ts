/**
 * `npm run bench`: Cutover's pipeline beside the hand-written SQL a team would write instead,
 * on the same source rows, in the same run, into identical, empty, indexed targets.
 *
 * For each size (users; the demo LMS is sized from them by demo/lms/seed.ts):
 *   users  examples/lms-users.plan.yaml (the PII-heavy users entity)
 *   lms    examples/lms.plan.yaml (the whole demo LMS: 9 entities, files, JSON documents)
 * each done by hand (scripts/bench/handwritten.ts: a mapping SELECT per entity piped by psql's
 * \copy, references joined on what was already copied, files copied bucket to bucket) and by
 * Cutover (one worker, the workflow bundle prebuilt so its peak memory measures data), and
 * before both `cutover assess` of the plan (every row through the pre-flight's forecast); then
 * both targets' row counts and content are compared. Then the scale-out: the users plan at the
 * smallest size with 1, 2, 3 worker processes on one task queue. Then delta sync
 * (scripts/bench/sync.ts), at the smallest size: the lag behind a steady writer, the cutover
 * window, and the frozen full copy by hand it replaces.
 *
 *   BENCH_SIZES="100000,1000000"   users per size (BENCH_ONLY=sync: 100000 unless given, and every size given)
 *   BENCH_ONLY=users|lms|scale|sync|follow  one part alone (default: all five)
 *   BENCH_WORKERS="1,2,3"          the scale-out's worker counts; "none" skips it
 *   BENCH_SCALE_PARALLELISM=N      the plan's parallelism in the scale-out (default 2 per worker of the most)
 *   BENCH_WORKER_HOSTS=netns       the scale-out's workers each on a "host" of its own: a network namespace and a cgroup (scripts/bench/hosts.ts; root)
 *   BENCH_WORKER_CPUS=0.5          with netns: each worker's CPU quota, cores ("none": no quota)
 *   BENCH_WORKER_MEMORY_MIB=1536   with netns: each worker's memory limit
 *   BENCH_KILL=1                   the scale-out adds a run of the most workers in which one is SIGKILLed at half the rows ("0": not)
 *   BENCH_SIZING="40000000:8,40000000:2,40000000:1"  rows:hours the scale-out's sizing is worked out for (several separated by commas)
 *   BENCH_SYNC_MODES="logical,poll"  the sync part's capture modes; "none" skips it
 *   BENCH_SYNC_RATE=200            source rows the sync part's writer changes a second
 *   BENCH_SYNC_SECONDS=60          how long it writes before the freeze and the cutover
 *   BENCH_TOKENS=format_preserving  kept phone tokens of the number's shape (FF1, no vault row) instead of the vault's
 *   BENCH_PROFILE=<dir>            each worker writes a CPU profile (node --cpu-prof) into <dir> when it stops
 *   BENCH_FOLLOW_ROWS="1000000,4000000"  the follow part: the slot follower's peak memory against one source transaction of each many rows (scripts/bench/follow-memory.ts); "none" skips it
 *
 * Every database, bucket, staged object, workflow and worker it makes is removed when its run
 * ends, failed or interrupted. Figures are printed, never asserted.
 */
import { randomBytes } from 'node:crypto';
import { statfsSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { seedLms, SeedResult } from '../demo/lms/seed';
import { assessPlan } from '../src/assess/assess';
import { createS3Client } from '../src/clients/aws';
import { createDb } from '../src/clients/postgres';
import { CutoverConfig, loadConfig, readLocalStack } from '../src/config';
import { migrationId } from '../src/plan/hash';
import { loadPlanFile } from '../src/plan/load';
import type { Plan } from '../src/plan/types';
import { DatabaseNames, databaseNames, postgresUrl } from '../src/stack/endpoints';
import { dropDatabases, provisionDatabases } from '../src/stack/postgres-provision';
import { checkInterrupted, errorLine, installExitHandlers, withCleanup } from './bench/cleanup';
import { LMS_STEPS, runHandWritten, USERS_STEPS } from './bench/handwritten';
import { PipelineRun, runPipeline } from './bench/pipeline';
import { checkpoint, contentOf, withDb, createBucket, createTargetSchema, databaseMiB, dbUrl, dropDatabase, freshDatabase, objectStats, removeBucket, schemaMiB, schemaTablesMiB } from './bench/resources';
import { printSyncSummary, runSyncSize, SyncMode, SyncRun } from './bench/sync';
import { FollowMemoryRun, runFollowMemory } from './bench/follow-memory';
import { buildWorkflowBundle } from './bench/workers';
import { decideBound, DatabaseGroups, GroupUse, othersOnHost, sizeFor, TierCost, tierCosts } from './bench/bound';
import { WorkerHosts } from './bench/hosts';
import type { MonitorResult, WatchedProcess } from './bench/monitor';
import { readPid } from '../src/stack/process';
import { stackPaths } from '../src/stack/state';
import { temporalDatabases } from '../src/stack/temporal-server';
import { BATCH_HEARTBEAT_SECONDS } from '../src/shared/activity-timeouts';

const ROOT = join(__dirname, '..');
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

type Part = 'users' | 'lms';
const PLAN_FILES: Record<Part, string> = { users: 'examples/lms-users.plan.yaml', lms: 'examples/lms.plan.yaml' };

interface PartResult {
  part: Part;
  users: number;
  rows?: number;
  pipelineSeconds?: number;
  handRows?: number;
  handSeconds?: number;
  peakMiB?: number;
  assessSeconds?: number;
  forecastQuarantined?: number;
  /** Set when the two targets differ (rows or content): the comparison does not hold. */
  mismatch?: string;
  error?: string;
}

interface ScaleResult {
  workers: number;
  /** A worker was SIGKILLed mid-run. */
  kill?: boolean;
  rows?: number;
  seconds?: number;
  peakMiB?: number;
  monitor?: MonitorResult;
  bound?: string;
  killed?: { afterSeconds: number; rowsThen: number };
  /** What the run added to the target's and control database's size, MiB. */
  disk?: { targetMiB: number; controlMiB: number };
  error?: string;
}

const fmt = (n: number, digits = 0) => n.toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const mib = (bytes: number) => `${fmt(bytes / 2 ** 20, 1)} MiB`;
const secondsSince = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e9;
const say = (text: string) => process.stdout.write(text);

function parseSettings() {
  const list = (raw: string, what: string) =>
    raw.split(',').map((s) => {
      const n = Number(s.trim());
      if (!Number.isInteger(n) || n < 1) throw new Error(`${what}: expected positive integers separated by commas, got ${JSON.stringify(raw)}`);
      return n;
    });
  const only = process.env.BENCH_ONLY || undefined;
  if (only && !['users', 'lms', 'scale', 'sync', 'follow'].includes(only)) throw new Error(`BENCH_ONLY: expected users, lms, scale, sync or follow, got ${JSON.stringify(only)}`);
  const sizes = list(process.env.BENCH_SIZES ?? (only === 'sync' ? '100000' : '100000,1000000'), 'BENCH_SIZES');
  const workersRaw = process.env.BENCH_WORKERS ?? '1,2,3';
  const workers = workersRaw === 'none' || (only && only !== 'scale') ? [] : list(workersRaw, 'BENCH_WORKERS');
  const parts: Part[] = only === 'users' || only === 'lms' ? [only] : only ? [] : ['users', 'lms'];
  const scaleParallelism = process.env.BENCH_SCALE_PARALLELISM ? list(process.env.BENCH_SCALE_PARALLELISM, 'BENCH_SCALE_PARALLELISM')[0]! : 2 * Math.max(1, ...workers);
  const modesRaw = process.env.BENCH_SYNC_MODES ?? 'logical,poll';
  const modes = modesRaw === 'none' || (only && only !== 'sync') ? [] : modesRaw.split(',').map((m) => m.trim());
  const wrong = modes.find((m) => m !== 'logical' && m !== 'poll');
  if (wrong !== undefined) throw new Error(`BENCH_SYNC_MODES: expected logical and/or poll separated by commas, or none, got ${JSON.stringify(modesRaw)}`);
  const sync = {
    modes: modes as SyncMode[],
    // The default run's sync part seeds a source of its own: at the smallest size only, as the scale-out.
    sizes: only === 'sync' ? sizes : modes.length ? [Math.min(...sizes)] : [],
    rate: list(process.env.BENCH_SYNC_RATE ?? '200', 'BENCH_SYNC_RATE')[0]!,
    seconds: list(process.env.BENCH_SYNC_SECONDS ?? '60', 'BENCH_SYNC_SECONDS')[0]!,
  };
  if (only === 'sync' && !modes.length) throw new Error('BENCH_ONLY=sync with BENCH_SYNC_MODES=none: nothing to run');
  const hostsRaw = process.env.BENCH_WORKER_HOSTS || undefined;
  if (hostsRaw && hostsRaw !== 'netns') throw new Error(`BENCH_WORKER_HOSTS: expected netns, got ${JSON.stringify(hostsRaw)}`);
  const cpusRaw = process.env.BENCH_WORKER_CPUS ?? '0.5';
  const cpus = cpusRaw === 'none' ? undefined : Number(cpusRaw);
  if (cpus !== undefined && !(cpus > 0)) throw new Error(`BENCH_WORKER_CPUS: expected a number of cores above 0, or none, got ${JSON.stringify(cpusRaw)}`);
  const hosts = hostsRaw ? { cpus, memoryMiB: list(process.env.BENCH_WORKER_MEMORY_MIB ?? '1536', 'BENCH_WORKER_MEMORY_MIB')[0]! } : undefined;
  const kill = workers.length > 0 && process.env.BENCH_KILL !== '0';
  const sizing = (process.env.BENCH_SIZING ?? '40000000:8,40000000:2,40000000:1').split(',').map((x) => {
    const [rows, hours] = x.split(':').map(Number);
    if (!(rows! > 0) || !(hours! > 0)) throw new Error(`BENCH_SIZING: expected rows:hours separated by commas, got ${JSON.stringify(x)}`);
    return { rows: rows!, hours: hours! };
  });
  const followRaw = process.env.BENCH_FOLLOW_ROWS ?? '1000000,4000000';
  const follow = followRaw === 'none' || (only && only !== 'follow') ? [] : list(followRaw, 'BENCH_FOLLOW_ROWS');
  if (only === 'follow' && !follow.length) throw new Error('BENCH_ONLY=follow with BENCH_FOLLOW_ROWS=none: nothing to run');
  return { sizes, parts, workers, scaleParallelism, sync, hosts, kill, sizing, follow };
}

/** BENCH_TOKENS=format_preserving: the plans' kept phone tokens are FF1 of the number's shape (no vault row), as `token: format_preserving` would make them. */
const SHAPED_PHONES = process.env.BENCH_TOKENS === 'format_preserving';

/** A plan for one bench run: a unique name (a new migration), no gates (no one waits for an approver), the bench's buckets for files. */
function benchPlan(part: Part, name: string, buckets?: { source: string; target: string }, parallelism?: number): Plan {
  const plan = loadPlanFile(join(ROOT, PLAN_FILES[part]));
  return {
    ...plan,
    name,
    settings: parallelism ? { ...plan.settings, parallelism } : plan.settings,
    phases: plan.phases.map(({ name: phase, entities }) => ({ name: phase, entities })),
    entities: plan.entities.map((e) => ({
      ...e,
      columns: e.columns.map((c) => {
        const shaped = SHAPED_PHONES && c.pii === 'phone' && c.protect === 'keep_token' ? { ...c, shapedTokens: true as const } : c;
        return shaped.file && buckets ? { ...shaped, file: { sourceBucket: buckets.source, targetBucket: buckets.target } } : shaped;
      }),
    })),
  };
}

/** One size's source: seeded once, read by every run of that size. */
interface SizeContext {
  users: number;
  tag: string;
  admin: string;
  names: DatabaseNames;
  config: CutoverConfig;
  urls: { source: string; target: string; control: string };
  ownerUrl: string;
  appPassword: string;
  s3: S3Client;
  sourceBucket?: string;
  bundlePath: string;
}

/** Empties the Cutover target (the demo's new LMS schema) and its control database. */
async function freshTargets(ctx: SizeContext): Promise<void> {
  await freshDatabase(ctx.admin, ctx.names.target, ctx.names.app);
  await freshDatabase(ctx.admin, ctx.names.control, ctx.names.app);
  await createTargetSchema(ctx.urls.target);
}

function describeSeed(r: SeedResult, full: boolean): string {
  if (!full) return `${fmt(r.users)} users`;
  return `${fmt(r.users)} users, ${fmt(r.orgUnits)} org units, ${fmt(r.courses)} courses, ${fmt(r.enrollments)} enrollments, ${fmt(r.results)} assessment results, ${fmt(r.statements)} xAPI statements, ${fmt(r.packages)} course packages, ${fmt(r.attachments)} attachments, ${fmt(r.certificates)} certificates`;
}

/** The worker's CPU against the wall clock, and the activities' time (Temporal's latency histogram; lanes overlap). */
function whereTimeWent(run: PipelineRun): string {
  const total = [...run.activities.values()].reduce((a, b) => a + b.seconds, 0);
  const top = [...run.activities]
    .sort((a, b) => b[1].seconds - a[1].seconds)
    .filter(([, t]) => t.seconds >= 0.02 * total)
    .map(([type, t]) => `${type} ${fmt(t.seconds, 1)} s (${fmt(t.count)}x${t.failed ? `, ${fmt(t.failed)} failed and retried` : ''})`);
  return `worker CPU ${fmt(run.cpuSeconds, 1)} s over ${fmt(run.seconds, 1)} s, peak RSS ${fmt(run.peakMiB)} MiB (${fmt(run.startMiB)} MiB when it started polling); time in activities: ${top.join(', ') || 'not measured'}`;
}

const STAGE_STEPS = ['extract', 'map', 'tokens', 'rows and digests', 'serialize, compress, encrypt, put', 'stage records'];
const TRANSACTION_STEPS = ['key map', 'lock rows', 'upsert', 'ledger', 'quarantine'];
const LOAD_STEPS = ['get, decrypt', 'detokenize', 'references'];

/**
 * Where a row's time goes, µs per row by step (the workers' `cutover_step_microseconds`; lanes
 * overlap, so the steps add up to more than the wall time per row), what the activities spent
 * around them, the worker's CPU per row and the target's bytes per row.
 */
function perRowTable(run: PipelineRun, disk: { targetMiB: number; ledgerTables: [string, number][] }): string {
  const us = (seconds: number) => fmt((seconds * 1e6) / Math.max(1, run.rows), 1);
  const step = (name: string) => run.steps.get(name) ?? 0;
  const sum = (names: string[]) => names.reduce((n, x) => n + step(x), 0);
  const activity = (type: string) => run.activities.get(type)?.seconds ?? 0;
  const line = (names: string[]) => names.map((n) => `${n} ${us(step(n))}`).join(' | ');
  const bytes = (mib: number) => fmt((mib * 2 ** 20) / Math.max(1, run.rows));
  return [
    `    per row (µs; lanes overlap, the wall is ${us(run.seconds)} µs/row, the worker's CPU ${us(run.cpuSeconds)} µs/row):`,
    `      stage      ${line(STAGE_STEPS)} | rest of stageBatch ${us(Math.max(0, activity('stageBatch') - sum(STAGE_STEPS)))}`,
    `      load       ${line(LOAD_STEPS)} | in the transaction: ${line(TRANSACTION_STEPS)} | fence, counts, commit ${us(Math.max(0, step('transaction') - sum(TRANSACTION_STEPS)))} | rest of loadBatch ${us(Math.max(0, activity('loadBatch') - sum(LOAD_STEPS) - step('transaction')))}`,
    `      reconcile  ${us(activity('reconcileBatch'))}`,
    `      target bytes per row ${bytes(disk.targetMiB)}, of which the ledger schema's tables: ${disk.ledgerTables.map(([t, m]) => `${t} ${bytes(m)}`).join(', ')}`,
  ].join('\n') + '\n';
}

/** `cutover assess` of the plan on this size's source and its empty target, timed (every row through the pre-flight, as `--preflight-rows all`). */
async function timeAssessment(ctx: SizeContext, plan: Plan): Promise<{ seconds: number; rowsRead: number; quarantined: number }> {
  const source = createDb(ctx.urls.source, { max: 2, readOnly: true, applicationName: 'bench-assess' });
  const target = createDb(ctx.urls.target, { max: 2, readOnly: true, applicationName: 'bench-assess' });
  try {
    const t0 = process.hrtime.bigint();
    const a = await assessPlan(plan, { source, target, s3: ctx.s3 }, { now: new Date().toISOString() });
    const seconds = secondsSince(t0);
    return { seconds, rowsRead: a.preflight.forecast.reduce((n, f) => n + f.rowsRead, 0), quarantined: a.preflight.forecast.reduce((n, f) => n + f.quarantined, 0) };
  } finally {
    await Promise.all([source.destroy(), target.destroy()]);
  }
}

/** The hand-written copy, then the pipeline, on one size's source; compares the two targets. */
async function runPart(ctx: SizeContext, part: Part): Promise<PartResult> {
  const result: PartResult = { part, users: ctx.users };
  say(`  ${part}: `);
  try {
    await withCleanup(async (cleanup) => {
      checkInterrupted();
      const buckets = part === 'lms' ? { source: ctx.sourceBucket!, target: `${ctx.tag}-new`, hand: `${ctx.tag}-hand` } : undefined;
      const plan = benchPlan(part, `bench-${part}-${ctx.users}-${randomBytes(3).toString('hex')}`, buckets);
      await freshTargets(ctx);
      const handDb = `${ctx.names.source.replace(/_source$/, '')}_hand`;
      await freshDatabase(ctx.admin, handDb, ctx.names.app);
      cleanup.defer(`drop database ${handDb}`, () => dropDatabase(ctx.admin, handDb));
      const handUrl = postgresUrl(ctx.admin, ctx.names.app, ctx.appPassword, handDb);
      await createTargetSchema(handUrl);
      if (buckets) {
        for (const b of [buckets.target, buckets.hand]) {
          await createBucket(ctx.s3, b);
          cleanup.defer(`remove bucket ${b}`, () => removeBucket(ctx.s3, b));
        }
      }

      // Before anything moves: what `cutover assess` takes on this source, every row through the pre-flight.
      await checkpoint(ctx.admin);
      say('assess...');
      const assessed = await timeAssessment(ctx, plan);
      Object.assign(result, { assessSeconds: assessed.seconds, forecastQuarantined: assessed.quarantined });
      say(` ${fmt(assessed.seconds, 1)} s; `);
      say('hand-written...');
      const t0 = process.hrtime.bigint();
      const hand = await runHandWritten(part === 'users' ? USERS_STEPS : LMS_STEPS, { sourceUrl: ctx.urls.source, targetUrl: handUrl, s3: ctx.s3, sourceBucket: buckets?.source, targetBucket: buckets?.hand });
      result.handSeconds = secondsSince(t0);
      say(` ${fmt(result.handSeconds, 1)} s; pipeline...`);
      const handSteps = hand.steps.map((h) => `${h.entity} ${fmt(h.rowsSeconds, 1)} s${h.filesSeconds !== undefined ? ` + ${fmt(h.files!)} files ${fmt(h.filesSeconds, 1)} s` : ''}`);

      await checkpoint(ctx.admin);
      const run = await runPipeline({ plan, config: ctx.config, workers: 1, bundlePath: ctx.bundlePath, s3: ctx.s3, cleanup });
      Object.assign(result, { rows: run.rows, pipelineSeconds: run.seconds, peakMiB: run.peakMiB });
      say(` ${fmt(run.seconds, 1)} s\n`);
      say(`    pipeline: ${whereTimeWent(run)}\n`);
      if (handSteps.length > 1) say(`    hand-written: ${handSteps.join(', ')}\n`);
      say(`    assess: ${fmt(assessed.seconds, 1)} s for ${fmt(assessed.rowsRead)} rows (inventory, discovery, the pre-flight's forecast of every row: ${fmt(assessed.quarantined)} to quarantine), ${(assessed.seconds / run.seconds).toFixed(2)} of the migration's time that would find them\n`);

      // Not timed: both targets compared, entity by entity.
      const staged = await objectStats(ctx.s3, plan.staging.bucket ?? ctx.config.s3.bucket, `${plan.staging.prefix}/${migrationId(plan)}/`);
      const [mine, theirs] = await Promise.all([contentOf(ctx.urls.target, plan), contentOf(handUrl, plan)]);
      result.handRows = [...theirs.values()].reduce((a, b) => a + b.rows, 0);
      const problems: string[] = [];
      const counts = plan.entities.map((e) => {
        const loaded = run.inserted.get(e.name) ?? 0;
        const p = mine.get(e.name)!;
        const h = theirs.get(e.name)!;
        if (loaded !== h.rows || p.rows !== h.rows) problems.push(`${e.target.table}: ${fmt(loaded)} loaded by Cutover, ${fmt(p.rows)} in its target, ${fmt(h.rows)} by hand`);
        else if (p.sum !== h.sum) problems.push(`${e.target.table}: same rows, different content`);
        return `${e.target.table} ${fmt(loaded)}/${fmt(h.rows)}`;
      });
      say(`    rows (pipeline/hand-written): ${counts.join(', ')}; content ${problems.length ? 'DIFFERS' : 'the same (tokens aside)'}\n`);
      if (buckets) {
        const [p, h] = await Promise.all([objectStats(ctx.s3, buckets.target), objectStats(ctx.s3, buckets.hand)]);
        say(`    files (pipeline/hand-written): ${fmt(p.objects)}/${fmt(h.objects)} objects, ${mib(p.bytes)}/${mib(h.bytes)}\n`);
        if (p.objects !== h.objects || p.bytes !== h.bytes) problems.push(`files: ${p.objects} objects (${p.bytes} B) by Cutover, ${h.objects} (${h.bytes} B) by hand`);
      }
      const [targetMiB, ledgerMiB, controlMiB, handMiB] = await Promise.all([
        databaseMiB(ctx.admin, ctx.names.target),
        schemaMiB(ctx.urls.target, plan.target.ledgerSchema),
        databaseMiB(ctx.admin, ctx.names.control),
        databaseMiB(ctx.admin, handDb),
      ]);
      say(
        `    disk: Cutover's target ${fmt(targetMiB)} MiB (ledger ${fmt(ledgerMiB)} MiB), control ${fmt(controlMiB)} MiB, staged ${fmt(staged.objects)} objects ${mib(staged.bytes)}; hand-written target ${fmt(handMiB)} MiB\n`,
      );
      say(perRowTable(run, { targetMiB, ledgerTables: await schemaTablesMiB(ctx.urls.target, plan.target.ledgerSchema) }));
      if (problems.length) {
        result.mismatch = problems.join('; ');
        say(`    MISMATCH: ${result.mismatch}\n`);
      }
    });
  } catch (err) {
    result.error = errorLine(err);
    say(`\n    FAILED: ${(err as Error).message}\n`);
  }
  return result;
}

/** What the scale-out shares between its runs: the hosts (when asked), what the monitor watches, the content every run must reproduce. */
interface ScaleContext {
  hosts?: WorkerHosts;
  watch: { adminUrl: string; databases: DatabaseGroups; services: WatchedProcess[] };
  /** The users entity's content after the first clean run (contentOf): each later run must match it. */
  expected?: { rows: number; sum: string };
}

/** The stack's Temporal server, MinIO and KMS processes (from its state directory), for the monitor. */
function stackServices(): WatchedProcess[] {
  const pids = stackPaths(process.env).pids;
  const out: WatchedProcess[] = [];
  for (const [id, name, kind] of [
    ['temporal-server', 'temporal server', 'server'],
    ['temporal', 'temporal dev server', 'server'],
    ['minio', 'minio', 'storage'],
    ['kms', 'kms', 'storage'],
  ] as const) {
    const record = readPid(pids, id);
    if (record) out.push({ pid: record.pid, name, kind });
  }
  return out;
}

/** Which Temporal the stack runs: the PostgreSQL-backed server or the dev server. */
const temporalKind = () => (readPid(stackPaths(process.env).pids, 'temporal-server') ? 'the PostgreSQL-backed Temporal server (temporal-server)' : 'the Temporal dev server (SQLite)');

const cores = (seconds: number, wall: number) => fmt(seconds / wall, 2);

/** One line per group that used CPU, most first, and the waits of the databases' active backends. */
function describeMonitor(m: MonitorResult): string {
  const groups = [...m.groups].sort((a, b) => b.cpuSeconds - a.cpuSeconds).filter((g) => g.cpuSeconds >= 0.005 * m.wallSeconds);
  const cpu = groups.map((g) => `${g.name} ${cores(g.cpuSeconds, m.wallSeconds)}${g.throttledSeconds ? ` (throttled ${fmt(g.throttledSeconds, 1)} s)` : ''}`).join(', ');
  const waits = [...m.waits]
    .filter(([, w]) => w.active)
    .map(([group, w]) => {
      const top = [...w.waits].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([e, n]) => `${e} ${fmt(n / m.sampleRounds, 2)}`);
      return `${group} ${fmt(w.active / m.sampleRounds, 2)} active${top.length ? ` (waiting: ${top.join(', ')})` : ''}`;
    });
  return [
    `    CPU, cores over ${fmt(m.wallSeconds, 1)} s (host busy ${Math.round((100 * m.hostBusySeconds) / (cpus().length * m.wallSeconds))} %): ${cpu}`,
    `    everything else on the host: ${fmt(othersOnHost(m), 2)} cores; processes outside the run, by command: ${m.outside.slice(0, 5).map(([c, sec]) => `${c} ${cores(sec, m.wallSeconds)}`).join(', ') || 'none'}${m.outside.length > 5 ? ', …' : ''}`,
    `    database backends running a statement, on average (pg_stat_activity every second, ${m.sampleRounds} samples): ${waits.join('; ') || 'none seen'}`,
    `    client connections at most: ${[...m.connections].filter(([g]) => g !== 'other databases').map(([g, n]) => `${g} ${n}`).join(', ')}`,
    `    load average at start ${m.loadStart.map((x) => x.toFixed(2)).join(' ')}, at end ${m.loadEnd.map((x) => x.toFixed(2)).join(' ')}`,
  ].join('\n') + '\n';
}

/** The users plan with `workers` worker processes on one task queue (one of them SIGKILLed at half when `kill`). */
async function runScale(ctx: SizeContext, scale: ScaleContext, workers: number, parallelism: number, kill = false): Promise<ScaleResult> {
  const result: ScaleResult = { workers, kill };
  say(`  ${workers} worker${workers > 1 ? 's' : ''}${kill ? ', one SIGKILLed at half the rows' : ''}...`);
  try {
    await withCleanup(async (cleanup) => {
      checkInterrupted();
      await freshTargets(ctx);
      const plan = benchPlan('users', `bench-scale${workers}${kill ? 'k' : ''}-${ctx.users}-${randomBytes(3).toString('hex')}`, undefined, parallelism);
      const users = plan.entities[0]!;
      const countTarget = () => withDb(ctx.urls.target, async (db) => Number((await db.query(`select count(*) as n from ${db.escapeIdentifier(users.target.schema)}.${db.escapeIdentifier(users.target.table)}`)).rows[0].n));
      // What the databases hold empty (the target's schema, PostgreSQL's own catalogs): the disk per row counts only what the run adds.
      const emptyMiB = { target: await databaseMiB(ctx.admin, ctx.names.target), control: await databaseMiB(ctx.admin, ctx.names.control) };
      await checkpoint(ctx.admin);
      const run = await runPipeline({
        plan,
        config: ctx.config,
        workers,
        bundlePath: ctx.bundlePath,
        s3: ctx.s3,
        cleanup,
        hosts: scale.hosts,
        watch: scale.watch,
        killOne: kill ? { atRows: Math.floor(ctx.users / 2), rows: countTarget } : undefined,
      });
      // Exact: every source row loaded once, the content the same as the first run's (the migration's own reconcile passed too, or runPipeline threw).
      const content = (await contentOf(ctx.urls.target, plan)).get(users.name)!;
      const loaded = run.inserted.get(users.name) ?? 0;
      if (content.rows !== ctx.users || loaded !== ctx.users) throw new Error(`not exact: ${fmt(loaded)} inserted, ${fmt(content.rows)} in the target, ${fmt(ctx.users)} in the source`);
      if (scale.expected && (scale.expected.rows !== content.rows || scale.expected.sum !== content.sum)) throw new Error('not exact: the target\'s content differs from the first scale-out run\'s');
      scale.expected ??= content;
      const m = run.monitor!;
      const bound = decideBound({
        wallSeconds: m.wallSeconds,
        cores: cpus().length,
        hostBusySeconds: m.hostBusySeconds,
        groups: m.groups,
        waits: m.waits,
        sampleRounds: m.sampleRounds,
        timedOut: run.history?.timedOut ? { activities: run.history.timedOut, heartbeatSeconds: BATCH_HEARTBEAT_SECONDS } : undefined,
      });
      const disk = { targetMiB: (await databaseMiB(ctx.admin, ctx.names.target)) - emptyMiB.target, controlMiB: (await databaseMiB(ctx.admin, ctx.names.control)) - emptyMiB.control };
      Object.assign(result, { rows: run.rows, seconds: run.seconds, peakMiB: run.peakMiB, monitor: m, bound: bound.bound, killed: run.killed, disk });
      say(` ${fmt(run.seconds, 1)} s, ${fmt(run.rows / run.seconds)} rows/s; exact (${fmt(content.rows)} rows, content as the first run's)\n`);
      if (run.killed) say(`    killed worker pid ${run.killed.pid} (SIGKILL) after ${fmt(run.killed.afterSeconds, 1)} s, ${fmt(run.killed.rowsThen)} rows in the target, ${run.killed.activitiesRunning} activit${run.killed.activitiesRunning === 1 ? 'y' : 'ies'} running on it\n`);
      if (run.history) say(`    from the histories: ${run.history.identities} workers ran its activities; ${run.history.timedOut} activity attempt${run.history.timedOut === 1 ? '' : 's'} timed out (a killed worker's: retried on another after the heartbeat timeout, ${BATCH_HEARTBEAT_SECONDS} s)\n`);
      say(describeMonitor(m));
      say(`    bound: ${bound.bound}: ${bound.evidence}\n`);
    });
  } catch (err) {
    result.error = errorLine(err);
    say(`\n    FAILED: ${(err as Error).message}\n`);
  }
  return result;
}

/** The scale-out at one size: the hosts made once for the most workers, every worker count, then the run with a kill. */
async function runScaleOut(ctx: SizeContext, settings: ReturnType<typeof parseSettings>): Promise<ScaleResult[]> {
  const out: ScaleResult[] = [];
  const prefix = process.env.CUTOVER_PG_PREFIX || 'cutover';
  const server = temporalDatabases(prefix);
  const scale: ScaleContext = {
    watch: { adminUrl: ctx.admin, databases: { source: ctx.names.source, target: ctx.names.target, control: ctx.names.control, server: [server.main, server.visibility] }, services: stackServices() },
  };
  const most = Math.max(...settings.workers);
  say(`  scale-out (users plan, parallelism ${settings.scaleParallelism}) on ${temporalKind()} at ${ctx.config.temporal.connection.address}`);
  await withCleanup(async (cleanup) => {
    if (settings.hosts) {
      const ports = [ctx.config.temporal.connection.address ?? '', ctx.admin, ctx.config.s3.endpoint ?? '', ctx.config.kms.endpoint ?? ''].map((u) => Number(/:(\d+)(?:\/|$)/.exec(u.replace(/^[a-z]+:\/\/[^@]*@/, ''))?.[1]));
      if (ports.some((p) => !p)) throw new Error('the scale-out\'s hosts: could not tell the services\' ports from the configuration');
      const hosts = new WorkerHosts(most, settings.hosts, [...new Set(ports)]);
      cleanup.defer('remove the worker hosts (network namespaces, bridge, cgroups, forwarders)', () => hosts.teardown());
      await hosts.startForwarders();
      scale.hosts = hosts;
      say(`; each worker on a host of its own: a network namespace (10.78.0.x, the services through forwarders at 10.78.0.1) and a cgroup (${settings.hosts.cpus ? `${settings.hosts.cpus} CPU` : 'no CPU quota'}, ${fmt(settings.hosts.memoryMiB)} MiB)${hosts.direct.length ? `; port${hosts.direct.length > 1 ? 's' : ''} ${hosts.direct.join(', ')} reached without a forwarder (the service listens on every address)` : ''}`);
    }
    say(':\n');
    for (const n of settings.workers) out.push(await runScale(ctx, scale, n, settings.scaleParallelism));
    if (settings.kill && most > 1) out.push(await runScale(ctx, scale, most, settings.scaleParallelism, true));
  });
  return out;
}

/** Provisions and seeds one size, runs its parts (and the scale-out when asked), removes everything. */
async function runSize(users: number, settings: ReturnType<typeof parseSettings>, bundlePath: string, scale: boolean): Promise<{ parts: PartResult[]; scale: ScaleResult[] }> {
  const out = { parts: [] as PartResult[], scale: [] as ScaleResult[] };
  const full = settings.parts.includes('lms');
  try {
    await withCleanup(async (cleanup) => {
      checkInterrupted();
      const local = readLocalStack();
      if (!local) throw new Error('no local stack: run `node bin/cutover.js stack up` first');
      const hex = randomBytes(3).toString('hex');
      const names = databaseNames(`bench_${users}_${hex}`);
      const readerPassword = randomBytes(12).toString('hex');
      const appPassword = randomBytes(12).toString('hex');
      const admin = local.postgres.adminUrl;
      const base = loadConfig();
      const s3 = createS3Client(base.s3);
      cleanup.defer('close the S3 client', () => s3.destroy());
      cleanup.defer(`drop databases ${names.source}, _target, _control and roles`, () => dropDatabases(admin, names));
      await provisionDatabases({ adminUrl: admin, names, readerPassword, appPassword });
      const urls = {
        source: postgresUrl(admin, names.reader, readerPassword, names.source),
        target: postgresUrl(admin, names.app, appPassword, names.target),
        control: postgresUrl(admin, names.app, appPassword, names.control),
      };
      const ctx: SizeContext = {
        users,
        urls,
        tag: `cutover-bench-${users}-${hex}`,
        admin,
        names,
        appPassword,
        s3,
        bundlePath,
        ownerUrl: dbUrl(admin, names.source),
        config: {
          ...base,
          temporal: { ...base.temporal, taskQueue: `bench-${names.source}` },
          databases: { sourceUrl: urls.source, targetUrl: urls.target, controlUrl: urls.control },
        },
      };
      if (full) {
        ctx.sourceBucket = `${ctx.tag}-legacy`;
        await createBucket(s3, ctx.sourceBucket);
        cleanup.defer(`remove bucket ${ctx.sourceBucket}`, () => removeBucket(s3, ctx.sourceBucket!));
      }
      say(`${fmt(users)} users: seeding ${full ? 'the whole LMS' : 'the users'}...`);
      const t0 = process.hrtime.bigint();
      const seeded = await seedLms({ sourceUrl: ctx.ownerUrl, users, full, files: full ? { s3, sourceBucket: ctx.sourceBucket!, targetBucket: ctx.sourceBucket! } : undefined });
      const files = full ? await objectStats(s3, ctx.sourceBucket!) : undefined;
      say(` ${fmt(secondsSince(t0), 1)} s: ${describeSeed(seeded, full)}; source database ${fmt(await databaseMiB(admin, names.source))} MiB${files ? `, files ${mib(files.bytes)}` : ''}\n`);
      for (const part of settings.parts) out.parts.push(await runPart(ctx, part));
      if (scale) out.scale.push(...(await runScaleOut(ctx, settings)));
    });
  } catch (err) {
    say(`\n  FAILED: ${(err as Error).message}\n`);
    const error = errorLine(err);
    for (const part of settings.parts) if (!out.parts.some((p) => p.part === part)) out.parts.push({ part, users, error });
    if (scale) for (const n of settings.workers) if (!out.scale.some((s) => s.workers === n)) out.scale.push({ workers: n, error });
  }
  return out;
}

function printSummary(parts: PartResult[], scale: ScaleResult[], users: number, parallelism: number, sizing: { rows: number; hours: number }[]): void {
  const cols = [
    ['entity set', 11],
    ['users', 11],
    ['rows', 12],
    ['pipeline s', 12],
    ['pipeline rows/s', 17],
    ['hand-written s', 16],
    ['hand-written rows/s', 21],
    ['pipeline/hand', 15],
    ['worker peak RSS', 0],
  ] as const;
  const line = (cells: string[]) => cells.map((c, i) => (cols[i]![1] ? c.padEnd(cols[i]![1]) : c)).join('').trimEnd();
  console.log('');
  console.log(line(cols.map((c) => c[0])));
  for (const r of parts) {
    if (r.error) {
      console.log(line([r.part, fmt(r.users), `failed: ${r.error}`]));
      continue;
    }
    const pr = r.rows! / r.pipelineSeconds!;
    const hr = r.handRows! / r.handSeconds!;
    console.log(line([r.part, fmt(r.users), fmt(r.rows!), fmt(r.pipelineSeconds!, 1), fmt(pr), fmt(r.handSeconds!, 1), fmt(hr), (pr / hr).toFixed(3), `${fmt(r.peakMiB!)} MiB${r.mismatch ? '  (targets differ: see above)' : ''}`]));
  }
  for (const part of ['users', 'lms'] as const) {
    const done = parts.filter((r) => r.part === part && !r.error).sort((a, b) => a.users - b.users);
    if (done.length < 2) continue;
    const [a, b] = [done[0]!, done[done.length - 1]!];
    const ratio = b.peakMiB! / a.peakMiB!;
    console.log(`worker peak memory, ${part}: ${fmt(b.users)} vs ${fmt(a.users)} users (${fmt(b.rows! / a.rows!, 1)}x the rows): ${ratio.toFixed(2)}x the memory (goal ≤ 1.25${ratio <= 1.25 ? ', met' : ', NOT met'})`);
  }
  if (scale.length) printScaleSummary(scale, users, parallelism, sizing);
}

/** The scale-out's table: rows/s per worker count, the cores each tier used, what bounded it; then the sizing that follows. */
function printScaleSummary(scale: ScaleResult[], users: number, parallelism: number, sizing: { rows: number; hours: number }[]): void {
  console.log('');
  console.log(`scale-out: ${PLAN_FILES.users}, ${fmt(users)} users, parallelism ${parallelism}, worker processes on one task queue, ${temporalKind()}`);
  const tiers = ['workers', 'source db', 'target db', 'control db', 'Temporal server + its db', 'S3 + KMS'];
  const head = ['workers', 'pipeline s', 'rows/s', 'vs 1', 'host busy', 'cores: workers', 'source', 'target', 'control', 'Temporal+db', 'S3+KMS', 'others', 'load avg 1m', 'peak RSS', 'bound'];
  const widths = [16, 12, 8, 7, 11, 16, 8, 8, 9, 13, 8, 8, 13, 10, 0];
  const line = (cells: string[]) => cells.map((c, i) => (widths[i] ? c.padEnd(widths[i]!) : c)).join('').trimEnd();
  console.log(line(head));
  const one = scale.find((s) => s.workers === 1 && !s.error && !s.kill);
  const costs: TierCost[][] = [];
  for (const s of scale) {
    const label = `${s.workers}${s.kill ? ' (1 killed)' : ''}`;
    if (s.error) {
      console.log(`${label.padEnd(16)}failed: ${s.error}`);
      continue;
    }
    const m = s.monitor!;
    const rate = s.rows! / s.seconds!;
    const perRow = tierCosts(m.groups as GroupUse[], s.rows!);
    if (!s.kill) costs.push(perRow);
    const tierCores = tiers.map((t) => fmt((perRow.find((c) => c.tier === t)!.secondsPerRow * s.rows!) / m.wallSeconds, 2));
    console.log(
      line([
        label,
        fmt(s.seconds!, 1),
        fmt(rate),
        one ? `${(rate / (one.rows! / one.seconds!)).toFixed(2)}x` : '-',
        `${Math.round((100 * m.hostBusySeconds) / (cpus().length * m.wallSeconds))} %`,
        ...tierCores,
        fmt(othersOnHost(m), 2),
        `${m.loadStart[0]!.toFixed(2)}-${m.loadEnd[0]!.toFixed(2)}`,
        `${fmt(s.peakMiB!)} MiB`,
        s.bound!,
      ]),
    );
  }
  if (!costs.length) return;
  // CPU per row by tier, averaged over the runs without a kill: what each tier must take per row.
  const mean: TierCost[] = tiers.map((tier) => ({ tier, secondsPerRow: costs.reduce((n, c) => n + c.find((x) => x.tier === tier)!.secondsPerRow, 0) / costs.length }));
  console.log(`CPU per row by tier (mean of ${costs.length} run${costs.length > 1 ? 's' : ''}): ${mean.map((c) => `${c.tier} ${fmt(c.secondsPerRow * 1e6)} µs`).join(', ')}`);
  const clean = scale.filter((s) => !s.error && !s.kill);
  const bytesPerRow = (f: (d: NonNullable<ScaleResult['disk']>) => number) => clean.reduce((n, s) => n + (f(s.disk!) * 2 ** 20) / s.rows!, 0) / clean.length;
  const target = bytesPerRow((d) => d.targetMiB);
  const control = bytesPerRow((d) => d.controlMiB);
  const perWorker = (group: string) => Math.max(...clean.map((s) => (s.monitor!.connections.get(group) ?? 0) / s.workers));
  console.log(
    `disk per row (what the runs added): target ${fmt(target)} B, control ${fmt(control)} B; client connections per worker at most: target ${fmt(perWorker('target db'), 1)}, control ${fmt(perWorker('control db'), 1)}, source ${fmt(perWorker('source db'), 1)}`,
  );
  for (const { rows, hours } of sizing) {
    const z = sizeFor(mean, rows, hours * 3600);
    console.log(
      `sizing: ${fmt(rows)} rows in ${fmt(hours)} h = ${fmt(z.rowsPerSecond)} rows/s; at most 70 % busy: ${z.workers} worker${z.workers > 1 ? 's' : ''} of 1 core, ${z.cores.filter((c) => c.tier !== 'workers').map((c) => `${c.tier} ${fmt(c.cores, 2)} cores`).join(', ')}; disk: target ${fmt((rows * target) / 2 ** 30, 1)} GiB, control ${fmt((rows * control) / 2 ** 30, 1)} GiB`,
    );
  }
}

async function main(): Promise<number> {
  installExitHandlers();
  const settings = parseSettings();
  const disk = statfsSync(ROOT);
  console.log(
    `Cutover benchmark: the pipeline beside hand-written SQL (psql \\copy), ${cpus().length} cores, ${fmt(totalmem() / 2 ** 30, 1)} GiB memory, ${fmt((disk.bavail * disk.bsize) / 2 ** 30)} GiB disk free; sizes ${settings.sizes.map((n) => fmt(n)).join(', ')} users`,
  );
  const bundle = await buildWorkflowBundle();
  process.once('exit', bundle.remove);
  if (SHAPED_PHONES) console.log('BENCH_TOKENS=format_preserving: kept phone tokens are FF1 of the number\'s shape (no vault row), as the plans\' token: format_preserving would make them');
  console.log(`workflow bundle built beforehand in ${fmt(bundle.seconds, 1)} s (${mib(bundle.bytes)}): every worker loads it (CUTOVER_WORKFLOW_BUNDLE)`);
  const parts: PartResult[] = [];
  const scale: ScaleResult[] = [];
  const sync: SyncRun[] = [];
  const follow: FollowMemoryRun[] = [];
  const smallest = Math.min(...settings.sizes);
  try {
    for (const users of settings.parts.length || settings.workers.length ? settings.sizes : []) {
      const wantScale = settings.workers.length > 0 && users === smallest && !scale.length;
      const r = await runSize(users, settings, bundle.path, wantScale);
      parts.push(...r.parts);
      scale.push(...r.scale);
    }
    for (const users of settings.sync.sizes) sync.push(...(await runSyncSize(users, settings.sync, bundle.path)));
    if (settings.follow.length) console.log('\n## The slot follower against one large source transaction (logical sync)');
    for (const rows of settings.follow) {
      const r = await runFollowMemory(rows);
      follow.push(r);
      console.log(
        r.error
          ? `  ${fmt(rows)} rows in one transaction: FAILED: ${r.error}`
          : `  ${fmt(rows)} rows in one transaction: followed in ${fmt(r.seconds, 1)} s (${fmt(rows / r.seconds)} keys/s), peak RSS ${fmt(r.peakRssMiB)} MiB, at most ${fmt(r.largestWrite)} keys held at once (one write)`,
      );
    }
  } finally {
    bundle.remove();
  }
  if (parts.length || scale.length) printSummary(parts, scale, smallest, settings.scaleParallelism, settings.sizing);
  if (sync.length) printSyncSummary(sync, settings.sync);
  const failed = parts.filter((p) => p.error || p.mismatch).length + scale.filter((s) => s.error).length + sync.filter((s) => s.error || s.mismatch).length + follow.filter((f) => f.error).length;
  if (failed) console.log(`\n${failed} run${failed > 1 ? 's' : ''} failed or did not match: see above`);
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
