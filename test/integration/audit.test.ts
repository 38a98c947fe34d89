import type { KMS } from '@aws-sdk/client-kms';
import type { Knex } from 'knex';
import { Client as PgClient } from 'pg';
import { AuditEvent } from '../../src/audit/chain';
import { appendAudit, auditEvents, auditHead, verifyAudit } from '../../src/audit/store';
import { createKmsClient } from '../../src/clients/aws';
import { createDb } from '../../src/clients/postgres';
import { createKeyRing } from '../../src/crypto/key-ring-factory';
import { cli, isolated, Isolated, sql } from './helpers';

const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

function event(migrationId: string, n: number, action = 'batch-loaded'): AuditEvent {
  return { migrationId, actor: n % 2 ? 'worker' : 'ada.l', action, eventKey: `${migrationId}/${action}/${n}`, details: { entity: 'users', batch: n, rows: 500, clean: true, note: null } };
}

/** What someone with superuser access can do: write with the triggers switched off. */
async function bypassingTriggers(url: string, text: string, params: unknown[] = []): Promise<void> {
  const c = new PgClient({ connectionString: url });
  await c.connect();
  try {
    await c.query('set session_replication_role = replica');
    await c.query(text, params);
  } finally {
    await c.end();
  }
}

describe('the audit chain in the control database', () => {
  let env: Isolated;
  let dbEnv: NodeJS.ProcessEnv;
  let control: Knex;
  let otherWorker: Knex;
  let kms: KMS;
  let key: Buffer;
  /** The control database as the superuser, who can bypass the triggers. */
  let adminControlUrl: string;
  let total = 0;

  beforeAll(async () => {
    env = await isolated('audit');
    dbEnv = { CUTOVER_CONTROL_URL: env.config.databases.controlUrl };
    control = createDb(env.config.databases.controlUrl!);
    otherWorker = createDb(env.config.databases.controlUrl!);
    kms = createKmsClient(env.config.kms);
    key = await createKeyRing(env.config, control, kms).get('audit');
    const url = new URL(env.adminUrl);
    url.pathname = `/${env.names.control}`;
    adminControlUrl = url.toString();
  });

  afterAll(async () => {
    await control?.destroy();
    await otherWorker?.destroy();
    kms?.destroy();
    await env?.cleanup();
  });

  it('appends from concurrent workers with no gaps, once per event key, and verifies', async () => {
    // Two pools, as two workers, on a database with no audit table yet.
    const first = await Promise.all(Array.from({ length: 20 }, (_, i) => appendAudit(i % 2 ? control : otherWorker, key, event('lms-a', i + 1))));
    expect(first.map((r) => r.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));

    // A retried activity: the same event key, also concurrently, records one row.
    const retried = event('lms-a', 21, 'gate-approved');
    const again = await Promise.all([retried, retried, retried].map((e, i) => appendAudit(i ? otherWorker : control, key, e)));
    expect(new Set(again.map((r) => JSON.stringify(r))).size).toBe(1);
    expect(await appendAudit(control, key, { ...retried, details: { ...retried.details, rows: 1 } })).toEqual(again[0]);
    expect(again[0]!.at).toMatch(ISO_MS);

    for (let n = 1; n <= 29; n++) await appendAudit(control, key, event(n % 3 ? 'lms-b' : 'lms-a', 100 + n));
    total = 50;

    const rows = await auditEvents(control);
    expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    expect((await sql<{ n: string }>(adminControlUrl, 'select count(*) as n from cutover.audit where event_key = $1', [retried.eventKey]))[0]!.n).toBe('1');
    // `at` reads back as exactly the text that was hashed.
    expect(rows.find((r) => r.eventKey === retried.eventKey)!.at).toBe(again[0]!.at);
    expect(rows.every((r, i) => i === 0 || r.at >= rows[i - 1]!.at)).toBe(true);

    const head = await auditHead(control);
    expect(head).toEqual({ seq: total, hash: rows[total - 1]!.hash });
    expect(await verifyAudit(control, key)).toEqual({ ok: true, rows: total, head });
    expect(await verifyAudit(control, key, { pageSize: 7 })).toEqual({ ok: true, rows: total, head });
    expect((await verifyAudit(control, Buffer.alloc(32))).broken).toMatchObject({ seq: 1, problem: 'changed' });

    const r = await cli(['audit', 'verify'], dbEnv);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe(`audit chain intact: ${total} rows, head #${total} ${head!.hash.slice(0, 12)}`);
    expect(r.code).toBe(0);
  });

  it('audit log prints one migration\'s latest events in order', async () => {
    const expected = (await auditEvents(control, 'lms-b')).slice(-3);
    expect(await auditEvents(control, 'lms-b', { limit: 3 })).toEqual(expected);
    const r = await cli(['audit', 'log', 'cutover-lms-b', '--limit', '3'], dbEnv);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(3);
    lines.forEach((line, i) => {
      const e = expected[i]!;
      expect(line).toMatch(new RegExp(`^${e.at}\\s+#${e.seq}\\s+${e.actor}\\s+${e.action}\\s+batch=${e.details.batch} clean=true entity=users note=null rows=500$`));
    });
    const json = JSON.parse((await cli(['audit', 'log', 'lms-a', '--json'], dbEnv)).stdout);
    expect(json.map((e: { seq: number }) => e.seq)).toEqual((await auditEvents(control, 'lms-a')).map((e) => e.seq));
  });

  it('refuses UPDATE, DELETE and TRUNCATE, even from the superuser, without a bypass', async () => {
    await expect(control.raw(`update cutover.audit set actor = 'mallory' where seq = 17`)).rejects.toThrow(/cutover\.audit is append-only: UPDATE refused/);
    await expect(control.raw('delete from cutover.audit where seq = 17')).rejects.toThrow(/append-only: DELETE refused/);
    await expect(control.raw('truncate cutover.audit')).rejects.toThrow(/append-only: TRUNCATE refused/);
    await expect(sql(adminControlUrl, `update cutover.audit set actor = 'mallory' where seq = 17`)).rejects.toThrow(/append-only: UPDATE refused/);
    expect((await verifyAudit(control, key)).ok).toBe(true);
  });

  it('names a row a superuser changed behind the triggers\' back', async () => {
    const [original] = await sql<{ details: string }>(adminControlUrl, 'select details::text as details from cutover.audit where seq = 17');
    const row17 = (await auditEvents(control)).find((r) => r.seq === 17)!;
    await bypassingTriggers(adminControlUrl, `update cutover.audit set details = details || '{"rows": 499}' where seq = 17`);

    const r = await cli(['audit', 'verify'], dbEnv);
    expect(r.code).toBe(1);
    expect(r.stdout.trim()).toBe(`audit chain broken at row 17 (${row17.action}, migration ${row17.migrationId}): the row was changed after it was written (its hash does not match its content)`);
    const json = JSON.parse((await cli(['audit', 'verify', '--json'], dbEnv)).stdout);
    expect(json).toMatchObject({ ok: false, rows: 16, broken: { seq: 17, problem: 'changed' } });

    // Put back exactly, and the chain is intact again: the hash covers content, not history.
    await bypassingTriggers(adminControlUrl, 'update cutover.audit set details = $1::jsonb where seq = 17', [original!.details]);
    expect((await cli(['audit', 'verify'], dbEnv)).code).toBe(0);
  });

  it('cannot see rows removed at the end without an anchor, and sees them with one', async () => {
    const head = (await auditHead(control))!;
    await bypassingTriggers(adminControlUrl, 'delete from cutover.audit where seq > $1', [total - 2]);

    const plain = await cli(['audit', 'verify'], dbEnv);
    expect(plain.stdout.trim()).toMatch(new RegExp(`^audit chain intact: ${total - 2} rows`));
    expect(plain.code).toBe(0);

    const anchored = await cli(['audit', 'verify', '--anchor', `${head.seq}:${head.hash.slice(0, 12)}`], dbEnv);
    expect(anchored.stdout.trim()).toBe(`audit chain broken: rows ${total - 1}–${total} are missing at the end: the chain ends at row ${total - 2} but its anchored head is row ${total}`);
    expect(anchored.code).toBe(1);
    total -= 2;
  });

  it('names the gap a deleted row leaves', async () => {
    await bypassingTriggers(adminControlUrl, 'delete from cutover.audit where seq = 30');
    const r = await cli(['audit', 'verify'], dbEnv);
    expect(r.stdout.trim()).toBe('audit chain broken: row 30 is missing: row 31 follows row 29');
    expect(r.code).toBe(1);
    expect(await verifyAudit(control, key, { pageSize: 10 })).toMatchObject({ ok: false, rows: 29, broken: { seq: 30, problem: 'missing' } });
  });
});
