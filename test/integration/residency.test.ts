import { MockActivityEnvironment } from '@temporalio/testing';
import { seedLms } from '../../demo/lms/seed';
import { createMigrationActivities } from '../../src/activities/migration';
import { runDoctor } from '../../src/doctor/doctor';
import { migrationId as idOf, planHash } from '../../src/plan/hash';
import type { Plan } from '../../src/plan/types';
import type { PreparedMigration } from '../../src/shared/migration';
import { isolated, Isolated, lmsPlan, ownerUrl, removeStaged, testStores, TestStores } from './helpers';

/**
 * Residency against the stack's MinIO and local-kms, both in us-east-1: a plan that requires
 * eu-central-1 (for itself or one entity) is refused at prepare, before anything is read or
 * staged, and by `cutover doctor --plan`, naming the field and every thing in another region (the
 * bucket, each KMS key, each client); a plan that requires us-east-1 is prepared, and the report
 * records the regions. (The stack runs one region: each kind of violation on its own is
 * test/unit/residency.test.ts.)
 */
describe('residency', () => {
  let env: Isolated;
  let ctx: TestStores;
  const stamp = Date.now().toString(36);
  const plans: string[] = [];
  const usersOnly = (name: string, change: (p: Plan) => Plan) =>
    lmsPlan(name, (p) => change({ ...p, entities: p.entities.filter((e) => e.name === 'org_units' || e.name === 'users'), phases: [{ name: 'people', entities: ['org_units', 'users'] }] }));

  beforeAll(async () => {
    env = await isolated('residency');
    ctx = testStores(env.config);
    await seedLms({ sourceUrl: ownerUrl(env), targetUrl: env.config.databases.targetUrl, users: 20, seed: 5 });
  });

  afterAll(async () => {
    await ctx?.close();
    for (const id of plans) await removeStaged(env, id).catch(() => undefined);
    await env?.cleanup();
  });

  const prepare = async (plan: Plan) => {
    const migrationId = idOf(plan);
    plans.push(migrationId);
    const run = new MockActivityEnvironment();
    return (await run.run(createMigrationActivities(ctx).prepareMigration, { plan, migrationId, planHash: planHash(plan), startedBy: 'it' })) as PreparedMigration;
  };

  it('refuses a plan whose region the bucket, the keys and the clients are not in, naming each, at prepare and in doctor', async () => {
    const plan = usersOnly(`it-res-eu-${stamp}`, (p) => ({ ...p, residency: { region: 'eu-central-1' } }));
    const refused = await prepare(plan).then(
      () => undefined,
      (err: Error & { type?: string }) => err,
    );
    expect(refused?.type).toBe('ResidencyViolation');
    const message = refused!.message;
    expect(message).toContain(`residency.region is eu-central-1, but the staging bucket ${env.config.s3.bucket} is in us-east-1`);
    for (const field of ['keys.staging', 'keys.vault', 'CUTOVER_KMS_ALIAS_CODEC']) expect(message).toMatch(new RegExp(`residency.region is eu-central-1, but the KMS key \\S+ \\(${field.replace('.', '\\.')}[^)]*\\) is in us-east-1 \\(arn:aws:kms:us-east-1:`));
    expect(message).toContain("residency.region is eu-central-1, but the worker's S3 client is configured for us-east-1");
    expect(message).toContain("residency.region is eu-central-1, but the worker's KMS client is configured for us-east-1");
    // Refused before the first write: the target has no ledger schema yet.
    const ledger = await ctx.plans.plan(idOf(plan)).then((l) => l.target.raw(`select to_regnamespace('${plan.target.ledgerSchema}') as s`));
    expect(ledger.rows[0].s).toBeNull();

    // The same from doctor; an entity's own region is named by its field.
    const entityOnly = usersOnly(`it-res-entity-${stamp}`, (p) => ({ ...p, entities: p.entities.map((e) => (e.name === 'users' ? { ...e, residency: { region: 'eu-central-1' } } : e)) }));
    const doctor = await runDoctor(env.config, { plan: entityOnly });
    const row = doctor.find((r) => r.component === 'Residency')!;
    expect(row.ok).toBe(false);
    expect(row.detail).toContain(`entities.users.residency.region is eu-central-1, but the staging bucket ${env.config.s3.bucket} is in us-east-1`);
  });

  it('prepares a plan whose region everything is in, and records the regions used', async () => {
    const plan = usersOnly(`it-res-us-${stamp}`, (p) => ({ ...p, residency: { region: 'us-east-1' } }));
    const prepared = await prepare(plan);
    expect(prepared.residency).toEqual({
      required: [{ path: 'residency.region', region: 'us-east-1' }],
      used: {
        bucket: 'us-east-1',
        keys: { 'keys.staging': 'us-east-1', 'keys.vault': 'us-east-1', CUTOVER_KMS_ALIAS_CODEC: 'us-east-1' },
        clients: { S3: 'us-east-1', KMS: 'us-east-1' },
      },
    });
    const doctor = await runDoctor(env.config, { plan });
    expect(doctor.find((r) => r.component === 'Residency')).toMatchObject({ ok: true, detail: expect.stringContaining('residency.region us-east-1: bucket us-east-1') });
  });
});
