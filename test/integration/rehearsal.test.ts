import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteBucketCommand, DeleteObjectsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { seedLms } from '../../demo/lms/seed';
import { createS3Client } from '../../src/clients/aws';
import { looksLikeToken } from '../../src/core/tokens';
import { KEPT_BY_PURGE, PURGED_CONTROL_TABLES } from '../../src/rehearsal-purge';
import { migrationId as idOf } from '../../src/plan/hash';
import { loadPlanFile } from '../../src/plan/load';
import { rehearsalPlan } from '../../src/plan/rehearsal';
import type { PiiKind } from '../../src/plan/types';
import { cli, cliEnv, isolated, Isolated, ownerUrl, removeStaged, ROOT, sql, waitFor, WorkerProcess, spawnWorker } from './helpers';
import { targetChecksums } from './target-state';

/**
 * `cutover start --rehearsal`: the real plan, run once into a masked sandbox database, with
 * nothing detokenized; then the real migration; then `cutover rehearsal purge`, which removes the
 * rehearsal's staged objects, vault entries and control rows and nothing of the real migration's.
 * The whole LMS plan (examples/lms.plan.yaml without its gate) at 300 users: personal columns,
 * personal values inside JSON documents (xAPI actor.mbox and actor.name) and files (certificates).
 */

const USERS = 300;

/** Every personal value the LMS plan tokenizes, as the target stores it: [what, kind, SQL reading it]. */
const PERSONAL: [string, PiiKind, string][] = [
  ['people.username', 'text', 'select username as v from people'],
  ['people.given_name', 'name', 'select given_name as v from people'],
  ['people.family_name', 'name', 'select family_name as v from people'],
  ['people.email', 'email', 'select email as v from people'],
  ['people.phone', 'phone', 'select phone as v from people'],
  ['xapi_statements.statement actor.mbox', 'email', "select statement->'actor'->>'mbox' as v from xapi_statements"],
  ['xapi_statements.statement actor.name', 'name', "select statement->'actor'->>'name' as v from xapi_statements"],
];

/** Values of personal columns that are not tokens: `column: count (first value's shape)`; never the values themselves. */
async function clearValues(url: string): Promise<{ checked: number; clear: string[] }> {
  let checked = 0;
  const clear: string[] = [];
  for (const [what, kind, query] of PERSONAL) {
    const values = (await sql<{ v: string | null }>(url, query)).map((r) => r.v).filter((v): v is string => v !== null && v !== '');
    checked += values.length;
    const bad = values.filter((v) => !looksLikeToken(kind, v));
    if (bad.length) clear.push(`${what}: ${bad.length} of ${values.length} not ${kind} tokens`);
  }
  return { checked, clear };
}

async function stagedKeys(s3: S3Client, bucket: string, migrationId: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `migrations/${migrationId}/`, ContinuationToken: token }));
    keys.push(...(page.Contents ?? []).map((o) => o.Key!));
    token = page.NextContinuationToken;
  } while (token);
  return keys.sort();
}

async function emptyAndDeleteBucket(s3: S3Client, bucket: string): Promise<void> {
  for (;;) {
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket })).catch(() => undefined);
    if (!listed?.Contents?.length) break;
    await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: listed.Contents.map((o) => ({ Key: o.Key! })) } }));
  }
  await s3.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => undefined);
}

/** The vault entries a migration holds (created, or used as a share), with what they hold (sealed), by token. */
const HELD = (id: string): [string, unknown[]] => [
  `select v.token, v.kind, md5(v.ciphertext) as sealed, encode(v.value_mac, 'hex') as mac from cutover.vault v
   where v.created_by = $1 or exists (select 1 from cutover.vault_shares s where s.token = v.token and s.migration_id = $1) order by v.token`,
  [id],
];

describe('a rehearsal into a masked sandbox, the real migration, and the purge of the rehearsal', () => {
  let env: Isolated;
  let worker: WorkerProcess;
  let s3: S3Client;
  let dir: string;
  let sandboxDb: string;
  let sandboxUrl: string;
  const name = `it-rehearse-${Date.now().toString(36)}`;
  const buckets = { sourceBucket: `${name}-src`, targetBucket: `${name}-dst` };
  let file: string;
  let realId: string;
  let rehearsalId: string;

  beforeAll(async () => {
    env = await isolated('rehearsal');
    s3 = createS3Client(env.config.s3);
    dir = mkdtempSync(join(tmpdir(), 'cutover-rehearsal-'));
    // The sandbox: a database of its own on the same server, owned by the test's app role, with the target's schema.
    sandboxDb = `${env.names.target}_sandbox`;
    await sql(env.adminUrl, `create database "${sandboxDb}" owner "${env.names.app}"`);
    const url = new URL(env.config.databases.targetUrl!);
    url.pathname = `/${sandboxDb}`;
    sandboxUrl = url.toString();
    await sql(sandboxUrl, readFileSync(join(ROOT, 'demo', 'lms', 'target.sql'), 'utf8'));
    // The LMS plan as a file: its own name and buckets, no gate.
    const yaml = readFileSync(join(ROOT, 'examples', 'lms.plan.yaml'), 'utf8')
      .replace(/^name: lms$/m, `name: ${name}`)
      .replace(/^\s+gate: .*$/m, '')
      .replace(/legacy-lms-files/g, buckets.sourceBucket)
      .replace(/new-lms-files/g, buckets.targetBucket);
    file = join(dir, 'lms.plan.yaml');
    writeFileSync(file, yaml);
    const plan = loadPlanFile(file);
    expect(plan.phases.some((p) => p.gate)).toBe(false);
    realId = idOf(plan);
    rehearsalId = idOf(rehearsalPlan(plan));
    worker = await spawnWorker(env, { CUTOVER_REHEARSAL_TARGET_URL: sandboxUrl, CUTOVER_METRICS_ADDRESS: 'off' });
  });

  afterAll(async () => {
    await worker?.kill();
    if (env) {
      for (const id of [realId, rehearsalId]) if (id) await removeStaged(env, id);
      if (s3) for (const b of Object.values(buckets)) await emptyAndDeleteBucket(s3, b);
      if (sandboxDb) await sql(env.adminUrl, `drop database if exists "${sandboxDb}" with (force)`);
      await env.cleanup();
    }
    s3?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const run = (args: string[], extra: NodeJS.ProcessEnv = {}, timeoutMs?: number, live?: { stdout: string }) => cli(args, { ...cliEnv(env), ...extra }, timeoutMs, live);
  const withSandbox = () => ({ CUTOVER_REHEARSAL_TARGET_URL: sandboxUrl });
  const count = async (url: string, query: string, params: unknown[] = []) => Number((await sql<{ n: string }>(url, query, params))[0]!.n);

  it('start --rehearsal refuses a sandbox that is unset or is the real target, printing no URL', async () => {
    const unset = await run(['start', file, '--rehearsal'], { CUTOVER_REHEARSAL_TARGET_URL: '' });
    expect(unset.code).toBe(2);
    expect(unset.stderr).toContain('CUTOVER_REHEARSAL_TARGET_URL is not set');
    const other = await run(['start', file, '--rehearsal', '--sandbox-env', 'IT_NO_SUCH_SANDBOX']);
    expect(other.code).toBe(2);
    expect(other.stderr).toContain('IT_NO_SUCH_SANDBOX is not set');
    // The real target under another user name and host spelling: still the same database.
    const real = new URL(env.config.databases.targetUrl!);
    const disguised = `postgres://someone:hunter2@127.0.0.1:${real.port || 5432}${real.pathname}`;
    const same = await run(['start', file, '--rehearsal'], { CUTOVER_REHEARSAL_TARGET_URL: disguised });
    expect(same.code).toBe(2);
    expect(same.stderr).toContain("CUTOVER_REHEARSAL_TARGET_URL names the same database as the plan's target CUTOVER_TARGET_URL");
    for (const secret of ['hunter2', decodeURIComponent(real.password), 'postgres://']) expect(same.stderr + same.stdout).not.toContain(secret);
  });

  it('rehearses with nothing detokenized, leaves the real target alone, and its purge removes only what the rehearsal alone held', async () => {
    const seeded = await seedLms({ sourceUrl: ownerUrl(env), targetUrl: env.config.databases.targetUrl, users: USERS, full: true, seed: 17, files: { s3, ...buckets, certificates: 20, largePackages: 0 } });
    expect(seeded.orphanEnrollments + seeded.badStatus + seeded.missingEmail).toBe(0);
    const tgt = env.config.databases.targetUrl!;
    const control = env.config.databases.controlUrl!;
    const realBefore = await targetChecksums(tgt);

    // The rehearsal, through the CLI; a purge while it runs is refused.
    const live = { stdout: '' };
    const rehearsing = run(['start', file, '--rehearsal', '--wait'], withSandbox(), 240_000, live);
    await waitFor('the rehearsal to start', async () => live.stdout.includes('migration id:'), 60_000, () => live.stdout);
    const early = await run(['rehearsal', 'purge', rehearsalId], withSandbox());
    expect(early.code).toBe(1);
    expect(early.stderr).toContain(`migration ${rehearsalId} is still running`);
    const rehearsed = await rehearsing;
    expect(rehearsed.stderr).toBe('');
    expect(rehearsed.code).toBe(0);
    expect(rehearsed.stdout).toContain(`REHEARSAL of ${realId} into the masked sandbox $CUTOVER_REHEARSAL_TARGET_URL: nothing detokenized`);
    expect(rehearsed.stdout).toContain(`migration id: ${rehearsalId} (rehearsal; the real migration is ${realId})`);
    expect(rehearsed.stdout).toContain(`migration ${rehearsalId}: completed, every batch reconciled clean`);

    // The guarantee: every personal value in the sandbox is a token.
    expect(await count(sandboxUrl, 'select count(*) as n from people')).toBe(USERS);
    expect(await count(sandboxUrl, 'select count(*) as n from xapi_statements')).toBe(seeded.statements);
    const masked = await clearValues(sandboxUrl);
    expect(masked.clear).toEqual([]);
    expect(masked.checked).toBeGreaterThan(USERS * 4 + seeded.statements * 2 - 1);
    // Files: the sandbox's rows keep the object keys; no object was copied anywhere.
    expect(await sql(sandboxUrl, 'select file_key from certificates order by legacy_certificate_id')).toEqual(await sql(ownerUrl(env), 'select file_key from legacy_certificates order by certificate_id'));
    expect((await s3.send(new ListObjectsV2Command({ Bucket: buckets.targetBucket }))).KeyCount ?? 0).toBe(0);
    // The real target: untouched.
    expect(await targetChecksums(tgt)).toEqual(realBefore);
    expect(await count(tgt, 'select count(*) as n from people')).toBe(0);

    // Reported as a rehearsal: status, and the HTML and JSON report.
    const status = await run(['status', rehearsalId]);
    expect(status.stdout).toContain(`REHEARSAL of ${realId} into the masked sandbox $CUTOVER_REHEARSAL_TARGET_URL: nothing detokenized`);
    const report = await run(['report', rehearsalId, '--out', dir]);
    expect(report.code).toBe(0);
    const html = readFileSync(join(dir, `${rehearsalId}.html`), 'utf8');
    expect(html).toContain('data-testid="rehearsal"><strong>REHEARSAL</strong> — masked sandbox, nothing detokenized.');
    expect(JSON.parse(readFileSync(join(dir, `${rehearsalId}.json`), 'utf8')).rehearsal).toEqual({ of: realId, sandboxEnv: 'CUTOVER_REHEARSAL_TARGET_URL', realTargetEnv: 'CUTOVER_TARGET_URL' });

    // Some values only the rehearsal saw: 20 people change their email before the real migration.
    await sql(ownerUrl(env), "update legacy_users set email = 'moved.' || user_id || '@example.net' where user_id <= 20");

    // The real migration of the same plan, into the real target: it shares the tokens the rehearsal created first.
    const migrated = await run(['start', file, '--wait'], {}, 240_000);
    expect(migrated.code).toBe(0);
    expect(migrated.stdout).toContain(`migration ${realId}: completed, every batch reconciled clean`);
    expect(migrated.stdout).not.toContain('REHEARSAL');
    expect(await count(tgt, "select count(*) as n from people where email like '%@token.invalid'")).toBe(0); // detokenized there
    expect(await count(tgt, "select count(*) as n from people where email like 'moved.%'")).toBe(20);
    expect((await s3.send(new ListObjectsV2Command({ Bucket: buckets.targetBucket }))).KeyCount).toBeGreaterThan(0);

    const realHeld = await sql<Record<string, string>>(control, ...HELD(realId));
    const sharedFromRehearsal = await count(control, 'select count(*) as n from cutover.vault v join cutover.vault_shares s on s.token = v.token where v.created_by = $1 and s.migration_id = $2', [rehearsalId, realId]);
    // The rehearsal ran first (everything kept as tokens): the real migration uses its entries for the values it keeps
    // as tokens, the phones; the values its target gets in clear travel under sealed tokens and use no entry.
    const keptPhones = new Set((await sql<{ v: string }>(tgt, 'select phone as v from people where phone is not null')).map((r) => r.v)).size;
    expect(keptPhones).toBeGreaterThan(USERS / 2);
    expect(sharedFromRehearsal).toBe(keptPhones);
    const onlyRehearsal = await sql<{ token: string }>(
      control,
      'select token from cutover.vault v where created_by = $1 and not exists (select 1 from cutover.vault_shares s where s.token = v.token and s.migration_id <> $1)',
      [rehearsalId],
    );
    expect(onlyRehearsal.length).toBeGreaterThanOrEqual(20); // at least the 20 old emails
    const realStaged = await stagedKeys(s3, env.config.s3.bucket, realId);
    expect(realStaged.length).toBeGreaterThan(0);
    expect((await stagedKeys(s3, env.config.s3.bucket, rehearsalId)).length).toBeGreaterThan(0);
    const realControl = await count(control, 'select count(*) as n from cutover.batches where migration_id = $1', [realId]);

    // The real migration is not a rehearsal: refused.
    const refused = await run(['rehearsal', 'purge', realId], withSandbox());
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`migration ${realId} is not a rehearsal`);

    // What a rehearsal with a logical delta sync leaves besides (this one did not sync): the follower's kept changes and state.
    await sql(control, `insert into cutover.sync_followed values ($1, '0/16B3748', '0/16B3748', 'U', 'people', '1', 0)`, [rehearsalId]);
    await sql(control, `insert into cutover.sync_follow_state (migration_id, followed_to, confirmed) values ($1, '0/16B3748', '0/16B3748')`, [rehearsalId]);
    // Every control table with rows per migration is either purged or kept on purpose: none is forgotten.
    const perMigration = (await sql<{ t: string }>(control, "select table_name as t from information_schema.columns where table_schema = 'cutover' and column_name = 'migration_id'")).map((r) => r.t);
    expect([...perMigration].sort()).toEqual([...PURGED_CONTROL_TABLES, ...Object.keys(KEPT_BY_PURGE)].sort());

    const purged = await run(['rehearsal', 'purge', rehearsalId, '--as', 'it-operator'], withSandbox());
    expect(purged.stderr).toBe('');
    expect(purged.code).toBe(0);
    expect(purged.stdout).toContain(`purged rehearsal ${rehearsalId} (of ${realId})`);
    expect(purged.stdout).toContain(`vault: ${onlyRehearsal.length} entries deleted`);
    expect(purged.stdout).toContain('load fence in the sandbox: closed');

    // Its staged objects are gone, the real migration's all there.
    expect(await stagedKeys(s3, env.config.s3.bucket, rehearsalId)).toEqual([]);
    expect(await stagedKeys(s3, env.config.s3.bucket, realId)).toEqual(realStaged);
    // Every vault entry the real migration holds is still there, sealing the same value; those only the rehearsal used are gone.
    expect(await sql<Record<string, string>>(control, ...HELD(realId))).toEqual(realHeld);
    expect(await count(control, 'select count(*) as n from cutover.vault where token = any($1::text[])', [onlyRehearsal.map((r) => r.token)])).toBe(0);
    expect(await count(control, 'select count(*) as n from cutover.vault where created_by = $1', [rehearsalId])).toBe(0);
    expect(await count(control, 'select count(*) as n from cutover.vault_shares where migration_id = $1', [rehearsalId])).toBe(0);
    // The tokens the real target keeps (phone: keep_token) all resolve in the vault.
    const phones = (await sql<{ v: string }>(tgt, 'select phone as v from people where phone is not null')).map((r) => r.v);
    expect(phones.length).toBeGreaterThan(0);
    expect(await count(control, 'select count(*) as n from cutover.vault where token = any($1::text[])', [phones])).toBe(new Set(phones).size);
    // Its control rows are gone, the real migration's kept; the audit chain keeps both, intact.
    for (const table of PURGED_CONTROL_TABLES) expect([table, await count(control, `select count(*) as n from cutover.${table} where migration_id = $1`, [rehearsalId])]).toEqual([table, 0]);
    expect(await count(control, 'select count(*) as n from cutover.batches where migration_id = $1', [realId])).toBe(realControl);
    expect(await count(control, 'select count(*) as n from cutover.migrations where migration_id = $1', [realId])).toBe(1);
    const audit = await run(['audit', 'log', rehearsalId]);
    expect(audit.stdout).toContain('rehearsal-purged');
    expect((await run(['audit', 'verify'])).code).toBe(0);

    // Purged once: a second purge finds nothing to purge.
    const again = await run(['rehearsal', 'purge', rehearsalId], withSandbox());
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('is not registered in the control database');
  });
});
