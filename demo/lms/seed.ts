import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';

/** Deterministic PRNG (mulberry32): the same seed gives the same people. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

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
}

export interface SeedResult {
  users: number;
  badStatus: number;
  missingEmail: number;
}

/** Creates the legacy source (and the target schema) and fills it with realistic fake people. */
export async function seedLms(o: SeedOptions): Promise<SeedResult> {
  const rand = prng(o.seed ?? 42);
  const pick = <T>(list: readonly T[]) => list[Math.floor(rand() * list.length)]!;
  const source = new Client({ connectionString: o.sourceUrl });
  await source.connect();
  const result: SeedResult = { users: o.users, badStatus: 0, missingEmail: 0 };
  try {
    await source.query(readFileSync(join(__dirname, 'source.sql'), 'utf8'));
    const badEvery = o.badRatio ? Math.max(1, Math.round(1 / o.badRatio)) : 0;
    const chunk = 10_000;
    for (let start = 1; start <= o.users; start += chunk) {
      const cols: unknown[][] = [[], [], [], [], [], [], [], [], []];
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
      }
      await source.query(
        `insert into legacy_users (user_id, login, full_name, email, phone, status_code, created_epoch, last_login_epoch, org_code)
         select * from unnest($1::int[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::bigint[], $9::text[])`,
        cols,
      );
    }
    await source.query('analyze legacy_users');
  } finally {
    await source.end();
  }
  if (o.targetUrl) {
    const target = new Client({ connectionString: o.targetUrl });
    await target.connect();
    try {
      await target.query(readFileSync(join(__dirname, 'target.sql'), 'utf8'));
    } finally {
      await target.end();
    }
  }
  return result;
}
