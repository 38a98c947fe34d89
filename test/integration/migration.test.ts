import { assessIn, forecastCounts, quarantineCounts } from './assess-fixture';
import { WorkflowFailedError } from '@temporalio/client';
import { seedLms } from '../../demo/lms/seed';
import { looksLikeToken } from '../../src/core/tokens';
import { isSealedToken } from '../../src/core/sealed-tokens';
import { requestRollback, startMigration, workflowIdOf } from '../../src/migration-client';
import { createKmsClient } from '../../src/clients/aws';
import { createDb } from '../../src/clients/postgres';
import { connectClient } from '../../src/clients/temporal';
import { createKeyRing } from '../../src/crypto/key-ring-factory';
import { MigrationKeyRing } from '../../src/crypto/migration-key-ring';
import { preImagesOf } from '../../src/core/ledger-record';
import { migrationId as idOf } from '../../src/plan/hash';
import { cli, cliEnv, isolated, Isolated, ledgerRecords, ownerUrl, planFor, removeStaged, spawnWorker, sql, waitFor, WorkerProcess } from './helpers';
import { findValues, seededPersonalValues, underEncryption } from './under-encryption';

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

  const secondIds: string[] = [];

  afterAll(async () => {
    await worker?.kill();
    await removeStaged(env, migrationId);
    for (const id of secondIds) await removeStaged(env, id);
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

  it('puts no seeded personal value in Temporal history, the worker log or any staged object, looked at under the encryption', async () => {
    // Run alone (-t), the migration has not run yet: run it first.
    const ran = await sql<{ n: string }>(env.config.databases.controlUrl!, 'select count(*) as n from cutover.batches where migration_id = $1', [migrationId]).catch(() => [{ n: '0' }]);
    if (ran[0]!.n === '0') await startMigration(env.config, plan, { taskQueue: env.taskQueue, wait: true });
    const values = await seededPersonalValues(ownerUrl(env));
    expect(values.length).toBeGreaterThan(30_000);
    const seen = await underEncryption(env.config, migrationId);

    // History: the migration and its entity run, every payload decoded with the codec.
    const workflowId = workflowIdOf(migrationId);
    expect(seen.histories.map((h) => h.workflowId).sort()).toEqual([workflowId, `${workflowId}/users`]);
    for (const h of seen.histories) {
      expect(h.events).toBeGreaterThan(20);
      expect(h.encrypted).toBeGreaterThan(10);
    }
    const decoded = seen.histories.flatMap((h) => h.plaintexts.map((p) => p.text)).join('\n');
    // What the search saw is what the workflows carried: the plan (the workflow's input) and every batch's reference.
    expect(decoded).toContain('"table":"legacy_users"');
    const batchIds = (await sql<{ batch_id: string }>(env.config.databases.controlUrl!, 'select batch_id from cutover.batches where migration_id = $1', [migrationId])).map((b) => b.batch_id);
    expect(batchIds).toHaveLength(5);
    for (const id of batchIds) expect(decoded).toContain(id);

    // Staging: five batches, each rows and manifest, decrypted; every row there, personal columns as tokens.
    expect(seen.staged.map((o) => `${o.part} ${o.batchId}`).sort()).toEqual(batchIds.flatMap((id) => [`manifest ${id}`, `rows ${id}`]).sort());
    const rows = seen.staged.flatMap((o) => (o.rows ? o.rows.rows.map((r) => Object.fromEntries(o.rows!.columns.map((c, i) => [c, r[i]]))) : []));
    expect(rows).toHaveLength(10_000);
    expect(new Set(seen.staged.flatMap((o) => o.rows?.sourceKeys ?? [])).size).toBe(10_000);
    expect(seen.staged.reduce((n, o) => n + (o.manifest?.rowCount ?? 0), 0)).toBe(10_000);
    const notTokens: string[] = [];
    for (const r of rows) {
      // Columns the target gets in clear travel under sealed tokens; the phone the target keeps, under the vault's token of its shape.
      for (const column of ['username', 'given_name', 'email']) if (!isSealedToken(String(r[column]))) notTokens.push(`${column}=${r[column]}`);
      if (r.family_name !== null && !isSealedToken(String(r.family_name))) notTokens.push(`family_name=${r.family_name}`);
      if (r.phone !== null && !looksLikeToken('phone', String(r.phone))) notTokens.push(`phone=${r.phone}`);
    }
    expect(notTokens.slice(0, 5)).toEqual([]);
    expect(rows.filter((r) => r.family_name !== null).length).toBeGreaterThan(9_000);
    expect(rows.filter((r) => r.phone !== null).length).toBeGreaterThan(8_000);

    // No seeded value, whole, anywhere: decoded payloads, decrypted objects, the stored histories, the worker's log.
    const leaks = findValues([...seen.plaintexts, ...seen.raw, { where: 'worker log', text: worker.output() }], values);
    expect(leaks.slice(0, 20)).toEqual([]);
  });

  it('keeps the key map\'s statistics, so a lookup by source key probes the primary key instead of scanning the entity', async () => {
    // This machine's PostgreSQL runs without autovacuum: only the loads' own ANALYZE gives the planner statistics.
    const tgt = env.config.databases.targetUrl!;
    const analyzed = await sql<{ n: string }>(tgt, "select count(*) as n from pg_stat_user_tables where schemaname = 'cutover' and relname = 'key_map_rows' and coalesce(last_analyze, last_autoanalyze) is not null");
    expect(analyzed).toEqual([{ n: '1' }]);
    const plan = await sql<{ 'QUERY PLAN': string }>(
      tgt,
      `explain select k.k, m.v from json_array_elements_text('["1","2"]'::json) as k(k)
       cross join lateral (select target_key as v from cutover.key_map_rows where scope = (select scope from cutover.key_map_scopes where migration_id = $1 and entity = 'users') and source_key = k.k limit 1) as m`,
      [migrationId],
    );
    const text = plan.map((r) => r['QUERY PLAN']).join('\n');
    expect(text).toContain('key_map_rows_pkey');
    expect(text).not.toMatch(/Filter: \(source_key/);
  });

  it('changes nothing when the same plan runs again', async () => {
    const before = await sql<{ n: string; x: string }>(env.config.databases.targetUrl!, 'select count(*) as n, md5(string_agg(p::text, \'|\' order by id)) as x from people p');
    const again = await startMigration(env.config, plan, { taskQueue: env.taskQueue, wait: true });
    expect(again.report!.entities[0]).toMatchObject({ extracted: 10_000, inserted: 0, updated: 0, unchanged: 10_000, quarantined: 0 });
    expect(again.report!.clean).toBe(true);
    const after = await sql<{ n: string; x: string }>(env.config.databases.targetUrl!, 'select count(*) as n, md5(string_agg(p::text, \'|\' order by id)) as x from people p');
    expect(after).toEqual(before);
  });

  it('records updates with their pre-image when a target row was changed by someone else, and a rollback puts that row back', async () => {
    const tgt = env.config.databases.targetUrl!;
    // Run alone (-t), the first migration has not run yet: run it first.
    if (!(await ledgerRecords(tgt, migrationId)).length) await startMigration(env.config, plan, { taskQueue: env.taskQueue, wait: true });
    await sql(tgt, "update people set org_code = 'CHANGED' where legacy_user_id in (1, 2, 3)");
    const third = await startMigration(env.config, plan, { taskQueue: env.taskQueue, wait: true });
    expect(third.report!.entities[0]).toMatchObject({ inserted: 0, updated: 3, unchanged: 9_997 });
    const changed = await sql<{ n: string }>(tgt, "select count(*) as n from people where org_code = 'CHANGED'");
    expect(changed[0]!.n).toBe('0');
    // The ledger holds a record per batch: the first run's inserts, then the third run's three updates
    // (undone newest first, a rollback would put them back, then delete the rows).
    const ledger = await ledgerRecords(tgt, migrationId);
    expect(ledger.reduce((n, r) => n + r.inserted_count, 0)).toBe(10_000);
    expect(ledger.filter((r) => r.updated_count > 0).map((r) => r.updated_count)).toEqual([3]);
    expect(Number(ledger.filter((r) => r.updated_count > 0)[0]!.seq)).toBeGreaterThan(Number(ledger.filter((r) => r.inserted_count > 0).at(-1)!.seq));

    // Another migration finds rows it did not write, changed by someone else: it updates them, and
    // ledgers each as changed, with the row as it was. It waits at its gate, then is rolled back.
    const rows = (where: string) => sql<Record<string, unknown>>(tgt, `select * from people where ${where} order by legacy_user_id`);
    const checksum = async () => (await sql<{ n: string; x: string }>(tgt, "select count(*) as n, md5(string_agg(p::text, '|' order by id)) as x from people p"))[0];
    await sql(tgt, "update people set org_code = 'CHANGED', status = 'suspended', last_login_at = '2001-02-03T04:05:06Z' where legacy_user_id in (4, 5, 6)");
    const asTheyWere = await rows('legacy_user_id in (4, 5, 6)');
    const before = await checksum();
    const second: typeof plan = { ...planFor(`${plan.name}-second`), phases: [{ name: 'people', entities: ['users'], gate: { distinctApprover: false } }] };
    const secondId = idOf(second);
    secondIds.push(secondId);
    const started = await startMigration(env.config, second, { taskQueue: env.taskQueue });
    const updated = await waitFor('the second migration at its gate', async () => {
      const r = await ledgerRecords(tgt, secondId);
      return r.length === 1 && (await cli(['status', secondId], cliEnv(env))).stdout.includes('awaiting-approval') ? r : undefined;
    });
    expect(updated.map((r) => [r.inserted_count, r.updated_count])).toEqual([[0, 3]]);
    expect((await rows("org_code = 'CHANGED'")).length).toBe(0);

    // Each pre-image opens, under the migration's own pre-image key and bound to its migration, table and row, to the row as it was.
    const control = createDb(env.config.databases.controlUrl!);
    const kms = createKmsClient(env.config.kms);
    try {
      const shared = createKeyRing(env.config, control, kms);
      const sealing = await new MigrationKeyRing(control, kms).sealing(secondId, env.config.kms.aliases.staging, async () => ({ vault: await shared.get('vault'), token: await shared.get('token') }));
      expect(sealing.own).toBe(true);
      const preimageKey = sealing.preimage;
      const json = (v: unknown) => JSON.parse(JSON.stringify(v)) as unknown;
      const record = updated[0]!;
      const at = { migrationId: secondId, table: record.target_table, runId: record.run_id, batchId: record.batch_id };
      const pres = preImagesOf({ preImages: record.pre_images }, preimageKey, at).sort((a, b) => Number(a.businessKey) - Number(b.businessKey));
      expect(pres.length).toBe(3);
      pres.forEach((e, i) => {
        const pre = e.preImage as Record<string, unknown>;
        const was = asTheyWere[i]!;
        expect(e.businessKey).toBe(String(was.legacy_user_id));
        expect(pre).toMatchObject({ org_code: 'CHANGED', status: 'suspended' });
        expect(Object.keys(pre).length).toBeGreaterThan(8);
        for (const [column, value] of Object.entries(pre)) expect([column, value]).toEqual([column, json(was[column])]);
      });
      // Bound to its record: the same ciphertext does not open as another batch's pre-images.
      expect(() => preImagesOf({ preImages: record.pre_images }, preimageKey, { ...at, batchId: `${at.batchId}x` })).toThrow(/integrity check failed/);
    } finally {
      kms.destroy();
      await control.destroy();
    }

    await requestRollback(env.config, started.workflowId, 'it-operator', 'pre-image test');
    const { client, connection } = await connectClient(env.config);
    try {
      const failure = await client.workflow.getHandle(started.workflowId).result().catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(WorkflowFailedError);
      expect((failure as WorkflowFailedError).cause).toMatchObject({ type: 'RolledBack' });
    } finally {
      await connection.close();
    }
    expect(await rows('legacy_user_id in (4, 5, 6)')).toEqual(asTheyWere);
    expect(await checksum()).toEqual(before);
    expect(await ledgerRecords(tgt, secondId)).toEqual([]);
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
    // The assessment's pre-flight foresees the same quarantine, reason by reason, before anything runs.
    const forecast = forecastCounts(await assessIn(env, planFor(name)));
    expect(forecast).toEqual({ users: { not_null_violation: 50, conversion_failed: 50 } });
    const started = await startMigration(env.config, planFor(name), { taskQueue: env.taskQueue, wait: true });
    expect(await quarantineCounts(env, idOf(planFor(name)))).toEqual(forecast);
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
    // Decided once the entity's share is sure to pass 2 % (more than 80 of its 4,000 rows), whatever the rest holds: after
    // the first of its two batches if that one holds more than 80, else after both (they run side by side).
    expect(failure.cause.message).toMatch(
      /^rolled back \(target restored, checksums match\): AbortThresholdExceeded: users: (\d+ of 2000 rows quarantined so far \(\d\.\d %\), so at least \d+ of at most 4000 \(\d\.\d\d %\) whatever the rest holds:|\d+ of 4000 rows quarantined \(5\.0 %\),) above the abort threshold of 2\.0 %$/,
    );
    expect(await checksum()).toEqual(before);
  });

  it('an entity in partitions is judged as a whole: 5 % bad rows spread over four partitions (1.25 % of the entity each) stop it early', async () => {
    await seedLms({ sourceUrl: ownerUrl(env), targetUrl: env.config.databases.targetUrl, users: 4_000, badRatio: 0.05, seed: 4 });
    const name = `it-abort-parts-${Date.now().toString(36)}`;
    names.push(name);
    // 80 batches of 50 in four partitions of 20: no partition alone can pass 2 % of the 4,000 rows.
    const failure = await startMigration(env.config, planFor(name, { batchSize: 50, parallelism: 4 }), { taskQueue: env.taskQueue, wait: true }).catch((e) => e);
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    expect(failure.cause).toMatchObject({ type: 'RolledBack' });
    // Stopped by the partitions' tallies together, before the end (without them: only once all 4,000 were loaded, "200 of 4000").
    const m = /AbortThresholdExceeded: users: (\d+) of (\d+) rows quarantined so far \(\d\.\d %\), so at least \1 of at most 4000 \(2\.\d\d %\) whatever the rest holds: above the abort threshold of 2\.0 %$/.exec(failure.cause.message);
    expect([failure.cause.message, m !== null]).toEqual([failure.cause.message, true]);
    expect(Number(m![1])).toBeGreaterThan(80);
    expect(Number(m![2])).toBeLessThan(4000);
  });
});
