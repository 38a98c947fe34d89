import { summarize } from '../../src/cli/commands/start';
import { emptyProgress, type MigrationReport } from '../../src/shared/migration';
import { percentDone, progressMarkdown, skippedText } from '../../src/shared/progress';

function report(): MigrationReport {
  const users = { ...emptyProgress('learners', 500), batches: 1, batchesDone: 1, extracted: 484, inserted: 479, quarantined: 5, skipped: { guest: 1, soft_deleted: 15 } };
  users.reconcile = { ...users.reconcile, expected: 479, found: 479 };
  return { migrationId: 'm-1', planHash: 'h', plan: 'm', status: 'completed', startedBy: 'alice', entities: [users], phases: [], approvals: [], clean: true };
}

describe('rows skipped by a filter are counted wherever rows are', () => {
  it('count as processed: a completed migration with skips is 100 %', () => {
    expect(percentDone(report())).toBe(100);
  });

  it('are named by filter in the summary and the Web UI details', () => {
    const r = report();
    expect(skippedText(r.entities[0]!)).toBe('16 skipped by filter (guest 1, soft_deleted 15)');
    expect(summarize(r)).toContain('5 quarantined, 16 skipped by filter (guest 1, soft_deleted 15);');
    expect(progressMarkdown(r)).toContain('484 (+16 skipped)');
  });

  it('say nothing where nothing was skipped', () => {
    const r = report();
    delete r.entities[0]!.skipped;
    expect(skippedText(r.entities[0]!)).toBe('');
    expect(summarize(r)).not.toContain('skipped');
  });
});
