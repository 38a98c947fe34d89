import { backendGroup, CpuAccount, decideBound, GroupUse, parseCgroupCpuStat, parseHostCpu, parseProcStat, sizeFor, tierCosts, viaHost, WaitSamples } from '../../scripts/bench/bound';

describe('the scale-out bench: what bounds a run, from the figures', () => {
  it('parses /proc/<pid>/stat, a command with spaces and parentheses included', () => {
    const line = '4242 (node (worker) x) S 17 4242 17 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 11 0 123456 1000000 5000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0';
    expect(parseProcStat(line)).toEqual({ comm: 'node (worker) x', ppid: 17, cpuSeconds: 3.25, startTicks: 123456 });
    expect(() => parseProcStat('garbage')).toThrow('not a /proc/<pid>/stat line');
  });

  it('parses /proc/stat: busy is everything but idle and iowait', () => {
    const text = 'cpu  1000 50 300 5000 200 10 40 100 0 0\ncpu0 500 25 150 2500 100 5 20 50 0 0\nintr 1 2 3\n';
    expect(parseHostCpu(text)).toEqual({ busy: 15, idle: 50, iowait: 2, steal: 1 });
  });

  it('parses cpu.stat of cgroup v1 (ns) and v2 (µs)', () => {
    expect(parseCgroupCpuStat('nr_periods 100\nnr_throttled 40\nthrottled_time 2500000000\n')).toEqual({ periods: 100, throttledPeriods: 40, throttledSeconds: 2.5 });
    expect(parseCgroupCpuStat('usage_usec 9\nnr_periods 10\nnr_throttled 1\nthrottled_usec 1500000\n')).toEqual({ periods: 10, throttledPeriods: 1, throttledSeconds: 1.5 });
  });

  it('groups backends by database, background processes apart', () => {
    const names = { source: 's', target: 't', control: 'c', server: ['tp', 'tpv'] };
    expect(backendGroup('t', names)).toEqual({ name: 'target db', kind: 'target' });
    expect(backendGroup('tpv', names).kind).toBe('server-db');
    expect(backendGroup(null, names).kind).toBe('postgres');
    expect(backendGroup('someone_elses', names).kind).toBe('other');
  });

  it('counts CPU from the first sample, a process started during the run from zero, one seen late but older from when seen', () => {
    const a = new CpuAccount(1000);
    a.observe(1, 'target db', 'target', { cpuSeconds: 10, startTicks: 10 });
    a.endSample();
    a.observe(1, 'target db', 'target', { cpuSeconds: 14, startTicks: 10 });
    a.observe(2, 'target db', 'target', { cpuSeconds: 3, startTicks: 1500 }); // a new backend: all of it is the run's
    a.observe(3, 'control db', 'control', { cpuSeconds: 50, startTicks: 500 }); // older, first seen now: from here
    a.endSample();
    a.observe(3, 'control db', 'control', { cpuSeconds: 51, startTicks: 500 });
    a.endSample();
    expect(a.totals()).toEqual(
      new Map([
        ['target db', { kind: 'target', cpuSeconds: 7, processes: 2 }],
        ['control db', { kind: 'control', cpuSeconds: 1, processes: 1 }],
      ]),
    );
  });

  const groups = (workers: Partial<GroupUse>[], shared: [string, GroupUse['kind'], number][]): GroupUse[] => [
    ...workers.map((w, i) => ({ name: `worker ${i + 1}`, kind: 'worker' as const, cpuSeconds: 0, ...w })),
    ...shared.map(([name, kind, cpuSeconds]) => ({ name, kind, cpuSeconds })),
  ];
  const none = new Map<string, WaitSamples>();

  it('names the workers\' CPU limit when they used nearly all of it', () => {
    const b = decideBound({ wallSeconds: 100, cores: 2, hostBusySeconds: 120, groups: groups([{ cpuSeconds: 48, limitCores: 0.5, throttledSeconds: 30 }], [['target db', 'target', 20]]), waits: none, sampleRounds: 100 });
    expect(b.bound).toBe("the workers' CPU limit (1 × 0.50 cores)");
    expect(b.evidence).toContain('workers used 0.48 cores of their 0.50 cores (96 %), throttled 30.0 s');
  });

  it('names the host\'s CPU when it was nearly all busy and the workers had room, with the largest consumers', () => {
    const b = decideBound({
      wallSeconds: 100,
      cores: 2,
      hostBusySeconds: 190,
      groups: groups([{ cpuSeconds: 40, limitCores: 0.5 }, { cpuSeconds: 30, limitCores: 0.5 }], [['target db', 'target', 50], ['temporal server', 'server', 30], ['control db', 'control', 20]]),
      waits: none,
      sampleRounds: 100,
    });
    expect(b.bound).toBe("the host's CPU (2 cores, shared)");
    // 190 s busy, 170 s of it in the run's groups: 0.20 cores went to other work on the host.
    expect(b.evidence).toBe('host 95 % busy: workers 0.70 cores, the services they share 1.00 cores, everything else on the host 0.20 cores; most CPU: target db 0.50 cores, worker 1 0.40 cores, worker 2 0.30 cores');
  });

  it('names a worker\'s one thread when it has no limit and is busy, the host not', () => {
    const b = decideBound({ wallSeconds: 10, cores: 4, hostBusySeconds: 20, groups: groups([{ cpuSeconds: 9.5 }], [['target db', 'target', 3]]), waits: none, sampleRounds: 10 });
    expect(b.bound).toBe("worker 1's JavaScript thread");
  });

  it('names a database whose backends mostly waited on a lock, ignoring waits for the client', () => {
    const waits = new Map<string, WaitSamples>([
      ['target db', { active: 30, waits: new Map([['Lock:transactionid', 12], ['Client:ClientRead', 40]]) }],
      ['control db', { active: 5, waits: new Map([['IO:DataFileRead', 2]]) }],
    ]);
    const b = decideBound({ wallSeconds: 10, cores: 4, hostBusySeconds: 10, groups: groups([{ cpuSeconds: 3 }], [['target db', 'target', 3]]), waits, sampleRounds: 10 });
    expect(b.bound).toBe('target db (Lock:transactionid)');
    expect(decideBound({ wallSeconds: 10, cores: 4, hostBusySeconds: 10, groups: groups([{ cpuSeconds: 3 }], []), waits: none, sampleRounds: 10 }).bound).toBe("nothing saturated (round trips and the plan's lanes)");
  });

  it('names a killed worker\'s timed-out activities when nothing saturated', () => {
    // First, even on a busy host: a lane stood still for the timeout whatever else was busy.
    const b = decideBound({ wallSeconds: 60, cores: 2, hostBusySeconds: 115, groups: groups([{ cpuSeconds: 10, limitCores: 0.5 }], []), waits: none, sampleRounds: 60, timedOut: { activities: 3, heartbeatSeconds: 30 } });
    expect(b.bound).toBe("a killed worker's activities waiting out their heartbeat timeout");
    expect(b.evidence).toMatch(/^3 activity attempts timed out \(30 s without a heartbeat\)/);
  });

  it('sizes each tier linearly from its CPU per row, at most 70 % busy', () => {
    const costs = tierCosts(groups([{ cpuSeconds: 20 }, { cpuSeconds: 20 }], [['target db', 'target', 10], ['control db', 'control', 4], ['temporal server', 'server', 3], ['server db', 'server-db', 1], ['minio', 'storage', 2]]), 100_000);
    expect(costs.find((c) => c.tier === 'workers')!.secondsPerRow).toBeCloseTo(0.0004);
    expect(costs.find((c) => c.tier === 'Temporal server + its db')!.secondsPerRow).toBeCloseTo(0.00004);
    const z = sizeFor(costs, 40_000_000, 8 * 3600);
    expect(z.rowsPerSecond).toBeCloseTo(1388.9, 1);
    expect(z.workers).toBe(Math.ceil((1388.9 * 0.0004) / 0.7)); // 0.79 cores: 1 worker
    expect(z.cores.find((c) => c.tier === 'target db')!.cores).toBeCloseTo((1388.9 * 0.0001) / 0.7, 3);
  });

  it('points a URL or an address at another host', () => {
    expect(viaHost('postgres://u:p%40ss@127.0.0.1:5432/db', '10.78.0.1')).toBe('postgres://u:p%40ss@10.78.0.1:5432/db');
    expect(viaHost('http://127.0.0.1:9000', '10.78.0.1')).toBe('http://10.78.0.1:9000');
    expect(viaHost('127.0.0.1:7233', '10.78.0.1')).toBe('10.78.0.1:7233');
  });
});
