import { randomBytes } from 'node:crypto';
import { AuditEvent, AuditRow, checkAuditEvent, compareWithAnchor, describeBreak, GENESIS, linkHash, verifyLinks } from '../../src/audit/chain';

const key = randomBytes(32);
const START = { prevHash: GENESIS, seq: 1 };

/** A valid chain of `n` rows, built the way the store builds it. */
function chain(n: number, k: Buffer = key): AuditRow[] {
  const rows: AuditRow[] = [];
  let prevHash = GENESIS;
  for (let seq = 1; seq <= n; seq++) {
    const row = {
      seq,
      at: new Date(Date.UTC(2026, 0, 31, 9, 0, seq, seq)).toISOString(),
      migrationId: 'lms-0882549636e5',
      actor: seq % 2 ? 'worker' : 'ada.l',
      action: seq % 3 ? 'batch-loaded' : 'gate-approved',
      eventKey: `lms-0882549636e5/event/${seq}`,
      details: { entity: 'users', rows: seq * 10, reconciled: seq % 2 === 0, note: null },
    };
    const hash = linkHash(k, prevHash, row);
    rows.push({ ...row, prevHash, hash });
    prevHash = hash;
  }
  return rows;
}

function edited(rows: AuditRow[], seq: number, change: Partial<AuditRow>): AuditRow[] {
  return rows.map((r) => (r.seq === seq ? { ...r, ...change } : r));
}

describe('the audit chain', () => {
  it('verifies an intact chain and returns its head', () => {
    const rows = chain(10);
    expect(verifyLinks(rows, key, START)).toEqual({ ok: true, last: { seq: 10, hash: rows[9]!.hash } });
    expect(verifyLinks([], key, START)).toEqual({ ok: true, last: { seq: 0, hash: GENESIS } });
  });

  it('verifies page by page, each page continuing from the last one', () => {
    const rows = chain(10);
    const first = verifyLinks(rows.slice(0, 4), key, START);
    if (!first.ok) throw new Error('first page broken');
    expect(verifyLinks(rows.slice(4), key, { prevHash: first.last.hash, seq: first.last.seq + 1 })).toEqual({ ok: true, last: { seq: 10, hash: rows[9]!.hash } });
  });

  it('hashes the same row the same way whatever its key order', () => {
    const [row] = chain(1);
    const reordered = { details: { note: null, reconciled: false, rows: 10, entity: 'users' }, eventKey: row!.eventKey, action: row!.action, actor: row!.actor, migrationId: row!.migrationId, at: row!.at, seq: 1 };
    expect(linkHash(key, GENESIS, reordered)).toBe(row!.hash);
  });

  it.each<[string, Partial<AuditRow>]>([
    ['at', { at: '2026-01-31T09:00:07.008Z' }],
    ['migrationId', { migrationId: 'lms-other' }],
    ['actor', { actor: 'mallory' }],
    ['action', { action: 'gate-rejected' }],
    ['eventKey', { eventKey: 'lms-0882549636e5/event/x' }],
    ['a detail value', { details: { entity: 'users', rows: 71, reconciled: false, note: null } }],
    ['a detail type', { details: { entity: 'users', rows: '70', reconciled: false, note: null } }],
    ['an added detail', { details: { entity: 'users', rows: 70, reconciled: false, note: null, extra: 1 } }],
    ['prevHash', { prevHash: GENESIS }],
    ['hash', { hash: 'f'.repeat(64) }],
  ])('detects a change to %s as row 7 changed', (_field, change) => {
    const result = verifyLinks(edited(chain(10), 7, change), key, START);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.broken).toMatchObject({ seq: 7, problem: 'changed' });
    expect(describeBreak(result.broken)).toMatch(/^audit chain broken at row 7 \(\S+, migration \S+\): the row was changed after it was written/);
  });

  it('detects a changed seq (a row renumbered to close a gap)', () => {
    const rows = chain(10);
    const renumbered = [...rows.slice(0, 4), ...rows.slice(5).map((r) => ({ ...r, seq: r.seq - 1 }))];
    expect(verifyLinks(renumbered, key, START)).toMatchObject({ ok: false, broken: { seq: 5, problem: 'changed' } });
  });

  it('detects a removed middle row as a gap, naming the missing row', () => {
    const rows = chain(10).filter((r) => r.seq !== 5);
    const result = verifyLinks(rows, key, START);
    expect(result).toEqual({ ok: false, broken: { seq: 5, problem: 'missing', detail: 'row 5 is missing: row 6 follows row 4' } });
    if (!result.ok) expect(describeBreak(result.broken)).toBe('audit chain broken: row 5 is missing: row 6 follows row 4');
  });

  it('detects several removed rows, and rows removed at the start', () => {
    expect(verifyLinks(chain(10).filter((r) => r.seq < 4 || r.seq > 6), key, START)).toMatchObject({ ok: false, broken: { seq: 4, problem: 'missing', detail: 'rows 4–6 are missing: row 7 follows row 3' } });
    expect(verifyLinks(chain(10).slice(2), key, START)).toMatchObject({ ok: false, broken: { seq: 1, problem: 'missing', detail: 'rows 1–2 are missing: the chain starts at row 3' } });
  });

  it('detects two rows whose contents were swapped (each keeping its place) as the first changed', () => {
    const rows = chain(10);
    const swapped = rows.map((r) => (r.seq === 4 ? { ...rows[5]!, seq: 4 } : r.seq === 6 ? { ...rows[3]!, seq: 6 } : r));
    expect(verifyLinks(swapped, key, START)).toMatchObject({ ok: false, broken: { seq: 4, problem: 'changed', action: rows[5]!.action } });
  });

  it('detects two rows handed over in the wrong order', () => {
    const rows = chain(10);
    const swapped = [...rows.slice(0, 4), rows[5]!, rows[4]!, ...rows.slice(6)];
    expect(verifyLinks(swapped, key, START)).toMatchObject({ ok: false, broken: { seq: 6, problem: 'out-of-order', detail: 'row 6 comes before row 5' } });
  });

  it('detects an intact row that does not link to the row before it (re-signed by a key holder)', () => {
    const rows = chain(10);
    const { hash: _h, prevHash: _p, ...fields } = rows[6]!;
    const resigned = edited(rows, 7, { prevHash: rows[4]!.hash, hash: linkHash(key, rows[4]!.hash, fields) });
    expect(verifyLinks(resigned, key, START)).toMatchObject({ ok: false, broken: { seq: 7, problem: 'relinked', detail: "its link does not match row 6's hash: the chain was re-signed or spliced" } });
  });

  it('refuses a chain signed with another key at its first row', () => {
    expect(verifyLinks(chain(3, randomBytes(32)), key, START)).toMatchObject({ ok: false, broken: { seq: 1, problem: 'changed' } });
  });

  it('cannot see rows removed at the end by itself, but an anchored head shows them', () => {
    const rows = chain(10);
    const shortened = verifyLinks(rows.slice(0, 8), key, START);
    expect(shortened.ok).toBe(true);
    if (!shortened.ok) return;
    const anchor = { seq: 10, hash: rows[9]!.hash.slice(0, 12) };
    const broken = compareWithAnchor(anchor, undefined, shortened.last);
    expect(broken).toMatchObject({ seq: 9, problem: 'truncated', detail: 'rows 9–10 are missing at the end: the chain ends at row 8 but its anchored head is row 10' });
    expect(compareWithAnchor(anchor, rows[9], { seq: 10, hash: rows[9]!.hash })).toBeUndefined();
    expect(compareWithAnchor({ seq: 10, hash: 'a'.repeat(12) }, rows[9], { seq: 10, hash: rows[9]!.hash })).toMatchObject({ seq: 10, problem: 'diverged' });
  });
});

describe('audit events', () => {
  const event: AuditEvent = { migrationId: 'lms-1', actor: 'worker', action: 'batch-loaded', eventKey: 'lms-1/b/1', details: { entity: 'users', rows: 500 } };

  it('accept scalar details', () => {
    expect(() => checkAuditEvent(event)).not.toThrow();
  });

  it.each<[string, unknown]>([
    ['a nested object', { nested: { a: 1 } }],
    ['an array', { ids: [1, 2] }],
    ['NaN', { rows: NaN }],
    ['Infinity', { rows: Infinity }],
    ['undefined', { rows: undefined }],
  ])('refuse details holding %s, naming the field', (_what, details) => {
    expect(() => checkAuditEvent({ ...event, details: details as AuditEvent['details'] })).toThrow(/details\.(nested|ids|rows): expected a string, finite number, boolean or null/);
  });

  it('refuse an empty event key', () => {
    expect(() => checkAuditEvent({ ...event, eventKey: '' })).toThrow('audit event eventKey: expected a non-empty string');
  });
});
