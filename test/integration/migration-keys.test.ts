import { CreateKeyCommand, DecryptCommand, DisableKeyCommand, EnableKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { seedLms } from '../../demo/lms/seed';
import { createKmsClient, createS3Client } from '../../src/clients/aws';
import { migrationKeyContext } from '../../src/core/migration-keys';
import { preImagesOf } from '../../src/core/ledger-record';
import { isSealedToken, openSealedTokens, sealedTokenKey } from '../../src/core/sealed-tokens';
import { openJson } from '../../src/crypto/seal-json';
import { StagingCipher } from '../../src/crypto/staging-cipher';
import { lookupTokens } from '../../src/crypto/vault';
import { migrationId as idOf, planHash } from '../../src/plan/hash';
import { loadPlanFile } from '../../src/plan/load';
import { cli, CliResult, cliEnv, isolated, Isolated, ledgerRecords, ownerUrl, planFor, removeStaged, ROOT, spawnWorker, sql, testStores, TestStores, WorkerProcess } from './helpers';
import { seedPreexistingPeople, targetChecksums } from './target-state';

/**
 * Per-migration keys (issue 24): a migration seals what it leaves (staged objects, pre-images,
 * quarantined rows, sealed tokens) under keys derived from a root key of its own, wrapped by the
 * plan's staging KMS key. `keys rotate` re-wraps it under another KMS key without re-encrypting
 * anything; `close --shred` destroys it, and then nothing it left opens, by any key that is left.
 */
describe('per-migration keys', () => {
  let env: Isolated;
  let worker: WorkerProcess;
  let dbEnv: NodeJS.ProcessEnv;
  let dir: string;
  let kms: KMSClient;
  let migrationId = '';
  const run = (args: string[], timeoutMs?: number): Promise<CliResult> => cli(args, dbEnv, timeoutMs);
  const tgt = () => env.config.databases.targetUrl!;
  const ctl = () => env.config.databases.controlUrl!;
  const fresh: TestStores[] = [];
  /** Stores of a worker that starts now (nothing unwrapped in memory yet). */
  const newWorkerStores = () => {
    const s = testStores(env.config);
    fresh.push(s);
    return s;
  };

  beforeAll(async () => {
    env = await isolated('mkeys');
    dbEnv = cliEnv(env);
    worker = await spawnWorker(env, { CUTOVER_METRICS_ADDRESS: 'off' });
    dir = mkdtempSync(join(tmpdir(), 'cutover-mkeys-'));
    kms = createKmsClient(env.config.kms);
  });

  afterAll(async () => {
    await worker?.kill();
    for (const s of fresh) await s.close();
    if (migrationId) await removeStaged(env, migrationId);
    kms?.destroy();
    await env?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Every object the migration staged, as stored in S3 (encrypted). */
  async function stagedObjects(): Promise<{ key: string; body: Buffer }[]> {
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

  const quarantined = () => sql<{ entity: string; source_key: string; payload: Buffer }>(ctl(), 'select entity, source_key, payload from cutover.quarantine where migration_id = $1', [migrationId]);
  const preImageRecords = async () => (await ledgerRecords(tgt(), migrationId)).filter((r) => r.pre_images);
  const atOf = (r: { target_table: string; run_id: string; batch_id: string }) => ({ migrationId, table: r.target_table, runId: r.run_id, batchId: r.batch_id });

  it('a migration seals under its own key; rotate re-wraps it and the old KMS key is no longer needed; close --shred leaves nothing that opens, the target and the audit chain intact', async () => {
    await seedLms({ sourceUrl: ownerUrl(env), targetUrl: tgt(), users: 600, badRatio: 0.015, seed: 24, resetTarget: true });
    // People already in the target that the migration overwrites: their pre-images go to the ledger.
    await seedPreexistingPeople(tgt(), Array.from({ length: 12 }, (_, i) => 1 + i * 40), [900_001]);
    const [keyA, keyB] = (await Promise.all(['a', 'b'].map(async (n) => (await kms.send(new CreateKeyCommand({ Description: `it-mkeys ${n}` }))).KeyMetadata!.Arn!))) as [string, string];
    const doc = parse(readFileSync(join(ROOT, 'examples', 'lms-users.plan.yaml'), 'utf8'));
    doc.name = `mkeys-${Date.now().toString(36)}`;
    doc.settings.batch_size = 200;
    doc.keys = { ...(doc.keys ?? {}), staging: keyA };
    const file = join(dir, 'mkeys.plan.yaml');
    writeFileSync(file, stringify(doc));
    migrationId = idOf(loadPlanFile(file));
    expect((await run(['start', file, '--wait'], 180_000)).code).toBe(0);

    const shown = JSON.parse((await run(['keys', 'show', migrationId, '--json'])).stdout);
    expect(shown).toMatchObject({ migrationId, own: true, kmsKeyId: keyA, generation: 1 });
    expect(shown.shreddedAt).toBeUndefined();

    // What the migration left, and proof that each kind opens under its key before the shredding.
    const objects = await stagedObjects();
    expect(objects.length).toBeGreaterThanOrEqual(6); // 3 batches of users, rows and manifest each
    const quarantine = await quarantined();
    expect(quarantine.length).toBeGreaterThan(0);
    const preImages = await preImageRecords();
    expect(preImages.length).toBeGreaterThan(0);
    const before = newWorkerStores();
    const loaded = await before.plans.plan(migrationId);
    const sealing = await loaded.sealing();
    expect(sealing.own).toBe(true);
    for (const o of objects) await expect(loaded.cipher.decrypt(o.body, {}, o.key)).resolves.toBeInstanceOf(Buffer);
    for (const q of quarantine) expect(openJson(q.payload, sealing.quarantine, `quarantine:${migrationId}:${q.entity}:${q.source_key}`, 'quarantined row')).toBeTruthy();
    for (const r of preImages) expect(preImagesOf({ preImages: r.pre_images! }, sealing.preimage, atOf(r)).length).toBeGreaterThan(0);
    const manifests = objects.filter((o) => o.key.endsWith('manifest.json.enc'));
    const stagedRows = await Promise.all(manifests.map(async (m) => loaded.staging.readRows(await loaded.staging.readManifest(migrationId, 'users', m.key.split('/').at(-2)!))));
    const sealedTokens = stagedRows.flatMap((s) => s.rows.flat()).filter((v): v is string => typeof v === 'string' && isSealedToken(v));
    expect(sealedTokens.length).toBeGreaterThan(100);
    expect(openSealedTokens(sealing.sealedToken, migrationId, sealedTokens).size).toBe(new Set(sealedTokens).size);
    // The phone numbers the target keeps as tokens (protect: keep_token): vault tokens, openable through the vault.
    const phoneTokens = (await sql<{ phone: string }>(tgt(), "select phone from people where legacy_user_id <= 600 and phone is not null and source_system = 'legacy-lms'")).map((r) => r.phone);
    expect(phoneTokens.length).toBeGreaterThan(100);
    const [vaultKey, tokenKey] = await Promise.all([before.keys.get('vault'), before.keys.get('token')]);
    expect((await lookupTokens(before.deps.control, vaultKey, phoneTokens)).size).toBe(new Set(phoneTokens).size);
    // Nothing of it opens under the control database's shared keys, nor as a KMS-wrapped object.
    expect(() => openJson(quarantine[0]!.payload, vaultKey, `quarantine:${migrationId}:${quarantine[0]!.entity}:${quarantine[0]!.source_key}`, 'quarantined row')).toThrow(/integrity/);
    expect(() => preImagesOf({ preImages: preImages[0]!.pre_images! }, vaultKey, atOf(preImages[0]!))).toThrow(/integrity/);
    expect(() => openSealedTokens(sealedTokenKey(tokenKey), migrationId, sealedTokens.slice(0, 5))).toThrow(/do not open/);
    await expect(new StagingCipher(before.deps.kms, keyA).decrypt(objects[0]!.body, {}, objects[0]!.key)).rejects.toThrow(/integrity/);

    // Rotation: re-wrapped under key B; key A disabled; a worker that starts now opens old and new objects.
    const rotated = await run(['keys', 'rotate', migrationId, '--to', keyB, '--as', 'it-key-officer']);
    expect(rotated.code).toBe(0);
    expect(rotated.stdout).toContain(`re-wrapped from ${keyA} to ${keyB} (generation 2`);
    await kms.send(new DisableKeyCommand({ KeyId: keyA }));
    const afterRotation = newWorkerStores();
    const rotatedPlan = await afterRotation.plans.plan(migrationId);
    for (const o of objects) await expect(rotatedPlan.cipher.decrypt(o.body, {}, o.key)).resolves.toBeInstanceOf(Buffer);
    const newObject = await rotatedPlan.cipher.encrypt(Buffer.from('made after the rotation'), { 'cutover:migration': migrationId });
    expect((await rotatedPlan.cipher.decrypt(newObject, { 'cutover:migration': migrationId }, 'new object')).toString()).toBe('made after the rotation');
    const rotatedSealing = await rotatedPlan.sealing();
    expect(openSealedTokens(rotatedSealing.sealedToken, migrationId, sealedTokens).size).toBe(new Set(sealedTokens).size);
    expect(preImagesOf({ preImages: preImages[0]!.pre_images! }, rotatedSealing.preimage, atOf(preImages[0]!)).length).toBeGreaterThan(0);
    const wrappedNow = (await sql<{ wrapped: Buffer }>(ctl(), 'select wrapped from cutover.migration_keys where migration_id = $1', [migrationId]))[0]!.wrapped;
    await expect(kms.send(new DecryptCommand({ CiphertextBlob: wrappedNow, EncryptionContext: migrationKeyContext(migrationId) }))).resolves.toMatchObject({ KeyId: keyB });

    // Shredding: the window closes, the key goes, the vault entries only it used go.
    const checksums = await targetChecksums(tgt());
    const shred = await run(['close', migrationId, '--shred', '--as', 'it-shredder', '--reason', 'retention ended']);
    expect(shred.code).toBe(0);
    expect(shred.stdout).toContain(`keys of ${migrationId} shredded by it-shredder`);
    expect(shred.stdout).toMatch(/vault: [1-9]\d* entries only it used purged/);

    // The wrapped key is gone from the control database: no KMS key can unwrap what is not there.
    const keyRow = (await sql<{ wrapped: Buffer | null; shredded_by: string }>(ctl(), 'select wrapped, shredded_by from cutover.migration_keys where migration_id = $1', [migrationId]))[0]!;
    expect(keyRow).toMatchObject({ wrapped: null, shredded_by: 'it-shredder' });
    // A worker that starts now: each kind is refused, naming the shredding.
    const after = newWorkerStores();
    const gone = await after.plans.plan(migrationId);
    await expect(gone.sealing()).rejects.toMatchObject({ type: 'MigrationKeysShredded', message: expect.stringContaining('shredded by it-shredder') });
    for (const o of objects) await expect(gone.cipher.decrypt(o.body, {}, o.key)).rejects.toMatchObject({ type: 'MigrationKeysShredded' });
    await expect(gone.staging.readManifest(migrationId, 'users', manifests[0]!.key.split('/').at(-2)!)).rejects.toMatchObject({ type: 'MigrationKeysShredded' });
    // The worker that ran the migration, had it unwrapped before: refused too (the key's row is read on every use).
    await expect(loaded.sealing()).rejects.toMatchObject({ type: 'MigrationKeysShredded' });
    // And by every key that is left: the control database's shared keys, KMS keys A and B.
    await kms.send(new EnableKeyCommand({ KeyId: keyA }));
    for (const keyId of [keyA, keyB]) await expect(new StagingCipher(after.deps.kms, keyId).decrypt(objects[0]!.body, {}, objects[0]!.key)).rejects.toThrow(/integrity/);
    expect(() => openJson(quarantine[0]!.payload, vaultKey, `quarantine:${migrationId}:${quarantine[0]!.entity}:${quarantine[0]!.source_key}`, 'quarantined row')).toThrow(/integrity/);
    expect(() => preImagesOf({ preImages: preImages[0]!.pre_images! }, vaultKey, atOf(preImages[0]!))).toThrow(/integrity/);
    expect(() => openSealedTokens(sealedTokenKey(tokenKey), migrationId, sealedTokens.slice(0, 5))).toThrow(/do not open/);
    // Vault tokens only it used: their entries are gone (the target keeps the tokens, which stand for nothing now).
    await expect(lookupTokens(after.deps.control, vaultKey, phoneTokens)).rejects.toThrow(/have no entry/);

    // What a shredded migration can no longer do is refused, clearly.
    const rollback = await run(['rollback', migrationId, '--as', 'it-operator']);
    expect(rollback.code).not.toBe(0);
    expect(rollback.stderr).toContain('shredded by it-shredder');
    expect(rollback.stderr).toContain('it cannot be rolled back');
    const restart = await run(['start', file]);
    expect(restart.code).not.toBe(0);
    expect(restart.stderr).toContain('it cannot be started again (give the plan another name');
    const rotateAgain = await run(['keys', 'rotate', migrationId, '--to', keyB]);
    expect(rotateAgain.code).not.toBe(0);
    expect(rotateAgain.stderr).toContain('there is no key left to rotate');
    const again = await run(['close', migrationId, '--shred', '--as', 'it-shredder']);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('were already shredded by it-shredder');
    const showGone = await run(['keys', 'show', migrationId]);
    expect(showGone.stdout).toContain('SHREDDED by it-shredder');
    // Every view of the migration says so: status (text and JSON) and the report.
    const status = await run(['status', migrationId]);
    expect(status.stdout).toContain('keys: SHREDDED — its keys were shredded by it-shredder at ');
    expect(JSON.parse((await run(['status', migrationId, '--json'])).stdout).keysShredded).toMatchObject({ by: 'it-shredder' });
    const reported = await run(['report', migrationId, '--out', join(dir, 'report')]);
    expect(reported.code).toBe(0);
    expect(readFileSync(join(dir, 'report', `${migrationId}.md`), 'utf8')).toContain('**Keys shredded:** its keys were shredded by it-shredder');
    expect(readFileSync(join(dir, 'report', `${migrationId}.html`), 'utf8')).toContain('its keys were shredded by it-shredder');

    // The target is as the migration left it; the audit chain holds, with the evidence.
    expect(await targetChecksums(tgt())).toEqual(checksums);
    const verify = await run(['audit', 'verify']);
    expect(verify.code).toBe(0);
    const events = await sql<{ action: string; actor: string; details: Record<string, unknown> }>(ctl(), 'select action, actor, details from cutover.audit where migration_id = $1 order by seq', [migrationId]);
    expect(events.find((e) => e.action === 'migration-keys-rotated')).toMatchObject({ actor: 'it-key-officer', details: { fromKmsKey: keyA, toKmsKey: keyB, generation: 2 } });
    const shreddedEvent = events.find((e) => e.action === 'migration-keys-shredded');
    expect(shreddedEvent).toMatchObject({ actor: 'it-shredder', details: { kmsKey: keyB, fingerprint: expect.stringMatching(/^[0-9a-f]{32}$/), generation: 2, reason: 'retention ended', quarantinedRows: quarantine.length } });
    expect(events.filter((e) => e.action === 'migration-keys-shredded')).toHaveLength(1);
    expect(events.some((e) => e.action === 'rollback-window-closed' && e.actor === 'it-shredder')).toBe(true);
  }, 420_000);

  it('shreds a migration Temporal no longer knows (ended past its retention) from the control database alone', async () => {
    const plan = planFor(`it-mkeys-gone-${Date.now().toString(36)}`);
    const id = idOf(plan);
    const s = newWorkerStores();
    await s.plans.register({ migrationId: id, plan, planHash: planHash(plan), startedBy: 'it' });
    expect((await (await s.plans.plan(id)).sealing()).own).toBe(true); // its key, as prepare makes it
    const shred = await run(['close', id, '--shred', '--as', 'it-shredder']);
    expect(shred.code).toBe(0);
    expect(shred.stdout).toContain(`keys of ${id} shredded by it-shredder`);
    await expect((await newWorkerStores().plans.plan(id)).sealing()).rejects.toMatchObject({ type: 'MigrationKeysShredded' });
    const [event] = await sql<{ details: Record<string, unknown> }>(ctl(), "select details from cutover.audit where migration_id = $1 and action = 'migration-keys-shredded'", [id]);
    expect(event!.details).toMatchObject({ ended: 'no longer in Temporal (past its retention)', generation: 1 });
  });
});
