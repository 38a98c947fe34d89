import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { prng } from '../shared/prng';

/**
 * The Moodle demo: a mature Moodle site (demo/moodle/source.sql) with the dirt real sites carry,
 * a modern target (demo/moodle/target.sql) holding a pilot's rows, and, computed while the rows
 * are generated, the exact outcome examples/moodle.plan.yaml must produce: per entity, the rows
 * it loads, the rows each named skip filter skips, and every quarantined source key with its
 * reason.
 *
 * How the plan treats each kind of source row (the reasons in `expected`):
 * - the guest user and soft-deleted users (deleted = 1): skipped by `guest` / `soft_deleted`;
 *   the site course (format 'site'): skipped by `site_course`; teacher previews of a quiz:
 *   `teacher_preview`; course-total grades (itemtype 'course', no item name): `course_total`.
 * - a user whose email the target's CHECK refuses ('', no '@', 'name@localhost'): check_violation.
 * - a user whose country is an alpha-3 code ('GBR': char(2) cannot hold it) or whose last IP is
 *   a proxy chain ('10.1.2.3, 172.16.0.9': not an inet): conversion_failed.
 * - the enrolments, attempts, grades and badges of a quarantined user: parent_quarantined.
 * - an enrolment whose user does not exist: orphan_reference. A leftover enrolment (and its
 *   attempts) of a soft-deleted user: the user is skipped, never loaded, so the reference finds
 *   no learner either; `expected` counts it as orphan_reference too.
 * - a grade whose grade item does not exist, a badge award whose badge was deleted: the plan's
 *   query LEFT JOINs the item (an inner join would drop the row without a trace), so the course
 *   and item name (or the badge name), both in the business key, are NULL: missing_business_key.
 *
 * Bad rows stay a small share of every entity (the plan aborts past 2 %): about 1 % of learners
 * and, through them, of each child entity, plus a few orphans: under 1.5 % everywhere from 500
 * users up. Below that the fixed minimums (2 'GBR' countries, 2 malformed emails, 2 orphans, ...)
 * weigh more (up to 2.1 % at 400 users, some seeds); `ratios` has the figures of a run.
 */

export const MOODLE_ENTITIES = ['categories', 'learners', 'courses', 'enrolments', 'quiz_attempts', 'grades', 'badges_issued'] as const;
export type MoodleEntity = (typeof MOODLE_ENTITIES)[number];

export type QuarantineReason = 'conversion_failed' | 'check_violation' | 'orphan_reference' | 'parent_quarantined' | 'missing_business_key';

export interface EntityExpectation {
  /** Rows the migration loads into the target table (the pilot's rows come on top). */
  rows: number;
  /** Rows skipped, by the name of the plan's skip filter (every filter of the entity, 0 included). */
  skipped: Record<string, number>;
  /** Quarantined rows: source key (as text) -> reason. */
  quarantined: Record<string, QuarantineReason>;
}

export interface MoodleSeedOptions {
  /** Source database, through a role that can create tables (not the read-only one). */
  sourceUrl: string;
  /** Target database (its own: the table `courses` would clash with demo/lms); schema and pilot rows are created if missing. */
  targetUrl?: string;
  /** Rows of mdl_user, the guest (id 1) and the admin (id 2) included. At least 50; 500 or more keeps every entity under the plan's 2 % abort ratio. */
  users: number;
  seed?: number;
  /** Drop the demo's target tables, its enum types and the ledger schema `cutover` first, for a clean start. */
  resetTarget?: boolean;
}

export interface MoodleSeedResult {
  users: number;
  /** Rows written to each source table. */
  source: Record<string, number>;
  /** Rows the pilot holds in the target before the migration (ids 1..n, legacy_id NULL). */
  pilot: { categories: number; learners: number };
  /** What examples/moodle.plan.yaml must do with this source. */
  expected: Record<MoodleEntity, EntityExpectation>;
  /** Quarantined share of each entity: quarantined / (rows read - rows skipped). */
  ratios: Record<MoodleEntity, number>;
}

const DAY = 86_400;
const T0 = 1_420_070_400; // 2015-01-01: the site went live
const NOW = 1_735_689_600; // 2025-01-01: the fixed "now" of the demo (the data never depends on the clock)
const CATEGORIES = 40;
const COURSES = 30; // ids 2..31; course 1 is the site
const PILOT = { categories: 3, learners: 5 };

const FIRST = ['Amelia', 'Oliver', 'Isla', 'George', 'Ava', 'Noah', 'Mia', 'Arthur', 'Ivy', 'Leo', 'Freya', 'Oscar', 'Lily', 'Theo', 'Rosie', 'Harry', 'Sofia', 'Jack', 'Grace', 'Charlie', 'Willow', 'Finn', 'Ella', 'Mateo', 'Aisha', 'Yusuf', 'Chloe', 'Lucas', 'Zara', 'Hugo', 'Nora', 'Elias', 'Maya', 'Felix', 'Layla', 'Jonas', 'Emma', 'Liam', 'Hanna', 'Ravi', 'Priya', 'Kenji', 'Yuki', 'Diego', 'Lucía', 'Omar', 'Fatima', 'Sven', 'Ingrid', 'Zoë'];
const LAST = ['Smith', 'Jones', 'Taylor', 'Brown', 'Williams', 'Wilson', 'Johnson', 'Davies', 'Patel', 'Robinson', 'Wright', 'Thompson', 'Evans', 'Walker', 'White', 'Roberts', 'Green', 'Hall', 'Wood', 'Jackson', 'Clarke', 'Müller', 'Schmidt', 'García', 'Martínez', 'Rossi', 'Bianchi', 'Dubois', 'Lefebvre', 'Nakamura', 'Tanaka', 'Kowalski', 'Nowak', 'Jensen', 'Hansen', 'de Vries', 'van Dijk', 'Okafor', 'Mensah', "O'Brien"];
const DOMAINS = ['northfield.example.edu', 'students.northfield.example.edu', 'mail.example.com', 'partner.example.org'];
const CITIES = ['Leeds', 'York', 'Manchester', 'Berlin', 'Lyon', 'Madrid', 'Bologna', 'Utrecht', 'Kraków', 'Lagos', 'Pune', 'Osaka', 'Porto', 'Boston'];
const COUNTRIES = ['GB', 'GB', 'GB', 'DE', 'FR', 'ES', 'IT', 'NL', 'PL', 'NG', 'IN', 'JP', 'PT', 'US'];
const MALFORMED = [() => '', (u: string) => u, (u: string) => `${u}@localhost`];
const BAD_IP = '10.1.2.3, 172.16.0.9'; // a proxy chain Moodle once stored whole: not an inet

const TOP = ['Faculty of Engineering', 'Faculty of Health', 'Business School', 'Staff Development', 'Continuing Education'];
const DEPARTMENTS = ['Civil Engineering', 'Computing', 'Nursing', 'Physiotherapy', 'Accounting', 'Marketing', 'Induction', 'Compliance', 'Languages', 'Short Courses', 'Mechanical Engineering', 'Midwifery'];
const LEVEL3 = ['Year 1', 'Year 2', 'Year 3', 'Postgraduate', 'Apprenticeships'];
const LEVEL4 = ['2023/24', '2024/25', 'Archive'];
const SUBJECTS = ['Statics', 'Fluid Mechanics', 'Programming', 'Databases', 'Anatomy', 'Clinical Skills', 'Financial Reporting', 'Digital Marketing', 'Data Protection', 'Fire Safety', 'Spanish', 'Academic Writing', 'Project Management', 'Ethics', 'Statistics'];
const QUIZZES = ['Week 1 check', 'Midterm quiz', 'Final exam', 'Practice quiz', 'Safety quiz'];

async function insertColumns(db: Client, table: string, columns: string[], types: string[], rows: unknown[][]): Promise<void> {
  const casts = types.map((t, i) => `$${i + 1}::${t}[]`).join(', ');
  for (let start = 0; start < rows.length; start += 20_000) {
    const slice = rows.slice(start, start + 20_000);
    const arrays = columns.map((_, c) => slice.map((r) => r[c] ?? null));
    await db.query(`insert into ${table} (${columns.join(', ')}) select * from unnest(${casts})`, arrays);
  }
}

type UserKind = 'guest' | 'admin' | 'normal' | 'deleted' | 'suspended' | 'malformed' | 'gbr' | 'bad_ip' | 'mnet';
/** What the plan does with a user: loaded, quarantined, skipped by a filter. */
type UserFate = 'loaded' | 'quarantined' | 'skipped';

interface User {
  id: number;
  kind: UserKind;
  fate: UserFate;
  created: number;
  /** Never logged in (lastlogin 0): no quiz attempts, no badges. */
  never: boolean;
  row: unknown[];
}

/** Creates the Moodle source (and the target schema with its pilot rows) and returns what the migration must do. */
export async function seedMoodle(o: MoodleSeedOptions): Promise<MoodleSeedResult> {
  if (!Number.isInteger(o.users) || o.users < 50) throw new Error('seedMoodle: users must be an integer of at least 50');
  const rand = prng(o.seed ?? 42);
  const pick = <T>(list: readonly T[]) => list[Math.floor(rand() * list.length)]!;
  const between = (lo: number, hi: number) => lo + Math.floor(rand() * Math.max(1, hi - lo));
  const hex = (n: number) => Array.from({ length: n }, () => Math.floor(rand() * 16).toString(16)).join('');
  const shuffle = <T>(list: T[]) => {
    for (let i = list.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [list[i], list[j]] = [list[j]!, list[i]!];
    }
    return list;
  };

  const expected = Object.fromEntries(MOODLE_ENTITIES.map((e) => [e, { rows: 0, skipped: {}, quarantined: {} }])) as Record<MoodleEntity, EntityExpectation>;
  expected.learners.skipped = { guest: 0, soft_deleted: 0 };
  expected.courses.skipped = { site_course: 0 };
  expected.quiz_attempts.skipped = { teacher_preview: 0 };
  expected.grades.skipped = { course_total: 0 };
  const quarantine = (entity: MoodleEntity, key: number, reason: QuarantineReason) => {
    expected[entity].quarantined[String(key)] = reason;
  };
  /** A child row of a user: loaded, or quarantined for its user's sake. */
  const childOf = (entity: MoodleEntity, key: number, user: User | undefined) => {
    if (user === undefined || user.fate === 'skipped') quarantine(entity, key, 'orphan_reference');
    else if (user.fate === 'quarantined') quarantine(entity, key, 'parent_quarantined');
    else expected[entity].rows++;
  };

  // Categories: a tree four levels deep, its ids a permutation of 1..40 (not in tree order).
  const levels = [TOP.length, 12, 15, CATEGORIES - TOP.length - 12 - 15];
  const nodes: { level: number; parent: number; name: string; code: string }[] = [];
  levels.forEach((count, level) => {
    const above = nodes.map((n, i) => ({ n, i })).filter(({ n }) => n.level === level - 1);
    for (let k = 0; k < count; k++) {
      const parent = level === 0 ? -1 : above[k % above.length]!.i;
      const name = level === 0 ? TOP[k]! : level === 1 ? DEPARTMENTS[k % DEPARTMENTS.length]! : level === 2 ? pick(LEVEL3) : pick(LEVEL4);
      const code = rand() < 0.4 ? '' : `${name.replace(/[^A-Za-z0-9]/g, '').slice(0, 4).toUpperCase()}-${nodes.length + 1}`;
      nodes.push({ level, parent, name, code });
    }
  });
  let ids: number[];
  for (;;) {
    ids = shuffle(Array.from({ length: CATEGORIES }, (_, i) => i + 1));
    const inverted = nodes.filter((n) => n.parent >= 0 && ids[n.parent]! > ids[nodes.indexOf(n)]!).length;
    // At least three children below their parent's id, one of them deeper than the first level.
    if (inverted >= 3 && nodes.some((n, i) => n.level >= 2 && ids[n.parent]! > ids[i]!)) break;
  }
  const pathOf = (i: number): number[] => (nodes[i]!.parent < 0 ? [ids[i]!] : [...pathOf(nodes[i]!.parent), ids[i]!]);
  const categoryRows = nodes.map((n, i) => [ids[i]!, n.name, n.code, n.parent < 0 ? 0 : ids[n.parent]!, 10_000 * (i + 1), n.level + 1, `/${pathOf(i).join('/')}`, between(T0, NOW)]);
  expected.categories.rows = CATEGORIES;
  const courseCategories = nodes.map((n, i) => ({ n, id: ids[i]! })).filter(({ n }) => n.level >= 1).map(({ id }) => id);

  // Courses: 1 is the site; 2..31 live in categories below the top level.
  const courseRows: unknown[][] = [[1, 0, 'Northfield College Learning', 'NCL', '', 'site', 0, 0, 1, T0]];
  expected.courses.skipped.site_course = 1;
  const courses: { id: number; start: number; quizzes: { id: number; name: string; grade: number; item: number }[]; items: { id: number; type: string; quiz?: number }[]; enrol: Record<string, number>; badge?: number }[] = [];
  for (let id = 2; id <= COURSES + 1; id++) {
    const subject = SUBJECTS[(id - 2) % SUBJECTS.length]!;
    const code = `${subject.replace(/[^A-Za-z]/g, '').slice(0, 3).toUpperCase()}${100 + id}`;
    const start = between(T0, NOW - 120 * DAY);
    courseRows.push([id, pick(courseCategories), `${subject} ${id <= 16 ? 'I' : 'II'}`, code, rand() < 0.5 ? '' : `C-${code}`, pick(['topics', 'weeks']), start, rand() < 0.3 ? 0 : start + 120 * DAY, rand() < 0.85 ? 1 : 0, start - between(5, 60) * DAY]);
    courses.push({ id, start, quizzes: [], items: [], enrol: {} });
    expected.courses.rows++;
  }

  // Enrolment instances: manual everywhere, self in some courses (one of them disabled), guest in a few.
  const enrolRows: unknown[][] = [];
  let disabledSelf = false;
  for (const c of courses) {
    const add = (method: string, status: number) => {
      enrolRows.push([enrolRows.length + 1, method, c.id, status]);
      c.enrol[method] = enrolRows.length;
    };
    add('manual', 0);
    if (rand() < 0.6) {
      add('self', disabledSelf ? 0 : 1);
      disabledSelf = true;
    }
    if (rand() < 0.3) add('guest', 1);
  }

  // Quizzes and grade items: a 'mod' item per quiz, a manual 'Participation', the course total.
  const quizRows: unknown[][] = [];
  const itemRows: unknown[][] = [];
  for (const c of courses) {
    const names = shuffle([...QUIZZES]).slice(0, rand() < 0.5 ? 1 : 2);
    for (const name of names) {
      const grade = pick([10, 20, 100]);
      quizRows.push([quizRows.length + 1, c.id, name, grade.toFixed(5)]);
      itemRows.push([itemRows.length + 1, c.id, name, 'mod', grade.toFixed(5)]);
      c.quizzes.push({ id: quizRows.length, name, grade, item: itemRows.length });
      c.items.push({ id: itemRows.length, type: 'mod', quiz: quizRows.length });
    }
    itemRows.push([itemRows.length + 1, c.id, 'Participation', 'manual', '10.00000']);
    c.items.push({ id: itemRows.length, type: 'manual' });
    itemRows.push([itemRows.length + 1, c.id, null, 'course', '100.00000']);
    c.items.push({ id: itemRows.length, type: 'course' });
  }

  // Badges: two site badges, six course badges; names are unique (the target keys awards by name).
  const badgeRows: unknown[][] = [
    [1, 'Welcome aboard', null, 1],
    [2, 'Profile complete', null, 1],
  ];
  for (const c of shuffle([...courses]).slice(0, 6)) {
    badgeRows.push([badgeRows.length + 1, `${courseRows[c.id - 1]![3] as string} completion`, c.id, 2]);
    c.badge = badgeRows.length;
  }

  // Users: 1 guest, 2 admin, then people; a few of every kind of dirt, on randomly chosen ids.
  const n = o.users;
  const rest = shuffle(Array.from({ length: n - 2 }, (_, i) => i + 3));
  const kinds = new Map<number, UserKind>();
  const take = (kind: UserKind, count: number) => {
    for (let k = 0; k < count; k++) kinds.set(rest.pop()!, kind);
  };
  take('deleted', Math.round(n * 0.03));
  take('malformed', Math.max(2, Math.round(n * 0.004)));
  take('gbr', 2);
  take('bad_ip', Math.max(1, Math.round(n * 0.001)));
  take('suspended', Math.round(n * 0.04));
  take('mnet', 2);
  const users: User[] = [];
  const taken = new Set<string>();
  const ascii = (s: string) => s.normalize('NFD').replace(/[^A-Za-z]/g, '').toLowerCase();
  let malformed = 0;
  for (let id = 1; id <= n; id++) {
    const kind: UserKind = id === 1 ? 'guest' : id === 2 ? 'admin' : (kinds.get(id) ?? 'normal');
    const first = pick(FIRST);
    const last = pick(LAST);
    let username = `${ascii(first)}.${ascii(last)}`;
    for (let k = 2; taken.has(username); k++) username = `${ascii(first)}.${ascii(last)}${k}`;
    taken.add(username);
    const created = between(T0, NOW - 30 * DAY);
    // Users with a malformed email came from a CSV upload and never logged in; a proxy chain IP needs a login.
    const never = kind === 'malformed' || kind === 'guest' ? true : kind === 'bad_ip' || kind === 'admin' ? false : rand() < 0.12;
    const firstaccess = never ? 0 : created + between(0, 30 * DAY);
    const lastlogin = never ? 0 : between(firstaccess, NOW);
    let email = `${username}@${pick(DOMAINS)}`;
    if (rand() < 0.05) email = `${email[0]!.toUpperCase()}${email.slice(1)}`; // the plan lowercases
    if (rand() < 0.03) email = ` ${email} `; // and trims
    const ip = never ? '' : rand() < 0.8 ? `${pick(['10.20', '192.168', '172.16', '203.0'])}.${between(0, 255)}.${between(1, 254)}` : `2001:db8::${hex(4).replace(/^0+/, '') || '1'}`;
    const row: unknown[] = [id, 'manual', 0, 0, 1, username, first, last, email, rand() < 0.4 ? '' : `+44 7700 ${String(between(900000, 999999))}`, rand() < 0.25 ? '' : pick(CITIES), rand() < 0.15 ? '' : pick(COUNTRIES), ip, created, lastlogin, firstaccess];
    let fate: UserFate = 'loaded';
    switch (kind) {
      case 'guest':
        row.splice(5, 11, 'guest', 'Guest user', ' ', 'root@localhost', '', '', '', '', 0, 0, 0);
        fate = 'skipped';
        expected.learners.skipped.guest!++;
        break;
      case 'admin':
        row.splice(5, 4, 'admin', 'Admin', 'User', 'moodle-admin@northfield.example.edu');
        row[13] = T0;
        break;
      case 'deleted': {
        // As Moodle's delete_user() leaves it: username = old email + '.' + time, email = an md5.
        row[2] = 1;
        row[3] = rand() < 0.3 ? 1 : 0;
        row[5] = `${(row[8] as string).trim().toLowerCase()}.${between(created, NOW)}`;
        row[8] = hex(32);
        fate = 'skipped';
        expected.learners.skipped.soft_deleted!++;
        break;
      }
      case 'suspended':
        row[3] = 1;
        break;
      case 'malformed':
        row[8] = MALFORMED[malformed++ % MALFORMED.length]!(username);
        fate = 'quarantined';
        quarantine('learners', id, 'check_violation');
        break;
      case 'gbr':
        row[11] = 'GBR';
        fate = 'quarantined';
        quarantine('learners', id, 'conversion_failed');
        break;
      case 'bad_ip':
        row[12] = BAD_IP;
        fate = 'quarantined';
        quarantine('learners', id, 'conversion_failed');
        break;
      default:
        break;
    }
    if (fate === 'loaded') expected.learners.rows++;
    users.push({ id, kind, fate, created: row[13] as number, never, row });
  }
  // MNet peers: users of another host whose usernames repeat local ones (source_ref tells them apart).
  const locals = shuffle(users.filter((u) => u.kind === 'normal'));
  users.filter((x) => x.kind === 'mnet').forEach((u, k) => {
    u.row[1] = 'mnet';
    u.row[4] = 3;
    u.row[5] = locals[k]!.row[5];
  });
  const byId = new Map(users.map((u) => [u.id, u]));

  // Enrolments: three courses per person (one method each), in the order they happened.
  interface Enrolment { enrolid: number; userid: number; course: (typeof courses)[number]; status: number; start: number; end: number; created: number; id?: number }
  const enrolments: Enrolment[] = [];
  const enrol = (u: { id: number; created: number }, c: (typeof courses)[number], method: string) => {
    const created = between(Math.max(u.created, c.start - 30 * DAY), NOW - DAY);
    const start = method === 'manual' && rand() < 0.2 ? 0 : created;
    enrolments.push({ enrolid: c.enrol[method]!, userid: u.id, course: c, status: rand() < 0.05 ? 1 : 0, start, end: rand() < 0.15 ? (start || created) + 365 * DAY : 0, created });
  };
  let deletedSeen = 0;
  for (const u of users) {
    if (u.kind === 'guest' || u.kind === 'admin') continue;
    // Moodle unenrols a user it deletes; one deleted user in four still has a leftover enrolment.
    const count = u.kind === 'deleted' ? (deletedSeen++ % 4 === 0 ? 1 : 0) : 3;
    for (const c of shuffle([...courses]).slice(0, count)) enrol(u, c, c.enrol.self !== undefined && rand() < 0.35 ? 'self' : 'manual');
  }
  const orphanUsers = Math.max(2, Math.round(n * 0.002));
  for (let k = 0; k < orphanUsers; k++) enrol({ id: n + 1000 + 7 * k, created: between(T0, NOW - 60 * DAY) }, pick(courses), 'manual');
  enrolments.sort((a, b) => a.created - b.created || a.userid - b.userid);
  enrolments.forEach((e, i) => {
    e.id = i + 1;
    childOf('enrolments', e.id, byId.get(e.userid));
  });

  // Quiz attempts of enrolled people who have logged in (leftovers of deleted users too; not of
  // users that do not exist), and the admin's previews.
  interface Attempt { quiz: number; userid: number; attempt: number; preview: number; state: string; start: number; finish: number; sumgrades: string | null; id?: number }
  const attempts: Attempt[] = [];
  const best = new Map<string, number | null>(); // `${userid}:${quiz}` -> best finished grade, or null
  for (const e of enrolments) {
    if (byId.get(e.userid)?.never !== false) continue;
    for (const q of e.course.quizzes) {
      if (rand() >= 0.6) continue;
      const tries = 1 + Math.floor(rand() * 3);
      let t = between(e.created, NOW - DAY);
      let top: number | null = null;
      for (let a = 1; a <= tries; a++) {
        const state = a < tries ? 'finished' : pick(['finished', 'finished', 'finished', 'finished', 'finished', 'finished', 'finished', 'finished', 'inprogress', 'abandoned']);
        const score = state === 'finished' ? Math.round(rand() * q.grade * 100_000) / 100_000 : null;
        const finish = state === 'finished' ? t + between(300, 3600) : 0;
        attempts.push({ quiz: q.id, userid: e.userid, attempt: a, preview: 0, state, start: t, finish, sumgrades: score === null ? null : score.toFixed(5) });
        if (score !== null && (top === null || score > top)) top = score;
        t = (finish || t) + between(DAY, 20 * DAY);
      }
      best.set(`${e.userid}:${q.id}`, top);
    }
  }
  const previews = courses.flatMap((c) => c.quizzes).filter(() => rand() < 0.2);
  for (const q of previews) {
    const t = between(T0, NOW - DAY);
    attempts.push({ quiz: q.id, userid: 2, attempt: 1, preview: 1, state: 'finished', start: t, finish: t + 120, sumgrades: (q.grade / 2).toFixed(5) });
  }
  attempts.sort((a, b) => a.start - b.start || a.userid - b.userid || a.attempt - b.attempt);
  attempts.forEach((a, i) => {
    a.id = i + 1;
    if (a.preview === 1) expected.quiz_attempts.skipped.teacher_preview!++;
    else childOf('quiz_attempts', a.id, byId.get(a.userid));
  });

  // Grades: Moodle deletes a deleted user's grades, so only people who exist have them. Quiz items
  // carry the best finished attempt (NULL when none), Participation is graded by hand (or not),
  // the course total sums them. Plus a few grades whose grade item was deleted.
  interface Grade { itemid: number; userid: number; finalgrade: string | null; modified: number; skip?: boolean; orphan?: boolean; id?: number }
  const grades: Grade[] = [];
  for (const e of enrolments) {
    const u = byId.get(e.userid);
    if (u === undefined || u.fate === 'skipped') continue;
    let total: number | null = null;
    const modified = between(e.created, NOW);
    for (const item of e.course.items) {
      if (item.type === 'mod') {
        if (!best.has(`${e.userid}:${item.quiz!}`)) continue;
        const g = best.get(`${e.userid}:${item.quiz!}`)!;
        grades.push({ itemid: item.id, userid: e.userid, finalgrade: g === null ? null : g.toFixed(5), modified });
        if (g !== null) total = (total ?? 0) + g;
      } else if (item.type === 'manual') {
        if (rand() >= 0.7) continue;
        const g = rand() < 0.1 ? null : Math.round(rand() * 1_000_000) / 100_000;
        grades.push({ itemid: item.id, userid: e.userid, finalgrade: g === null ? null : g.toFixed(5), modified });
        if (g !== null) total = (total ?? 0) + g;
      } else {
        grades.push({ itemid: item.id, userid: e.userid, finalgrade: total === null ? null : Math.min(total, 99_999).toFixed(5), modified, skip: true });
      }
    }
  }
  const loadedPeople = users.filter((u) => u.fate === 'loaded' && u.kind !== 'admin');
  for (let k = 0; k < Math.max(2, Math.round(n * 0.002)); k++) {
    grades.push({ itemid: 900_000 + k, userid: pick(loadedPeople).id, finalgrade: (rand() * 10).toFixed(5), modified: between(T0, NOW), orphan: true });
  }
  grades.sort((a, b) => a.modified - b.modified || a.userid - b.userid || a.itemid - b.itemid);
  grades.forEach((g, i) => {
    g.id = i + 1;
    if (g.skip) expected.grades.skipped.course_total!++;
    else if (g.orphan) quarantine('grades', g.id, 'missing_business_key');
    else childOf('grades', g.id, byId.get(g.userid));
  });

  // Badges (to people who have logged in): site badges to some, course badges to some of a
  // course's enrolled people, and an award or two of a badge that was deleted since.
  interface Award { badgeid: number; userid: number; issued: number; expire: number; orphan?: boolean; id?: number }
  const awards: Award[] = [];
  const award = (badgeid: number, userid: number, after: number, orphan?: boolean) => {
    const issued = between(after, NOW);
    awards.push({ badgeid, userid, issued, expire: rand() < 0.8 ? 0 : issued + 730 * DAY, orphan });
  };
  for (const u of users) {
    if (u.never || u.fate === 'skipped') continue;
    if (rand() < 0.3) award(1, u.id, u.created);
    if (rand() < 0.15) award(2, u.id, u.created);
  }
  for (const e of enrolments) {
    const u = byId.get(e.userid);
    if (e.course.badge !== undefined && u !== undefined && !u.never && u.fate !== 'skipped' && rand() < 0.4) award(e.course.badge, e.userid, e.created);
  }
  for (let k = 0; k < Math.max(1, Math.round(n * 0.001)); k++) award(90 + k, pick(loadedPeople).id, T0, true);
  awards.sort((a, b) => a.issued - b.issued || a.userid - b.userid || a.badgeid - b.badgeid);
  awards.forEach((a, i) => {
    a.id = i + 1;
    if (a.orphan) quarantine('badges_issued', a.id, 'missing_business_key');
    else childOf('badges_issued', a.id, byId.get(a.userid));
  });

  const source = new Client({ connectionString: o.sourceUrl });
  await source.connect();
  const counts: Record<string, number> = {};
  const write = async (table: string, columns: string[], types: string[], rows: unknown[][]) => {
    await insertColumns(source, table, columns, types, rows);
    counts[table] = rows.length;
  };
  try {
    await source.query(readFileSync(join(__dirname, 'source.sql'), 'utf8'));
    await write('mdl_course_categories', ['id', 'name', 'idnumber', 'parent', 'sortorder', 'depth', 'path', 'timemodified'], ['bigint', 'text', 'text', 'bigint', 'bigint', 'bigint', 'text', 'bigint'], categoryRows);
    await write(
      'mdl_user',
      ['id', 'auth', 'deleted', 'suspended', 'mnethostid', 'username', 'firstname', 'lastname', 'email', 'phone1', 'city', 'country', 'lastip', 'timecreated', 'lastlogin', 'firstaccess'],
      ['bigint', 'text', 'smallint', 'smallint', 'bigint', 'text', 'text', 'text', 'text', 'text', 'text', 'text', 'text', 'bigint', 'bigint', 'bigint'],
      users.map((u) => u.row),
    );
    await write('mdl_course', ['id', 'category', 'fullname', 'shortname', 'idnumber', 'format', 'startdate', 'enddate', 'visible', 'timecreated'], ['bigint', 'bigint', 'text', 'text', 'text', 'text', 'bigint', 'bigint', 'smallint', 'bigint'], courseRows);
    await write('mdl_enrol', ['id', 'enrol', 'courseid', 'status'], ['bigint', 'text', 'bigint', 'bigint'], enrolRows);
    await write(
      'mdl_user_enrolments',
      ['id', 'enrolid', 'userid', 'status', 'timestart', 'timeend', 'timecreated'],
      ['bigint', 'bigint', 'bigint', 'bigint', 'bigint', 'bigint', 'bigint'],
      enrolments.map((e) => [e.id, e.enrolid, e.userid, e.status, e.start, e.end, e.created]),
    );
    await write('mdl_quiz', ['id', 'course', 'name', 'grade'], ['bigint', 'bigint', 'text', 'numeric'], quizRows);
    await write(
      'mdl_quiz_attempts',
      ['id', 'quiz', 'userid', 'attempt', 'preview', 'state', 'timestart', 'timefinish', 'sumgrades'],
      ['bigint', 'bigint', 'bigint', 'int', 'smallint', 'text', 'bigint', 'bigint', 'numeric'],
      attempts.map((a) => [a.id, a.quiz, a.userid, a.attempt, a.preview, a.state, a.start, a.finish, a.sumgrades]),
    );
    await write('mdl_grade_items', ['id', 'courseid', 'itemname', 'itemtype', 'grademax'], ['bigint', 'bigint', 'text', 'text', 'numeric'], itemRows);
    await write('mdl_grade_grades', ['id', 'itemid', 'userid', 'finalgrade', 'timemodified'], ['bigint', 'bigint', 'bigint', 'numeric', 'bigint'], grades.map((g) => [g.id, g.itemid, g.userid, g.finalgrade, g.modified]));
    await write('mdl_badge', ['id', 'name', 'courseid', 'type'], ['bigint', 'text', 'bigint', 'smallint'], badgeRows);
    await write(
      'mdl_badge_issued',
      ['id', 'badgeid', 'userid', 'uniquehash', 'dateissued', 'dateexpire'],
      ['bigint', 'bigint', 'bigint', 'text', 'bigint', 'bigint'],
      awards.map((a) => [a.id, a.badgeid, a.userid, hex(40), a.issued, a.expire]),
    );
    // Moodle's sequences continue after the highest id, as on a live site.
    for (const table of Object.keys(counts)) {
      await source.query(`select setval(pg_get_serial_sequence('${table}', 'id'), greatest((select max(id) from ${table}), 1))`);
    }
    await source.query('analyze');
  } finally {
    await source.end();
  }

  if (o.targetUrl) {
    const target = new Client({ connectionString: o.targetUrl });
    await target.connect();
    try {
      // demo/lms has a `courses` table too: refuse to drop or reuse it.
      const foreign = await target.query(`select 1 from information_schema.tables t where t.table_schema = 'public' and t.table_name = 'courses'
        and not exists (select 1 from information_schema.columns c where c.table_schema = 'public' and c.table_name = 'courses' and c.column_name = 'category_id')`);
      if (foreign.rowCount) throw new Error('seedMoodle: the target has a `courses` table of another schema (demo/lms?); give the Moodle demo its own target database');
      if (o.resetTarget) {
        await target.query(
          'drop table if exists badges_issued, grades, quiz_attempts, enrolments, courses, learners, categories cascade; ' +
            'drop type if exists attempt_state, enrolment_status, enrolment_method, learner_status cascade; ' +
            'drop schema if exists cutover cascade',
        );
      }
      await target.query(readFileSync(join(__dirname, 'target.sql'), 'utf8'));
    } finally {
      await target.end();
    }
  }

  const ratios = Object.fromEntries(
    MOODLE_ENTITIES.map((e) => {
      const q = Object.keys(expected[e].quarantined).length;
      return [e, q === 0 ? 0 : q / (q + expected[e].rows)];
    }),
  ) as Record<MoodleEntity, number>;
  return { users: n, source: counts, pilot: PILOT, expected, ratios };
}
