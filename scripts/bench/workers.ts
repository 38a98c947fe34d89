/**
 * Worker processes for the bench: the workflow bundle built once beforehand (so a worker's peak
 * memory measures the data it moved, not webpack at start), workers spawned on a task queue,
 * their peak RSS read from /proc, and stopped (SIGTERM, then SIGKILL).
 */
import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { track } from './cleanup';

const ROOT = join(__dirname, '..', '..');

/** Builds the workflow bundle as the worker would (same workflows and failure converter); returns its path and a remover. */
export async function buildWorkflowBundle(): Promise<{ path: string; bytes: number; seconds: number; remove: () => void }> {
  const t0 = process.hrtime.bigint();
  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve('../../src/workflows'),
    failureConverterPath: require.resolve('../../src/codec/failure-converter'),
    logger: new DefaultLogger('WARN'),
  });
  const dir = mkdtempSync(join(tmpdir(), 'cutover-bench-'));
  const path = join(dir, 'workflow-bundle.js');
  writeFileSync(path, code);
  return { path, bytes: Buffer.byteLength(code), seconds: Number(process.hrtime.bigint() - t0) / 1e9, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface BenchWorker {
  child: ChildProcess;
  pid: number;
  /** Resolves with the exit code (null when killed by a signal) when the process ends. */
  exited: Promise<number | null>;
  /** How it ended: `exit code 3`, `killed by SIGKILL`. */
  how(): string;
  /** The last lines it wrote (shown when it fails). */
  stderrTail(): string;
}

/** Starts `cutover worker` with `env` and resolves once it polls; rejects (with its stderr) if it exits first. */
export async function spawnWorker(env: NodeJS.ProcessEnv, wrap: (argv: string[]) => string[] = (argv) => argv): Promise<BenchWorker> {
  // BENCH_PROFILE=<dir>: each worker writes a V8 CPU profile there when it stops (see the README's Throughput section).
  const profile = process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];
  // `wrap` may start it elsewhere (scripts/bench/hosts.ts: in a cgroup and network namespace of its own), exec'ing the command so the pid stays the worker's.
  const [file, ...args] = wrap([process.execPath, ...profile, join(ROOT, 'bin', 'cutover.js'), 'worker']);
  const child = spawn(file!, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  track(child);
  const tail: string[] = [];
  const keep = (d: Buffer) => {
    tail.push(...String(d).split('\n').filter((l) => l.trim()));
    tail.splice(0, Math.max(0, tail.length - 30));
  };
  child.stderr!.on('data', keep);
  child.stdout!.on('data', keep);
  let how = '';
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code, signal) => {
      how = signal ? `killed by ${signal}` : `exit code ${code}`;
      resolve(code);
    }),
  );
  const worker: BenchWorker = { child, pid: child.pid!, exited, how: () => how, stderrTail: () => tail.join('\n') };
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += String(d);
      if (out.includes('worker polling')) resolve();
    });
    void exited.then(() => reject(new Error(`worker ended (${how}) before polling${tailOf(worker.stderrTail() || out)}`)));
  });
  return worker;
}

export const tailOf = (text: string) => (text.trim() ? `; its last words:\n${text.trim()}` : '');

/** The process's peak resident memory (VmHWM), in MiB. */
export function peakRssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

/** The process's CPU time so far (user + system), in seconds. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ, 100 on Linux)
}

/** A free local TCP port, for a worker's metrics endpoint. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Time spent in each activity type, from a worker's Prometheus endpoint (Temporal's
 * activity_execution_latency histogram): seconds in total and executions.
 */
export async function activityTimes(address: string): Promise<Map<string, ActivityTime>> {
  const text = await (await fetch(`http://${address}/metrics`)).text();
  const out = new Map<string, ActivityTime>();
  for (const line of text.split('\n')) {
    const m = /^(?:temporal_)?activity_execution_(latency(?:_seconds|_milliseconds)?_sum|latency(?:_seconds|_milliseconds)?_count|failed(?:_total)?)\{([^}]*)\} (\S+)$/.exec(line);
    const type = m && /activity_type="([^"]*)"/.exec(m[2]!)?.[1];
    if (!m || !type) continue;
    const entry = out.get(type) ?? { seconds: 0, count: 0, failed: 0 };
    const value = Number(m[3]);
    if (m[1]!.startsWith('failed')) entry.failed += value;
    else if (m[1]!.endsWith('_count')) entry.count += value;
    else entry.seconds += value / (m[1]!.includes('_seconds') ? 1 : 1000);
    out.set(type, entry);
  }
  return out;
}

/** Activities a worker is running now (Temporal's worker_task_slots_used for its activity worker), from its Prometheus endpoint. */
export async function activitiesRunning(address: string): Promise<number> {
  const text = await (await fetch(`http://${address}/metrics`)).text();
  let n = 0;
  for (const line of text.split('\n')) {
    const m = /^(?:temporal_)?worker_task_slots_used\{([^}]*)\} (\S+)$/.exec(line);
    if (m && /worker_type="ActivityWorker"/.test(m[1]!)) n += Number(m[2]);
  }
  return n;
}

/** Time in each step of staging and loading on a worker (`cutover_step_microseconds`), seconds by step, summed over entities. */
export async function stepTimes(address: string): Promise<Map<string, number>> {
  const text = await (await fetch(`http://${address}/metrics`)).text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^(?:temporal_)?cutover_step_microseconds(?:_total)?\{([^}]*)\} (\S+)$/.exec(line);
    const step = m && /step="([^"]*)"/.exec(m[1]!)?.[1];
    if (!m || !step) continue;
    out.set(step, (out.get(step) ?? 0) + Number(m[2]) / 1e6);
  }
  return out;
}

/** One activity type's executions on a worker: time in total (ms in Temporal's histogram), how many, how many failed (and were retried). */
export interface ActivityTime {
  seconds: number;
  count: number;
  failed: number;
}

/** Stops workers: SIGTERM (a clean shutdown), SIGKILL after `graceMs`. */
export async function stopWorkers(workers: BenchWorker[], graceMs = 10_000): Promise<void> {
  await Promise.all(
    workers.map(async (w) => {
      if (w.child.exitCode !== null || w.child.signalCode !== null) return;
      w.child.kill('SIGTERM');
      const timer = setTimeout(() => w.child.kill('SIGKILL'), graceMs);
      await w.exited;
      clearTimeout(timer);
    }),
  );
}
