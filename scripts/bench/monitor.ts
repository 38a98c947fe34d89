/**
 * Where the CPU went during one scale-out run, sampled every `intervalMs` from /proc and
 * pg_stat_activity: the host's busy time, every PostgreSQL backend by database (source, target,
 * control, the Temporal server's own) and background processes, the Temporal server, MinIO and
 * KMS by their pids from the stack's state, the workers (their cgroups, or their pids), the
 * forwarders and the bench itself; and what the backends that were running a statement waited
 * on. The figures go to `decideBound` (./bound.ts).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { Client } from 'pg';
import { backendGroup, CpuAccount, DatabaseGroups, GroupKind, GroupUse, parseHostCpu, parseProcStat, ProcStat, USER_HZ, WaitSamples } from './bound';

export interface WatchedProcess {
  pid: number;
  name: string;
  kind: GroupKind;
}

/** A counter read at the start and the end (a cgroup's CPU): what it gives is the difference. */
export interface WatchedCounter {
  name: string;
  kind: GroupKind;
  cpuSeconds: () => number;
  throttledSeconds?: () => number;
  limitCores?: number;
}

export interface MonitorResult {
  wallSeconds: number;
  hostBusySeconds: number;
  groups: GroupUse[];
  waits: Map<string, WaitSamples>;
  sampleRounds: number;
  /** The most client connections each group's database had at once (pg_stat_activity). */
  connections: Map<string, number>;
  /** CPU seconds of the processes outside the run's groups, by command name, most first (processes that ended during the run are not in it). */
  outside: [string, number][];
  /** Load averages (1, 5, 15 min) at the start and at the end. */
  loadStart: number[];
  loadEnd: number[];
}

const readStat = (pid: number) => {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined; // exited
  }
};

export class Monitor {
  private readonly account: CpuAccount;
  private readonly waits = new Map<string, WaitSamples>();
  private rounds = 0;
  private readonly connections = new Map<string, number>();
  private timer?: NodeJS.Timeout;
  private inFlight?: Promise<void>;
  private readonly t0 = process.hrtime.bigint();
  private readonly host0 = parseHostCpu(readFileSync('/proc/stat', 'utf8'));
  private readonly counters0: number[];
  private readonly throttled0: number[];
  private readonly self0 = process.cpuUsage();
  private readonly load0 = loadavg();
  private db?: Client;
  private readonly all0 = allProcesses();

  constructor(
    private readonly o: { adminUrl: string; databases: DatabaseGroups; processes: () => WatchedProcess[]; counters: WatchedCounter[]; intervalMs?: number },
  ) {
    const uptime = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
    this.account = new CpuAccount(Math.floor(uptime * USER_HZ));
    this.counters0 = o.counters.map((c) => c.cpuSeconds());
    this.throttled0 = o.counters.map((c) => c.throttledSeconds?.() ?? 0);
  }

  async start(): Promise<void> {
    this.db = new Client({ connectionString: this.o.adminUrl, application_name: 'cutover-bench-monitor' });
    await this.db.connect();
    await this.sample();
    this.timer = setInterval(() => {
      this.inFlight ??= this.sample().finally(() => (this.inFlight = undefined));
    }, this.o.intervalMs ?? 1_000);
  }

  private async sample(): Promise<void> {
    const { rows } = await this.db!.query<{ pid: number; datname: string | null; backend_type: string; state: string | null; wait_event_type: string | null; wait_event: string | null }>(
      'select pid, datname, backend_type, state, wait_event_type, wait_event from pg_stat_activity where pid <> pg_backend_pid()',
    );
    const now = new Map<string, number>();
    for (const r of rows) {
      const group = backendGroup(r.datname, this.o.databases);
      if (r.backend_type === 'client backend') now.set(group.name, (now.get(group.name) ?? 0) + 1);
      const stat = readStat(r.pid);
      if (stat) this.account.observe(r.pid, group.name, group.kind, stat);
      if (r.backend_type === 'client backend' && r.state === 'active') {
        const w = this.waits.get(group.name) ?? { active: 0, waits: new Map<string, number>() };
        w.active++;
        if (r.wait_event_type) {
          const key = `${r.wait_event_type}:${r.wait_event}`;
          w.waits.set(key, (w.waits.get(key) ?? 0) + 1);
        }
        this.waits.set(group.name, w);
      }
    }
    for (const [g, n] of now) this.connections.set(g, Math.max(n, this.connections.get(g) ?? 0));
    for (const p of this.o.processes()) {
      const stat = readStat(p.pid);
      if (stat) this.account.observe(p.pid, p.name, p.kind, stat);
    }
    this.account.endSample();
    this.rounds++;
  }

  async stop(): Promise<MonitorResult> {
    clearInterval(this.timer);
    await this.inFlight;
    await this.sample();
    await this.db!.end();
    const wallSeconds = Number(process.hrtime.bigint() - this.t0) / 1e9;
    const host = parseHostCpu(readFileSync('/proc/stat', 'utf8'));
    const groups: GroupUse[] = [...this.account.totals()].map(([name, g]) => ({ name, kind: g.kind, cpuSeconds: g.cpuSeconds }));
    this.o.counters.forEach((c, i) => {
      groups.push({ name: c.name, kind: c.kind, cpuSeconds: c.cpuSeconds() - this.counters0[i]!, limitCores: c.limitCores, throttledSeconds: c.throttledSeconds ? c.throttledSeconds() - this.throttled0[i]! : undefined });
    });
    const outside = new Map<string, number>();
    for (const [pid, p] of allProcesses()) {
      if (pid === process.pid || this.account.knows(pid) || inBenchCgroup(pid)) continue;
      const before = this.all0.get(pid);
      const spent = before ? p.cpuSeconds - before.cpuSeconds : p.startTicks >= this.account.runStartTicks ? p.cpuSeconds : 0;
      if (spent > 0) outside.set(p.comm, (outside.get(p.comm) ?? 0) + spent);
    }
    const self = process.cpuUsage(this.self0);
    groups.push({ name: 'bench', kind: 'other', cpuSeconds: (self.user + self.system) / 1e6 });
    return { wallSeconds, hostBusySeconds: host.busy - this.host0.busy, groups, waits: this.waits, sampleRounds: this.rounds, connections: this.connections, outside: [...outside].sort((a, b) => b[1] - a[1]), loadStart: this.load0, loadEnd: loadavg() };
  }
}

/** Every process's /proc/<pid>/stat now. */
function allProcesses(): Map<number, ProcStat> {
  const out = new Map<number, ProcStat>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readStat(Number(name));
    if (stat) out.set(Number(name), stat);
  }
  return out;
}

/** True for a process in one of the bench's cgroups (a worker, a forwarder): counted there. */
function inBenchCgroup(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cgroup`, 'utf8').includes('/cutover-bench/');
  } catch {
    return false;
  }
}
