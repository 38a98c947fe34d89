import { cutoverStatus } from '../../src/migration-view';
import { decideStatus, ListedRollback, ListedRun, mergeListings, MIGRATION_STATES, shreddedText } from '../../src/migration-status';
import { reportMarkdown } from '../../src/report/write-report';

/**
 * One truth about a migration's state: `start --wait`, `status`, `list`, `list --status` and
 * `report` all decide it with `decideStatus`, for every way a migration ends.
 */
describe('the status of a migration, for every end', () => {
  it('running: the live report, else what the workflow wrote', () => {
    expect(decideStatus({ execution: 'RUNNING', written: 'running', report: { status: 'awaiting-approval' } })).toBe('awaiting-approval');
    expect(decideStatus({ execution: 'RUNNING', written: 'syncing' })).toBe('syncing');
    expect(decideStatus({ execution: 'RUNNING', written: 'rollback-blocked' })).toBe('rollback-blocked');
    expect(decideStatus({ execution: 'RUNNING' })).toBe('running');
  });

  it('completed', () => {
    expect(decideStatus({ execution: 'COMPLETED', written: 'completed', report: { status: 'completed' } })).toBe('completed');
    expect(decideStatus({ execution: 'COMPLETED', written: 'completed' })).toBe('completed');
  });

  it('rolled back in flight: FAILED with a RolledBack report (or rolled-back written)', () => {
    expect(decideStatus({ execution: 'FAILED', written: 'rolled-back', report: { status: 'rolled-back' } })).toBe('rolled-back');
    expect(decideStatus({ execution: 'FAILED', written: 'rolled-back' })).toBe('rolled-back');
  });

  it('a FAILED execution that did not roll back is failed, never the in-flight status it last wrote', () => {
    // Histories from before the fix: a rollback asked mid-load failed the workflow with CutoverStatus left 'running'.
    expect(decideStatus({ execution: 'FAILED', written: 'running' })).toBe('failed');
    expect(decideStatus({ execution: 'FAILED', written: 'rolling-back' })).toBe('failed');
    expect(decideStatus({ execution: 'FAILED', written: 'failed' })).toBe('failed');
    // A closed workflow queried by a worker answers its last live report: still failed.
    expect(decideStatus({ execution: 'FAILED', written: 'running', report: { status: 'running' } })).toBe('failed');
    expect(decideStatus({ execution: 'FAILED', written: 'rolled-back', report: { status: 'rolling-back' } })).toBe('failed');
    // The same through the old entry point.
    expect(cutoverStatus('FAILED', 'running')).toBe('failed');
  });

  it('cancelled, terminated and timed out: that, whatever was written', () => {
    expect(decideStatus({ execution: 'CANCELLED', written: 'running' })).toBe('cancelled');
    expect(decideStatus({ execution: 'CANCELLED', written: 'cancelled' })).toBe('cancelled');
    expect(decideStatus({ execution: 'TERMINATED', written: 'awaiting-approval' })).toBe('terminated');
    expect(decideStatus({ execution: 'TIMED_OUT', written: 'running' })).toBe('timed-out');
  });

  it('a rollback after the end speaks last: after completion, and after a failure, cancel or termination', () => {
    for (const execution of ['COMPLETED', 'FAILED', 'CANCELLED', 'TERMINATED', 'TIMED_OUT']) {
      expect(decideStatus({ execution, written: 'completed', rollback: { execution: 'RUNNING', written: 'rolling-back' } })).toBe('rolling-back');
      expect(decideStatus({ execution, written: 'running', rollback: { execution: 'RUNNING', written: 'rolling-back', report: { status: 'rollback-blocked' } } })).toBe('rollback-blocked');
      expect(decideStatus({ execution, written: 'running', rollback: { execution: 'RUNNING', written: 'rollback-blocked' } })).toBe('rollback-blocked');
      expect(decideStatus({ execution, written: 'completed', report: { status: 'completed' }, rollback: { execution: 'COMPLETED', written: 'rolled-back' } })).toBe('rolled-back');
      // The rollback workflow itself ended without finishing: the target is half undone.
      expect(decideStatus({ execution, written: 'completed', rollback: { execution: 'TERMINATED', written: 'rolling-back' } })).toBe('failed');
    }
  });

  it('every status decided is one `list --status` accepts', () => {
    const executions = ['RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED', 'TERMINATED', 'TIMED_OUT', 'CONTINUED_AS_NEW', 'UNKNOWN'];
    const written = [undefined, ...MIGRATION_STATES, 'nonsense'];
    for (const execution of executions) for (const w of written) expect(MIGRATION_STATES).toContain(decideStatus({ execution, written: w }));
  });
});

describe('cutover list: one line per migration, merged with its rollback after the end', () => {
  const run = (workflowId: string, execution: string, written: string, startTime: string, closeTime?: string): ListedRun => ({ workflowId, execution, written, startTime, closeTime, plan: 'users', phase: 'people' });
  const rollback = (workflowId: string, execution: string, written: string, startTime: string): ListedRollback => ({ workflowId, execution, written, startTime });

  it('the newest run of each id, with the count of runs', () => {
    const rows = mergeListings(
      [
        run('cutover-a', 'CANCELLED', 'running', '2026-01-01T10:00:00.000Z', '2026-01-01T10:05:00.000Z'),
        run('cutover-a', 'COMPLETED', 'completed', '2026-01-01T11:00:00.000Z', '2026-01-01T11:05:00.000Z'),
        run('cutover-b', 'FAILED', 'running', '2026-01-01T10:30:00.000Z', '2026-01-01T10:31:00.000Z'),
      ],
      [],
    );
    expect(rows.map((r) => [r.migrationId, r.status, r.runs])).toEqual([
      ['a', 'completed', 2],
      ['b', 'failed', 1],
    ]);
  });

  it('a rollback after completion makes the migration rolled-back; one from before the newest run ended does not', () => {
    const rows = mergeListings(
      [run('cutover-a', 'COMPLETED', 'completed', '2026-01-01T11:00:00.000Z', '2026-01-01T11:05:00.000Z'), run('cutover-c', 'COMPLETED', 'completed', '2026-01-02T11:00:00.000Z', '2026-01-02T11:05:00.000Z')],
      [
        rollback('cutover-a/rollback', 'COMPLETED', 'rolled-back', '2026-01-01T12:00:00.000Z'),
        // Undid an earlier run of c: the newest run completed after it.
        rollback('cutover-c/rollback', 'COMPLETED', 'rolled-back', '2026-01-01T12:00:00.000Z'),
      ],
    );
    const a = rows.find((r) => r.migrationId === 'a')!;
    expect(a.status).toBe('rolled-back');
    expect(a.rollback?.workflowId).toBe('cutover-a/rollback');
    expect(a.phase).toBeUndefined();
    expect(rows.find((r) => r.migrationId === 'c')!.status).toBe('completed');
  });

  it('a cancelled migration rolled back afterwards is rolled-back; blocked is rollback-blocked', () => {
    const rows = mergeListings(
      [run('cutover-x', 'CANCELLED', 'cancelled', '2026-01-01T10:00:00.000Z', '2026-01-01T10:01:00.000Z'), run('cutover-y', 'TERMINATED', 'running', '2026-01-01T09:00:00.000Z', '2026-01-01T09:01:00.000Z')],
      [rollback('cutover-x/rollback', 'COMPLETED', 'rolled-back', '2026-01-01T10:02:00.000Z'), rollback('cutover-y/rollback', 'RUNNING', 'rollback-blocked', '2026-01-01T09:02:00.000Z')],
    );
    expect(rows.map((r) => [r.migrationId, r.status])).toEqual([
      ['x', 'rolled-back'],
      ['y', 'rollback-blocked'],
    ]);
  });
});

import { renderStatus, StatusView } from '../../src/cli/status-view';
import { emptyProgress, MigrationReport } from '../../src/shared/migration';

describe('cutover status says what an end left, and no stale full-load figures', () => {
  const users = { ...emptyProgress('users', 500), batches: 1, batchesDone: 1, extracted: 500, inserted: 444, quarantined: 56 };
  const report = (overrides: Partial<MigrationReport>): MigrationReport => ({
    migrationId: 'users-0123456789ab',
    planHash: 'f'.repeat(64),
    plan: 'users',
    status: 'completed',
    startedBy: 'alice',
    entities: [users],
    phases: [{ phase: 'all', entities: [], clean: false }],
    approvals: [],
    clean: true,
    ...overrides,
  });
  const view = (overrides: Partial<StatusView>): StatusView => ({ workflowId: 'cutover-users-0123456789ab', migrationId: 'users-0123456789ab', url: 'http://ui', execution: 'COMPLETED', status: 'completed', ...overrides });

  it('after a clean cutover, the full load phase differences read as settled and the quarantine is what is quarantined now', () => {
    const r = report({
      sync: { mode: 'poll', rounds: 3, applied: { inserted: 56, updated: 0, unchanged: 0, deleted: 0, quarantined: 0 }, conflicts: { detected: 0, sourceWon: 0, targetKept: 0, quarantined: 0 }, roundsUnclean: 0, lag: { changes: 0, seconds: 0 } },
      cutover: { requestedBy: 'alice', requestedAt: '2026-01-01T00:00:00Z', completedAt: '2026-01-01T00:01:00Z', finalRounds: 1, finalChanges: 0, verified: { clean: true, entities: [] } },
    });
    const text = renderStatus(view({ report: r, quarantinedNow: {} }));
    expect(text).not.toMatch(/RECONCILE DIFFERENCES/);
    expect(text).toMatch(/phase all: differences during the full load, settled/);
    expect(text).toMatch(/quarantined 0 now \(56 when loaded\)/);
    // Without a cutover that settled them, differences are still differences.
    expect(renderStatus(view({ report: report({}) }))).toMatch(/phase all: RECONCILE DIFFERENCES/);
  });

  it('a failed, cancelled or terminated migration says so, what it left in the target by table, and the command that undoes it', () => {
    for (const [execution, status] of [
      ['FAILED', 'failed'],
      ['CANCELLED', 'cancelled'],
      ['TERMINATED', 'terminated'],
    ]) {
      const text = renderStatus(
        view({
          execution: execution!,
          status: status!,
          report: report({ status: status as MigrationReport['status'], phases: [] }),
          leftBehind: { tables: [{ table: 'public.people', inserted: 300, updated: 2 }], files: 0, undo: 'cutover rollback users-0123456789ab' },
        }),
      );
      expect(text.split('\n')[0]).toMatch(new RegExp(`: ${status}`));
      expect(text).toMatch(/nothing was undone/);
      expect(text).toMatch(/left in the target \(half-loaded\): public\.people 300 inserted, 2 updated — `cutover rollback users-0123456789ab` undoes them/);
    }
    // No report at all: it says what is missing instead of nothing.
    const bare = renderStatus(view({ execution: 'FAILED', status: 'failed', missing: ['per-entity progress: no worker answered'], leftBehind: { tables: [], files: 0, undo: 'cutover rollback x', note: 'not known: $T is not set here' } }));
    expect(bare).toMatch(/missing: per-entity progress/);
    expect(bare).toMatch(/`cutover rollback x` undoes whatever its ledger holds/);
  });

  it('a failed migration whose keys were shredded says the rollback is refused, never that it undoes what it left', () => {
    const keysShredded = { at: '2026-12-07T01:02:03.000Z', by: 'dana' };
    const refused = shreddedText(keysShredded);
    const text = renderStatus(
      view({
        execution: 'FAILED',
        status: 'failed',
        report: report({ status: 'failed', phases: [] }),
        keysShredded,
        leftBehind: { tables: [{ table: 'public.people', inserted: 300, updated: 2 }], files: 0, undo: 'cutover rollback users-0123456789ab', refused },
      }),
    );
    expect(text).toContain('public.people 300 inserted, 2 updated — `cutover rollback users-0123456789ab` is refused: its keys were shredded by dana at 2026-12-07T01:02:03.000Z');
    expect(text).not.toMatch(/undoes/);
    expect(text).toContain('  keys: SHREDDED — its keys were shredded by dana at 2026-12-07T01:02:03.000Z: nothing it staged, no pre-image and no quarantined row opens any more');
    // The reports say the same.
    const md = reportMarkdown(report({ status: 'failed', phases: [] }), { keysShredded, leftBehind: { tables: [], files: 0, undo: 'cutover rollback x', refused } });
    expect(md).toContain('**Keys shredded:** its keys were shredded by dana');
    expect(md).toContain('`cutover rollback x` is refused: its keys were shredded');
    expect(md).not.toMatch(/undoes it/);
  });
});
