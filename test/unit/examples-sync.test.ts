import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadPlanFile } from '../../src/plan/load';

const EXAMPLES = join(__dirname, '..', '..', 'examples');

describe('example plans with delta sync', () => {
  // test/unit/plan.test.ts validates every examples/*.plan.yaml; this keeps one of them a plan with `sync`.
  it('examples/lms-sync.plan.yaml validates, with a logical sync section over table sources', () => {
    const plan = loadPlanFile(join(EXAMPLES, 'lms-sync.plan.yaml'));
    expect(plan.sync).toEqual({
      mode: 'logical',
      intervalSeconds: 5,
      quietSeconds: 10,
      conflict: 'quarantine',
      maxDeleteRatio: 0.1,
      overlapSeconds: 60,
      slot: 'cutover_lms',
      publication: 'cutover_lms',
      maxRetainedWalMb: 1024,
    });
    expect(plan.entities.map((e) => [e.name, e.source.table])).toEqual([
      ['org_units', 'legacy_org_units'],
      ['users', 'legacy_users'],
      ['courses', 'legacy_courses'],
      ['enrollments', 'legacy_enrollments'],
    ]);
  });

  it('lms-sync.plan.yaml is among the examples with a sync section (each of which validates)', () => {
    const withSync = readdirSync(EXAMPLES)
      .filter((f) => f.endsWith('.plan.yaml'))
      .filter((f) => loadPlanFile(join(EXAMPLES, f)).sync !== undefined);
    expect(withSync).toContain('lms-sync.plan.yaml');
  });
});
