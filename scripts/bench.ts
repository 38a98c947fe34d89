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
 *   BENCH_ONLY=users|lms|scale|sync  one part alone (default: all four)
 *   BENCH_WORKERS="1,2,3"          the scale-out's worker counts; "none" skips it
 *   BENCH_SCALE_PARALLELISM=N      the plan's parallelism in the scale-out (default 2 per worker of the most)
 *   BENCH_SYNC_MODES="logical,poll"  the sync part's capture modes; "none" skips it
 *   BENCH_SYNC_RATE=200            source rows the sync part's writer changes a second
 *   BENCH_SYNC_SECONDS=60          how long it writes before the freeze and the cutover
 *   BENCH_TOKENS=format_preserving  kept phone tokens of the number's shape (FF1, no vault row) instead of the vault's
 *   BENCH_PROFILE=<dir>            each worker writes a CPU profile (node --cpu-prof) into <dir> when it stops
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
import { checkpoint, contentOf, createBucket, createTargetSchema, databaseMiB, dbUrl, dropDatabase, freshDatabase, objectStats, removeBucket, schemaMiB, schemaTablesMiB } from './bench/resources';
import { printSyncSummary, runSyncSize, SyncMode, SyncRun } from './bench/sync';
import { buildWorkflowBundle } from './bench/workers';

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
  rows?: number;
  seconds?: number;
  peakMiB?: number;
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
  if (only && !['users', 'lms', 'scale', 'sync'].includes(only)) throw new Error(`BENCH_ONLY: expected users, lms, scale or sync, got ${JSON.stringify(only)}`);
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
  return { sizes, parts, workers, scaleParallelism, sync };
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

/** The users plan with `workers` worker processes on one task queue. */
async function runScale(ctx: SizeContext, workers: number, parallelism: number): Promise<ScaleResult> {
  const result: ScaleResult = { workers };
  say(`  ${workers} worker${workers > 1 ? 's' : ''}...`);
  try {
    await withCleanup(async (cleanup) => {
      checkInterrupted();
      await freshTargets(ctx);
      const plan = benchPlan('users', `bench-scale${workers}-${ctx.users}-${randomBytes(3).toString('hex')}`, undefined, parallelism);
      const run = await runPipeline({ plan, config: ctx.config, workers, bundlePath: ctx.bundlePath, s3: ctx.s3, cleanup });
      Object.assign(result, { rows: run.rows, seconds: run.seconds, peakMiB: run.peakMiB });
      say(` ${fmt(run.seconds, 1)} s, ${fmt(run.rows / run.seconds)} rows/s\n`);
    });
  } catch (err) {
    result.error = errorLine(err);
    say(`\n    FAILED: ${(err as Error).message}\n`);
  }
  return result;
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
      if (scale) {
        say(`  scale-out (users plan, parallelism ${settings.scaleParallelism}):\n`);
        for (const n of settings.workers) out.scale.push(await runScale(ctx, n, settings.scaleParallelism));
      }
    });
  } catch (err) {
    say(`\n  FAILED: ${(err as Error).message}\n`);
    const error = errorLine(err);
    for (const part of settings.parts) if (!out.parts.some((p) => p.part === part)) out.parts.push({ part, users, error });
    if (scale) for (const n of settings.workers) if (!out.scale.some((s) => s.workers === n)) out.scale.push({ workers: n, error });
  }
  return out;
}

function printSummary(parts: PartResult[], scale: ScaleResult[], users: number, parallelism: number): void {
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
  if (scale.length) {
    console.log('');
    console.log(`scale-out: ${PLAN_FILES.users}, ${fmt(users)} users, parallelism ${parallelism}, worker processes on one task queue`);
    console.log('workers  pipeline s  rows/s     vs 1 worker  worker peak RSS (highest)');
    const one = scale.find((s) => s.workers === 1 && !s.error);
    for (const s of scale) {
      if (s.error) {
        console.log(`${String(s.workers).padEnd(9)}failed: ${s.error}`);
        continue;
      }
      const rate = s.rows! / s.seconds!;
      const vs = one ? `${(rate / (one.rows! / one.seconds!)).toFixed(2)}x` : '-';
      console.log(`${String(s.workers).padEnd(9)}${fmt(s.seconds!, 1).padEnd(12)}${fmt(rate).padEnd(11)}${vs.padEnd(13)}${fmt(s.peakMiB!)} MiB`);
    }
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
  const smallest = Math.min(...settings.sizes);
  try {
    for (const users of settings.parts.length || settings.workers.length ? settings.sizes : []) {
      const wantScale = settings.workers.length > 0 && users === smallest && !scale.length;
      const r = await runSize(users, settings, bundle.path, wantScale);
      parts.push(...r.parts);
      scale.push(...r.scale);
    }
    for (const users of settings.sync.sizes) sync.push(...(await runSyncSize(users, settings.sync, bundle.path)));
  } finally {
    bundle.remove();
  }
  if (parts.length || scale.length) printSummary(parts, scale, smallest, settings.scaleParallelism);
  if (sync.length) printSyncSummary(sync, settings.sync);
  const failed = parts.filter((p) => p.error || p.mismatch).length + scale.filter((s) => s.error).length + sync.filter((s) => s.error || s.mismatch).length;
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
