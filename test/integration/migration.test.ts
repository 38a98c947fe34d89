import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { WorkflowFailedError } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { seedLms } from '../../demo/lms/seed';
import { createS3Client } from '../../src/clients/aws';
import { connectClient } from '../../src/clients/temporal';
import { startMigration, workflowIdOf } from '../../src/migration-client';
import { migrationId as idOf } from '../../src/plan/hash';
import { isolated, Isolated, ownerUrl, planFor, removeStaged, spawnWorker, sql, WorkerProcess } from './helpers';





async function stagedObjects(env: Isolated, migrationId: string): Promise<{ key: string; body: Buffer }[]> {
  const s3 = createS3Client(env.config.s3);
  try {
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: env.config.s3.bucket, Prefix: `migrations/${migrationId}/` }));
    return Promise.all(
      (listed.Contents ?? []).map(async (o) => ({ key: o.Key!, body: Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: env.config.s3.bucket, Key: o.Key! }))).Body!.transformToByteArray()) })),
    );
  } finally {
    s3.destroy();
  }
}


interface SourceUser {
  user_id: number;
  login: string;
  full_name: string;
  email: string | null;
  phone: string | null;
  status_code: string;
  created_epoch: string;
  last_login_epoch: string | null;
  org_code: string | null;
}

describe('a 10k-user migration on the real stack', () => {
  let env: Isolated;
  let worker: WorkerProcess;
  const plan = planFor(`it-users-${Date.now().toString(36)}`);
  const migrationId = idOf(plan);

  beforeAll(async () => {
    env = await isolated('mig');
    await seedLms({ sourceUrl: ownerUrl(env), targetUrl: env.config.databases.targetUrl, users: 10_000, seed: 7 });
    worker = await spawnWorker(env);
  });

  afterAll(async () => {
    await worker?.kill();
    await removeStaged(env, migrationId);
    await env?.cleanup();
  });

  it('reconciles clean, and every target row is what the mapping says (checked independently)', async () => {
    const started = await startMigration(env.config, plan, { taskQueue: env.taskQueue, wait: true, startedBy: 'it-operator' });
    const report = started.report!;
    expect(report.status).toBe('completed');
    expect(report.clean).toBe(true);
    expect(report.entities).toEqual([
      expect.objectContaining({ entity: 'users', sourceRows: 10_000, extracted: 10_000, inserted: 10_000, updated: 0, unchanged: 0, quarantined: 0, batches: 5, batchesDone: 5 }),
    ]);
    expect(report.entities[0]!.reconcile).toMatchObject({ expected: 10_000, found: 10_000, missing: 0, mismatched: 0, duplicated: 0 });

    // Independent of the pipeline's digests: recompute each row from the source by hand.
    const source = await sql<SourceUser>(ownerUrl(env), 'select * from legacy_users order by user_id');
    const target = await sql<Record<string, unknown>>(env.config.databases.targetUrl!, 'select * from people order by legacy_user_id');
    expect(target).toHaveLength(source.length);
    const statuses: Record<string, string> = { A: 'active', I: 'inactive', S: 'suspended' };
    const phoneTokens = new Map<string, unknown>();
    source.forEach((s, i) => {
      const t = target[i]!;
      const words = s.full_name.split(' ');
      expect({
        legacy_user_id: t.legacy_user_id,
        username: t.username,
        given_name: t.given_name,
        family_name: t.family_name,
        email: t.email,
        status: t.status,
        created_at: (t.created_at as Date).getTime(),
        last_login_at: t.last_login_at === null ? null : (t.last_login_at as Date).getTime(),
        org_code: t.org_code,
        source_system: t.source_system,
      }).toEqual({
        legacy_user_id: s.user_id,
        username: s.login,
        given_name: words[0],
        family_name: words.length > 1 ? words.slice(1).join(' ') : null,
        email: s.email!.toLowerCase(),
        status: statuses[s.status_code],
        created_at: Number(s.created_epoch) * 1000,
        last_login_at: s.last_login_epoch === null ? null : Number(s.last_login_epoch) * 1000,
        org_code: s.org_code,
        source_system: 'legacy-lms',
      });
      // The phone stays a token in the target: a phone-shaped, deterministic stand-in.
      if (s.phone === null) expect(t.phone).toBeNull();
      else {
        expect(t.phone).toMatch(/^\+999\d{10}$/);
        if (phoneTokens.has(s.phone)) expect(t.phone).toBe(phoneTokens.get(s.phone));
        phoneTokens.set(s.phone, t.phone);
      }
    });
  });

  it('puts no seeded personal value in Temporal history, the worker log or any staged object', async () => {
    const people = await sql<{ full_name: string; email: string; phone: string | null; login: string }>(ownerUrl(env), 'select full_name, email, phone, login from legacy_users order by user_id');
    const values = people.flatMap((p) => [p.full_name, p.email, p.email.toLowerCase(), p.phone, p.login]).filter((v): v is string => typeof v === 'string' && v.length >= 6);

    const { client, connection } = await connectClient(env.config);
    let historyBytes: Buffer;
    try {
      const history = await client.workflow.getHandle(workflowIdOf(migrationId)).fetchHistory();
      expect(history.events!.length).toBeGreaterThan(20);
      historyBytes = Buffer.from(temporal.api.history.v1.History.encode(history).finish());
    } finally {
      await connection.close();
    }
    const log = worker.output();
    const objects = await stagedObjects(env, migrationId);
    expect(objects.map((o) => o.key.split('/').pop()).sort()).toEqual([...Array(5).fill('manifest.json.enc'), ...Array(5).fill('rows.json.gz.enc')]);

    const leaks: string[] = [];
    for (const v of values) {
      const needle = Buffer.from(v, 'utf8');
      if (historyBytes.includes(needle)) leaks.push(`history: ${v}`);
      if (log.includes(v)) leaks.push(`log: ${v}`);
    }
    // Every value against the (larger) objects would be slow; a spread sample of 3,000 is plenty.
    const sample = values.filter((_, i) => i % Math.ceil(values.length / 3000) === 0);
    for (const o of objects) for (const v of sample) if (o.body.includes(Buffer.from(v, 'utf8'))) leaks.push(`${o.key}: ${v}`);
    expect(leaks).toEqual([]);
  });

  it('changes nothing when the same plan runs again', async () => {
    const before = await sql<{ n: string; x: string }>(env.config.databases.targetUrl!, 'select count(*) as n, md5(string_agg(p::text, \'|\' order by id)) as x from people p');
    const again = await startMigration(env.config, plan, { taskQueue: env.taskQueue, wait: true });
    expect(again.report!.entities[0]).toMatchObject({ extracted: 10_000, inserted: 0, updated: 0, unchanged: 10_000, quarantined: 0 });
    expect(again.report!.clean).toBe(true);
    const after = await sql<{ n: string; x: string }>(env.config.databases.targetUrl!, 'select count(*) as n, md5(string_agg(p::text, \'|\' order by id)) as x from people p');
    expect(after).toEqual(before);
  });

  it('records updates with their pre-image when a target row was changed by someone else', async () => {
    await sql(env.config.databases.targetUrl!, "update people set org_code = 'CHANGED' where legacy_user_id in (1, 2, 3)");
    const third = await startMigration(env.config, plan, { taskQueue: env.taskQueue, wait: true });
    expect(third.report!.entities[0]).toMatchObject({ inserted: 0, updated: 3, unchanged: 9_997 });
    const changed = await sql<{ n: string }>(env.config.databases.targetUrl!, "select count(*) as n from people where org_code = 'CHANGED'");
    expect(changed[0]!.n).toBe('0');
    // The ledger keeps the first action per row: these rows were inserted by this migration.
    const ledger = await sql<{ action: string; n: string }>(env.config.databases.targetUrl!, 'select action, count(*) as n from cutover.ledger group by action');
    expect(ledger).toEqual([{ action: 'inserted', n: '10000' }]);
  });
});

describe('bad rows', () => {
  let env: Isolated;
  let worker: WorkerProcess;
  const names: string[] = [];

  beforeAll(async () => {
    env = await isolated('bad');
    worker = await spawnWorker(env);
  });

  afterAll(async () => {
    await worker?.kill();
    for (const name of names) await removeStaged(env, idOf(planFor(name)));
    await env?.cleanup();
  });

  it('quarantines rows that fail conversion or a constraint, counts them by reason, and loads the rest', async () => {
    const seeded = await seedLms({ sourceUrl: ownerUrl(env), targetUrl: env.config.databases.targetUrl, users: 10_000, badRatio: 0.01, seed: 3 });
    expect(seeded).toMatchObject({ users: 10_000, badStatus: 50, missingEmail: 50 });
    const name = `it-bad-${Date.now().toString(36)}`;
    names.push(name);
    const started = await startMigration(env.config, planFor(name), { taskQueue: env.taskQueue, wait: true });
    expect(started.report!.entities[0]).toMatchObject({ extracted: 10_000, inserted: 9_900, quarantined: 100 });
    expect(started.report!.clean).toBe(true);
    const reasons = await sql<{ stage: string; reason: string; column_name: string; n: string }>(
      env.config.databases.controlUrl!,
      'select stage, reason, column_name, count(*) as n from cutover.quarantine group by 1, 2, 3 order by 1',
    );
    expect(reasons).toEqual([
      { stage: 'load', reason: 'not_null_violation', column_name: 'email', n: '50' },
      { stage: 'stage', reason: 'conversion_failed', column_name: 'status', n: '50' },
    ]);
    const target = await sql<{ n: string }>(env.config.databases.targetUrl!, 'select count(*) as n from people');
    expect(target[0]!.n).toBe('9900');
  });

  it('past the abort threshold, rolls back by itself with a reason naming the entity, the count and the threshold', async () => {
    await seedLms({ sourceUrl: ownerUrl(env), targetUrl: env.config.databases.targetUrl, users: 4_000, badRatio: 0.05, seed: 4 });
    const checksum = async () => sql<{ n: string; x: string }>(env.config.databases.targetUrl!, "select count(*) as n, md5(coalesce(string_agg(p::text, '|' order by p::text), '')) as x from people p");
    const before = await checksum();
    const name = `it-abort-${Date.now().toString(36)}`;
    names.push(name);
    const failure = await startMigration(env.config, planFor(name), { taskQueue: env.taskQueue, wait: true }).catch((e) => e);
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    expect(failure.cause).toMatchObject({ type: 'RolledBack' });
    expect(failure.cause.message).toMatch(/^rolled back \(target restored, checksums match\): AbortThresholdExceeded: users: \d+ of \d+ rows quarantined \(5\.0 %\), above the abort threshold of 2\.0 %$/);
    expect(await checksum()).toEqual(before);
  });
});
