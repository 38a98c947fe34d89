import knex from 'knex';
import { extractSql, keysSql, nextRangeSql, UNREACHED_LEVEL } from '../../src/plan/source-sql';
import type { EntitySpec } from '../../src/plan/types';

const db = knex({ client: 'pg' });
const render = (q: { sql: string; bindings: unknown[] }) => db.raw(q.sql, q.bindings as never).toString();

const base: EntitySpec = {
  name: 'enrolments',
  source: { schema: 'public', key: 'id', query: "select ue.id, ue.userid, e.data from mdl_user_enrolments ue join mdl_enrol e on e.id = ue.enrolid where e.data ? 'x'" },
  target: { schema: 'public', table: 'enrolments', businessKey: ['learner_id'] },
  columns: [{ name: 'learner_id', from: ['userid'], transform: { kind: 'copy' } }],
};

describe('source SQL: a table or the plan\'s one SELECT, its skip filters, keyset ranges, tree levels', () => {
  it('wraps the query with an alias, keeps its ? operators (not taken for bindings), and reads a keyset range in key order', () => {
    const sql = render(extractSql(base, ['id', 'userid'], { afterKey: '10', lastKey: '20' }));
    expect(sql).toBe(
      `with "__cutover_rel" as (select * from (select ue.id, ue.userid, e.data from mdl_user_enrolments ue join mdl_enrol e on e.id = ue.enrolid where e.data ? 'x') as __cutover_src) ` +
        `select s."id", s."userid" from "__cutover_rel" s where s."id" > '10' and s."id" <= '20' order by s."id"`,
    );
  });

  it('gives each skip filter a boolean column (NULL as false) and names the first that holds when listing keys', () => {
    const spec: EntitySpec = { ...base, source: { schema: 'public', table: 'mdl_user', key: 'id', skip: [{ name: 'guest', when: "username = 'guest'" }, { name: 'soft_deleted', when: 'deleted = 1' }] } };
    expect(render(extractSql(spec, ['id'], { afterKey: null, lastKey: '5' }))).toContain(
      `select s."id", coalesce((username = 'guest'), false) as "__cutover_skip_0", coalesce((deleted = 1), false) as "__cutover_skip_1" from "__cutover_rel" s where s."id" <= '5'`,
    );
    expect(render(keysSql(spec, null, 100))).toContain(`case when coalesce((username = 'guest'), false) then 'guest' when coalesce((deleted = 1), false) then 'soft_deleted' end as skipped`);
  });

  it('walks a tree from its roots (parent NULL or not in the source) and reads one level, or the rows no root reaches', () => {
    const tree: EntitySpec = {
      ...base,
      name: 'categories',
      source: { schema: 'public', table: 'mdl_course_categories', key: 'id' },
      columns: [{ name: 'parent_id', from: ['parent'], transform: { kind: 'null_if', values: [0] }, reference: { entity: 'categories' } }],
    };
    const level = render(nextRangeSql(tree, { afterKey: null, level: 2 }, 500));
    expect(level).toContain('with recursive "__cutover_rel" as (select * from "public"."mdl_course_categories" as __cutover_src)');
    expect(level).toContain('where r."parent" is null or not exists (select 1 from "__cutover_rel" p where p."id" = r."parent")');
    expect(level).toContain('exists (select 1 from "__cutover_walk" w where w."__cutover_key" = s."id" and w."__cutover_depth" = 2)');
    expect(render(nextRangeSql(tree, { afterKey: '7', level: UNREACHED_LEVEL }, 500))).toContain(`where s."id" > '7' and not exists (select 1 from "__cutover_walk" w where w."__cutover_key" = s."id")`);
  });
});
