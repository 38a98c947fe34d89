/**
 * The bench's sync part: how far a syncing migration stays behind a live source, how long the
 * cutover keeps the source frozen, and what a team would do instead (freeze, then copy
 * everything again by hand).
 *
 * For each capture mode, on a fresh target: the plan (examples/lms.plan.yaml's org_units, users,
 * courses and enrollments, a change column on each, `sync: { mode, interval_seconds: 1 }`, every
 * other setting the plan's default) fully loaded by one worker; then a steady writer on the
 * source for a while, the migration's progress query sampled every second (`report.sync.lag`)
 * and the target probed four times a second for the newest user the writer inserted; then the
 * freeze (the writer stops), the cutover update, and the wait for completion; then, the worker
 * stopped, the hand-written copy (scripts/bench/handwritten.ts) of the frozen source into an
 * empty, indexed target, timed, and compared with the synced target row for row.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import type { WorkflowHandle } from '@temporalio/client';
import { Client } from 'pg';
import { parse } from 'yaml';
import { createS3Client } from '../../src/clients/aws';
import { CONTROL_SCHEMA } from '../../src/control/schema';
import { connectClient } from '../../src/clients/temporal';
import { startMigration } from '../../src/migration-client';
import { migrationId } from '../../src/plan/hash';
import type { Plan } from '../../src/plan/types';
import { validatePlan } from '../../src/plan/validate';
import type { MigrationReport } from '../../src/shared/migration';
import { cutoverUpdate, progressQuery } from '../../src/shared/queries';
import { postgresUrl } from '../../src/stack/endpoints';
import { checkInterrupted, Cleanup, errorLine, wasInterrupted, withCleanup } from './cleanup';
import { LMS_STEPS, runHandWritten } from './handwritten';
import { checkpoint, contentOf, createTargetSchema, deletePrefix, dropDatabase, freshDatabase, withDb } from './resources';
import { SYNC_ENTITIES, syncSource, SyncSource } from './sync-source';
import { SteadyWriter, startSteadyWriter } from './sync-writer';
import { ActivityTime, activityTimes, cpuSeconds, freePort, peakRssMiB, spawnWorker, stopWorkers, tailOf } from './workers';

const ROOT = join(__dirname, '..', '..');
export const SYNC_PLAN_FILE = 'examples/lms.plan.yaml';

export type SyncMode = 'logical' | 'poll';

export interface SyncSettings {
  /** Source rows the writer changes a second. */
  rate: number;
  /** How long the writer runs before the freeze, seconds. */
  seconds: number;
  modes: SyncMode[];
}

/** p50, p95 and the maximum of a series (nearest rank). */
export interface Spread {
  p50: number;
  p95: number;
  max: number;
  /** The last value: whether it settled or kept growing. */
  last: number;
  n: number;
}

export interface SyncRun {
  mode: SyncMode;
  users: number;
  error?: string;
  /** Set when the synced target and the hand-written copy of the frozen source differ. */
  mismatch?: string;
  fullLoad?: { rows: number; seconds: number };
  steady?: {
    seconds: number;
    writerChanges: number;
    lagSeconds: Spread;
    lagChanges: Spread;
    retainedWal?: Spread;
    /** A new user's row in the target after its insert committed, seconds (the bench's own probe). */
    visible?: Spread;
    applied: { inserted: number; updated: number; deleted: number; unchanged: number; quarantined: number };
    rounds: number;
    cpuSeconds: number;
    activities: [string, ActivityTime][];
  };
  cutover?: {
    /** Request to completion, measured by the bench. */
    wallSeconds: number;
    windowSeconds?: number;
    finalRounds: number;
    finalChanges: number;
    /** From the workflow's history: the request to the final reconcile's start, the final reconcile, the rest. */
    beforeReconcileSeconds?: number;
    reconcileSeconds?: number;
    reconciledRows: number;
    /** The final step compared only the rows not verified (and the counts), not every row. */
    tail?: boolean;
    slotLeft?: boolean;
    /** What the control database holds quarantined at the end, by entity and reason (rows a round quarantined may have gone through later). */
    quarantine: string[];
  };
  peakMiB?: number;
  hand?: { seconds: number; steps: string; rows: number };
}

const fmt = (n: number, digits = 0) => n.toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const mib = (bytes: number) => `${fmt(bytes / 2 ** 20, 1)} MiB`;
const secondsSince = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e9;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const say = (text: string) => process.stdout.write(text);

export function spread(values: number[]): Spread | undefined {
  if (!values.length) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
  return { p50: rank(0.5), p95: rank(0.95), max: sorted[sorted.length - 1]!, last: values[values.length - 1]!, n: values.length };
}

const showSpread = (s: Spread | undefined, unit: (n: number) => string) => (s ? `p50 ${unit(s.p50)}, p95 ${unit(s.p95)}, max ${unit(s.max)} (last ${unit(s.last)})` : 'no samples');

/**
 * The plan a user would write for this: the LMS plan's four entities people and enrollments
 * need, in one phase, each with its change column, and a sync section; validated as a plan file
 * is, so every setting not given here is the schema's default.
 */
export function syncPlan(name: string, mode: SyncMode, source: SyncSource, slot: string): Plan {
  const file = parse(readFileSync(join(ROOT, SYNC_PLAN_FILE), 'utf8')) as { name: string; entities: Record<string, { source: Record<string, unknown> }>; phases?: unknown; sync?: unknown };
  file.name = name;
  file.entities = Object.fromEntries(Object.entries(file.entities).filter(([entity]) => SYNC_ENTITIES.includes(entity)).map(([entity, e]) => [entity, { ...e, source: { ...e.source, change_column: 'changed_at' } }]));
  file.phases = [{ name: 'all', entities: SYNC_ENTITIES }];
  file.sync = { mode, interval_seconds: 1, slot, publication: source.publication };
  return validatePlan(file, SYNC_PLAN_FILE);
}

const toMs = (ts: { seconds?: unknown; nanos?: number | null } | null | undefined) => (ts ? Number(String(ts.seconds ?? 0)) * 1000 + (ts.nanos ?? 0) / 1e6 : undefined);

/** From the workflow's history: when the cutover was accepted, and the final step's span (its verifyTail activities, or verifyEntity with --full or before the patch). */
async function cutoverTimings(handle: WorkflowHandle): Promise<{ beforeReconcile: number; reconcile: number } | undefined> {
  const events = (await handle.fetchHistory()).events ?? [];
  let accepted: number | undefined;
  const verifies = new Map<string, number>();
  let first: number | undefined;
  let last: number | undefined;
  for (const e of events) {
    const at = toMs(e.eventTime);
    if (at === undefined) continue;
    if (e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name === 'cutover') accepted = at;
    const scheduled = e.activityTaskScheduledEventAttributes;
    if ((scheduled?.activityType?.name === 'verifyEntity' || scheduled?.activityType?.name === 'verifyTail') && accepted !== undefined) {
      verifies.set(String(e.eventId), at);
      first ??= at;
    }
    const completed = e.activityTaskCompletedEventAttributes;
    if (completed && verifies.has(String(completed.scheduledEventId))) last = at;
  }
  if (accepted === undefined || first === undefined || last === undefined) return undefined;
  return { beforeReconcile: (first - accepted) / 1000, reconcile: (last - first) / 1000 };
}

/** Polls `probe` every `everyMs` until `stop()`; the first error is kept (and thrown by `check`). */
function every(everyMs: number, probe: () => Promise<void>) {
  let running = true;
  let failure: Error | undefined;
  const done = (async () => {
    while (running) {
      const t0 = Date.now();
      await probe().catch((err) => void (failure ??= err as Error));
      await sleep(Math.max(0, everyMs - (Date.now() - t0)));
    }
  })();
  return {
    check: () => {
      if (failure) throw failure;
    },
    stop: async () => {
      running = false;
      await done;
    },
  };
}

/** One capture mode on a fresh target: full load, steady writes, freeze and cutover, then the hand-written copy of the frozen source. */
async function runMode(source: SyncSource, mode: SyncMode, settings: SyncSettings, bundlePath: string, s3: S3Client): Promise<SyncRun> {
  const run: SyncRun = { mode, users: source.users };
  const { names, config, mainAdmin } = source;
  say(`  ${mode}: `);
  try {
    await withCleanup(async (cleanup) => {
      checkInterrupted();
      const hex = randomBytes(3).toString('hex');
      // The slot's name is the server's, not the database's: one of the run's own.
      const plan = syncPlan(`bench-sync-${mode}-${source.users}-${hex}`, mode, source, `cutover_bench_${mode}_${hex}`);
      const id = migrationId(plan);
      await freshDatabase(mainAdmin, names.target, names.app);
      await freshDatabase(mainAdmin, names.control, names.app);
      await createTargetSchema(config.databases.targetUrl!);
      const staging = { bucket: plan.staging.bucket ?? config.s3.bucket, prefix: `${plan.staging.prefix}/${id}/` };
      cleanup.defer(`delete staged objects s3://${staging.bucket}/${staging.prefix}`, () => deletePrefix(s3, staging.bucket, staging.prefix));
      cleanup.defer(`drop slot ${plan.sync!.slot} if left`, () =>
        withDb(source.logicalAdmin, (db) => db.query('select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = $1', [plan.sync!.slot])),
      );

      await checkpoint(mainAdmin);
      await checkpoint(source.logicalAdmin);
      const metrics = `127.0.0.1:${await freePort()}`;
      const worker = await spawnWorker({
        ...process.env,
        CUTOVER_TASK_QUEUE: config.temporal.taskQueue,
        CUTOVER_SOURCE_URL: config.databases.sourceUrl,
        CUTOVER_TARGET_URL: config.databases.targetUrl,
        CUTOVER_CONTROL_URL: config.databases.controlUrl,
        CUTOVER_LOG_LEVEL: 'WARN',
        CUTOVER_WORKFLOW_BUNDLE: bundlePath,
        CUTOVER_METRICS_ADDRESS: metrics,
      });
      let workerStopped = false;
      cleanup.defer('stop the worker', () => stopWorkers([worker]));
      let dead: Error | undefined;
      const workerDied = worker.exited.then(() => {
        if (workerStopped) return;
        dead = new Error(`the worker (pid ${worker.pid}) ended (${worker.how()}) during the migration${tailOf(worker.stderrTail())}`);
        throw dead;
      });
      workerDied.catch(() => undefined);

      const { client, connection } = await connectClient(config);
      cleanup.defer('close the Temporal connection', () => connection.close());
      const t0 = process.hrtime.bigint();
      const started = await startMigration(config, plan, { taskQueue: config.temporal.taskQueue, startedBy: 'cutover-bench' });
      const handle = client.workflow.getHandle(started.workflowId);
      let ended = false;
      cleanup.defer(`terminate workflow ${started.workflowId} if still running`, async () => {
        if (!ended) await handle.terminate(`cutover bench: ${wasInterrupted() ? 'interrupted' : 'the run failed'}`).catch(() => undefined);
      });
      /** The report, unless the migration is failing or rolling back. */
      const going = (r: MigrationReport) => {
        if (['failed', 'rolling-back', 'rolled-back', 'rollback-blocked'].includes(r.status)) throw new Error(`migration ${started.workflowId} is ${r.status}${r.rollback?.reason ? `: ${r.rollback.reason}` : ''}`);
        return r;
      };
      const progress = async () => {
        if (dead) throw dead;
        return going(await handle.query(progressQuery));
      };

      // The full load: until the first sync round. (The query fails until the workflow's first task has run.)
      say('full load...');
      let report: MigrationReport | undefined;
      while (report?.status !== 'syncing' || (report.sync?.rounds ?? 0) < 1) {
        checkInterrupted();
        await sleep(500);
        if (dead) throw dead;
        report = await handle.query(progressQuery).catch(() => report);
        if (report) going(report);
      }
      const loadedRows = report.entities.reduce((n, e) => n + e.inserted, 0);
      run.fullLoad = { rows: loadedRows, seconds: secondsSince(t0) };
      say(` ${fmt(loadedRows)} rows in ${fmt(run.fullLoad.seconds, 1)} s (${fmt(loadedRows / run.fullLoad.seconds)} rows/s); `);

      // The steady write load, the progress sampled every second, the target probed for the writer's newest user.
      say(`writer at ${fmt(settings.rate)} changes/s for ${fmt(settings.seconds)} s...`);
      const writer: SteadyWriter = await startSteadyWriter(source.ownerUrl, settings.rate);
      let writerStopped = false;
      cleanup.defer('stop the writer', async () => {
        if (!writerStopped) await writer.stop().catch(() => undefined);
      });
      const visible: number[] = [];
      let seenUpTo = 0;
      const probeDb = new Client({ connectionString: config.databases.targetUrl, application_name: 'cutover-bench-probe' });
      await probeDb.connect();
      cleanup.defer('close the probe connection', () => probeDb.end());
      const probe = every(250, async () => {
        const newest = Number((await probeDb.query('select coalesce(max(legacy_user_id), 0) as m from people')).rows[0].m);
        const now = Date.now();
        for (const u of writer.tally().inserted.slice(seenUpTo)) {
          if (u.userId > newest) break;
          visible.push((now - u.at) / 1000);
          seenUpTo++;
        }
      });
      cleanup.defer('stop the probe', () => probe.stop());
      const before = report;
      const cpu0 = cpuSeconds(worker.pid);
      const activities0 = await activityTimes(metrics).catch(() => new Map<string, ActivityTime>());
      const lagSeconds: number[] = [];
      const lagChanges: number[] = [];
      const wal: number[] = [];
      const s0 = process.hrtime.bigint();
      while (secondsSince(s0) < settings.seconds) {
        checkInterrupted();
        if (writer.error()) throw writer.error()!;
        probe.check();
        const tick = Date.now();
        report = await progress();
        const lag = report.sync?.lag;
        if (lag) {
          lagSeconds.push(lag.seconds);
          lagChanges.push(lag.changes);
          if (lag.retainedWalBytes !== undefined) wal.push(lag.retainedWalBytes);
        }
        await sleep(Math.max(0, 1000 - (Date.now() - tick)));
      }
      const steadySeconds = secondsSince(s0);
      const cpu = cpuSeconds(worker.pid) - cpu0;
      const activities1 = await activityTimes(metrics).catch(() => new Map<string, ActivityTime>());
      const spent: [string, ActivityTime][] = [...activities1]
        .map(([type, t]): [string, ActivityTime] => {
          const a = activities0.get(type) ?? { seconds: 0, count: 0, failed: 0 };
          return [type, { seconds: t.seconds - a.seconds, count: t.count - a.count, failed: t.failed - a.failed }];
        })
        .filter(([, t]) => t.count > 0)
        .sort((a, b) => b[1].seconds - a[1].seconds);
      const a0 = before.sync!.applied;
      const a1 = report.sync!.applied;

      // The freeze: the writer stops; then the cutover, and the wait for completion.
      const tally = await writer.stop();
      writerStopped = true;
      run.steady = {
        seconds: steadySeconds,
        writerChanges: tally.changes,
        lagSeconds: spread(lagSeconds)!,
        lagChanges: spread(lagChanges)!,
        retainedWal: spread(wal),
        applied: { inserted: a1.inserted - a0.inserted, updated: a1.updated - a0.updated, deleted: a1.deleted - a0.deleted, unchanged: a1.unchanged - a0.unchanged, quarantined: a1.quarantined - a0.quarantined },
        rounds: report.sync!.rounds - before.sync!.rounds,
        cpuSeconds: cpu,
        activities: spent,
      };
      say(` ${fmt(tally.changes)} changes (${fmt(tally.changes / tally.seconds)}/s); cutover...`);
      const c0 = process.hrtime.bigint();
      await handle.executeUpdate(cutoverUpdate, { args: [{ by: 'cutover-bench', reason: 'bench: the writer stopped (the freeze)' }] });
      let final: MigrationReport;
      try {
        final = (await Promise.race([handle.result(), workerDied])) as MigrationReport;
      } catch (err) {
        throw new Error(`migration ${started.workflowId} failed: ${(err as Error).message ?? String(err)}${(err as Error).cause ? ` (${errorLine((err as Error).cause)})` : ''}`, { cause: err });
      }
      const wallSeconds = secondsSince(c0);
      ended = true;
      await probe.stop();
      probe.check();
      run.steady.visible = spread(visible);
      run.peakMiB = peakRssMiB(worker.pid);
      const k = final.cutover;
      if (final.status !== 'completed' || !k?.verified?.clean) throw new Error(`migration ended ${final.status}${k?.refused ? `: ${k.refused}` : k?.verified && !k.verified.clean ? ': the final reconcile is not clean' : ''}`);
      const timings = await cutoverTimings(handle).catch(() => undefined);
      const quarantine = await withDb(config.databases.controlUrl!, async (db) =>
        (await db.query<{ entity: string; reason: string; n: number }>(`select entity, reason, count(*)::int as n from ${CONTROL_SCHEMA}.quarantine where migration_id = $1 group by 1, 2 order by 1, 2`, [id])).rows.map(
          (q) => `${q.entity} ${q.reason} ${fmt(q.n)}`,
        ),
      );
      const slotLeft =
        mode === 'logical' ? (await withDb(source.logicalAdmin, (db) => db.query('select 1 from pg_replication_slots where slot_name = $1', [plan.sync!.slot]))).rowCount! > 0 : undefined;
      run.cutover = {
        wallSeconds,
        windowSeconds: k.windowSeconds,
        finalRounds: k.finalRounds,
        finalChanges: k.finalChanges,
        beforeReconcileSeconds: timings?.beforeReconcile,
        reconcileSeconds: timings?.reconcile,
        reconciledRows: k.verified.entities.reduce((n, e) => n + e.compared, 0),
        tail: k.verified.entities.every((e) => e.scope === 'tail'),
        slotLeft,
        quarantine,
      };
      say(` ${fmt(wallSeconds, 1)} s\n`);
      workerStopped = true;
      await stopWorkers([worker]);

      // What a team would do instead: the source frozen, everything copied again by hand into an empty target.
      const handDb = `${names.source.replace(/_source$/, '')}_hand`;
      await freshDatabase(mainAdmin, handDb, names.app);
      cleanup.defer(`drop database ${handDb}`, () => dropDatabase(mainAdmin, handDb));
      const handUrl = postgresUrl(mainAdmin, names.app, source.appPassword, handDb);
      await createTargetSchema(handUrl);
      await checkpoint(mainAdmin);
      await checkpoint(source.logicalAdmin);
      const h0 = process.hrtime.bigint();
      const hand = await runHandWritten(
        LMS_STEPS.filter((s) => SYNC_ENTITIES.includes(s.entity)),
        { sourceUrl: config.databases.sourceUrl!, targetUrl: handUrl, s3 },
      );
      const handSeconds = secondsSince(h0);
      const [mine, theirs] = await Promise.all([contentOf(config.databases.targetUrl!, plan), contentOf(handUrl, plan)]);
      run.hand = { seconds: handSeconds, steps: hand.steps.map((s) => `${s.entity} ${fmt(s.rowsSeconds, 1)} s`).join(', '), rows: [...theirs.values()].reduce((a, b) => a + b.rows, 0) };
      const problems: string[] = [];
      const counts = plan.entities.map((e) => {
        const [p, h] = [mine.get(e.name)!, theirs.get(e.name)!];
        if (p.rows !== h.rows) problems.push(`${e.target.table}: ${fmt(p.rows)} rows synced, ${fmt(h.rows)} by hand`);
        else if (p.sum !== h.sum) problems.push(`${e.target.table}: same rows, different content`);
        return `${e.target.table} ${fmt(p.rows)}/${fmt(h.rows)}`;
      });
      if (problems.length) run.mismatch = problems.join('; ');
      printMode(run, counts, settings);
    });
  } catch (err) {
    run.error = errorLine(err);
    say(`\n    FAILED: ${(err as Error).message}\n`);
  }
  return run;
}

function printMode(r: SyncRun, counts: string[], settings: SyncSettings): void {
  const s = r.steady!;
  const k = r.cutover!;
  const rate = (s.applied.inserted + s.applied.updated + s.applied.deleted) / s.seconds;
  const top = s.activities.slice(0, 5).map(([type, t]) => `${type} ${fmt(t.seconds, 1)} s (${fmt(t.count)}x)`);
  say(`    lag, the workflow's report.sync.lag sampled every second (${fmt(s.lagSeconds.n)} samples): seconds ${showSpread(s.lagSeconds, (n) => fmt(n))}; changes ${showSpread(s.lagChanges, (n) => fmt(n))}`);
  say(s.retainedWal ? `; retained WAL ${showSpread(s.retainedWal, mib)}\n` : '\n');
  if (s.visible) say(`    a new user in the target after its insert (the bench's probe, every 0.25 s, ${fmt(s.visible.n)} users): ${showSpread(s.visible, (n) => `${fmt(n, 1)} s`)}\n`);
  say(
    `    applied during the ${fmt(s.seconds)} s: ${fmt(rate)} rows/s (${fmt(s.applied.inserted)} inserted, ${fmt(s.applied.updated)} updated, ${fmt(s.applied.deleted)} deleted; ${fmt(s.applied.unchanged)} read again unchanged${s.applied.quarantined ? `, ${fmt(s.applied.quarantined)} quarantined` : ''}) in ${fmt(s.rounds)} rounds (${fmt(s.seconds / Math.max(1, s.rounds), 1)} s each); writer ${fmt(s.writerChanges / s.seconds)} changes/s (asked ${fmt(settings.rate)})\n`,
  );
  say(`    worker: CPU ${fmt(s.cpuSeconds, 1)} s over the ${fmt(s.seconds)} s, peak RSS ${fmt(r.peakMiB!)} MiB; time in activities: ${top.join(', ') || 'not measured'}\n`);
  const parts =
    k.reconcileSeconds !== undefined ? `: ${k.tail ? 'final delta and the round that found none' : 'quiet period (sync.quiet_seconds) and final delta'} ${fmt(k.beforeReconcileSeconds!, 1)} s, ${k.tail ? 'final verification' : 'final reconcile'} ${fmt(k.reconcileSeconds, 1)} s, completion ${fmt(Math.max(0, (k.windowSeconds ?? k.wallSeconds) - k.beforeReconcileSeconds! - k.reconcileSeconds), 1)} s` : '';
  say(
    `    cutover: window ${fmt(k.wallSeconds, 1)} s measured, ${k.windowSeconds !== undefined ? fmt(k.windowSeconds, 1) : '?'} s reported (report.cutover.windowSeconds)${parts}; final delta ${fmt(k.finalChanges)} rows in ${fmt(k.finalRounds)} rounds; ${k.tail ? `final verification of the ${fmt(k.reconciledRows)} row(s) not verified since their last change and the counts both ways` : `final reconcile of ${fmt(k.reconciledRows)} rows`}, clean${k.slotLeft === undefined ? '' : k.slotLeft ? '; the replication slot is STILL THERE' : '; slot dropped'}; quarantined at the end: ${k.quarantine.join(', ') || 'none'}\n`,
  );
  say(`    frozen full copy by hand: ${fmt(r.hand!.seconds, 1)} s (${r.hand!.steps}); rows (synced/by hand): ${counts.join(', ')}; content ${r.mismatch ? `DIFFERS: ${r.mismatch}` : 'the same (tokens aside)'}\n`);
}

/** Seeds a live source at `users`, runs each mode on it, removes everything. */
export async function runSyncSize(users: number, settings: SyncSettings, bundlePath: string): Promise<SyncRun[]> {
  const runs: SyncRun[] = [];
  try {
    await withCleanup(async (cleanup: Cleanup) => {
      checkInterrupted();
      say(`sync, ${fmt(users)} users: seeding the source on the logical server...`);
      const source = await syncSource(users, cleanup);
      const s3 = createS3Client(source.config.s3);
      cleanup.defer('close the S3 client', () => s3.destroy());
      const r = source.seeded;
      say(` ${fmt(source.seedSeconds, 1)} s; synced: ${fmt(r.orgUnits)} org units, ${fmt(r.users)} users, ${fmt(r.courses)} courses, ${fmt(r.enrollments)} enrollments\n`);
      for (const mode of settings.modes) runs.push(await runMode(source, mode, settings, bundlePath, s3));
    });
  } catch (err) {
    say(`\n  FAILED: ${(err as Error).message}\n`);
    for (const mode of settings.modes) if (!runs.some((r) => r.mode === mode)) runs.push({ mode, users, error: errorLine(err) });
  }
  return runs;
}

export function printSyncSummary(runs: SyncRun[], settings: SyncSettings): void {
  console.log('');
  console.log(`sync: ${SYNC_PLAN_FILE}'s ${SYNC_ENTITIES.join(', ')}; sync every 1 s; a writer at ${fmt(settings.rate)} changes/s for ${fmt(settings.seconds)} s, then the freeze and the cutover`);
  console.log('mode     users      full load s  applied rows/s  lag s p50/p95/max  lag changes p50/p95/max  retained WAL max  window s  final step s      hand copy s  window/hand');
  for (const r of runs) {
    const head = `${r.mode.padEnd(9)}${fmt(r.users).padEnd(11)}`;
    if (r.error) {
      console.log(`${head}failed: ${r.error}`);
      continue;
    }
    const s = r.steady!;
    const k = r.cutover!;
    const rate = (s.applied.inserted + s.applied.updated + s.applied.deleted) / s.seconds;
    console.log(
      head +
        fmt(r.fullLoad!.seconds, 1).padEnd(13) +
        fmt(rate).padEnd(16) +
        `${s.lagSeconds.p50}/${s.lagSeconds.p95}/${s.lagSeconds.max}`.padEnd(19) +
        `${fmt(s.lagChanges.p50)}/${fmt(s.lagChanges.p95)}/${fmt(s.lagChanges.max)}`.padEnd(25) +
        (s.retainedWal ? mib(s.retainedWal.max) : '-').padEnd(18) +
        fmt(k.wallSeconds, 1).padEnd(10) +
        (k.reconcileSeconds !== undefined ? fmt(k.reconcileSeconds, 1) : '?').padEnd(19) +
        fmt(r.hand!.seconds, 1).padEnd(13) +
        (k.wallSeconds / r.hand!.seconds).toFixed(2) +
        (r.mismatch ? '  (targets differ: see above)' : ''),
    );
  }
  for (const r of runs.filter((x) => !x.error)) {
    console.log(`${r.mode}, ${fmt(r.users)} users: cutover window ${fmt(r.cutover!.wallSeconds, 1)} s vs ${fmt(r.hand!.seconds, 1)} s for a frozen full copy by hand (${(r.cutover!.wallSeconds / r.hand!.seconds).toFixed(2)})`);
  }
}
