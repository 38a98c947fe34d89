/**
 * Worker processes "as if on separate machines", for the bench's scale-out (BENCH_WORKER_HOSTS=netns;
 * Linux, root, iproute2 and socat):
 *
 * - network: each worker in a network namespace of its own (`cutover-bench-w<i>`), with its own
 *   loopback, address (10.78.0.(10+i)) and TCP stack, joined to the root namespace by a veth pair
 *   on a bridge (`cutbench0`, 10.78.0.1). It cannot reach 127.0.0.1 of the host: it reaches
 *   PostgreSQL, Temporal, S3 and KMS only at 10.78.0.1, where a forwarder (socat, one per service
 *   port, in a cgroup of its own so its CPU is counted) relays to the service on loopback. The
 *   worker is configured as a remote one is, from the environment (CUTOVER_LOCAL_STACK=0: it reads
 *   nothing of the local stack's state).
 * - resources: each worker in a cgroup of its own (v1 or v2, whichever the machine mounts): a CPU
 *   quota (`cpus` cores: cfs quota/period) and a memory limit, as a host of that size; its CPU use
 *   and throttling are read from the cgroup, which holds every thread it ever ran.
 *
 * Everything made here is removed by `teardown` (also registered with the run's clean-up).
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseCgroupCpuStat } from './bound';
import { track } from './cleanup';

const BRIDGE = 'cutbench0';
const SUBNET = '10.78.0';
export const GATEWAY = `${SUBNET}.1`;
const CG_NAME = 'cutover-bench';
const CFS_PERIOD_US = 100_000;

export interface HostLimits {
  /** CPU quota per worker, in cores; undefined: none. */
  cpus?: number;
  /** Memory limit per worker, MiB; undefined: none. */
  memoryMiB?: number;
}

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
const tryIp = (...args: string[]) => {
  try {
    ip(...args);
  } catch {
    /* already gone */
  }
};

/** Where each cgroup controller is mounted: v1 has one hierarchy per controller, v2 one for all. */
function cgroupRoots(): { cpu: string; cpuacct: string; memory: string; v2: boolean } {
  if (existsSync('/sys/fs/cgroup/cgroup.controllers')) return { cpu: '/sys/fs/cgroup', cpuacct: '/sys/fs/cgroup', memory: '/sys/fs/cgroup', v2: true };
  if (existsSync('/sys/fs/cgroup/cpu/cpu.cfs_quota_us')) return { cpu: '/sys/fs/cgroup/cpu', cpuacct: '/sys/fs/cgroup/cpuacct', memory: '/sys/fs/cgroup/memory', v2: false };
  throw new Error('no cgroup cpu controller at /sys/fs/cgroup (v2) or /sys/fs/cgroup/cpu (v1)');
}

/** One cgroup (in each controller's hierarchy, on v1) for one worker or for the forwarders. */
class Cgroup {
  readonly dirs: string[];
  constructor(
    private readonly roots: ReturnType<typeof cgroupRoots>,
    readonly name: string,
  ) {
    const sub = join(CG_NAME, name);
    this.dirs = [...new Set([roots.cpu, roots.cpuacct, roots.memory])].map((r) => join(r, sub));
  }

  private dir(controller: 'cpu' | 'cpuacct' | 'memory'): string {
    return join(this.roots[controller], CG_NAME, this.name);
  }

  create(limits: HostLimits): void {
    if (this.roots.v2) {
      const parent = join(this.roots.cpu, CG_NAME);
      mkdirSync(parent, { recursive: true });
      writeFileSync(join(this.roots.cpu, 'cgroup.subtree_control'), '+cpu +memory');
      writeFileSync(join(parent, 'cgroup.subtree_control'), '+cpu +memory');
    }
    for (const d of this.dirs) mkdirSync(d, { recursive: true });
    if (limits.cpus) {
      const quota = Math.round(limits.cpus * CFS_PERIOD_US);
      if (this.roots.v2) writeFileSync(join(this.dir('cpu'), 'cpu.max'), `${quota} ${CFS_PERIOD_US}`);
      else {
        writeFileSync(join(this.dir('cpu'), 'cpu.cfs_period_us'), String(CFS_PERIOD_US));
        writeFileSync(join(this.dir('cpu'), 'cpu.cfs_quota_us'), String(quota));
      }
    }
    if (limits.memoryMiB) writeFileSync(join(this.dir('memory'), this.roots.v2 ? 'memory.max' : 'memory.limit_in_bytes'), String(limits.memoryMiB * 2 ** 20));
  }

  /** The `cgroup.procs` files a process must be written to, to join this cgroup in every hierarchy. */
  procsFiles(): string[] {
    return this.dirs.map((d) => join(d, 'cgroup.procs'));
  }

  /** CPU seconds of every process that ran in it, dead ones included. */
  cpuSeconds(): number {
    if (this.roots.v2) return Number(/usage_usec (\d+)/.exec(readFileSync(join(this.dir('cpu'), 'cpu.stat'), 'utf8'))![1]) / 1e6;
    return Number(readFileSync(join(this.dir('cpuacct'), 'cpuacct.usage'), 'utf8')) / 1e9;
  }

  throttledSeconds(): number {
    return parseCgroupCpuStat(readFileSync(join(this.dir('cpu'), 'cpu.stat'), 'utf8')).throttledSeconds;
  }

  /** Peak memory (v1: max_usage_in_bytes; v2: memory.peak where the kernel has it), MiB. */
  peakMiB(): number | undefined {
    const file = join(this.dir('memory'), this.roots.v2 ? 'memory.peak' : 'memory.max_usage_in_bytes');
    return existsSync(file) ? Number(readFileSync(file, 'utf8')) / 2 ** 20 : undefined;
  }

  remove(): void {
    for (const d of [...this.dirs].reverse()) {
      try {
        rmdirSync(d);
      } catch {
        /* gone, or a process still in it (killed: it leaves shortly) */
      }
    }
  }
}

export interface WorkerHost {
  index: number;
  netns: string;
  address: string;
  cgroup: Cgroup;
}

/** Wraps a command so that it starts inside `host`: joins its cgroups, then enters its network namespace (exec all the way: the pid is the command's). */
export function commandIn(host: WorkerHost, argv: string[]): string[] {
  const join = host.cgroup.procsFiles().map((f) => `echo $$ > '${f}'`).join(' && ');
  return ['/bin/sh', '-c', `${join} && exec ip netns exec '${host.netns}' "$@"`, 'cutover-bench-host', ...argv];
}

export class WorkerHosts {
  readonly hosts: WorkerHost[] = [];
  private readonly forwarders: ChildProcess[] = [];
  private readonly roots = cgroupRoots();
  private net?: Cgroup;
  private readonly bridgeMade: boolean;
  /** Ports reached at the gateway without a forwarder: their service listens on every address. */
  direct: number[] = [];

  /** Makes `count` hosts with `limits` and forwards each of `ports` (127.0.0.1) at GATEWAY. */
  constructor(
    count: number,
    readonly limits: HostLimits,
    readonly ports: number[],
  ) {
    this.teardownLeftovers(count);
    ip('link', 'add', BRIDGE, 'type', 'bridge');
    this.bridgeMade = true;
    ip('addr', 'add', `${GATEWAY}/24`, 'dev', BRIDGE);
    ip('link', 'set', BRIDGE, 'up');
    for (let i = 0; i < count; i++) {
      const netns = `cutover-bench-w${i}`;
      const address = `${SUBNET}.${10 + i}`;
      ip('netns', 'add', netns);
      ip('link', 'add', `cbw${i}h`, 'type', 'veth', 'peer', 'name', `cbw${i}n`);
      ip('link', 'set', `cbw${i}h`, 'master', BRIDGE);
      ip('link', 'set', `cbw${i}h`, 'up');
      ip('link', 'set', `cbw${i}n`, 'netns', netns);
      ip('-n', netns, 'addr', 'add', `${address}/24`, 'dev', `cbw${i}n`);
      ip('-n', netns, 'link', 'set', `cbw${i}n`, 'up');
      ip('-n', netns, 'link', 'set', 'lo', 'up');
      ip('-n', netns, 'route', 'add', 'default', 'via', GATEWAY);
      const cgroup = new Cgroup(this.roots, `w${i}`);
      cgroup.create(limits);
      this.hosts.push({ index: i, netns, address, cgroup });
    }
    this.net = new Cgroup(this.roots, 'net');
    this.net.create({});
  }

  /** Starts the forwarders (socat, a process per connection, all in the `net` cgroup). */
  async startForwarders(): Promise<void> {
    // A service that listens on every address (local-kms does) is reached at the gateway as it is, without a forwarder.
    const wildcard = execFileSync('ss', ['-ltnH'], { encoding: 'utf8' });
    this.direct = this.ports.filter((p) => new RegExp(`(?:\\*|0\\.0\\.0\\.0|\\[::\\]):${p}\\s`).test(wildcard));
    for (const port of this.ports.filter((p) => !this.direct.includes(p))) {
      const argv = ['socat', `TCP-LISTEN:${port},bind=${GATEWAY},fork,reuseaddr,nodelay,backlog=128`, `TCP:127.0.0.1:${port},nodelay`];
      const join = this.net!.procsFiles().map((f) => `echo $$ > '${f}'`).join(' && ');
      const child = spawn('/bin/sh', ['-c', `${join} && exec "$@"`, 'cutover-bench-net', ...argv], { stdio: ['ignore', 'ignore', 'pipe'] });
      track(child);
      this.forwarders.push(child);
    }
    // Ready when each listens.
    const deadline = Date.now() + 5_000;
    for (;;) {
      const listening = execFileSync('ss', ['-ltnH'], { encoding: 'utf8' });
      if (this.ports.every((p) => this.direct.includes(p) || listening.includes(`${GATEWAY}:${p} `))) return;
      if (Date.now() > deadline) throw new Error(`forwarders at ${GATEWAY} did not listen on ${this.ports.join(', ')} within 5 s`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** The forwarders' CPU seconds so far (every connection's process, dead ones included). */
  forwarderCpuSeconds(): number {
    return this.net!.cpuSeconds();
  }

  /** Removes a previous run's leftovers of the same names (a run killed with SIGKILL leaves them). */
  private teardownLeftovers(count: number): void {
    tryIp('link', 'del', BRIDGE);
    for (let i = 0; i < Math.max(count, 8); i++) {
      tryIp('netns', 'del', `cutover-bench-w${i}`);
      tryIp('link', 'del', `cbw${i}h`);
    }
  }

  async teardown(): Promise<void> {
    for (const f of this.forwarders) f.kill('SIGTERM');
    await Promise.all(this.forwarders.map((f) => (f.exitCode === null && f.signalCode === null ? new Promise((r) => f.once('exit', r)) : undefined)));
    // socat's per-connection children end when their connections close (the workers are gone by now).
    await new Promise((r) => setTimeout(r, 300));
    for (const h of this.hosts) {
      tryIp('netns', 'del', h.netns);
      tryIp('link', 'del', `cbw${h.index}h`);
      h.cgroup.remove();
    }
    this.net?.remove();
    if (this.bridgeMade) tryIp('link', 'del', BRIDGE);
    for (const root of new Set([this.roots.cpu, this.roots.cpuacct, this.roots.memory])) {
      try {
        rmdirSync(join(root, CG_NAME));
      } catch {
        /* not empty yet, or gone */
      }
    }
  }
}
