import { decideGate, requestRollback, startMigration } from '../../src/migration-client';
import { migrationId as idOf } from '../../src/plan/hash';
import { parsePlan } from '../../src/plan/load';
import type { MigrationReport } from '../../src/shared/migration';
import { endedReport, isolated, Isolated, ownerUrl, progressOf, removeStaged, spawnWorker, sql, waitFor, WorkerProcess } from './helpers';
import { targetChecksums } from './target-state';

/**
 * A legacy schema shaped like a mature LMS, on a small scale, with the features a real one
 * needs from a plan alone (no views): a category tree whose parents have higher ids than their
 * children, loaded two rows a batch in two lanes; users with skip filters, '' for missing,
 * epoch 0 for unset, char(2), inet; enrolments reached through a link table by a query; and a
 * target whose enrolments are unique on (learner, category, method), references all of them.
 * The target already holds a pilot's rows whose ids overlap the source's.
 */
const SOURCE = `
create table src_categories (id bigint primary key, parent bigint not null default 0, name text not null default '');
insert into src_categories (id, parent, name) values
  (10, 0, 'Faculty'), (3, 10, 'Department'), (7, 3, 'Programme'), (1, 7, 'Module'),
  (12, 0, 'Archive'), (5, 12, 'Old'),
  (2, 99, 'Lost'),                      -- its parent does not exist: an orphan
  (8, 9, 'Loop A'), (9, 8, 'Loop B');   -- a cycle: no root reaches them
create table src_users (id bigint primary key, username text not null, deleted smallint not null default 0, suspended smallint not null default 0,
  country char(3) not null default '', lastip varchar(45) not null default '', timecreated bigint not null, lastlogin bigint not null default 0);
insert into src_users (id, username, deleted, suspended, country, lastip, timecreated, lastlogin)
  select g, 'user' || g, 0, case when g % 7 = 0 then 1 else 0 end, case when g % 3 = 0 then '' else 'GB' end,
         case when g % 2 = 0 then '' else '10.0.0.' || g end, 1600000000 + g * 86400, case when g % 4 = 0 then 0 else 1700000000 + g end
  from generate_series(1, 30) g;
update src_users set username = 'guest' where id = 30;
update src_users set deleted = 1 where id = 4;
update src_users set country = 'GBR' where id = 5;   -- does not fit char(2): quarantined at staging
create table src_enrol (id bigint primary key, enrol text not null, courseid bigint not null);
insert into src_enrol values (100, 'manual', 1), (101, 'self', 1), (102, 'manual', 3), (103, 'manual', 2), (104, 'manual', 8), (105, 'self', 5),
  (106, 'manual', 1), (107, 'self', 3), (108, 'self', 3);   -- second instances of a method in a course: their enrolments share business keys
create table src_user_enrolments (id bigint primary key, enrolid bigint not null, userid bigint not null, grade double precision, timestart bigint not null default 0);
insert into src_user_enrolments (id, enrolid, userid, grade, timestart)
  select 1000 + u * 10 + e, 100 + e, u, case when e = 0 then 87.5 else null end, case when e = 1 then 0 else 1700000000 + u end
  from generate_series(1, 29) u, generate_series(0, 2) e where u <> 4 or e = 0;
insert into src_user_enrolments (id, enrolid, userid, grade, timestart) values
  (2001, 103, 1, 50, 0),    -- category 2 is an orphan: parent quarantined
  (2002, 104, 1, 50, 0),    -- category 8 is in a cycle: parent quarantined
  (2003, 100, 77, 50, 0),   -- no user 77: an orphan
  (2004, 105, 2, 12.345678, 0),
  (2005, 106, 2, 50, 0),    -- (learner 2, category 1, manual) again: 1020 loaded it in an earlier batch
  (2006, 107, 3, 50, 0),    -- (learner 3, category 3, self): one of these two loads,
  (2007, 108, 3, 60, 0);    -- the other is a duplicate (the first in key order within a batch, else the first loaded)
create table src_enrolments_flat as select ue.id, ue.userid, e.courseid, e.enrol from src_user_enrolments ue join src_enrol e on e.id = ue.enrolid where ue.userid between 1 and 3 and e.courseid in (1, 3) and ue.id < 2000;
alter table src_enrolments_flat add primary key (id);
`;

const TARGET = `
create table categories (id bigserial primary key, legacy_id bigint unique, parent_id bigint references categories (id), name text not null);
create table learners (id bigserial primary key, legacy_id bigint unique, username text not null, status text not null check (status in ('active', 'suspended')),
  country char(2) not null default '', last_ip inet, created_on date not null, last_login_at timestamptz);
create table enrolments (id bigserial primary key, learner_id bigint not null references learners (id), category_id bigint not null references categories (id),
  method text not null, grade numeric(10,5), started_at timestamptz, unique (learner_id, category_id, method));
-- A pilot's rows, there before the migration: ids 1..3 overlap the source's ids.
insert into categories (name) values ('pilot a'), ('pilot b'), ('pilot c');
insert into learners (username, status, created_on) values ('pilot1', 'active', '2020-01-01'), ('pilot2', 'active', '2020-01-01'), ('pilot3', 'active', '2020-01-01');
insert into enrolments (learner_id, category_id, method) values (1, 1, 'manual'), (2, 1, 'self'), (3, 3, 'manual');
`;

const planText = (name: string) => `
version: 1
name: ${name}
settings: { batch_size: 7, parallelism: 4, abort: { max_quarantine_ratio: 0.5 } }   # two lanes for each of a level's two entities
phases:
  - { name: people, entities: [categories, learners] }
  - { name: learning, entities: [enrolments], gate: true }
entities:
  categories:
    source: { table: src_categories, key: id }
    target: { table: categories, key: id, business_key: [legacy_id] }
    batch_size: 2
    columns:
      legacy_id: { from: id }
      parent_id: { from: parent, transform: { null_if: [0] }, reference: categories }
      name:      { from: name }
  learners:
    source:
      table: src_users
      key: id
      skip: { guest: "username = 'guest'", soft_deleted: "deleted = 1" }
    target: { table: learners, key: id, business_key: [legacy_id] }
    columns:
      legacy_id:     { from: id }
      username:      { from: username, pii: text }
      status:        { from: [deleted, suspended], transform: { case: [ { when: { suspended: 1 }, then: suspended }, { else: active } ] } }
      country:       { from: country, transform: { cast: "char(2)" } }
      last_ip:       { from: lastip, transform: [ { null_if: [""] }, { cast: inet } ] }
      created_on:    { from: timecreated, transform: epoch_to_date }
      last_login_at: { from: lastlogin, transform: [ { null_if: [0] }, epoch_to_timestamp ] }
  enrolments:
    source:
      key: id
      query: >-
        select ue.id, ue.userid, e.courseid, e.enrol, ue.grade, ue.timestart
        from src_user_enrolments ue join src_enrol e on e.id = ue.enrolid
    target: { table: enrolments, key: id, business_key: [learner_id, category_id, method] }
    columns:
      learner_id:  { from: userid, reference: learners }
      category_id: { from: courseid, reference: categories }
      method:      { from: enrol }
      grade:       { from: grade }
      started_at:  { from: timestart, transform: [ { null_if: [0] }, epoch_to_timestamp ] }
`;

/**
 * The defect in its smallest form, in the plan format of before (no tree, filter or query):
 * enrolments unique on (learner, category, method), both references. Source user 1 in source
 * category 1 has the same ids as the pilot's (learner 1, category 1, manual).
 */
const plainPlanText = (name: string) => `
version: 1
name: ${name}
settings: { batch_size: 50, parallelism: 2 }
phases:
  - { name: people, entities: [categories, learners] }
  - { name: learning, entities: [enrolments], gate: true }
entities:
  categories:
    source: { table: src_categories, key: id }
    target: { table: categories, key: id, business_key: [legacy_id] }
    columns:
      legacy_id: { from: id }
      name:      { from: name }
  learners:
    source: { table: src_users, key: id }
    target: { table: learners, key: id, business_key: [legacy_id] }
    columns:
      legacy_id:  { from: id }
      username:   { from: username }
      status:     { constant: active }
      created_on: { constant: "2020-01-01" }
  enrolments:
    source: { table: src_enrolments_flat, key: id }
    target: { table: enrolments, key: id, business_key: [learner_id, category_id, method] }
    columns:
      learner_id:  { from: userid, reference: learners }
      category_id: { from: courseid, reference: categories }
      method:      { from: enrol }
`;

/** What must be quarantined, by entity and source key. */
const QUARANTINE = {
  categories: { '2': 'orphan_reference', '8': 'orphan_reference', '9': 'orphan_reference' },
  learners: { '5': 'conversion_failed' },
  enrolments: {
    '1050': 'parent_quarantined', // user 5
    '1051': 'parent_quarantined',
    '1052': 'parent_quarantined',
    '1040': 'orphan_reference', // user 4 was skipped (soft-deleted): not loaded, not quarantined
    '2001': 'parent_quarantined',
    '2002': 'parent_quarantined',
    '2003': 'orphan_reference',
    '2005': 'duplicate_business_key',
  },
};

describe('a real LMS schema from a plan alone: trees, filters, queries, references in business keys, target types', () => {
  let env: Isolated;
  let worker: WorkerProcess;
  let before: Record<string, string>;
  const ids: string[] = [];

  beforeAll(async () => {
    env = await isolated('real');
    await sql(ownerUrl(env), SOURCE);
    await sql(env.config.databases.targetUrl!, TARGET);
    before = await targetChecksums(env.config.databases.targetUrl!);
    worker = await spawnWorker(env);
  });

  afterAll(async () => {
    await worker?.kill();
    for (const id of ids) await removeStaged(env, id);
    await env?.cleanup();
  });

  const atGate = async (workflowId: string) =>
    waitFor(`${workflowId} at its gate`, async () => {
      const p = await progressOf(env, workflowId);
      return p && ['awaiting-approval', 'rolling-back', 'rolled-back', 'rollback-blocked', 'failed', 'completed'].includes(p.status) ? p : undefined;
    }).then(async (p) => {
      if (p.status === 'awaiting-approval') return p;
      // Stopped anywhere else (a reconcile difference rolled it back, say): say why, with the tallies.
      const ended = await endedReport(env, workflowId).catch((err: Error) => ({ rollback: { reason: err.message } }) as MigrationReport);
      throw new Error(`${workflowId} did not reach its gate: ${p.status}: ${ended.rollback?.reason}\n${JSON.stringify(p.entities.map((e) => [e.entity, e.reconcile]))}`);
    });

  it('references in a business key: reconciles clean, and a rollback deletes only what the migration wrote (not the pilot row with the same source ids)', async () => {
    const plan = parsePlan(plainPlanText(`real-plain-${Date.now().toString(36)}`));
    ids.push(idOf(plan));
    const started = await startMigration(env.config, plan, { taskQueue: env.taskQueue, startedBy: 'it-operator' });
    const report = await atGate(started.workflowId);
    const enrolments = report.entities.find((e) => e.entity === 'enrolments')!;
    expect(enrolments).toMatchObject({ inserted: 9, updated: 0, quarantined: 0 });
    expect(enrolments.reconcile).toMatchObject({ expected: 9, found: 9, missing: 0, mismatched: 0 });
    await requestRollback(env.config, started.workflowId, 'it-operator', 'rehearsal');
    expect((await endedReport(env, started.workflowId)).rollback?.restored).toBe(true);
    expect(await targetChecksums(env.config.databases.targetUrl!)).toEqual(before);
  });

  /** Starts a plan and waits for how it ends (completed, or rolled back with its report). */
  const runToEnd = async (text: string): Promise<MigrationReport> => {
    const plan = parsePlan(text);
    ids.push(idOf(plan));
    const started = await startMigration(env.config, plan, { taskQueue: env.taskQueue, startedBy: 'it-operator' });
    return endedReport(env, started.workflowId);
  };

  it('refuses a source query that returns one column name twice, and a skip filter that does not run, naming each before anything loads', async () => {
    const text = planText(`real-bad-${Date.now().toString(36)}`)
      .replace('select ue.id, ue.userid, e.courseid, e.enrol,', 'select ue.id, ue.userid, e.courseid, e.enrol, e.id,')
      .replace(`soft_deleted: "deleted = 1"`, `soft_deleted: "no_such_flag = 1"`);
    const report = await runToEnd(text);
    expect(report.status).toBe('rolled-back');
    expect(report.rollback?.reason).toContain('entities.enrolments.source.query: the source query returns "id" more than once: give each its own alias');
    expect(report.rollback?.reason).toContain('entities.learners.source.skip.soft_deleted: does not run on public.src_users (SQLSTATE 42703)');
    expect(await targetChecksums(env.config.databases.targetUrl!)).toEqual(before);
  });

  it('a row the target holds otherwise than staged fails reconcile naming the entity, business key and column, never the value', async () => {
    const target = env.config.databases.targetUrl!;
    // Someone else's trigger changes one category's name on its way in.
    await sql(target, `create function edit_name() returns trigger language plpgsql as $$ begin if new.legacy_id = 12 then new.name := new.name || ' (edited)'; end if; return new; end $$;
      create trigger edit_name before insert or update on categories for each row execute function edit_name()`);
    try {
      const report = await runToEnd(planText(`real-mm-${Date.now().toString(36)}`));
      expect(report.status).toBe('rolled-back');
      expect(report.rollback?.reason).toContain('categories: reconcile found 0 missing, 1 mismatched');
      expect(report.rollback?.reason).toContain('mismatched: 12 (columns: name)');
      expect(report.rollback?.reason).not.toContain('Archive');
      expect(report.entities.find((e) => e.entity === 'categories')!.reconcile.sampleMismatched).toEqual(['12 (columns: name)']);
      expect(report.rollback?.restored).toBe(true);
    } finally {
      await sql(target, 'drop trigger edit_name on categories; drop function edit_name()');
    }
    expect(await targetChecksums(target)).toEqual(before);
  });

  it('rolled back at the gate, every target table is as it was: the pilot rows that share ids with the source are untouched', async () => {
    const plan = parsePlan(planText(`real-rb-${Date.now().toString(36)}`));
    ids.push(idOf(plan));
    const started = await startMigration(env.config, plan, { taskQueue: env.taskQueue, startedBy: 'it-operator' });
    const report = await atGate(started.workflowId);
    expect(report.entities.map((e) => [e.entity, e.reconcile.missing, e.reconcile.mismatched])).toEqual([
      ['categories', 0, 0],
      ['learners', 0, 0],
      ['enrolments', 0, 0],
    ]);
    await requestRollback(env.config, started.workflowId, 'it-operator', 'rehearsal');
    const failed = await endedReport(env, started.workflowId);
    expect(failed.rollback?.restored).toBe(true);
    expect(await targetChecksums(env.config.databases.targetUrl!)).toEqual(before);
  });

  it('loads clean, quarantines exactly the rows that must be (by key), counts the skipped, and a second run changes nothing', async () => {
    const plan = parsePlan(planText(`real-${Date.now().toString(36)}`));
    const migrationId = idOf(plan);
    ids.push(migrationId);
    const started = await startMigration(env.config, plan, { taskQueue: env.taskQueue, startedBy: 'it-operator' });
    await atGate(started.workflowId);
    await decideGate(env.config, started.workflowId, 'learning', 'it-approver');
    const report = await endedReport(env, started.workflowId);
    expect(report.status).toBe('completed');
    expect(report.clean).toBe(true);
    const byEntity = Object.fromEntries(report.entities.map((e) => [e.entity, e]));
    // 9 categories: 6 reach a root; 7 learners batches... every row accounted for.
    expect(byEntity.categories).toMatchObject({ extracted: 9, inserted: 6, quarantined: 3 });
    expect(byEntity.learners).toMatchObject({ extracted: 28, inserted: 27, quarantined: 1, skipped: { guest: 1, soft_deleted: 1 } });
    expect(byEntity.enrolments!.quarantined).toBe(9);
    for (const e of report.entities) expect(e.reconcile).toMatchObject({ missing: 0, mismatched: 0, duplicated: 0, found: e.reconcile.expected });
    expect(report.phases.every((p) => p.clean)).toBe(true);

    const quarantined = await sql<{ entity: string; source_key: string; reason: string }>(env.config.databases.controlUrl!, 'select entity, source_key, reason from cutover.quarantine where migration_id = $1', [migrationId]);
    const got: Record<string, Record<string, string>> = {};
    for (const q of quarantined) (got[q.entity] ??= {})[q.source_key] = q.reason;
    // 2006 and 2007 share a business key: exactly one of them loads, whichever batch they fall in.
    const pair = ['2006', '2007'].filter((k) => got.enrolments?.[k] === 'duplicate_business_key');
    expect(pair).toHaveLength(1);
    delete got.enrolments![pair[0]!];
    expect(got).toEqual(QUARANTINE);
    const [pairRow] = await sql<{ n: number }>(env.config.databases.targetUrl!, "select count(*)::int as n from enrolments e join learners l on l.id = e.learner_id join categories c on c.id = e.category_id where l.legacy_id = 3 and c.legacy_id = 3 and e.method = 'self'");
    expect(pairRow?.n).toBe(1);

    // The tree: every loaded category points at its parent's new id.
    const tree = await sql<{ legacy_id: string; parent_legacy: string | null }>(
      env.config.databases.targetUrl!,
      'select c.legacy_id, p.legacy_id as parent_legacy from categories c left join categories p on p.id = c.parent_id where c.legacy_id is not null order by c.legacy_id',
    );
    expect(tree.map((r) => [Number(r.legacy_id), r.parent_legacy === null ? null : Number(r.parent_legacy)])).toEqual([
      [1, 7],
      [3, 10],
      [5, 12],
      [7, 3],
      [10, null],
      [12, null],
    ]);
    // Types as the target stores them: '' stays '' (padded by char(2)), '' ip is NULL, epoch to date.
    const [l3] = await sql<{ country: string; last_ip: string | null; created_on: string; username: string }>(env.config.databases.targetUrl!, 'select country, last_ip, created_on::text, username from learners where legacy_id = 3');
    expect(l3).toEqual({ country: '  ', last_ip: '10.0.0.3', created_on: '2020-09-16', username: 'user3' });
    // The pilot's enrolment (learner 1, category 1, manual) is untouched beside the migrated one of source user 1 in source category 1.
    const pilot = await sql(env.config.databases.targetUrl!, 'select learner_id, category_id, method, grade from enrolments where id <= 3 order by id');
    expect(pilot).toEqual([
      { learner_id: '1', category_id: '1', method: 'manual', grade: null },
      { learner_id: '2', category_id: '1', method: 'self', grade: null },
      { learner_id: '3', category_id: '3', method: 'manual', grade: null },
    ]);

    // The same plan again: nothing to insert or update (types compared as stored).
    const again = await startMigration(env.config, plan, { taskQueue: env.taskQueue, startedBy: 'it-operator' });
    await atGate(again.workflowId);
    await decideGate(env.config, again.workflowId, 'learning', 'it-approver');
    const second = await endedReport(env, again.workflowId);
    expect(second.status).toBe('completed');
    for (const e of second.entities) expect([e.entity, e.inserted, e.updated]).toEqual([e.entity, 0, 0]);
  });
});
