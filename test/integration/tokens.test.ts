import { createHash } from 'node:crypto';
import { GenerateDataKeyCommand } from '@aws-sdk/client-kms';
import type { Knex } from 'knex';
import { seedLms } from '../../demo/lms/seed';
import { createKmsClient } from '../../src/clients/aws';
import { createDb } from '../../src/clients/postgres';
import { CONTROL_SCHEMA, ensureControlSchema, forgetControlSchema } from '../../src/control/schema';
import { lookupTokens, purgeVaultEntries, tokenize } from '../../src/crypto/vault';
import { tokenFor } from '../../src/core/tokens';
import { startMigration } from '../../src/migration-client';
import { migrationId as idOf } from '../../src/plan/hash';
import type { Plan } from '../../src/plan/types';
import { isolated, Isolated, ownerUrl, planFor, removeStaged, spawnWorker, sql, WorkerProcess } from './helpers';

const fixedKey = (label: string) => createHash('sha256').update(label).digest();
const phone = (i: number) => `+1 555 ${String(i).padStart(7, '0')}`;

/** Two phone numbers whose first token candidates are equal under `key` (a birthday search). */
function collidingPhones(key: Uint8Array): [string, string] {
  const seen = new Map<string, string>();
  for (let i = 0; ; i++) {
    const t = tokenFor('phone', phone(i), key);
    const other = seen.get(t);
    if (other !== undefined) return [other, phone(i)];
    seen.set(t, phone(i));
  }
}

describe('a token stands for exactly one value', () => {
  let env: Isolated;
  let control: Knex;
  let otherWorker: Knex;

  beforeAll(async () => {
    env = await isolated('tok');
    forgetControlSchema();
    control = createDb(env.config.databases.controlUrl!, { max: 4 });
    otherWorker = createDb(env.config.databases.controlUrl!, { max: 4 });
    await ensureControlSchema(control);
  });

  afterAll(async () => {
    await control?.destroy();
    await otherWorker?.destroy();
    await env?.cleanup();
  });

  it('uses a current control schema without its DDL: a client beside a transaction holding the vault is not held up (nor deadlocked)', async () => {
    // A worker's vault transaction, as a purge holds it; a client (each codec key lookup) ensures the schema meanwhile.
    const held = await otherWorker.transaction();
    await held.raw(`lock table ${CONTROL_SCHEMA}.vault in access exclusive mode`);
    const client = createDb(env.config.databases.controlUrl!, { max: 1 });
    const ensured = ensureControlSchema(client).then(() => 'ensured');
    try {
      expect(await Promise.race([ensured, new Promise((r) => setTimeout(() => r('held up by the vault lock'), 5000))])).toBe('ensured');
    } finally {
      await held.rollback();
      await ensured.catch(() => undefined);
      await client.destroy();
    }
  });

  it('gives 200,000 distinct phone numbers 200,000 tokens, from two workers at once, each opening to its own number', async () => {
    const keys = { token: fixedKey('tokens-it-token'), vault: fixedKey('tokens-it-vault') };
    const n = 200_000;
    const firsts = new Set<string>();
    for (let i = 0; i < n; i++) firsts.add(tokenFor('phone', phone(i), keys.token));
    // Under this fixed key the first candidates of these numbers collide: the proof is not vacuous.
    expect(n - firsts.size).toBeGreaterThan(0);

    const batch = 5000;
    const tokens = new Map<string, string>();
    const differing: number[] = [];
    const worker = async (db: Knex, start: number) => {
      // The two workers overlap by half a batch each time: equal values must settle to one token.
      for (let b = start; b * batch < n; b += 2) {
        const values = Array.from({ length: batch + batch / 2 }, (_, i) => b * batch + i).filter((i) => i < n).map((i) => ({ kind: 'phone' as const, value: phone(i) }));
        const got = await tokenize(db, keys, 'it-tokens-a', values);
        for (const [id, t] of got) {
          const seen = tokens.get(id);
          if (seen !== undefined && seen !== t) differing.push(id.length);
          tokens.set(id, t);
        }
      }
    };
    await Promise.all([worker(control, 0), worker(otherWorker, 1)]);
    expect(differing).toEqual([]); // the overlapping halves got the same tokens from both workers
    expect(tokens.size).toBe(n);
    expect(new Set(tokens.values()).size).toBe(n);
    expect([...tokens.values()].filter((t) => !/^\+999\d{10}$/.test(t))).toEqual([]);
    const [stored] = await sql<{ entries: string }>(env.config.databases.controlUrl!, `select count(*) as entries from ${CONTROL_SCHEMA}.vault`);
    expect(Number(stored!.entries)).toBe(n);

    const byToken = [...tokens].map(([id, t]) => [t, id.split('\0')[1]!] as const);
    for (let i = 0; i < byToken.length; i += 50_000) {
      const slice = byToken.slice(i, i + 50_000);
      const opened = await lookupTokens(control, keys.vault, slice.map(([t]) => t));
      expect(slice.filter(([t, value]) => opened.get(t) !== value).length).toBe(0);
    }
    // A later batch (another migration sharing the vault) gets the same tokens back.
    const again = await tokenize(control, keys, 'it-tokens-b', Array.from({ length: 2000 }, (_, i) => ({ kind: 'phone' as const, value: phone(i * 97) })));
    expect([...again].filter(([id, t]) => t !== tokens.get(id)).length).toBe(0);

    // A rollback of the migration that created them leaves the entries the other one uses.
    expect(await purgeVaultEntries(control, 'it-tokens-a')).toEqual({ purged: n - 2000, handedOver: 2000 });
    const kept = [...again.values()];
    const opened = await lookupTokens(control, keys.vault, kept);
    expect(opened.size).toBe(2000);
    expect(await purgeVaultEntries(control, 'it-tokens-b')).toEqual({ purged: 2000, handedOver: 0 });
  }, 600_000);

  describe('through a migration', () => {
    let worker: WorkerProcess;
    const plans: Plan[] = [];
    const colliding: { pair?: [string, string] } = {};

    beforeAll(async () => {
      await seedLms({ sourceUrl: ownerUrl(env), targetUrl: env.config.databases.targetUrl, users: 300, seed: 11 });
      // The migration's token key, made here as the key ring makes it, so the test can find two
      // phone numbers whose first candidates collide, and give them to two people.
      const kms = createKmsClient(env.config.kms);
      try {
        const generated = await kms.send(new GenerateDataKeyCommand({ KeyId: env.config.kms.aliases.vault, KeySpec: 'AES_256', EncryptionContext: { purpose: 'cutover-token' } }));
        await control(`${CONTROL_SCHEMA}.data_keys`).insert({ purpose: 'token', kms_key_id: generated.KeyId, wrapped: Buffer.from(generated.CiphertextBlob!) });
        colliding.pair = collidingPhones(Buffer.from(generated.Plaintext!));
      } finally {
        kms.destroy();
      }
      await sql(ownerUrl(env), 'update legacy_users set phone = $1 where user_id = (select min(user_id) from legacy_users)', [colliding.pair[0]]);
      await sql(ownerUrl(env), 'update legacy_users set phone = $1 where user_id = (select max(user_id) from legacy_users)', [colliding.pair[1]]);
      worker = await spawnWorker(env);
    });

    afterAll(async () => {
      await worker?.kill();
      for (const p of plans) await removeStaged(env, idOf(p));
    });

    const ends = async () =>
      sql<{ legacy_user_id: number; phone: string }>(
        env.config.databases.targetUrl!,
        'select legacy_user_id, phone from people where legacy_user_id in ((select min(legacy_user_id) from people), (select max(legacy_user_id) from people)) order by legacy_user_id',
      );

    it('keeps two people whose phone tokens would collide apart: two tokens, each opening to its own number', async () => {
      const plan = planFor(`it-tok-keep-${Date.now().toString(36)}`, { batchSize: 100 });
      plans.push(plan);
      const { report } = await startMigration(env.config, plan, { taskQueue: env.taskQueue, wait: true, startedBy: 'it-operator' });
      expect(report).toMatchObject({ status: 'completed', clean: true });
      const [a, b] = await ends();
      expect(a!.phone).not.toBe(b!.phone);
      const vault = await sql<{ ciphertext: Buffer }>(env.config.databases.controlUrl!, `select 1 from ${CONTROL_SCHEMA}.vault where token = any($1)`, [[a!.phone, b!.phone]]);
      expect(vault).toHaveLength(2);
      const { createKeyRing } = await import('../../src/crypto/key-ring-factory');
      const kms = createKmsClient(env.config.kms);
      try {
        const vaultKey = await createKeyRing(env.config, control, kms).get('vault');
        const opened = await lookupTokens(control, vaultKey, [a!.phone, b!.phone]);
        expect([opened.get(a!.phone), opened.get(b!.phone)]).toEqual(colliding.pair);
      } finally {
        kms.destroy();
      }
    });

    it('restores each of them to their own number where the plan detokenizes, with sealed tokens: nothing stored in the vault for them', async () => {
      const base = planFor(`it-tok-clear-${Date.now().toString(36)}`, { batchSize: 100 });
      const plan: Plan = { ...base, entities: base.entities.map((e) => ({ ...e, columns: e.columns.map((c) => (c.name === 'phone' ? { ...c, protect: 'detokenize' as const } : c)) })) };
      plans.push(plan);
      const { report } = await startMigration(env.config, plan, { taskQueue: env.taskQueue, wait: true, startedBy: 'it-operator' });
      expect(report).toMatchObject({ status: 'completed', clean: true });
      expect((await ends()).map((r) => r.phone)).toEqual(colliding.pair);
      const source = await sql<{ user_id: number; phone: string | null }>(ownerUrl(env), 'select user_id, phone from legacy_users order by user_id');
      const target = await sql<{ legacy_user_id: number; phone: string | null }>(env.config.databases.targetUrl!, 'select legacy_user_id, phone from people order by legacy_user_id');
      expect(target.map((t) => [t.legacy_user_id, t.phone])).toEqual(source.map((s) => [s.user_id, s.phone]));
      // Every personal column of this plan goes to the target in clear: its values travelled under
      // sealed tokens (src/core/sealed-tokens.ts), so the vault neither stored nor shared one for it.
      const shares = await sql<{ n: string }>(env.config.databases.controlUrl!, `select count(*) as n from ${CONTROL_SCHEMA}.vault_shares where migration_id = $1`, [idOf(plan)]);
      const created = await sql<{ n: string }>(env.config.databases.controlUrl!, `select count(*) as n from ${CONTROL_SCHEMA}.vault where created_by = $1`, [idOf(plan)]);
      expect({ shares: Number(shares[0]!.n), created: Number(created[0]!.n) }).toEqual({ shares: 0, created: 0 });
    });

    it('keeps phones as tokens of their shape with token: format_preserving: digits replaced, the rest in place, one token per number, no vault entry, opened by the token key alone', async () => {
      const base = planFor(`it-tok-shape-${Date.now().toString(36)}`, { batchSize: 100 });
      const plan: Plan = { ...base, entities: base.entities.map((e) => ({ ...e, columns: e.columns.map((c) => (c.name === 'phone' ? { ...c, shapedTokens: true as const } : c)) })) };
      plans.push(plan);
      const { report } = await startMigration(env.config, plan, { taskQueue: env.taskQueue, wait: true, startedBy: 'it-operator' });
      expect(report).toMatchObject({ status: 'completed', clean: true });
      const source = await sql<{ user_id: number; phone: string | null }>(ownerUrl(env), 'select user_id, phone from legacy_users order by user_id');
      const target = await sql<{ legacy_user_id: number; phone: string | null }>(env.config.databases.targetUrl!, 'select legacy_user_id, phone from people order by legacy_user_id');
      expect(target.map((t) => t.legacy_user_id)).toEqual(source.map((s) => s.user_id));
      const pairs = source.map((s, i) => [s.phone, target[i]!.phone] as const).filter(([v]) => v !== null && v !== '');
      expect(pairs.length).toBeGreaterThan(100);
      for (const [value, token] of pairs) {
        expect(token!.replace(/[0-9]/g, '#')).toBe(value!.replace(/[0-9]/g, '#'));
        expect(token).not.toBe(value);
      }
      // One token per number: the colliding pair above, and every other, stay apart.
      const tokensOf = new Map<string, Set<string>>();
      for (const [value, token] of pairs) tokensOf.set(token!, (tokensOf.get(token!) ?? new Set()).add(value!));
      expect([...tokensOf.values()].filter((v) => v.size > 1)).toEqual([]);
      // Nothing in the vault for this migration: its other personal columns are sealed, its phones shaped.
      const created = await sql<{ n: string }>(env.config.databases.controlUrl!, `select count(*) as n from ${CONTROL_SCHEMA}.vault where created_by = $1`, [idOf(plan)]);
      expect(Number(created[0]!.n)).toBe(0);
      // The holder of the token key turns each token back into its number.
      const { createKeyRing } = await import('../../src/crypto/key-ring-factory');
      const { shapedTokenKey, unshapeTokens } = await import('../../src/core/shaped-tokens');
      const kms = createKmsClient(env.config.kms);
      try {
        const tokenKey = await createKeyRing(env.config, control, kms).get('token');
        expect(unshapeTokens(shapedTokenKey(tokenKey), 'phone', pairs.map(([, t]) => t!))).toEqual(pairs.map(([v]) => v));
      } finally {
        kms.destroy();
      }
    });
  });
});
