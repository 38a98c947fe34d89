import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seedLms } from '../../demo/lms/seed';
import type { Assessment } from '../../src/assess/assess';
import { startMigration } from '../../src/migration-client';
import { migrationId as idOf } from '../../src/plan/hash';
import { loadPlanFile } from '../../src/plan/load';
import { forecastCounts, quarantineCounts } from './assess-fixture';
import { launchChromium, screenshotPath } from './browser';
import { cli, cliEnv, isolated, Isolated, ownerUrl, removeStaged, ROOT, spawnWorker, sql, WorkerProcess } from './helpers';

/**
 * `cutover assess`: a schema nobody here designed, seeded with one or more rows for every
 * quarantine reason the pre-flight foresees; the forecast must equal, reason by reason, what
 * the migration then really quarantines. And `--strict` on personal data planted in a column
 * the plan copies in clear: exit 1 naming it, exit 0 once the plan tokenizes it; the report
 * (looked at in a browser) holds none of the planted values.
 */
describe('cutover assess', () => {
  let env: Isolated;
  let worker: WorkerProcess | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'cutover-assess-'));
  const ids: string[] = [];

  beforeAll(async () => {
    env = await isolated('assess');
  });

  afterAll(async () => {
    await worker?.kill();
    for (const id of ids) await removeStaged(env, id);
    await env?.cleanup();
  });

  const assessCli = (plan: string, ...args: string[]) => cli(['assess', plan, '--out', dir, ...args], cliEnv(env), 180_000);

  it('forecasts, reason by reason, exactly what the migration then quarantines (a schema with a CHECK, lengths, an enum, NOT NULL, orphans, duplicates, JSON)', async () => {
    await sql(ownerUrl(env), `
      create table src_groups (gid integer primary key, gname text, kind text);
      create table src_members (mid integer primary key, gid integer, handle text, score integer, born text, profile text);
      insert into src_groups select g, 'g' || g, case when g % 2 = 0 then 'O' else 'C' end from generate_series(1, 20) g;
      update src_groups set gname = 'a group name far too long' where gid = 17;  -- value_too_long
      update src_groups set gname = null where gid = 18;                          -- not_null_violation
      update src_groups set kind = 'Z' where gid = 19;                            -- conversion_failed (no enum code)
      update src_groups set kind = 'X' where gid = 20;                            -- check_violation ('archived' is not allowed)
      insert into src_members select m, (m % 16) + 1, 'h' || m, m % 101, '2001-02-03', '{"a": 1}' from generate_series(1, 300) m;
      update src_members set handle = null where mid = 10;                        -- missing_business_key
      update src_members set handle = 'far-too-long-handle' where mid = 11;       -- value_too_long
      update src_members set score = 150 where mid = 12;                          -- check_violation
      update src_members set born = 'not a date' where mid = 13;                  -- invalid_datetime
      update src_members set profile = '{not json' where mid = 14;                -- invalid_text_representation
      update src_members set handle = 'dup' where mid in (20, 21);                -- duplicate_business_key (one of them)
      update src_members set gid = 999 where mid in (7, 77, 177);                 -- orphan_reference
      update src_members set gid = 17 + (mid - 290) where mid between 290 and 293; -- parent_quarantined
    `);
    await sql(env.config.databases.targetUrl!, `
      create table groups (id bigserial primary key, legacy_gid integer not null unique, name varchar(12) not null, kind text not null check (kind in ('open', 'closed')));
      create table members (id bigserial primary key, legacy_mid integer not null unique, group_id bigint not null references groups (id), handle varchar(8) not null unique,
                            score integer constraint score_range check (score between 0 and 100), born date, profile jsonb);
    `);
    const file = join(dir, 'clubs.plan.yaml');
    writeFileSync(
      file,
      `version: 1
name: it-clubs-${Date.now().toString(36)}
source: { url_env: CUTOVER_SOURCE_URL }
target: { url_env: CUTOVER_TARGET_URL, ledger_schema: cutover }
settings: { batch_size: 50, parallelism: 2, abort: { max_quarantine_ratio: 0.5 } }
entities:
  groups:
    source: { table: src_groups, key: gid }
    target: { table: groups, key: id, business_key: [legacy_gid] }
    columns:
      legacy_gid: { from: gid }
      name:       { from: gname }
      kind:       { from: kind, transform: { enum: { O: open, C: closed, X: archived } } }
  members:
    source: { table: src_members, key: mid }
    target: { table: members, key: id, business_key: [handle] }
    columns:
      legacy_mid: { from: mid }
      group_id:   { from: gid, reference: groups }
      handle:     { from: handle }
      score:      { from: score }
      born:       { from: born }
      profile:    { from: profile }
`,
    );
    const plan = loadPlanFile(file);
    ids.push(idOf(plan));

    const assessed = await assessCli(file, "--json");

    expect([assessed.code, assessed.stderr]).toEqual([0, '']);
    const forecast = forecastCounts(JSON.parse(assessed.stdout) as Assessment);
    // What the seed planted, reason by reason: the forecast is not vacuous.
    expect(forecast).toEqual({
      groups: { value_too_long: 1, not_null_violation: 1, conversion_failed: 1, check_violation: 1 },
      members: { missing_business_key: 1, value_too_long: 1, check_violation: 1, invalid_datetime: 1, invalid_text_representation: 1, duplicate_business_key: 1, orphan_reference: 3, parent_quarantined: 4 },
    });

    worker = await spawnWorker(env);
    const run = await startMigration(env.config, plan, { taskQueue: env.taskQueue, wait: true }).catch((err) => {
      throw new Error(`${err}\n${worker!.output().slice(-3000)}`);
    });
    expect(run.report!.status).toBe('completed');
    expect(await quarantineCounts(env, idOf(plan))).toEqual(forecast);
    // Read-only: the assessment wrote nothing to the target (its tables were empty before the migration).
    const loaded = await sql<{ n: string }>(env.config.databases.targetUrl!, 'select count(*) as n from members');
    expect(Number(loaded[0]!.n)).toBe(300 - 13);
  });

  it('--strict exits 1 naming a clear-copied column with planted emails and phones, and 0 once the plan tokenizes it; the report holds no planted value', async () => {
    await seedLms({ sourceUrl: ownerUrl(env), targetUrl: env.config.databases.targetUrl, users: 300, seed: 13, resetTarget: true });
    await sql(ownerUrl(env), `
      alter table legacy_users add column notes text;
      update legacy_users set notes = case when user_id % 3 = 0
        then '<p>Call me on +44 20 7946 ' || lpad(user_id::text, 4, '0') || ' or write to learner' || user_id || '@example.org</p>'
        else 'Prefers the evening sessions; asked about certificates.' end;
    `);
    await sql(env.config.databases.targetUrl!, 'alter table people add column if not exists notes text');
    let planText = readFileSync(join(ROOT, 'examples', 'lms-users.plan.yaml'), 'utf8').replace('name: lms-users', `name: it-notes-${Date.now().toString(36)}`);
    const clear = join(dir, 'notes-clear.plan.yaml');
    writeFileSync(clear, `${planText.trimEnd()}\n      notes:          { from: notes }\n`);
    planText = planText.replace(/name: it-notes-(\S+)/, 'name: it-notes-$1-tokenized');
    const tokenized = join(dir, 'notes-tokenized.plan.yaml');
    writeFileSync(tokenized, `${planText.trimEnd()}\n      notes:          { from: notes, pii: text }\n`);

    const failing = await assessCli(clear, '--strict');
    expect(failing.code).toBe(1);
    expect(failing.stderr).toMatch(/public\.legacy_users\.notes \(score 5\)/);
    expect(failing.stdout).toMatch(/UNPROTECTED public\.legacy_users\.notes: score 5, clear/);

    const passing = await assessCli(tokenized, '--strict');
    expect([passing.code, passing.stderr]).toEqual([0, '']);
    const report = JSON.parse(readFileSync(join(dir, `${loadPlanFile(tokenized).name}.assessment.json`), 'utf8')) as Assessment;
    const notes = report.tables.find((t) => t.source === 'public.legacy_users')!.columns.find((c) => c.name === 'notes')!;
    expect(notes).toMatchObject({ treatment: 'detokenize', targets: ['notes'] });
    expect(notes.risk.score).toBeLessThanOrEqual(3);
    expect(notes.findings.map((f) => f.kind)).toContain('free_text');
    const email = report.tables.find((t) => t.source === 'public.legacy_users')!.columns.find((c) => c.name === 'email')!;
    expect(email.findings.map((f) => f.kind)).toContain('email');

    // No value of any row in the report files: not a planted note, email or phone, nor a seeded login or email.
    const samples = await sql<{ login: string; email: string | null; full_name: string | null }>(ownerUrl(env), 'select login, email, full_name from legacy_users order by user_id limit 50');
    const html = readFileSync(join(dir, `${loadPlanFile(clear).name}.assessment.html`), 'utf8');
    const json = readFileSync(join(dir, `${loadPlanFile(clear).name}.assessment.json`), 'utf8');
    for (const text of [html, json]) {
      expect(text).not.toMatch(/@example\.org|7946 \d{4}/);
      for (const s of samples) for (const v of [s.login, s.email, s.full_name]) if (v) expect(text.includes(v)).toBe(false);
    }

    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      await page.goto(`file://${join(dir, `${loadPlanFile(clear).name}.assessment.html`)}`);
      expect(await page.locator('svg[aria-label="Risk score by table"] rect').count()).toBeGreaterThan(3);
      expect(await page.locator('tr.failing').innerText()).toMatch(/legacy_users\.\s*notes[\s\S]*5/);
      await page.screenshot({ path: screenshotPath('assessment-report'), fullPage: true });
    } finally {
      await browser.close();
    }
  });

  it('judges Moodle-shaped columns by content (issue 20): a username of name logins in a business key is personal, with advice the plan accepts; course and category idnumbers are not national ids', async () => {
    await sql(ownerUrl(env), `
      create table mdl_course_categories (id bigint primary key, name text not null, idnumber text not null default '');
      create table mdl_course (id bigint primary key, shortname text not null, idnumber text not null default '');
      create table mdl_user (id bigint primary key, mnethostid bigint not null, username text not null, idnumber text not null default '', email text not null);
      insert into mdl_course_categories select i, 'Category ' || i, case when i % 3 = 0 then '' else (array['SCIE', 'HUMA', 'NURS', 'BUSI'])[1 + i % 4] || '-' || i end from generate_series(1, 12) i;
      insert into mdl_course select i, (array['BIO', 'HIS', 'MAT', 'PHY', 'ENG'])[1 + i % 5] || (100 + i), case when i % 2 = 0 then '' else 'C-' || (array['BIO', 'HIS', 'MAT', 'PHY', 'ENG'])[1 + i % 5] || (100 + i) end from generate_series(2, 31) i;
      -- Logins as Moodle sites make them (given.family, a number for a namesake), student numbers, emails.
      insert into mdl_user select i, 1,
        (array['amelia', 'oliver', 'isla', 'george', 'noah', 'mia', 'priya', 'kenji'])[1 + i % 8] || '.' || (array['smith', 'jones', 'patel', 'garcia', 'tanaka', 'kowalski', 'okafor', 'nowak', 'brown'])[1 + i % 9] || case when i > 72 then i::text else '' end,
        'S' || (2024000 + i), 'learner' || i || '@example.org'
      from generate_series(1, 120) i;
    `);
    await sql(env.config.databases.targetUrl!, `
      create table it_categories (id bigserial primary key, legacy_id bigint not null unique, name text not null, code text);
      create table it_courses (id bigserial primary key, legacy_id bigint not null unique, shortname text not null, code text);
      create table it_learners (id bigserial primary key, source_ref text not null unique, email text not null);
    `);
    const file = join(dir, 'moodle-keys.plan.yaml');
    writeFileSync(
      file,
      `version: 1
name: it-moodle-keys-${Date.now().toString(36)}
source: { url_env: CUTOVER_SOURCE_URL }
target: { url_env: CUTOVER_TARGET_URL, ledger_schema: cutover }
entities:
  categories:
    source: { table: mdl_course_categories, key: id }
    target: { table: it_categories, business_key: [legacy_id] }
    columns:
      legacy_id: { from: id }
      name:      { from: name }
      code:      { from: idnumber, transform: { null_if: [''] } }
  courses:
    source: { table: mdl_course, key: id }
    target: { table: it_courses, business_key: [legacy_id] }
    columns:
      legacy_id: { from: id }
      shortname: { from: shortname }
      code:      { from: idnumber, transform: { null_if: [''] } }
  learners:
    source: { table: mdl_user, key: id }
    target: { table: it_learners, business_key: [source_ref] }
    columns:
      source_ref: { from: [mnethostid, username], transform: { template: "src:{mnethostid}:{username}" } }
      email:      { from: email, pii: email }
`,
    );
    const plan = loadPlanFile(file);

    const strict = await assessCli(file, '--strict');
    expect(strict.code).toBe(1);
    expect(strict.stderr).toMatch(/public\.mdl_user\.username \(score 4\)/);
    expect(strict.stderr).not.toMatch(/idnumber/);
    const report = JSON.parse(readFileSync(join(dir, `${plan.name}.assessment.json`), 'utf8')) as Assessment;
    const column = (table: string, name: string) => report.tables.find((t) => t.source === `public.${table}`)!.columns.find((c) => c.name === name)!;

    const username = column('mdl_user', 'username');
    expect(username.findings).toEqual([expect.objectContaining({ kind: 'person_identifier', method: 'content', matched: 120, sampled: 120 })]);
    expect(username.risk).toMatchObject({ score: 4, treatment: 'clear' });
    // Not "declare pii on source_ref", which the plan refuses for a business key: re-key, then declare.
    expect(username.risk.control).toMatch(/business key source_ref.*add legacy_id: \{ from: id \}.*business_key: \[legacy_id\].*declare pii: text on target column source_ref/);
    for (const [table, name] of [['mdl_course', 'idnumber'], ['mdl_course_categories', 'idnumber']] as const) {
      expect([table, column(table, name).findings, column(table, name).risk.score]).toEqual([table, [], 1]);
    }
    // The learners' student numbers: a weak person identifier by name in a table of people, never a national id; not migrated.
    expect(column('mdl_user', 'idnumber').findings).toEqual([{ kind: 'person_identifier', method: 'name', confidence: 0.45 }]);

    const values = await sql<{ username: string; idnumber: string; email: string }>(ownerUrl(env), 'select username, idnumber, email from mdl_user order by id');
    const html = readFileSync(join(dir, `${plan.name}.assessment.html`), 'utf8');
    const json = readFileSync(join(dir, `${plan.name}.assessment.json`), 'utf8');
    for (const text of [html, json, strict.stdout, strict.stderr]) {
      for (const v of values) expect([v.username, v.idnumber, v.email].filter((x) => text.includes(x))).toEqual([]);
    }
  });
});
