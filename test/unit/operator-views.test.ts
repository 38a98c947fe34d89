import type { AuditRow } from '../../src/audit/chain';
import { renderStatus, ratesOf, bar, duration, sampleOf, StatusView } from '../../src/cli/status-view';
import { gateLine, summarize } from '../../src/cli/commands/start';
import { headline } from '../../src/report/headline';
import { differingTables, unloadOrder } from '../../src/workflows/rollback';
import { loadPlanFile } from '../../src/plan/load';
import { defaultFailureConverter, defaultPayloadConverter } from '@temporalio/common';
import type { Client } from '@temporalio/client';
import { checksumsFromHistory } from '../../src/rollback-client';
import { inLanes } from '../../src/core/lanes';
import type { MigrationView } from '../../src/migration-view';
import { fromAudit, latestRun } from '../../src/report/gather';
import { cutoverStatus } from '../../src/migration-view';
import { emptyProgress, MigrationReport, RollbackRecord } from '../../src/shared/migration';
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

  it('labels what happens after completion: a rollback after completion, a closed window', () => {
    const { timings } = fromAudit([
      row(1, 'completed', {}),
      row(2, 'rollback-window-closed', { reason: null }, 'dave'),
      row(3, 'rollback-started', { reason: 'r', afterCompletion: true }, 'erin'),
      row(4, 'rollback-blocked', { step: 'unload users', afterCompletion: true }, 'cutover'),
      row(5, 'rollback-resumed', { step: 'unload users', afterCompletion: true }, 'frank'),
      row(6, 'rolled-back', { restored: false, steps: 4, afterCompletion: true }, 'erin'),
    ]);
    expect(timings.map((t) => t.label)).toEqual([
      'completed',
      'rollback window closed by dave',
      'rollback after completion started (erin)',
      'rollback blocked at unload users',
      'rollback resumed by frank',
      'rolled back after completion, target NOT restored',
    ]);
  });

  it('reports the latest run only: the same plan is the same migration id', () => {
    const events = [row(1, 'started', {}), row(2, 'batch-loaded', { inserted: 5 }), row(3, 'completed', {}), row(4, 'started', {}), row(5, 'batch-loaded', { unchanged: 5 })];
    expect(latestRun(events).map((e) => e.seq)).toEqual([4, 5]);
    expect(latestRun(events.slice(1, 3)).map((e) => e.seq)).toEqual([2, 3]);
  });
});

describe('the outcome line (start --wait, status, report)', () => {
  const rollback = (over: Partial<RollbackRecord> = {}): RollbackRecord => ({
    reason: 'rollback requested by alice at the gate of people: drill',
    requestedBy: 'alice',
    steps: [{ step: 'unload users', result: { deleted: 7_000, restored: 500 } }],
    before: [{ table: 'public.people', rows: 65, md5: 'a' }],
    after: [{ table: 'public.people', rows: 65, md5: 'a' }],
    restored: true,
    ...over,
  });
  // Every batch and phase reconciled clean before the rollback: `clean` is still true.
  const rolledBack = (over: Partial<RollbackRecord> = {}) => report({ status: 'rolled-back', phase: undefined, clean: true, rollback: rollback(over) });

  it('says "reconciled clean" for a completed clean run only', () => {
    expect(summarize(report({ status: 'completed', phase: undefined })).split('\n')[0]).toBe('migration lms-0123456789ab: completed, every batch reconciled clean');
    expect(headline(report({ status: 'completed', clean: false }))).toBe('completed, RECONCILE DIFFERENCES');
    for (const r of [rolledBack(), rolledBack({ restored: false, after: [] }), report({ status: 'failed' }), report({ status: 'running' }), report({ status: 'rolling-back' })]) {
      expect(summarize(r)).not.toContain('reconciled clean');
    }
  });

  it('says what a rollback did to the target: restored, or which tables differ, or that it could not tell', () => {
    expect(summarize(rolledBack()).split('\n')[0]).toBe('migration lms-0123456789ab: rolled back (target restored)');
    expect(summarize(rolledBack())).toContain('  rollback: rollback requested by alice at the gate of people: drill');
    expect(headline(rolledBack({ restored: false, after: [{ table: 'public.people', rows: 66, md5: 'b' }] }))).toBe('rolled back — TARGET CHECKSUMS DIFFER (public.people)');
    expect(headline(rolledBack({ restored: false, differs: ['public.people', 'public.org_units'] }))).toBe('rolled back — TARGET CHECKSUMS DIFFER (public.people, public.org_units)');
    expect(headline(rolledBack({ restored: false, before: [] }))).toBe('rolled back — target NOT verified: no checksums from before the migration');
    expect(headline(rolledBack({ afterCompletion: true }))).toBe('rolled back after completion (target restored)');
    expect(headline(report({ status: 'rollback-blocked', rollback: rollback({ restored: false, blocked: 'rollback of users blocked: …' }) }))).toBe('rollback BLOCKED: rollback of users blocked: …');
    expect(headline(report({ status: 'failed' }))).toBe('failed');
    expect(headline(report({ status: 'running' }))).toBe('running');
  });

  it('compares checksums table by table', () => {
    const a = { table: 'public.people', rows: 1, md5: 'x' };
    const b = { table: 'public.org_units', rows: 2, md5: 'y' };
    expect(differingTables([a, b], [a, b])).toEqual([]);
    expect(differingTables([a, b], [{ ...a, md5: 'z' }, b])).toEqual(['public.people']);
    expect(differingTables([a], [a, b])).toEqual(['public.org_units']);
  });

  it('unloads children before parents: the reverse of the phases and of their levels', () => {
    const lms = loadPlanFile(`${__dirname}/../../examples/lms.plan.yaml`);
    const order = unloadOrder(lms);
    expect(order).toHaveLength(lms.entities.length);
    expect(order[order.length - 1]).toBe('org_units');
    for (const [child, parent] of [['users', 'org_units'], ['enrollments', 'users'], ['enrollments', 'courses'], ['assessment_results', 'enrollments'], ['certificates', 'enrollments'], ['course_packages', 'courses']]) {
      expect(order.indexOf(child!)).toBeLessThan(order.indexOf(parent!));
    }
  });

  it('start --wait names the gate and how to approve it', () => {
    const lms = loadPlanFile(`${__dirname}/../../examples/lms.plan.yaml`);
    expect(gateLine(lms, report({ status: 'awaiting-approval', phase: 'people' }))).toBe(
      'waiting at the gate of phase people: approve with `cutover approve lms-0123456789ab people` (a second person: not alice), or refuse with --reject',
    );
    expect(gateLine(lms, report({ status: 'running', phase: 'people' }))).toBeUndefined();
  });
});

describe('the status of a completed migration', () => {
  const completed = (over: Partial<StatusView> = {}): StatusView => {
    const r = report({ status: 'completed', phase: undefined });
    return { workflowId: `cutover-${r.migrationId}`, migrationId: r.migrationId, url: 'http://ui/wf', execution: 'COMPLETED', status: 'completed', report: r, ...over };
  };

  it('says the rollback window is open, and how to use or close it', () => {
    const text = renderStatus(completed({ afterCompletion: { migrationRunId: 'run-1', window: { state: 'open' } } }));
    expect(text).toContain('  rollback window: open — `cutover rollback lms-0123456789ab` undoes it from the target\'s ledger; `cutover close lms-0123456789ab` closes the window');
    expect(renderStatus(completed())).not.toContain('rollback window');
  });

  it('says who closed the window, and when', () => {
    const text = renderStatus(completed({ afterCompletion: { migrationRunId: 'run-1', window: { state: 'closed', closedBy: 'bob', closedAt: '2026-01-02T03:04:05.000Z', reason: 'cut over' } } }));
    expect(text).toContain('  rollback window: closed by bob at 2026-01-02T03:04:05.000Z (cut over) — `cutover rollback` refuses it');
  });

  it('after a rollback after completion: rolled-back, restored or not', () => {
    const rb = (restored: boolean): RollbackRecord => ({
      reason: 'rollback after completion requested by carol: drill',
      requestedBy: 'carol',
      steps: [],
      before: [{ table: 'public.people', rows: 0, md5: 'a' }],
      after: [{ table: 'public.people', rows: restored ? 0 : 1, md5: restored ? 'a' : 'b' }],
      restored,
      afterCompletion: true,
    });
    const view = (restored: boolean) =>
      completed({
        status: 'rolled-back',
        report: report({ status: 'rolled-back', phase: undefined, rollback: rb(restored) }),
        afterCompletion: { migrationRunId: 'run-1', window: { state: 'open' }, rollback: { workflowId: 'cutover-lms-0123456789ab/rollback', url: 'http://ui/rb', execution: 'COMPLETED' } },
      });
    const ok = renderStatus(view(true));
    expect(ok).toContain('migration lms-0123456789ab (plan lms): rolled-back');
    expect(ok).toContain('  rollback: target restored (checksums match) — rollback after completion requested by carol: drill');
    expect(ok).toContain('  rollback after completion: rolled-back — workflow cutover-lms-0123456789ab/rollback (Web UI: http://ui/rb)');
    expect(ok).not.toContain('rollback window: open');
    expect(renderStatus(view(false))).toContain('  rollback: TARGET CHECKSUMS DIFFER (public.people) — rollback after completion requested by carol: drill');
  });

  it('shows reconcile samples as text', () => {
    const r = report({ status: 'completed', phase: undefined, clean: false });
    r.entities[0]!.reconcile.sampleMismatched = ['4711 (columns: email, status)', '4712 (columns: phone)'];
    expect(renderStatus(completed({ report: r }))).toContain('  reconcile samples: users: mismatched e.g. 4711 (columns: email, status); 4712 (columns: phone)');
  });
});

describe('checksums from before, for a run completed before reports carried them', () => {
  const converter = { payloadConverter: defaultPayloadConverter, failureConverter: defaultFailureConverter, payloadCodecs: [] };
  const fakeClient = (events: unknown[], seen: string[] = []) =>
    ({
      workflow: {
        options: { loadedDataConverter: converter },
        getHandle: (id: string, runId: string) => ({ fetchHistory: async () => (seen.push(`${id}@${runId}`), { events }) }),
      },
    }) as unknown as Pick<Client, 'workflow'>;
  const before = [{ table: 'public.people', rows: 65, md5: 'aaa' }];
  const after = [{ table: 'public.people', rows: 99, md5: 'zzz' }];
  const scheduled = (eventId: number, name: string) => ({ eventId, activityTaskScheduledEventAttributes: { activityType: { name } } });
  const completed = (eventId: number, scheduledEventId: number, value: unknown) => ({ eventId, activityTaskCompletedEventAttributes: { scheduledEventId, result: { payloads: [defaultPayloadConverter.toPayload(value)] } } });

  it("reads the first checksumTargets result of the chain's first run", async () => {
    const seen: string[] = [];
    const events = [scheduled(5, 'prepareMigration'), completed(7, 5, { entities: [] }), scheduled(9, 'checksumTargets'), completed(11, 9, before), scheduled(40, 'checksumTargets'), completed(42, 40, after)];
    expect(await checksumsFromHistory(fakeClient(events, seen), 'cutover-m', 'run-first')).toEqual(before);
    expect(seen).toEqual(['cutover-m@run-first']);
  });

  it('is undefined when the history has none', async () => {
    expect(await checksumsFromHistory(fakeClient([scheduled(5, 'prepareMigration')]), 'cutover-m', 'r')).toBeUndefined();
    expect(await checksumsFromHistory(fakeClient([scheduled(9, 'checksumTargets')]), 'cutover-m', 'r')).toBeUndefined();
  });
});
