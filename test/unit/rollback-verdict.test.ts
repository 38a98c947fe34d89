import { differingTables, nothingWritten, rollbackVerdict } from '../../src/core/rollback-verdict';
import { loadPlanFile } from '../../src/plan/load';
import { phaseLevels } from '../../src/plan/order';
import type { Compensation, MigrationReport, TableChecksum } from '../../src/shared/migration';
import { inFlightSaga, registerUnloads } from '../../src/workflows/migration-rollback';
import { afterEndSaga } from '../../src/workflows/rollback';
import { sagaVerdict } from '../../src/workflows/saga';

const people: TableChecksum = { table: 'public.people', rows: 66, md5: 'a1' };
const orgUnits: TableChecksum = { table: 'public.org_units', rows: 12, md5: 'b2' };
const courses: TableChecksum = { table: 'public.courses', rows: 40, md5: 'c3' };
const lms = loadPlanFile(`${__dirname}/../../examples/lms.plan.yaml`);

/** The two sagas a migration can be rolled back by, on the same ledger: checksums from before its first write. */
function bothSagas(before: TableChecksum[]) {
  const compensations: Compensation[] = [{ kind: 'unload', entity: 'users' }, { kind: 'purge-vault' }, { kind: 'delete-staged' }];
  const inFlight = inFlightSaga('m-1', { compensations, prepared: true, checksumsBefore: before }, { stopsRunsFirst: true, holdsSlot: () => false });
  const report = { migrationId: 'm-1', checksumsBefore: before } as MigrationReport;
  const afterEnd = afterEndSaga({ migrationId: 'm-1', plan: lms, migrationRunId: 'run-1', report });
  return { inFlight, afterEnd };
}

describe('the rollback verdict', () => {
  it('is restored only when every table has the checksum it had before, compared by name whatever the order', () => {
    expect(rollbackVerdict([people, orgUnits], [people, orgUnits])).toEqual({ restored: true, differs: [] });
    expect(rollbackVerdict([people, orgUnits], [orgUnits, people])).toEqual({ restored: true, differs: [] });
    expect(rollbackVerdict([people, orgUnits], [{ ...people, md5: 'zz' }, orgUnits])).toEqual({ restored: false, differs: ['public.people'] });
    expect(rollbackVerdict([people, orgUnits], [people, { ...orgUnits, rows: 13 }])).toEqual({ restored: false, differs: ['public.org_units'] });
  });

  it('names a table that only one side has', () => {
    expect(rollbackVerdict([people, orgUnits], [people])).toEqual({ restored: false, differs: ['public.org_units'] });
    expect(rollbackVerdict([people], [people, courses])).toEqual({ restored: false, differs: ['public.courses'] });
    expect(differingTables([people], [courses])).toEqual(['public.people', 'public.courses']);
  });

  it('never says restored without checksums from before the migration', () => {
    expect(rollbackVerdict([], [])).toEqual({ restored: false, differs: [] });
    expect(rollbackVerdict([], [people])).toEqual({ restored: false, differs: [] });
  });

  it.each([
    ['the target as before', [people, orgUnits], [people, orgUnits], { restored: true, differs: [] }],
    ['tables read in another order', [people, orgUnits, courses], [courses, orgUnits, people], { restored: true, differs: [] }],
    ['a table changed since', [people, orgUnits], [{ ...people, rows: 67, md5: 'x' }, orgUnits], { restored: false, differs: ['public.people'] }],
    ['a table missing after', [people, orgUnits], [orgUnits], { restored: false, differs: ['public.people'] }],
    ['a table only after', [people], [people, courses], { restored: false, differs: ['public.courses'] }],
    ['no checksums from before', [], [people, orgUnits], { restored: false, differs: [] }],
  ])('is the same for the in-flight rollback and the rollback after the end: %s', (_case, before, after, expected) => {
    const { inFlight, afterEnd } = bothSagas(before);
    expect(sagaVerdict(inFlight, after)).toEqual(expected);
    expect(sagaVerdict(afterEnd, after)).toEqual(expected);
  });

  it('for a migration that never got to its checksums: nothing was written, so nothing to undo or check', () => {
    const saga = inFlightSaga('m-1', { compensations: [], prepared: false, checksumsBefore: [] }, { stopsRunsFirst: true, holdsSlot: () => false });
    expect({ fence: saga.fence, compensations: saga.compensations }).toEqual({ fence: false, compensations: [] });
    expect(sagaVerdict(saga, [])).toEqual(nothingWritten());
  });

  it('takes the same steps in the same order on both paths: unloads, then the vault, then the staged objects', () => {
    const registered: Compensation[] = [];
    for (const phase of lms.phases) for (const level of phaseLevels(lms, phase.name)) registerUnloads(registered, level);
    // As migration.ts registers them at prepare: unloads are added in front of these as levels start.
    registered.push({ kind: 'purge-vault' }, { kind: 'delete-staged' });
    const inFlight = inFlightSaga('m-1', { compensations: registered, prepared: true, checksumsBefore: [people] }, { stopsRunsFirst: true, holdsSlot: () => false });
    const { afterEnd } = bothSagas([people]);
    expect(afterEnd.compensations).toEqual(inFlight.compensations);
    // Runs begun before the patch replay their own order.
    const old = afterEndSaga({ migrationId: 'm-1', plan: lms, migrationRunId: 'run-1', report: { migrationId: 'm-1', checksumsBefore: [people] } as MigrationReport }, { runningOrder: false });
    expect(old.compensations.slice(-2)).toEqual([{ kind: 'delete-staged' }, { kind: 'purge-vault' }]);
  });

  it('comes after the same unloads on both paths: every entity, children before parents', () => {
    // As the running migration registers them, level by level, phase by phase.
    const registered: Compensation[] = [];
    for (const phase of lms.phases) for (const level of phaseLevels(lms, phase.name)) registerUnloads(registered, level);
    const unloads = (cs: readonly Compensation[]) => cs.flatMap((c) => (c.kind === 'unload' ? [c.entity] : []));
    const { afterEnd } = bothSagas([people]);
    expect(unloads(registered)).toEqual(unloads(afterEnd.compensations));
    expect(unloads(registered)).toHaveLength(lms.entities.length);
  });
});
