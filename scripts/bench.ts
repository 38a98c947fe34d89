/**
 * `npm run bench`: migrates N demo users through the whole pipeline (extract, tokenize, stage
 * to encrypted S3, load, reconcile) and copies the same table with `pg_dump | psql` on the same
 * machine; prints both rates, their ratio, and the worker's peak memory at each size.
 * Sizes: BENCH_SIZES (default "100000,1000000").
 */
import { execSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DeleteObjectsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { seedLms } from '../demo/lms/seed';
import { createS3Client } from '../src/clients/aws';
import { CutoverConfig, loadConfig, readLocalStack } from '../src/config';
import { startMigration } from '../src/migration-client';
import { migrationId } from '../src/plan/hash';
import { loadPlanFile } from '../src/plan/load';
import { databaseNames, postgresUrl } from '../src/stack/endpoints';
import { dropDatabases, provisionDatabases } from '../src/stack/postgres-provision';

const ROOT = join(__dirname, '..');
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

interface Row {
  rows: number;
  pipelineSeconds: number;
  pipelineRate: number;
  dumpSeconds: number;
  dumpRate: number;
  workerPeakMiB: number;
}

function peakRssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

async function runOne(users: number): Promise<Row> {
  const local = readLocalStack();
  if (!local) throw new Error('run `npx cutover stack up` first');
  const names = databaseNames(`bench_${users}_${randomBytes(3).toString('hex')}`);
  const readerPassword = randomBytes(12).toString('hex');
  const appPassword = randomBytes(12).toString('hex');
  const admin = local.postgres.adminUrl;
  await provisionDatabases({ adminUrl: admin, names, readerPassword, appPassword });
  const base = loadConfig();
  const config: CutoverConfig = {
    ...base,
    temporal: { ...base.temporal, taskQueue: `bench-${names.source}` },
    databases: {
      sourceUrl: postgresUrl(admin, names.reader, readerPassword, names.source),
      targetUrl: postgresUrl(admin, names.app, appPassword, names.target),
      controlUrl: postgresUrl(admin, names.app, appPassword, names.control),
    },
  };
  const owner = new URL(admin);
  owner.pathname = `/${names.source}`;
  const plan = { ...loadPlanFile(join(ROOT, 'examples', 'lms-users.plan.yaml')), name: `bench-${users}-${Date.now().toString(36)}` };
  const copyDb = `${names.source}_copy`;
  let worker: ReturnType<typeof spawn> | undefined;
  try {
    process.stdout.write(`  ${users.toLocaleString('en')} users: seeding...`);
    await seedLms({ sourceUrl: owner.toString(), targetUrl: config.databases.targetUrl, users });

    worker = spawn(process.execPath, [join(ROOT, 'bin', 'cutover.js'), 'worker'], {
      cwd: ROOT,
      env: { ...process.env, CUTOVER_TASK_QUEUE: config.temporal.taskQueue, CUTOVER_SOURCE_URL: config.databases.sourceUrl, CUTOVER_TARGET_URL: config.databases.targetUrl, CUTOVER_CONTROL_URL: config.databases.controlUrl, CUTOVER_LOG_LEVEL: 'WARN' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve, reject) => {
      worker!.stdout!.on('data', (d) => String(d).includes('worker polling') && resolve());
      worker!.on('exit', (code) => reject(new Error(`worker exited ${code}`)));
    });
    process.stdout.write(' migrating...');
    const t0 = process.hrtime.bigint();
    const started = await startMigration(config, plan, { taskQueue: config.temporal.taskQueue, wait: true });
    const pipelineSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
    if (!started.report?.clean || started.report.entities[0]!.inserted !== users) throw new Error(`bench migration did not load every row cleanly: ${JSON.stringify(started.report)}`);
    const workerPeakMiB = peakRssMiB(worker.pid!);

    process.stdout.write(' pg_dump | psql...');
    execSync(`psql "${admin}" -q -c 'create database ${copyDb}'`);
    const copyUrl = new URL(admin);
    copyUrl.pathname = `/${copyDb}`;
    const t1 = process.hrtime.bigint();
    execSync(`pg_dump --no-owner --no-privileges -t legacy_users "${owner}" | psql -q "${copyUrl}"`, { stdio: ['ignore', 'ignore', 'inherit'] });
    const dumpSeconds = Number(process.hrtime.bigint() - t1) / 1e9;
    process.stdout.write(' done\n');
    return { rows: users, pipelineSeconds, pipelineRate: users / pipelineSeconds, dumpSeconds, dumpRate: users / dumpSeconds, workerPeakMiB };
  } finally {
    worker?.kill('SIGTERM');
    execSync(`psql "${admin}" -q -c 'drop database if exists ${copyDb} with (force)'`);
    await dropDatabases(admin, names);
    const s3 = createS3Client(base.s3);
    const prefix = `migrations/${migrationId(plan)}/`;
    for (;;) {
      const listed = await s3.send(new ListObjectsV2Command({ Bucket: base.s3.bucket, Prefix: prefix }));
      if (!listed.Contents?.length) break;
      await s3.send(new DeleteObjectsCommand({ Bucket: base.s3.bucket, Delete: { Objects: listed.Contents.map((o) => ({ Key: o.Key! })) } }));
    }
    s3.destroy();
  }
}

async function main(): Promise<void> {
  const sizes = (process.env.BENCH_SIZES ?? '100000,1000000').split(',').map(Number);
  console.log(`Cutover benchmark: whole pipeline vs pg_dump | psql, ${require('node:os').cpus().length} cores`);
  const results: Row[] = [];
  for (const n of sizes) results.push(await runOne(n));
  const fmt = (n: number, digits = 0) => n.toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: digits });
  console.log('');
  console.log('rows        pipeline s  pipeline rows/s  pg_dump|psql s  pg_dump|psql rows/s  pipeline/pg_dump  worker peak RSS');
  for (const r of results) {
    console.log(
      `${fmt(r.rows).padEnd(12)}${fmt(r.pipelineSeconds, 1).padEnd(12)}${fmt(r.pipelineRate).padEnd(17)}${fmt(r.dumpSeconds, 1).padEnd(16)}${fmt(r.dumpRate).padEnd(21)}${(r.pipelineRate / r.dumpRate).toFixed(3).padEnd(18)}${fmt(r.workerPeakMiB)} MiB`,
    );
  }
  if (results.length > 1) {
    const [a, b] = [results[0]!, results[results.length - 1]!];
    console.log(`\nworker peak memory ${fmt(b.rows / a.rows, 0)}x the rows: ${(b.workerPeakMiB / a.workerPeakMiB).toFixed(2)}x the memory`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
