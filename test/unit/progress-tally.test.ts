import { emptyProgress, EntityProgress } from '../../src/shared/migration';
import { addTally } from '../../src/shared/progress';
import { liveTally } from '../../src/workflows/presentation';

function part(batches: number, batchesDone: number, missing: string[], skipped?: Record<string, number>): EntityProgress {
  const p = { ...emptyProgress('users', 1_000), batches, batchesDone, extracted: 100, inserted: 60, updated: 20, unchanged: 15, quarantined: 5, ...(skipped ? { skipped } : {}) };
  p.reconcile = { expected: 95, found: 95 - missing.length, missing: missing.length, mismatched: 0, duplicated: 0, sampleMissing: missing, sampleMismatched: [] };
  return p;
}

describe('the progress tally', () => {
  it('adds counts, skipped rows by filter and reconcile samples (at most ten), never the batches planned', () => {
    const total = { ...emptyProgress('users', 1_000), batches: 7 };
    addTally(total, part(3, 2, ['u1', 'u2'], { guest: 1 }));
    addTally(total, part(4, 4, ['u3', 'u4', 'u5', 'u6', 'u7', 'u8', 'u9', 'u10', 'u11'], { guest: 2, soft_deleted: 3 }));
    expect(total).toMatchObject({ batches: 7, batchesDone: 6, extracted: 200, inserted: 120, updated: 40, unchanged: 30, quarantined: 10, skipped: { guest: 3, soft_deleted: 3 } });
    expect(total.reconcile).toMatchObject({ expected: 190, missing: 11, found: 179 });
    expect(total.reconcile.sampleMissing).toEqual(['u1', 'u2', 'u3', 'u4', 'u5', 'u6', 'u7', 'u8', 'u9', 'u10']);
  });

  it('shows a running entity from its partitions: source rows as prepared, batches never fewer than planned', () => {
    const current = { ...emptyProgress('users', 1_000), batches: 10 };
    const live = liveTally(current, [part(3, 1, []), part(4, 2, [])]);
    expect(live).toMatchObject({ sourceRows: 1_000, batches: 10, batchesDone: 3, extracted: 200 });
    expect(liveTally(current, [part(6, 1, []), part(6, 2, [])]).batches).toBe(12);
  });
});
