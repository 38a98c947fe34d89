/**
 * What bounds a scale-out run, from the figures alone: pure functions (no I/O) over what the
 * bench samples from /proc, the workers' cgroups and pg_stat_activity (scripts/bench/monitor.ts),
 * and the sizing that follows from them. Unit-tested in test/unit/bench-bound.test.ts.
 */

/** Clock ticks per second in /proc (USER_HZ): 100 on Linux. */
export const USER_HZ = 100;

export interface ProcStat {
  comm: string;
  ppid: number;
  /** utime + stime, seconds (every thread's, dead threads included). */
  cpuSeconds: number;
  /** When the process started, ticks after boot. */
  startTicks: number;
}

/** Parses /proc/<pid>/stat (the command may hold spaces and parentheses: it ends at the last `)`). */
export function parseProcStat(text: string, hz = USER_HZ): ProcStat {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) throw new Error('not a /proc/<pid>/stat line');
  const f = text.slice(close + 2).trim().split(/\s+/); // f[0] is field 3 (state)
  const n = (i: number) => {
    const v = Number(f[i]);
    if (!Number.isFinite(v)) throw new Error(`/proc/<pid>/stat: field ${i + 3} is not a number`);
    return v;
  };
  return { comm: text.slice(open + 1, close), ppid: n(1), cpuSeconds: (n(11) + n(12)) / hz, startTicks: n(19) };
}

export interface HostCpu {
  /** Seconds of CPU time spent busy (anything but idle and iowait), summed over every core. */
  busy: number;
  idle: number;
  iowait: number;
  /** Guest and steal time are part of busy in /proc/stat's accounting; steal is also given alone (a VM's host took it). */
  steal: number;
}

/** Parses the aggregate `cpu` line of /proc/stat. */
export function parseHostCpu(text: string, hz = USER_HZ): HostCpu {
  const line = text.split('\n').find((l) => /^cpu\s/.test(l));
  if (!line) throw new Error('/proc/stat: no cpu line');
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = v;
  return { busy: (user + nice + system + irq + softirq + steal) / hz, idle: idle / hz, iowait: iowait / hz, steal: steal / hz };
}

/** A cgroup's CPU throttling (cgroup v1 `cpu.stat`: throttled_time in ns; v2: throttled_usec). */
export function parseCgroupCpuStat(text: string): { periods: number; throttledPeriods: number; throttledSeconds: number } {
  const kv = new Map(text.split('\n').map((l) => l.trim().split(/\s+/)).filter((p) => p.length === 2).map(([k, v]) => [k!, Number(v)]));
  const seconds = kv.has('throttled_usec') ? kv.get('throttled_usec')! / 1e6 : (kv.get('throttled_time') ?? 0) / 1e9;
  return { periods: kv.get('nr_periods') ?? 0, throttledPeriods: kv.get('nr_throttled') ?? 0, throttledSeconds: seconds };
}

/** The groups CPU is counted in. */
export type GroupKind = 'worker' | 'source' | 'target' | 'control' | 'server' | 'server-db' | 'storage' | 'postgres' | 'network' | 'other';

export interface DatabaseGroups {
  source: string;
  target: string;
  control: string;
  /** The Temporal server's own databases (history and visibility), when it is the PostgreSQL-backed one. */
  server: string[];
}

/** Which group a PostgreSQL backend belongs to: by its database; background processes (no database) are PostgreSQL's own. */
export function backendGroup(datname: string | null, names: DatabaseGroups): { name: string; kind: GroupKind } {
  if (datname === names.source) return { name: 'source db', kind: 'source' };
  if (datname === names.target) return { name: 'target db', kind: 'target' };
  if (datname === names.control) return { name: 'control db', kind: 'control' };
  if (datname && names.server.includes(datname)) return { name: 'server db', kind: 'server-db' };
  if (!datname) return { name: 'postgres background', kind: 'postgres' };
  return { name: 'other databases', kind: 'other' };
}

/**
 * CPU seconds per group over a run, from periodic samples of processes' cumulative CPU. A process
 * seen in the first sample counts from its value then; one first seen later (a backend a pool
 * opened during the run) counts from zero if it started after the run began, else from its value
 * when first seen. What a process spent after its last sample, before it exited, is lost (at most
 * one sampling interval's worth).
 */
export class CpuAccount {
  private readonly first = new Map<number, number>();
  private readonly last = new Map<number, { group: string; kind: GroupKind; cpu: number }>();
  private samples = 0;

  constructor(readonly runStartTicks: number) {}

  /** Whether the process was observed (it belongs to a group). */
  knows(pid: number): boolean {
    return this.last.has(pid);
  }

  observe(pid: number, group: string, kind: GroupKind, stat: Pick<ProcStat, 'cpuSeconds' | 'startTicks'>): void {
    if (!this.first.has(pid)) this.first.set(pid, this.samples === 0 || stat.startTicks < this.runStartTicks ? stat.cpuSeconds : 0);
    this.last.set(pid, { group, kind, cpu: stat.cpuSeconds });
  }

  /** Ends one round of observations. */
  endSample(): void {
    this.samples++;
  }

  /** CPU seconds by group, and each group's kind. */
  totals(): Map<string, { kind: GroupKind; cpuSeconds: number; processes: number }> {
    const out = new Map<string, { kind: GroupKind; cpuSeconds: number; processes: number }>();
    for (const [pid, l] of this.last) {
      const g = out.get(l.group) ?? { kind: l.kind, cpuSeconds: 0, processes: 0 };
      g.cpuSeconds += Math.max(0, l.cpu - this.first.get(pid)!);
      g.processes++;
      out.set(l.group, g);
    }
    return out;
  }
}

/** pg_stat_activity samples of one group's backends: how often one was active, and on what it waited. */
export interface WaitSamples {
  /** Backend-samples in state `active` (running a statement). */
  active: number;
  /** Of those, waiting: `type:event` → count (the rest were on CPU, or waiting unseen). */
  waits: Map<string, number>;
}

export interface GroupUse {
  name: string;
  kind: GroupKind;
  cpuSeconds: number;
  /** A CPU limit (cores) the group runs under, if any: the workers' cgroups. */
  limitCores?: number;
  /** Time its cgroup was throttled, seconds. */
  throttledSeconds?: number;
}

export interface BoundInput {
  wallSeconds: number;
  cores: number;
  /** The host's busy CPU seconds over the run (all processes, not only those grouped). */
  hostBusySeconds: number;
  groups: GroupUse[];
  /** Wait samples by group name, and how many sampling rounds there were. */
  waits: Map<string, WaitSamples>;
  sampleRounds: number;
  /** Activity attempts that timed out (a killed worker's), and the heartbeat timeout they waited out. */
  timedOut?: { activities: number; heartbeatSeconds: number };
}

export interface Bound {
  /** The bound in a few words: `the workers' CPU limit`, `the host's CPU`, `target db (Lock:transactionid)`. */
  bound: string;
  /** The figures that say so. */
  evidence: string;
}

/** A share at or above which a resource counts as saturated. */
export const SATURATED = 0.85;

const pct = (x: number) => `${Math.round(x * 100)} %`;
const cores = (x: number) => `${x.toFixed(2)} cores`;

/**
 * Names what bounds a run, in this order: activities of a killed worker that waited out their
 * heartbeat timeout (a lane stood still that long, whatever else was busy); the workers' own CPU limit when they used nearly all of
 * it (more workers, or bigger ones, go faster); the host's CPU when it was nearly all busy (the
 * largest consumers named: they are what a separate host each would relieve); one worker's
 * single JavaScript thread; a database whose backends mostly waited on locks or I/O; else nothing
 * saturated (round trips: latency, the plan's parallelism).
 */
export function decideBound(i: BoundInput): Bound {
  const wall = Math.max(i.wallSeconds, 1e-9);
  const use = (g: GroupUse) => g.cpuSeconds / wall;
  const byUse = [...i.groups].sort((a, b) => b.cpuSeconds - a.cpuSeconds);
  const top = byUse.slice(0, 3).map((g) => `${g.name} ${cores(use(g))}`).join(', ');
  const workers = i.groups.filter((g) => g.kind === 'worker');
  const hostShare = i.hostBusySeconds / (i.cores * wall);
  if (i.timedOut?.activities) {
    return {
      bound: `a killed worker's activities waiting out their heartbeat timeout`,
      evidence: `${i.timedOut.activities} activity attempt${i.timedOut.activities === 1 ? '' : 's'} timed out (${i.timedOut.heartbeatSeconds} s without a heartbeat) before another worker retried ${i.timedOut.activities === 1 ? 'it' : 'them'}; meanwhile host ${pct(hostShare)} busy; most CPU: ${top}`,
    };
  }
  const limited = workers.filter((g) => g.limitCores);
  if (limited.length && limited.length === workers.length) {
    const limit = limited.reduce((n, g) => n + g.limitCores!, 0);
    const used = limited.reduce((n, g) => n + use(g), 0);
    const throttled = limited.reduce((n, g) => n + (g.throttledSeconds ?? 0), 0);
    if (used >= SATURATED * limit) {
      return {
        bound: `the workers' CPU limit (${limited.length} × ${cores(limited[0]!.limitCores!)})`,
        evidence: `workers used ${cores(used)} of their ${cores(limit)} (${pct(used / limit)}), throttled ${throttled.toFixed(1)} s in all; host ${pct(i.hostBusySeconds / (i.cores * wall))} busy; most CPU: ${top}`,
      };
    }
  }
  if (hostShare >= SATURATED) {
    const shared = byUse.filter((g) => g.kind !== 'worker' && g.kind !== 'other');
    const sharedUse = shared.reduce((n, g) => n + use(g), 0);
    const workerUse = workers.reduce((n, g) => n + use(g), 0);
    return {
      bound: `the host's CPU (${i.cores} cores, shared)`,
      evidence: `host ${pct(hostShare)} busy: workers ${cores(workerUse)}, the services they share ${cores(sharedUse)}, everything else on the host ${cores(othersOnHost(i))}; most CPU: ${top}`,
    };
  }
  const busyWorker = workers.find((g) => use(g) >= SATURATED && !g.limitCores);
  if (busyWorker) return { bound: `${busyWorker.name}'s JavaScript thread`, evidence: `${busyWorker.name} used ${cores(use(busyWorker))} (one thread does its row work); host ${pct(hostShare)} busy` };
  const rounds = Math.max(1, i.sampleRounds);
  let waited: { group: string; event: string; share: number } | undefined;
  for (const [group, w] of i.waits) {
    for (const [event, n] of w.waits) {
      if (/^(Client|Activity):/.test(event)) continue; // waiting for the client or idle: not the database's doing
      const share = n / rounds; // backends waiting on it, on average
      if (!waited || share > waited.share) waited = { group, event, share };
    }
  }
  if (waited && waited.share >= 0.5) {
    return { bound: `${waited.group} (${waited.event})`, evidence: `on average ${waited.share.toFixed(2)} of its backends waited on ${waited.event}; host ${pct(hostShare)} busy; most CPU: ${top}` };
  }
  return { bound: 'nothing saturated (round trips and the plan\'s lanes)', evidence: `host ${pct(hostShare)} busy; most CPU: ${top}` };
}

/** Cores the host spent on anything the run's groups do not hold (other work on the machine, the bench's own other databases), per second of wall time. */
export function othersOnHost(i: Pick<BoundInput, 'wallSeconds' | 'hostBusySeconds' | 'groups'>): number {
  const grouped = i.groups.filter((g) => g.kind !== 'other').reduce((n, g) => n + g.cpuSeconds, 0);
  return Math.max(0, i.hostBusySeconds - grouped) / Math.max(i.wallSeconds, 1e-9);
}

/** CPU seconds per row by tier, from one run: what the sizing scales. */
export interface TierCost {
  tier: string;
  secondsPerRow: number;
}

/** Sums a run's groups into the tiers a deployment sizes: workers, source, target, control, Temporal (server and its database). */
export function tierCosts(groups: GroupUse[], rows: number): TierCost[] {
  const tiers: [string, GroupKind[]][] = [
    ['workers', ['worker']],
    ['source db', ['source']],
    ['target db', ['target']],
    ['control db', ['control']],
    ['Temporal server + its db', ['server', 'server-db']],
    ['S3 + KMS', ['storage']],
  ];
  return tiers.map(([tier, kinds]) => ({ tier, secondsPerRow: groups.filter((g) => kinds.includes(g.kind)).reduce((n, g) => n + g.cpuSeconds, 0) / Math.max(1, rows) }));
}

export interface Sizing {
  rows: number;
  windowSeconds: number;
  rowsPerSecond: number;
  /** Cores each tier must have busy at that rate. */
  cores: { tier: string; cores: number }[];
  /** Workers of `coresPerWorker` each. */
  workers: number;
}

/**
 * What a migration of `rows` in `windowSeconds` needs, scaling each tier's CPU per row linearly
 * (the rate the window asks for × the CPU a row costs there), with `headroom` (0.7: no tier planned
 * above 70 % busy). Workers are counted at `coresPerWorker` usable cores each (one for a Node
 * worker: its row work is on one thread).
 */
export function sizeFor(costs: TierCost[], rows: number, windowSeconds: number, coresPerWorker = 1, headroom = 0.7): Sizing {
  const rowsPerSecond = rows / windowSeconds;
  const need = costs.map((c) => ({ tier: c.tier, cores: (rowsPerSecond * c.secondsPerRow) / headroom }));
  const workerCores = need.find((c) => c.tier === 'workers')?.cores ?? 0;
  return { rows, windowSeconds, rowsPerSecond, cores: need, workers: Math.max(1, Math.ceil(workerCores / coresPerWorker)) };
}

/** A URL or `host:port` with its loopback host replaced by `host` (a worker's view of a service through the forwarders). */
export function viaHost(urlOrAddress: string, host: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(urlOrAddress)) {
    const url = new URL(urlOrAddress);
    url.hostname = host;
    return url.toString().replace(/\/$/, urlOrAddress.endsWith('/') ? '/' : '');
  }
  return urlOrAddress.replace(/^[^:]+/, host);
}
