import type { AuditRow } from '../../src/audit/chain';
import { renderStatus, ratesOf, bar, duration, sampleOf } from '../../src/cli/status-view';
import { inLanes } from '../../src/core/lanes';
import type { MigrationView } from '../../src/migration-view';
import { fromAudit, latestRun } from '../../src/report/gather';
import { cutoverStatus } from '../../src/migration-view';
import { emptyProgress, MigrationReport } from '../../src/shared/migration';
import { percentDone, progressMarkdown, rowsLoaded, thousands } from '../../src/shared/progress';
import { validateTune } from '../../src/workflows/tune';

function report(overrides: Partial<MigrationReport> = {}): MigrationReport {
  const users = { ...emptyProgress('users', 20_000), batches: 10, batchesDone: 4, extracted: 8_000, inserted: 7_000, updated: 500, unchanged: 480, quarantined: 20 };
  users.reconcile = { ...users.reconcile, expected: 7_980, found: 7_980 };
  const courses = { ...emptyProgress('courses', 1_000), batches: 1 };
  return {
    migrationId: 'lms-0123456789ab',
    planHash: 'f'.repeat(64),
    plan: 'lms',
    status: 'running',
    phase: 'people',
    startedBy: 'alice',
    controls: { paused: false, throttleRowsPerSecond: 2_000 },
    entities: [users, courses],
    phases: [],
    approvals: [],
    clean: true,
    ...overrides,
  };
}

describe('progress summaries (shared by the workflow and the CLI)', () => {
  it('counts loaded rows and the percent of source rows processed', () => {
    const r = report();
    expect(rowsLoaded(r)).toBe(7_980);
    expect(percentDone(r)).toBe(38); // 8,000 of 21,000 = 38.09 %, one decimal, floored
    expect(percentDone({ ...r, entities: [] })).toBe(0);
    expect(percentDone({ ...r, entities: [], status: 'completed' })).toBe(100);
  });

  it('groups thousands without Intl', () => {
    expect([0, 999, 1_000, 1_234_567, 12.5].map(thousands)).toEqual(['0', '999', '1,000', '1,234,567', '12.5']);
  });

  it('renders the current details as a Markdown table, one row per entity, with controls and problems', () => {
    const md = progressMarkdown(report({ controls: { paused: true, throttleRowsPerSecond: 0, batchSize: 500 } }));
    expect(md).toContain('### Migration lms: running, phase people');
    expect(md).toContain('**38 %** of source rows processed · **7,980** rows loaded · 20 quarantined · throttle none · batch size 500 · **PAUSED**');
    expect(md).toContain('| users | 4 of 10 | 20,000 | 8,000 | 7,980 | 20 | clean (7,980 of 7,980) |');
    expect(md).toContain('| courses | 0 of 1 | 1,000 | 0 | 0 | 0 | – |');
    const bad = report();
    bad.entities[0]!.reconcile.missing = 3;
    expect(progressMarkdown(bad)).toContain('| **3 missing** |');
  });
});

describe('the status screen', () => {
  const view = (r: MigrationReport): MigrationView => ({ workflowId: `cutover-${r.migrationId}`, migrationId: r.migrationId, url: 'http://ui/wf', execution: 'RUNNING', status: r.status, report: r });

  it('computes rows/s per entity over the samples of the window', () => {
    const samples = [
      { at: 0, processed: { users: 0 } },
      { at: 10_000, processed: { users: 1_000 } },
      { at: 40_000, processed: { users: 7_000 } },
    ];
    expect(ratesOf(samples)).toEqual({ users: 200 }); // (7000 - 1000) / 30 s: the sample at 0 is outside 30 s
    expect(ratesOf(samples.slice(0, 1))).toEqual({ users: 0 });
    expect(ratesOf([])).toEqual({});
  });

  it('draws bars and durations', () => {
    expect(bar(0.5, 10)).toBe('█████░░░░░');
    expect(bar(2, 4)).toBe('████');
    expect(bar(Number.NaN, 4)).toBe('░░░░');
    expect([5, 65, 3_725, Infinity].map(duration)).toEqual(['5s', '1m05s', '1h02m', '–']);
  });

  it('shows a bar, the rate and an ETA per entity', () => {
    const r = report();
    const earlier = sampleOf(view({ ...r, entities: [{ ...r.entities[0]!, extracted: 6_000 }, r.entities[1]!] }), 0);
    const text = renderStatus(view(r), [earlier, sampleOf(view(r), 10_000)], 20);
    expect(text).toContain('migration lms-0123456789ab (plan lms): running, phase people');
    expect(text).toContain('throttle 2,000 rows/s, batch size as planned');
    // 2,000 rows in 10 s = 200 rows/s; 12,000 left: 60 s
    expect(text).toMatch(/users +████████░{12} +40\.0 % +8,000\/20,000 +200 rows\/s +ETA 1m00s +loaded 7,980, quarantined 20, batches 4\/10/);
    expect(text).toMatch(/courses +░{20} +0\.0 %/);
  });

  it('shows no rate for one observation or an ended migration', () => {
    const r = report();
    const text = renderStatus({ ...view(r), execution: 'COMPLETED' }, [sampleOf(view(r), 0), sampleOf(view(r), 5_000)]);
    expect(text).not.toMatch(/rows\/s +(ETA|done)/);
    expect(text).toMatch(/users +█+░+ +40\.0 % +8,000\/20,000 +loaded 7,980/);
    expect(renderStatus(view(r), [sampleOf(view(r), 0)])).not.toMatch(/rows\/s +(ETA|done)/);
  });

  it('says terminated or cancelled when Temporal ended it from outside, whatever it last wrote', () => {
    expect(cutoverStatus('TERMINATED', 'awaiting-approval')).toBe('terminated');
    expect(cutoverStatus('TIMED_OUT', 'running')).toBe('timed-out');
    expect(cutoverStatus('RUNNING', 'paused')).toBe('paused');
    expect(cutoverStatus('FAILED', 'rolled-back')).toBe('rolled-back');
  });

  it('falls back to the search attributes without a report', () => {
    const text = renderStatus({ workflowId: 'cutover-x', migrationId: 'x', url: 'u', execution: 'RUNNING', status: 'running', percent: 12.5, rowsLoaded: 1_500, note: 'no live progress' });
    expect(text).toContain('12.5 % done, 1,500 rows loaded (from search attributes)');
    expect(text).toContain('note: no live progress');
  });
});

describe('the tune validator', () => {
  it('accepts whole numbers in range', () => {
    expect(() => validateTune({ by: 'a', throttleRowsPerSecond: 0 })).not.toThrow();
    expect(() => validateTune({ by: 'a', batchSize: 100_000, throttleRowsPerSecond: 10_000_000 })).not.toThrow();
  });
  it.each([
    [{ throttleRowsPerSecond: -1 }, 'throttle must be a whole number of rows per second from 0 (no limit) to 10,000,000, got -1'],
    [{ throttleRowsPerSecond: 1.5 }, 'got 1.5'],
    [{ batchSize: 0 }, 'batch size must be a whole number of rows from 1 to 100,000, got 0'],
    [{ batchSize: 100_001 }, 'got 100001'],
    [{}, 'nothing to change'],
  ])('refuses %j', (req, message) => {
    expect(() => validateTune({ by: 'a', ...req })).toThrow(message);
  });
});

describe('lanes with a gate before each item (pause)', () => {
  it('takes no item while the gate is closed, then carries on in order', async () => {
    let open = false;
    const waiters: (() => void)[] = [];
    const gate = () => (open ? Promise.resolve() : new Promise<void>((r) => waiters.push(r)));
    const done: number[] = [];
    const run = inLanes([1, 2, 3, 4], 2, async (n) => void done.push(n), undefined, gate);
    await new Promise((r) => setTimeout(r, 10));
    expect(done).toEqual([]);
    open = true;
    waiters.forEach((w) => w());
    expect(await run).toBe(4);
    expect(done).toEqual([1, 2, 3, 4]);
  });
});

describe('report data from the audit trail', () => {
  const row = (seq: number, action: string, details: AuditRow['details'], actor = 'worker'): AuditRow => ({
    seq,
    at: `2026-01-01T00:00:0${seq}.000Z`,
    migrationId: 'm',
    actor,
    action,
    eventKey: `k${seq}`,
    details,
    prevHash: '',
    hash: '',
  });

  it('turns batch loads into throughput points and operator events into milestones', () => {
    const { throughput, timings } = fromAudit([
      row(1, 'started', { plan: 'lms' }, 'alice'),
      row(2, 'batch-loaded', { inserted: 10, updated: 2, unchanged: 3, quarantined: 1 }),
      row(3, 'paused', { reason: null }, 'bob'),
      row(4, 'approved', { phase: 'people' }, 'carol'),
      row(5, 'rolled-back', { restored: true, steps: 4 }),
    ]);
    expect(throughput).toEqual([{ at: '2026-01-01T00:00:02.000Z', rows: 15 }]);
    expect(timings.map((t) => t.label)).toEqual(['started by alice', 'paused by bob', 'gate of people approved by carol', 'rolled back, target restored']);
  });

  it('reports the latest run only: the same plan is the same migration id', () => {
    const events = [row(1, 'started', {}), row(2, 'batch-loaded', { inserted: 5 }), row(3, 'completed', {}), row(4, 'started', {}), row(5, 'batch-loaded', { unchanged: 5 })];
    expect(latestRun(events).map((e) => e.seq)).toEqual([4, 5]);
    expect(latestRun(events.slice(1, 3)).map((e) => e.seq)).toEqual([2, 3]);
  });
});
