/**
 * The hand-written baseline: what a team without Cutover writes for the same plans. Per entity,
 * one SELECT on the source that does the plan's mapping (lower(), the name split, the enums as
 * CASE, to_timestamp for epochs, text to jsonb), piped by psql's \copy into the target:
 *
 *   psql $SOURCE -c "\copy (SELECT ...) to pstdout" | psql $TARGET -c "\copy people (...) from pstdin"
 *
 * An entity with references is copied into a temporary table with the legacy keys, then
 * inserted with a join on what was already copied (the parents' business keys), in the same
 * psql session; a row whose parent is missing is left out, as the plan quarantines it. Files are
 * copied bucket to bucket, one CopyObject per object the rows name. Entities run one after the
 * other, in dependency order. No tokenizing, no staging, no ledger, no reconcile: the phone
 * number (a token in Cutover's target) is copied in clear.
 */
import { spawn } from 'node:child_process';
import { CopyObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Client } from 'pg';

export interface HandStep {
  /** The plan's entity this step does. */
  entity: string;
  table: string;
  /** The mapping, on the source. */
  select: string;
  /** Without references: the target columns the SELECT's columns go to, in order. */
  columns?: string;
  /** With references: the temporary table's columns (the SELECT's), and the insert that joins the parents. */
  stage?: string;
  insert?: string;
  /** Files: the source query of the object keys the rows name. */
  files?: string;
}

const PEOPLE = 'legacy_user_id, username, given_name, family_name, email, phone, status, created_at, last_login_at, org_code, source_system';
const USERS_SELECT = (extra: string) => `
  select user_id, login,
         split_part(full_name, ' ', 1),
         nullif(substr(full_name, length(split_part(full_name, ' ', 1)) + 2), ''),
         lower(email), phone,
         case status_code when 'A' then 'active' when 'I' then 'inactive' when 'S' then 'suspended' end,
         to_timestamp(created_epoch), to_timestamp(last_login_epoch), org_code, 'legacy-lms'${extra}
  from legacy_users`;

/** examples/lms-users.plan.yaml by hand. */
export const USERS_STEPS: HandStep[] = [{ entity: 'users', table: 'people', select: USERS_SELECT(''), columns: PEOPLE }];

/** examples/lms.plan.yaml by hand, in dependency order. */
export const LMS_STEPS: HandStep[] = [
  { entity: 'org_units', table: 'org_units', select: 'select org_id, org_code, org_name from legacy_org_units', columns: 'legacy_org_id, code, name' },
  {
    entity: 'users',
    table: 'people',
    select: USERS_SELECT(', org_id'),
    stage: 'legacy_user_id int, username text, given_name text, family_name text, email text, phone text, status person_status, created_at timestamptz, last_login_at timestamptz, org_code text, source_system text, org_id int',
    insert: `insert into people (${PEOPLE}, org_unit_id)
             select s.legacy_user_id, s.username, s.given_name, s.family_name, s.email, s.phone, s.status, s.created_at, s.last_login_at, s.org_code, s.source_system, o.id
             from s left join org_units o on o.legacy_org_id = s.org_id
             where s.org_id is null or o.id is not null`,
  },
  { entity: 'courses', table: 'courses', select: 'select course_id, course_code, title, to_timestamp(created_epoch) from legacy_courses', columns: 'legacy_course_id, code, title, created_at' },
  {
    entity: 'course_packages',
    table: 'course_packages',
    select: 'select package_id, course_id, file_key from legacy_course_packages',
    stage: 'legacy_package_id int, course_id int, file_key text',
    insert: 'insert into course_packages (legacy_package_id, course_id, file_key) select s.legacy_package_id, c.id, s.file_key from s join courses c on c.legacy_course_id = s.course_id',
    files: 'select file_key from legacy_course_packages',
  },
  {
    entity: 'attachments',
    table: 'attachments',
    select: 'select attachment_id, course_id, file_key from legacy_attachments',
    stage: 'legacy_attachment_id int, course_id int, file_key text',
    insert: 'insert into attachments (legacy_attachment_id, course_id, file_key) select s.legacy_attachment_id, c.id, s.file_key from s join courses c on c.legacy_course_id = s.course_id',
    files: 'select file_key from legacy_attachments',
  },
  {
    entity: 'enrollments',
    table: 'enrollments',
    select: `select enrollment_id, user_id, course_id,
                    case status_code when 'E' then 'enrolled' when 'C' then 'completed' when 'W' then 'withdrawn' end,
                    to_timestamp(enrolled_epoch), to_timestamp(completed_epoch)
             from legacy_enrollments`,
    stage: 'legacy_enrollment_id int, user_id int, course_id int, status enrollment_status, enrolled_at timestamptz, completed_at timestamptz',
    insert: `insert into enrollments (legacy_enrollment_id, person_id, course_id, status, enrolled_at, completed_at)
             select s.legacy_enrollment_id, p.id, c.id, s.status, s.enrolled_at, s.completed_at
             from s join people p on p.legacy_user_id = s.user_id join courses c on c.legacy_course_id = s.course_id`,
  },
  {
    entity: 'assessment_results',
    table: 'assessment_results',
    select: "select result_id, enrollment_id, score, passed = 'Y', to_timestamp(taken_epoch) from legacy_results",
    stage: 'legacy_result_id int, enrollment_id int, score int, passed boolean, taken_at timestamptz',
    insert: `insert into assessment_results (legacy_result_id, enrollment_id, score, passed, taken_at)
             select s.legacy_result_id, e.id, s.score, s.passed, s.taken_at from s join enrollments e on e.legacy_enrollment_id = s.enrollment_id`,
  },
  {
    entity: 'certificates',
    table: 'certificates',
    select: 'select certificate_id, enrollment_id, file_key from legacy_certificates',
    stage: 'legacy_certificate_id int, enrollment_id int, file_key text',
    insert: 'insert into certificates (legacy_certificate_id, enrollment_id, file_key) select s.legacy_certificate_id, e.id, s.file_key from s join enrollments e on e.legacy_enrollment_id = s.enrollment_id',
    files: 'select file_key from legacy_certificates',
  },
  { entity: 'xapi_statements', table: 'xapi_statements', select: 'select statement_id, statement, to_timestamp(stored_epoch) from legacy_xapi', columns: 'legacy_statement_id, statement, stored_at' },
];

const oneLine = (sql: string) => sql.replace(/\s+/g, ' ').trim();

/** psql's arguments and environment for a URL, the password in PGPASSWORD rather than on the command line. */
function psqlArgs(url: string): { args: string[]; env: NodeJS.ProcessEnv } {
  const u = new URL(url);
  const password = decodeURIComponent(u.password);
  u.password = '';
  return { args: ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', u.toString()], env: { ...process.env, PGPASSWORD: password } };
}

/** `psql source -c "\copy (select) to pstdout" | psql target <commands>`; rejects with both stderrs when either fails. */
function copyPipe(sourceUrl: string, select: string, targetUrl: string, targetCommands: string[]): Promise<void> {
  const src = psqlArgs(sourceUrl);
  const dst = psqlArgs(targetUrl);
  const out = spawn('psql', [...src.args, '-c', `\\copy (${oneLine(select)}) to pstdout`], { env: src.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const into = spawn('psql', [...dst.args, ...targetCommands.flatMap((c) => ['-c', oneLine(c)])], { env: dst.env, stdio: ['pipe', 'ignore', 'pipe'] });
  into.stdin!.on('error', () => undefined); // EPIPE when the target side fails first: its stderr says why
  out.stdout!.pipe(into.stdin!);
  let errors = '';
  out.stderr!.on('data', (d: Buffer) => (errors += String(d)));
  into.stderr!.on('data', (d: Buffer) => (errors += String(d)));
  const done = (p: ReturnType<typeof spawn>) => new Promise<number | null>((resolve, reject) => p.once('error', reject).once('exit', (code) => resolve(code)));
  return Promise.all([done(out), done(into)]).then(([a, b]) => {
    if (a !== 0 || b !== 0) throw new Error(`psql failed (source ${a}, target ${b}): ${errors.trim()}`);
  });
}

/** Copies one entity's rows. */
export function copyStep(step: HandStep, sourceUrl: string, targetUrl: string): Promise<void> {
  if (step.columns) return copyPipe(sourceUrl, step.select, targetUrl, [`\\copy ${step.table} (${step.columns}) from pstdin`]);
  return copyPipe(sourceUrl, step.select, targetUrl, [`create temp table s (${step.stage})`, '\\copy s from pstdin', step.insert!]);
}

/** Copies the objects a file entity's rows name, bucket to bucket (CopyObject), `concurrency` at a time; returns how many. */
export async function copyFiles(step: HandStep, sourceUrl: string, s3: S3Client, from: string, to: string, concurrency = 16): Promise<number> {
  const db = new Client({ connectionString: sourceUrl });
  await db.connect();
  let keys: string[];
  try {
    keys = (await db.query<{ file_key: string }>(step.files!)).rows.map((r) => r.file_key);
  } finally {
    await db.end();
  }
  let next = 0;
  const lane = async () => {
    for (let i = next++; i < keys.length; i = next++) {
      const key = keys[i]!;
      await s3.send(new CopyObjectCommand({ Bucket: to, Key: key, CopySource: `${from}/${key.split('/').map(encodeURIComponent).join('/')}` }));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return keys.length;
}

export interface HandTimes {
  /** Seconds per step, rows and files apart, in order. */
  steps: { entity: string; rowsSeconds: number; filesSeconds?: number; files?: number }[];
}

/** Runs the steps in order (rows, then the step's files); returns each step's time. */
export async function runHandWritten(steps: HandStep[], o: { sourceUrl: string; targetUrl: string; s3: S3Client; sourceBucket?: string; targetBucket?: string }): Promise<HandTimes> {
  const times: HandTimes = { steps: [] };
  const since = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e9;
  for (const step of steps) {
    try {
      const t0 = process.hrtime.bigint();
      await copyStep(step, o.sourceUrl, o.targetUrl);
      const done: HandTimes['steps'][number] = { entity: step.entity, rowsSeconds: since(t0) };
      if (step.files) {
        const t1 = process.hrtime.bigint();
        done.files = await copyFiles(step, o.sourceUrl, o.s3, o.sourceBucket!, o.targetBucket!);
        done.filesSeconds = since(t1);
      }
      times.steps.push(done);
    } catch (err) {
      throw new Error(`hand-written ${step.entity}: ${(err as Error).message}`, { cause: err });
    }
  }
  return times;
}
