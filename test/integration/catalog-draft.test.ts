import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seedLms } from '../../demo/lms/seed';
import { readCatalog } from '../../src/catalog/pg-catalog';
import { createDb } from '../../src/clients/postgres';
import { startMigration } from '../../src/migration-client';
import { migrationId as idOf } from '../../src/plan/hash';
import { loadPlanFile } from '../../src/plan/load';
import type { Plan } from '../../src/plan/types';
import { cli, cliEnv, endedReport, isolated, Isolated, ownerUrl, removeStaged, spawnWorker, sql, WorkerProcess } from './helpers';

/**
 * A schema with what a catalog reader must get right: keys in key order, unique constraints
 * and indexes (not partial, expression or INCLUDE columns), foreign keys across schemas,
 * CHECKs (not NOT NULL), enums (also behind a domain), defaults, identity and generated
 * columns, a view (skipped), a partitioned table (its partitions are its rows).
 */
const FIXTURE = `
create schema cat;
create schema cat_ref;
create type cat.mood as enum ('calm', 'tense', 'gone');
create domain cat.mood_d as cat.mood;
create table cat_ref.owners (region text, num int, primary key (region, num));
create table cat.pets (
  id int generated always as identity primary key,
  name varchar(40) not null,
  mood cat.mood,
  mood2 cat.mood_d not null default 'calm',
  score numeric(5,2) check (score >= 0),
  tag text,
  code char(3),
  owner_region text,
  owner_num int,
  shout text generated always as (upper(name)) stored,
  born timestamptz default now(),
  constraint pets_owner_fk foreign key (owner_region, owner_num) references cat_ref.owners (region, num),
  constraint pets_tag_code_key unique (code, tag),
  constraint pets_name_tag_check check (name <> tag)
);
create unique index pets_name_ux on cat.pets (name) include (tag);
create unique index pets_lower_tag_ux on cat.pets (lower(tag));
create unique index pets_partial_ux on cat.pets (score) where score > 50;
create view cat.pet_view as select id from cat.pets;
create table cat.events (id int, at date, primary key (id, at)) partition by range (at);
create table cat.events_2024 partition of cat.events for values from ('2024-01-01') to ('2025-01-01');
create table cat.events_2025 partition of cat.events for values from ('2025-01-01') to ('2026-01-01');
insert into cat.events select g, date '2024-06-01' + (g % 400) from generate_series(1, 1000) g;
insert into cat_ref.owners values ('eu', 1);
insert into cat.pets (name, owner_region, owner_num) select 'pet' || g, 'eu', 1 from generate_series(1, 50) g;
analyze cat.events_2024; analyze cat.events_2025; analyze cat.pets;
`;

/** Rows the seed leaves empty without files: a few keys, so every demo table has rows to migrate. */
const FILE_ROWS = `
insert into legacy_course_packages select course_id, course_id, 'packages/' || course_code || '.zip' from legacy_courses;
insert into legacy_attachments select course_id, course_id, 'attachments/' || course_code || '/syllabus.pdf' from legacy_courses;
insert into legacy_certificates select row_number() over (order by enrollment_id), enrollment_id, 'certificates/' || enrollment_id || '.pdf'
  from legacy_enrollments where status_code = 'C' order by enrollment_id limit 40;
analyze;
`;

const TARGET_TABLES = ['assessment_results', 'attachments', 'certificates', 'course_packages', 'courses', 'enrollments', 'org_units', 'people', 'xapi_statements'];

describe('reading a catalog, and drafting a plan from two', () => {
  let env: Isolated;
  let worker: WorkerProcess | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'cutover-draft-'));
  const ids: string[] = [];

  beforeAll(async () => {
    env = await isolated('draft');
    await sql(ownerUrl(env), FIXTURE);
  });

  afterAll(async () => {
    await worker?.kill();
    for (const id of ids) await removeStaged(env, id);
    await env?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads tables, keys, uniques, foreign keys, checks, enums and sizes, through the read-only role in a read-only transaction', async () => {
    const db = createDb(env.config.databases.sourceUrl!, { readOnly: true, max: 1 });
    try {
      const tables = await db.transaction((trx) => readCatalog(trx, 'cat'), { readOnly: true });
      expect(tables.map((t) => t.name)).toEqual(['events', 'pets']);
      const pets = tables.find((t) => t.name === 'pets')!;
      expect(pets.columns).toEqual([
        { name: 'id', type: 'integer', notNull: true, hasDefault: true, generated: false },
        { name: 'name', type: 'character varying(40)', notNull: true, hasDefault: false, generated: false },
        { name: 'mood', type: 'cat.mood', notNull: false, hasDefault: false, generated: false, enumLabels: ['calm', 'tense', 'gone'] },
        { name: 'mood2', type: 'cat.mood_d', notNull: true, hasDefault: true, generated: false, enumLabels: ['calm', 'tense', 'gone'] },
        { name: 'score', type: 'numeric(5,2)', notNull: false, hasDefault: false, generated: false },
        { name: 'tag', type: 'text', notNull: false, hasDefault: false, generated: false },
        { name: 'code', type: 'character(3)', notNull: false, hasDefault: false, generated: false },
        { name: 'owner_region', type: 'text', notNull: false, hasDefault: false, generated: false },
        { name: 'owner_num', type: 'integer', notNull: false, hasDefault: false, generated: false },
        { name: 'shout', type: 'text', notNull: false, hasDefault: true, generated: true },
        { name: 'born', type: 'timestamp with time zone', notNull: false, hasDefault: true, generated: false },
      ]);
      expect(pets.primaryKey).toEqual(['id']);
      // Key order, not table order; an INCLUDE column is not a key column; partial and expression indexes are no upsert key.
      expect(pets.uniques).toEqual([
        { name: 'pets_tag_code_key', columns: ['code', 'tag'] },
        { name: 'pets_name_ux', columns: ['name'] },
      ]);
      expect(pets.foreignKeys).toEqual([{ name: 'pets_owner_fk', columns: ['owner_region', 'owner_num'], refSchema: 'cat_ref', refTable: 'owners', refColumns: ['region', 'num'] }]);
      expect(pets.checks).toEqual([
        { name: 'pets_name_tag_check', definition: 'CHECK (((name)::text <> tag))', expression: '((name)::text <> tag)', columns: ['name', 'tag'] },
        { name: 'pets_score_check', definition: 'CHECK ((score >= (0)::numeric))', expression: '(score >= (0)::numeric)', columns: ['score'] },
      ]);
      expect(pets.estimatedRows).toBe(50);
      expect(pets.totalBytes).toBeGreaterThan(0);
      const events = tables.find((t) => t.name === 'events')!;
      expect(events).toMatchObject({ primaryKey: ['id', 'at'], estimatedRows: 1000 });
      expect(events.totalBytes).toBeGreaterThan(0);
      // Named tables: a partition can be read by name; a name not there is absent; a view is no table.
      expect((await readCatalog(db, 'cat', ['events_2025', 'pet_view', 'nothing_here'])).map((t) => [t.name, t.primaryKey])).toEqual([['events_2025', ['id', 'at']]]);
      expect(await readCatalog(db, 'cat', [])).toEqual([]);
      // Never analyzed: reltuples is -1, reported as 0.
      expect((await readCatalog(db, 'cat_ref'))[0]).toMatchObject({ name: 'owners', estimatedRows: 0 });
    } finally {
      await db.destroy();
    }
  });

  it('drafts the demo LMS plan with the CLI: it validates, pairs every table, and migrates clean as drafted', async () => {
    await seedLms({ sourceUrl: ownerUrl(env), targetUrl: env.config.databases.targetUrl, users: 300, full: true, seed: 17 });
    await sql(ownerUrl(env), FILE_ROWS);
    worker = await spawnWorker(env);
    const file = join(dir, 'draft.plan.yaml');
    const name = `draft-${Date.now().toString(36)}`;
    const r = await cli(['plan', 'draft', '--name', name, '--out', file], cliEnv(env));
    expect([r.code, r.stderr]).toEqual([0, expect.stringContaining(`wrote ${file}: 9 entities`)]);
    const yaml = readFileSync(file, 'utf8');
    // No connection URL, and no sampled personal value, in anything it wrote.
    const people = await sql<{ email: string; full_name: string; login: string }>(ownerUrl(env), 'select email, full_name, login from legacy_users where email is not null order by user_id limit 20');
    for (const text of [yaml, r.stdout, r.stderr]) {
      expect(text).not.toContain(env.config.databases.sourceUrl!);
      expect(text).not.toContain(env.config.databases.targetUrl!);
      for (const p of people) expect([p.email, p.full_name, p.login].filter((v) => text.includes(v))).toEqual([]);
    }

    const plan = loadPlanFile(file);
    expect(plan.name).toBe(name);
    expect(plan.entities.map((e) => e.target.table).sort()).toEqual(TARGET_TABLES);
    for (const e of plan.entities) {
      expect([e.name, e.target.businessKey]).toEqual([e.name, [expect.stringMatching(/^legacy_[a-z_]+_id$/)]]);
      expect([e.name, e.columns.find((c) => c.name === e.target.businessKey[0])?.from]).toEqual([e.name, [e.source.key]]);
    }
    const users = plan.entities.find((e) => e.target.table === 'people')!;
    expect(users.source).toMatchObject({ table: 'legacy_users', key: 'user_id' });
    expect(users.name).toBe('people');
    expect(yaml).toContain('# legacy_users → people: its unique legacy_user_id names the source key user_id');
    expect(plan.entities.find((e) => e.name === 'enrollments')?.columns.find((c) => c.name === 'person_id')).toMatchObject({ from: ['user_id'], reference: { entity: 'people' } });
    // Personal data by discovery: the name split in two, the email, the phone, the xAPI actor.
    expect(users.columns.filter((c) => c.pii).map((c) => [c.name, c.pii])).toEqual(expect.arrayContaining([['given_name', 'name'], ['family_name', 'name'], ['email', 'email'], ['phone', 'phone']]));
    const statement = plan.entities.find((e) => e.name === 'xapi_statements')!.columns.find((c) => c.name === 'statement')!;
    expect(statement.piiPaths?.map((p) => p.path.join('.'))).toEqual(expect.arrayContaining(['actor.mbox', 'actor.name']));

    // Migrated as drafted: no edit.
    ids.push(idOf(plan));
    const started = await startMigration(env.config, plan as Plan, { taskQueue: env.taskQueue, startedBy: 'it-drafter' });
    const report = await endedReport(env, started.workflowId);
    expect([report.status, report.clean, report.rollback?.reason]).toEqual(['completed', true, undefined]);
    expect(report.entities.map((e) => e.entity).sort()).toEqual(TARGET_TABLES);
    expect(report.phases.map((p) => [p.phase, p.clean])).toEqual([['all', true]]);
    for (const e of report.entities) {
      expect([e.entity, e.extracted > 0, e.inserted, e.quarantined, e.reconcile]).toEqual([
        e.entity,
        true,
        e.extracted,
        0,
        expect.objectContaining({ expected: e.extracted, found: e.extracted, missing: 0, mismatched: 0, duplicated: 0 }),
      ]);
    }
    const count = async (url: string, table: string) => Number((await sql<{ n: string }>(url, `select count(*) as n from ${table}`))[0]!.n);
    expect(await count(env.config.databases.targetUrl!, 'people')).toBe(await count(ownerUrl(env), 'legacy_users'));
    expect(await count(env.config.databases.targetUrl!, 'enrollments')).toBe(await count(ownerUrl(env), 'legacy_enrollments'));
    // The values went through as the hand-written plan sends them: status codes mapped, the name split, epochs as timestamps.
    const [a] = await sql<{ n: string }>(
      env.config.databases.targetUrl!,
      `select count(*) as n from people where status = 'active' and given_name <> '' and created_at > '2009-12-31'`,
    );
    const [b] = await sql<{ n: string }>(ownerUrl(env), `select count(*) as n from legacy_users where status_code = 'A'`);
    expect(a!.n).toBe(b!.n);
  });
});
