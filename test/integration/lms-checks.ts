import { createHash } from 'node:crypto';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import type { SeedResult } from '../../demo/lms/seed';
import { createS3Client } from '../../src/clients/aws';
import { connectClient } from '../../src/clients/temporal';
import type { Plan } from '../../src/plan/types';
import type { MigrationReport } from '../../src/shared/migration';
import { Isolated, ownerUrl, sql } from './helpers';

/**
 * What "the whole LMS migrated exactly" means, checked independently of the pipeline where it
 * can be: the report says completed and clean with the seeded counts; every file arrived byte
 * for byte; the largest entity ran as partitions; the orphans, and only they, are quarantined;
 * every foreign key in the target leads to the row the source pointed at; xAPI documents arrive
 * whole. The whole-LMS test (lms.test.ts) and the PostgreSQL-backed Temporal test
 * (temporal-postgres.test.ts) both end with it.
 */
export async function expectLmsMigratedExactly(env: Isolated, plan: Plan, workflowId: string, seeded: SeedResult, report: MigrationReport): Promise<void> {
  expect(report.status).toBe('completed');
  expect(report.clean).toBe(true);
  // Files: every package and certificate is in the new bucket, byte for byte.
  const s3 = createS3Client(env.config.s3);
  try {
    const keys = await sql<{ file_key: string }>(ownerUrl(env), 'select file_key from legacy_course_packages union all select file_key from legacy_attachments union all select file_key from legacy_certificates');
    expect(keys).toHaveLength(seeded.packages + seeded.attachments + seeded.certificates);
    for (const { file_key } of keys) {
      const [a, b] = await Promise.all(
        [`${plan.name}-src`, `${plan.name}-dst`].map(async (Bucket) => createHash('sha256').update(await (await s3.send(new GetObjectCommand({ Bucket, Key: file_key }))).Body!.transformToByteArray()).digest('hex')),
      );
      expect({ file_key, sha256: b }).toEqual({ file_key, sha256: a });
    }
  } finally {
    s3.destroy();
  }
  expect(report.entities.find((e) => e.entity === 'certificates')).toMatchObject({ inserted: seeded.certificates, quarantined: 0 });
  // The largest entity ran as partitions, each its own child workflow, together every statement.
  const { client, connection } = await connectClient(env.config);
  try {
    const parts: string[] = [];
    for await (const w of client.workflow.list({ query: `WorkflowId STARTS_WITH '${workflowId}/xapi_statements/part-'` })) parts.push(w.workflowId);
    expect(parts).toHaveLength(plan.settings.parallelism);
    expect(plan.settings.parallelism).toBeGreaterThan(1);
  } finally {
    await connection.close();
  }
  expect(report.entities.find((e) => e.entity === 'xapi_statements')).toMatchObject({ extracted: seeded.statements, inserted: seeded.statements, quarantined: 0 });
  expect(report.phases.map((p) => [p.phase, p.clean])).toEqual([
    ['people', true],
    ['learning', true],
    ['assessments', true],
    ['history', true],
  ]);
  for (const p of report.phases) for (const e of p.entities) for (const r of e.references) expect(r).toMatchObject({ dangling: 0 });
  const enrollments = report.entities.find((e) => e.entity === 'enrollments')!;
  expect(enrollments).toMatchObject({ extracted: seeded.enrollments, quarantined: seeded.orphanEnrollments, inserted: seeded.enrollments - seeded.orphanEnrollments });
  const orphanReasons = await sql<{ reason: string; n: string }>(env.config.databases.controlUrl!, "select reason, count(*) as n from cutover.quarantine where entity = 'enrollments' group by reason");
  expect(orphanReasons).toEqual(seeded.orphanEnrollments ? [{ reason: 'orphan_reference', n: String(seeded.orphanEnrollments) }] : []);

  // Independently of the pipeline: every foreign key leads to the row the source pointed at.
  const src = ownerUrl(env);
  const tgt = env.config.databases.targetUrl!;
  const sourceEnrollments = new Map((await sql<{ enrollment_id: number; user_id: number; course_id: number }>(src, 'select enrollment_id, user_id, course_id from legacy_enrollments')).map((r) => [r.enrollment_id, r]));
  const targetEnrollments = await sql<{ legacy_enrollment_id: number; legacy_user_id: number; legacy_course_id: number }>(
    tgt,
    'select e.legacy_enrollment_id, p.legacy_user_id, c.legacy_course_id from enrollments e join people p on p.id = e.person_id join courses c on c.id = e.course_id',
  );
  expect(targetEnrollments).toHaveLength(seeded.enrollments - seeded.orphanEnrollments);
  let wrong = 0;
  for (const t of targetEnrollments) {
    const s = sourceEnrollments.get(t.legacy_enrollment_id)!;
    if (s.user_id !== t.legacy_user_id || s.course_id !== t.legacy_course_id) wrong++;
  }
  expect(wrong).toBe(0);
  const results = await sql<{ legacy_result_id: number; legacy_enrollment_id: number }>(tgt, 'select r.legacy_result_id, e.legacy_enrollment_id from assessment_results r join enrollments e on e.id = r.enrollment_id');
  const sourceResults = new Map((await sql<{ result_id: number; enrollment_id: number }>(src, 'select result_id, enrollment_id from legacy_results')).map((r) => [r.result_id, r.enrollment_id]));
  expect(results).toHaveLength(sourceResults.size);
  expect(results.filter((r) => sourceResults.get(r.legacy_result_id) !== r.legacy_enrollment_id)).toEqual([]);
  const orgLinks = await sql<{ n: string }>(tgt, 'select count(*) as n from people p left join org_units o on o.id = p.org_unit_id where p.org_unit_id is not null and o.id is null');
  expect(orgLinks[0]!.n).toBe('0');
  const [orgs] = await sql<{ n: string }>(src, 'select count(*) as n from legacy_users where org_id is not null');
  const [linked] = await sql<{ n: string }>(tgt, 'select count(*) as n from people where org_unit_id is not null');
  expect(linked!.n).toBe(orgs!.n);

  // xAPI documents arrive whole, actor included, page by page.
  for (let after = 0; ; ) {
    const s = await sql<{ id: number; doc: string }>(src, 'select statement_id as id, statement::jsonb::text as doc from legacy_xapi where statement_id > $1 order by 1 limit 50000', [after]);
    if (!s.length) break;
    const t = await sql<{ id: number; doc: string }>(tgt, 'select legacy_statement_id as id, statement::text as doc from xapi_statements where legacy_statement_id > $1 order by 1 limit 50000', [after]);
    expect(t.map((r) => [r.id, r.doc])).toEqual(s.map((r) => [r.id, r.doc]));
    after = s[s.length - 1]!.id;
  }
}
