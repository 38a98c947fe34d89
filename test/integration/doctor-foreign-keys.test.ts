import { seedLms } from '../../demo/lms/seed';
import { runDoctor } from '../../src/doctor/doctor';
import { isolated, Isolated, lmsPlan, ownerUrl, sql } from './helpers';

/**
 * `cutover doctor --plan` warns of a foreign key into one of the plan's target tables whose
 * referencing columns have no index: each delete of a referenced row (a sync round's deletes, a
 * rollback) then scans the referencing table. The demo's target indexes every one; with one
 * dropped, the warning names it and the statement that makes it.
 */
describe('doctor: foreign keys into the plan without an index', () => {
  let env: Isolated;

  beforeAll(async () => {
    env = await isolated('fkidx');
    await seedLms({ sourceUrl: ownerUrl(env), targetUrl: env.config.databases.targetUrl, users: 5, seed: 3 });
  });

  afterAll(async () => {
    await env?.cleanup();
  });

  const row = async () => (await runDoctor(env.config, { plan: lmsPlan('it-fkidx') })).find((r) => r.check.startsWith('target: foreign keys'))!;

  it('passes when every referencing column is indexed, and warns naming the one that is not', async () => {
    expect(await row()).toMatchObject({ ok: true, detail: 'every referencing column is indexed' });
    expect((await row()).warning).toBeUndefined();
    await sql(env.config.databases.targetUrl!, 'drop index enrollments_person_id');
    const warned = await row();
    expect(warned).toMatchObject({ ok: true, warning: true, fix: 'create index concurrently on enrollments (person_id)' });
    expect(warned.detail).toMatch(/^enrollments \(person_id\) → people: no index/);
  });
});
