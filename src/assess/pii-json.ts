// Personal data in JSON documents: key paths that name or hold it, walked to a bounded depth and size.
import type { PiiFinding, SensitiveKind } from './pii-kinds';
import { matchRule, NAME_RULES, nameWords } from './pii-names';
import { FREE_TEXT_MIN_MATCHES, FREE_TEXT_SHARE, mostlyUnique, round, WHOLE_VALUE_SHARE, wilsonLow } from './pii-scoring';
import { kindsInside, MAX_TEXT, stripHtml } from './pii-text';
import { isEmail, isIpAddress, isNationalId, isPersonName, isPhone } from './pii-values';

/** Keys whose parent makes a bare `name` a person's (`actor.name`). */
const PERSON_PARENTS = new Set([
  'actor', 'user', 'person', 'author', 'learner', 'student', 'member', 'instructor', 'teacher', 'owner', 'agent',
  'contact', 'customer', 'employee', 'sender', 'recipient', 'participant', 'attendee', 'patient', 'client', 'creator',
  'reviewer', 'assignee', 'manager', 'guardian', 'profile', 'account_holder',
]);
/** Documents are walked this deep and this far, so one huge document cannot stall the assessment. */
const MAX_DEPTH = 24;
const MAX_NODES_PER_DOC = 5_000;
const MAX_PATHS = 2_000;
/** A key a plan's `pii_paths` can name (see JSON_PATH in src/plan/schema.ts); others are shown as `*`. */
const PLAIN_KEY = /^[A-Za-z_$][A-Za-z0-9_$-]{0,63}$/;

interface PathStats {
  /** The documents in which the path has a usable (non-empty string or number) value. */
  docs: Set<number>;
  strings: number;
  email: number;
  phone: number;
  ip: number;
  nationalId: number;
  personName: number;
  distinctNames: Set<string>;
  textWithPii: number;
  /** The kind its key names, if any; read once per path (`keyRead`). */
  keyKind?: SensitiveKind;
  keyRead: boolean;
  /** The key itself was personal (an address or a number used as a key). */
  keyIsPersonal?: SensitiveKind;
}

/**
 * A key as it may appear in a returned path: plain keys as they are; any other key (an
 * address, a number, a URL, a name) as `*`, which also keeps maps keyed by ids from
 * turning into thousands of paths. Returns the kind when the key itself is personal.
 */
function safeKey(key: string): { seg: string; personal?: SensitiveKind } {
  if (PLAIN_KEY.test(key) && !/^\d+$/.test(key)) return { seg: key };
  const personal: SensitiveKind | undefined = isEmail(key) ? 'email' : isIpAddress(key) ? 'ip_address' : isNationalId(key) ? 'national_id' : isPhone(key) ? 'phone' : isPersonName(key) ? 'person_name' : undefined;
  return { seg: '*', personal };
}

/** The kind a JSON key names: the column-name rules, plus a bare `name` under a person-like key. */
function keyKind(key: string, parent: string | undefined): SensitiveKind | undefined {
  const words = nameWords(key);
  if (words.length === 1 && words[0] === 'name') return parent && PERSON_PARENTS.has(parent.toLowerCase()) ? 'person_name' : undefined;
  let best: { kind: SensitiveKind; c: number } | undefined;
  for (const r of NAME_RULES) {
    // Free text by key name alone would make every `description` in a document personal.
    if (r.kind === 'free_text') continue;
    const c = matchRule(r, words);
    if (c !== undefined && (!best || c > best.c)) best = { kind: r.kind, c };
  }
  return best?.kind;
}

function walkDoc(doc: unknown, docIndex: number, stats: Map<string, PathStats>): void {
  let nodes = 0;
  const visit = (node: unknown, path: string, key: string | undefined, parent: string | undefined, depth: number): void => {
    if (++nodes > MAX_NODES_PER_DOC || depth > MAX_DEPTH) return;
    if (Array.isArray(node)) {
      // Elements of an array share its path: `context.parents.id`, whatever the index.
      for (const el of node) visit(el, path, key, parent, depth + 1);
      return;
    }
    if (node !== null && typeof node === 'object') {
      for (const [k, v] of Object.entries(node as Record<string, unknown>)) {
        const { seg, personal } = safeKey(k);
        const child = path === '' ? seg : `${path}.${seg}`;
        if (personal && (stats.has(child) || stats.size < MAX_PATHS)) {
          const s = statsOf(stats, child);
          s.keyIsPersonal = personal;
          s.docs.add(docIndex);
        }
        visit(v, child, seg === '*' ? undefined : k, key, depth + 1);
      }
      return;
    }
    if (path === '' || node === null || typeof node === 'boolean') return;
    const text = typeof node === 'string' ? node.trim() : typeof node === 'number' || typeof node === 'bigint' ? String(node) : '';
    if (text === '') return;
    if (!stats.has(path) && stats.size >= MAX_PATHS) return;
    const s = statsOf(stats, path);
    s.docs.add(docIndex);
    if (!s.keyRead) {
      s.keyRead = true;
      if (key !== undefined) s.keyKind = keyKind(key, parent);
    }
    if (typeof node !== 'string') return;
    s.strings++;
    const v = text.length > MAX_TEXT ? text.slice(0, MAX_TEXT) : text;
    if (isEmail(v)) s.email++;
    else if (isNationalId(v)) s.nationalId++;
    else if (isIpAddress(v)) s.ip++;
    else if (isPhone(v)) s.phone++;
    else if (isPersonName(v)) {
      s.personName++;
      if (s.distinctNames.size < 1000) s.distinctNames.add(v);
    } else if ((v.length > 40 || /\s/.test(v)) && kindsInside(stripHtml(v)).length > 0) s.textWithPii++;
  };
  visit(doc, '', undefined, undefined, 0);
}

function statsOf(stats: Map<string, PathStats>, path: string): PathStats {
  let s = stats.get(path);
  if (!s) {
    s = { docs: new Set(), keyRead: false, strings: 0, email: 0, phone: 0, ip: 0, nationalId: 0, personName: 0, distinctNames: new Set(), textWithPii: 0 };
    stats.set(path, s);
  }
  return s;
}

/**
 * The personal kind of one path, and whether its content (not only its key) says so. Content
 * first, as for columns: whole values by share, a bare `name` key by the shape of its values,
 * then text holding personal data; else the kind its key names (or the key itself was).
 */
function pathKind(s: PathStats, key: string | undefined): { kind: SensitiveKind; byContent: boolean } | undefined {
  const share = (n: number) => s.strings > 0 && n / s.strings >= WHOLE_VALUE_SHARE;
  const byContent: [boolean, SensitiveKind][] = [
    [share(s.email), 'email'],
    [share(s.nationalId), 'national_id'],
    [share(s.phone), 'phone'],
    [share(s.ip), 'ip_address'],
    [key === 'name' && share(s.personName) && mostlyUnique(s.personName, s.distinctNames.size), 'person_name'],
    [s.textWithPii >= FREE_TEXT_MIN_MATCHES || (s.textWithPii > 0 && s.textWithPii / s.strings >= FREE_TEXT_SHARE), 'free_text'],
  ];
  const hit = byContent.find(([yes]) => yes);
  if (hit) return { kind: hit[1], byContent: true };
  const named = s.keyIsPersonal ?? s.keyKind;
  return named ? { kind: named, byContent: false } : undefined;
}

export function jsonFinding(docs: readonly unknown[]): PiiFinding | undefined {
  if (docs.length === 0) return undefined;
  const stats = new Map<string, PathStats>();
  docs.forEach((d, i) => walkDoc(d, i, stats));
  const paths: { path: string; kind: SensitiveKind }[] = [];
  const personalDocs = new Set<number>();
  let anyByContent = false;
  for (const [path, s] of stats) {
    const last = path.split('.').pop();
    const k = pathKind(s, last === undefined ? undefined : nameWords(last).join('_'));
    if (!k) continue;
    paths.push({ path, kind: k.kind });
    anyByContent ||= k.byContent;
    for (const d of s.docs) personalDocs.add(d);
  }
  if (paths.length === 0) return undefined;
  paths.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const matched = personalDocs.size;
  const confidence = round(Math.min(0.99, 0.55 + 0.4 * wilsonLow(matched, docs.length) + (anyByContent ? 0.05 : 0)));
  return { kind: 'json_personal', method: 'content', confidence, matched, sampled: docs.length, paths };
}
