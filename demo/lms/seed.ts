import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CreateBucketCommand, HeadBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Client } from 'pg';
import { certificatePdf, scormPackage } from './files';
import { prng } from '../shared/prng';

const FIRST = ['Amelia', 'Oliver', 'Isla', 'George', 'Ava', 'Noah', 'Mia', 'Arthur', 'Ivy', 'Leo', 'Freya', 'Oscar', 'Lily', 'Theo', 'Rosie', 'Harry', 'Sofia', 'Jack', 'Grace', 'Charlie', 'Willow', 'Finn', 'Ella', 'Mateo', 'Aisha', 'Yusuf', 'Chloe', 'Lucas', 'Zara', 'Hugo', 'Nora', 'Elias', 'Maya', 'Felix', 'Layla', 'Jonas', 'Emma', 'Liam', 'Hanna', 'Ravi', 'Priya', 'Kenji', 'Yuki', 'Diego', 'Lucia', 'Omar', 'Fatima', 'Sven', 'Ingrid', 'Pierre'];
const LAST = ['Smith', 'Jones', 'Taylor', 'Brown', 'Williams', 'Wilson', 'Johnson', 'Davies', 'Patel', 'Robinson', 'Wright', 'Thompson', 'Evans', 'Walker', 'White', 'Roberts', 'Green', 'Hall', 'Wood', 'Jackson', 'Clarke', 'Müller', 'Schmidt', 'García', 'Martínez', 'Rossi', 'Bianchi', 'Dubois', 'Lefebvre', 'Nakamura', 'Tanaka', 'Kowalski', 'Nowak', 'Jensen', 'Hansen', 'de Vries', 'van Dijk', 'Okafor', 'Mensah', 'Singh'];
const DOMAINS = ['example.edu', 'learners.example.org', 'mail.example.com', 'staff.example.edu'];
const ORGS = ['ENG', 'SALES', 'OPS', 'HR', 'FIN', 'LEGAL', 'SUPPORT', 'RND'];
const STATUS = ['A', 'A', 'A', 'A', 'A', 'A', 'I', 'I', 'S'];

export interface SeedOptions {
  /** Source database, through a role that can create tables (not the read-only one). */
  sourceUrl: string;
  /** Target database; its schema is created if missing. */
  targetUrl?: string;
  users: number;
  /** Share of rows made bad on purpose: half with an unknown status code, half without an email. */
  badRatio?: number;
  seed?: number;
  /** The whole LMS (courses, 4 enrollments per user, results, 10 xAPI statements per user), not only users. */
  full?: boolean;
  /** Share of enrollments that name a user who does not exist (orphans). */
  orphanRatio?: number;
  /** Drop the demo's target tables and the ledger schema first, for a clean start. */
  resetTarget?: boolean;
  /** Files (with `full`): a SCORM package per course and certificates, in the source bucket. */
  files?: { s3: S3Client; sourceBucket: string; targetBucket: string; certificates?: number; largePackages?: number };
}

export interface SeedResult {
  users: number;
  badStatus: number;
  missingEmail: number;
  orgUnits: number;
  courses: number;
  enrollments: number;
  orphanEnrollments: number;
  results: number;
  statements: number;
  packages: number;
  certificates: number;
  attachments: number;
}

const ORG_UNITS = 50;

async function insertColumns(db: Client, table: string, columns: string[], types: string[], values: unknown[][]): Promise<void> {
  const casts = types.map((t, i) => `$${i + 1}::${t}[]`).join(', ');
  await db.query(`insert into ${table} (${columns.join(', ')}) select * from unnest(${casts})`, values);
}

/** Creates the legacy source (and the target schema) and fills it with realistic fake people. */
export async function seedLms(o: SeedOptions): Promise<SeedResult> {
  const rand = prng(o.seed ?? 42);
  const pick = <T>(list: readonly T[]) => list[Math.floor(rand() * list.length)]!;
  const source = new Client({ connectionString: o.sourceUrl });
  await source.connect();
  const result: SeedResult = { users: o.users, badStatus: 0, missingEmail: 0, orgUnits: ORG_UNITS, courses: 0, enrollments: 0, orphanEnrollments: 0, results: 0, statements: 0, packages: 0, certificates: 0, attachments: 0 };
  const people: { email: string | null; name: string; created: number }[] = [];
  try {
    await source.query(readFileSync(join(__dirname, 'source.sql'), 'utf8'));
    const orgs: unknown[][] = [[], [], []];
    for (let id = 1; id <= ORG_UNITS; id++) {
      orgs[0]!.push(id);
      orgs[1]!.push(`${pick(ORGS)}-${id}`);
      orgs[2]!.push(`${pick(['Northern', 'Southern', 'Central', 'Eastern', 'Western'])} ${pick(['Operations', 'Engineering', 'Sales', 'Support', 'Finance'])} ${id}`);
    }
    await insertColumns(source, 'legacy_org_units', ['org_id', 'org_code', 'org_name'], ['int', 'text', 'text'], orgs);
    const badEvery = o.badRatio ? Math.max(1, Math.round(1 / o.badRatio)) : 0;
    const chunk = 10_000;
    for (let start = 1; start <= o.users; start += chunk) {
      const cols: unknown[][] = [[], [], [], [], [], [], [], [], [], []];
      for (let id = start; id < Math.min(start + chunk, o.users + 1); id++) {
        const first = pick(FIRST);
        const last = pick(LAST);
        const middle = rand() < 0.1 ? ` ${pick(FIRST)}` : '';
        const created = 1_262_304_000 + Math.floor(rand() * 470_000_000); // 2010..2024
        const bad = badEvery > 0 && id % badEvery === 0;
        const badKind = bad ? (result.badStatus <= result.missingEmail ? 'status' : 'email') : undefined;
        if (badKind === 'status') result.badStatus++;
        if (badKind === 'email') result.missingEmail++;
        const login = `${first[0]}${last.replace(/[^A-Za-z]/g, '')}${id}`.toLowerCase();
        cols[0]!.push(id);
        cols[1]!.push(login);
        cols[2]!.push(`${first}${middle} ${last}`);
        cols[3]!.push(badKind === 'email' ? null : `${first}.${last.replace(/[^A-Za-z]/g, '')}${id}@${pick(DOMAINS)}`.replace(/^./, (c) => (rand() < 0.3 ? c.toUpperCase() : c.toLowerCase())));
        cols[4]!.push(rand() < 0.85 ? `+1-555-${String(Math.floor(rand() * 10_000_000)).padStart(7, '0')}` : null);
        cols[5]!.push(badKind === 'status' ? 'X' : pick(STATUS));
        cols[6]!.push(created);
        cols[7]!.push(rand() < 0.8 ? created + Math.floor(rand() * 60_000_000) : null);
        cols[8]!.push(rand() < 0.95 ? pick(ORGS) : null);
        cols[9]!.push(rand() < 0.9 ? 1 + Math.floor(rand() * ORG_UNITS) : null);
        if (o.full) people.push({ email: cols[3]![cols[3]!.length - 1] as string | null, name: cols[2]![cols[2]!.length - 1] as string, created });
      }
      await insertColumns(
        source,
        'legacy_users',
        ['user_id', 'login', 'full_name', 'email', 'phone', 'status_code', 'created_epoch', 'last_login_epoch', 'org_code', 'org_id'],
        ['int', 'text', 'text', 'text', 'text', 'text', 'bigint', 'bigint', 'text', 'int'],
        cols,
      );
    }
    if (o.full) await seedLearning(source, o, rand, pick, people, result);
    await source.query('analyze');
  } finally {
    await source.end();
  }
  if (o.targetUrl) {
    const target = new Client({ connectionString: o.targetUrl });
    await target.connect();
    try {
      if (o.resetTarget) await target.query('drop table if exists attachments, certificates, course_packages, xapi_statements, assessment_results, enrollments, courses, people, org_units cascade; drop schema if exists cutover cascade');
      await target.query(readFileSync(join(__dirname, 'target.sql'), 'utf8'));
    } finally {
      await target.end();
    }
  }
  return result;
}

/** Courses, enrollments, results and xAPI statements for the users just seeded. */
async function seedLearning(
  source: Client,
  o: SeedOptions,
  rand: () => number,
  pick: <T>(list: readonly T[]) => T,
  people: { email: string | null; name: string; created: number }[],
  result: SeedResult,
): Promise<void> {
  const courses = Math.max(10, Math.ceil(o.users / 100));
  result.courses = courses;
  const courseCols: unknown[][] = [[], [], [], []];
  const SUBJECTS = ['Safety', 'Compliance', 'Onboarding', 'Leadership', 'Data Privacy', 'Customer Care', 'First Aid', 'Security Awareness'];
  for (let id = 1; id <= courses; id++) {
    courseCols[0]!.push(id);
    courseCols[1]!.push(`C-${String(id).padStart(5, '0')}`);
    courseCols[2]!.push(`${pick(SUBJECTS)} ${1 + Math.floor(rand() * 4)}${rand() < 0.5 ? '01' : '02'}`);
    courseCols[3]!.push(1_262_304_000 + Math.floor(rand() * 300_000_000));
  }
  await insertColumns(source, 'legacy_courses', ['course_id', 'course_code', 'title', 'created_epoch'], ['int', 'text', 'text', 'bigint'], courseCols);

  const orphanEvery = o.orphanRatio ? Math.max(1, Math.round(1 / o.orphanRatio)) : 0;
  const enrollments = o.users * 4;
  const completed: { enrollment: number; at: number }[] = [];
  for (let start = 1; start <= enrollments; start += 20_000) {
    const cols: unknown[][] = [[], [], [], [], [], []];
    for (let id = start; id < Math.min(start + 20_000, enrollments + 1); id++) {
      const user = 1 + Math.floor(rand() * o.users);
      const orphan = orphanEvery > 0 && id % orphanEvery === 0;
      if (orphan) result.orphanEnrollments++;
      const enrolled = people[user - 1]!.created + Math.floor(rand() * 50_000_000);
      const status = pick(['E', 'C', 'C', 'W']);
      const done = status === 'C' ? enrolled + Math.floor(rand() * 5_000_000) : null;
      if (done !== null && !orphan) completed.push({ enrollment: id, at: done });
      cols[0]!.push(id);
      cols[1]!.push(orphan ? o.users + 1_000_000 + id : user);
      cols[2]!.push(1 + Math.floor(rand() * courses));
      cols[3]!.push(status);
      cols[4]!.push(enrolled);
      cols[5]!.push(done);
    }
    await insertColumns(source, 'legacy_enrollments', ['enrollment_id', 'user_id', 'course_id', 'status_code', 'enrolled_epoch', 'completed_epoch'], ['int', 'int', 'int', 'text', 'bigint', 'bigint'], cols);
  }
  result.enrollments = enrollments;

  for (let start = 0; start < completed.length; start += 20_000) {
    const cols: unknown[][] = [[], [], [], [], []];
    completed.slice(start, start + 20_000).forEach((c, i) => {
      const score = Math.floor(rand() * 101);
      cols[0]!.push(start + i + 1);
      cols[1]!.push(c.enrollment);
      cols[2]!.push(score);
      cols[3]!.push(score >= 60 ? 'Y' : 'N');
      cols[4]!.push(c.at);
    });
    await insertColumns(source, 'legacy_results', ['result_id', 'enrollment_id', 'score', 'passed', 'taken_epoch'], ['int', 'int', 'int', 'text', 'bigint'], cols);
  }
  result.results = completed.length;

  const VERBS = ['launched', 'attempted', 'progressed', 'completed', 'passed', 'failed'];
  const statements = o.users * 10;
  for (let start = 1; start <= statements; start += 20_000) {
    const cols: unknown[][] = [[], [], []];
    for (let id = start; id < Math.min(start + 20_000, statements + 1); id++) {
      const person = people[Math.floor(rand() * people.length)]!;
      const verb = pick(VERBS);
      const stored = person.created + Math.floor(rand() * 60_000_000);
      const statement = {
        actor: { objectType: 'Agent', name: person.name, mbox: `mailto:${person.email ?? `unknown${id}@example.org`}` },
        verb: { id: `http://adlnet.gov/expapi/verbs/${verb}`, display: { 'en-US': verb } },
        object: { objectType: 'Activity', id: `https://lms.example.org/courses/C-${String(1 + Math.floor(rand() * courses)).padStart(5, '0')}` },
        timestamp: new Date(stored * 1000).toISOString(),
      };
      cols[0]!.push(id);
      cols[1]!.push(JSON.stringify(statement));
      cols[2]!.push(stored);
    }
    await insertColumns(source, 'legacy_xapi', ['statement_id', 'statement', 'stored_epoch'], ['int', 'text', 'bigint'], cols);
  }
  result.statements = statements;
  if (o.files) await seedFiles(source, o, rand, pick, people, completed, courseCols, result);
}

/** One SCORM package per course (a few over the multipart threshold) and certificates as PDFs. */
async function seedFiles(
  source: Client,
  o: SeedOptions,
  rand: () => number,
  pick: <T>(list: readonly T[]) => T,
  people: { email: string | null; name: string; created: number }[],
  completed: { enrollment: number; at: number }[],
  courseCols: unknown[][],
  result: SeedResult,
): Promise<void> {
  const { s3, sourceBucket, targetBucket } = o.files!;
  for (const bucket of [sourceBucket, targetBucket]) {
    await s3.send(new HeadBucketCommand({ Bucket: bucket })).catch(() => s3.send(new CreateBucketCommand({ Bucket: bucket })));
  }
  const fill = (n: number) => {
    const out = Buffer.alloc(n);
    for (let i = 0; i + 4 <= n; i += 4) out.writeUInt32LE((Math.floor(rand() * 0xffffffff) ^ i) >>> 0, i);
    return out;
  };
  const uploads: { key: string; body: () => Buffer }[] = [];
  const packages: unknown[][] = [[], [], []];
  const large = o.files!.largePackages ?? 3;
  courseCols[0]!.forEach((id, i) => {
    const code = courseCols[1]![i] as string;
    const title = courseCols[2]![i] as string;
    const key = `packages/${code}.zip`;
    packages[0]!.push(id);
    packages[1]!.push(id);
    packages[2]!.push(key);
    const size = i < large ? 10 * 1024 * 1024 + 12_345 : 2_000 + Math.floor(rand() * 20_000);
    uploads.push({ key, body: () => scormPackage(code, title, size, fill) });
  });
  await insertColumns(source, 'legacy_course_packages', ['package_id', 'course_id', 'file_key'], ['int', 'int', 'text'], packages);
  // A syllabus handout per course.
  const attachments: unknown[][] = [[], [], []];
  courseCols[0]!.forEach((id, i) => {
    const key = `attachments/${courseCols[1]![i] as string}/syllabus.pdf`;
    attachments[0]!.push(id);
    attachments[1]!.push(id);
    attachments[2]!.push(key);
    uploads.push({ key, body: () => certificatePdf('Syllabus', courseCols[2]![i] as string) });
  });
  await insertColumns(source, 'legacy_attachments', ['attachment_id', 'course_id', 'file_key'], ['int', 'int', 'text'], attachments);
  result.attachments = attachments[0]!.length;
  const certificates: unknown[][] = [[], [], []];
  const count = Math.min(o.files!.certificates ?? 300, completed.length);
  for (let i = 0; i < count; i++) {
    const c = completed[Math.floor((i * completed.length) / count)]!;
    const key = `certificates/${String(i + 1).padStart(6, '0')}.pdf`;
    certificates[0]!.push(i + 1);
    certificates[1]!.push(c.enrollment);
    certificates[2]!.push(key);
    const person = pick(people);
    uploads.push({ key, body: () => certificatePdf(person.name, `Course ${c.enrollment % 97}`) });
  }
  await insertColumns(source, 'legacy_certificates', ['certificate_id', 'enrollment_id', 'file_key'], ['int', 'int', 'text'], certificates);
  for (let i = 0; i < uploads.length; i += 8) {
    await Promise.all(uploads.slice(i, i + 8).map((u) => s3.send(new PutObjectCommand({ Bucket: sourceBucket, Key: u.key, Body: u.body() }))));
  }
  result.packages = packages[0]!.length;
  result.certificates = count;
}
