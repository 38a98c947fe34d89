import { compareLsn, formatLsn, parseLsn, PgoutputDecoder, PgoutputError, type DecodedMessage } from '../../src/core/pgoutput';

/*
 * Checked against a PostgreSQL 15 server (pg_logical_slot_peek_binary_changes, proto_version 1):
 * every message it sent decoded as the documentation describes. What the documentation leaves
 * open, the server showed:
 * - A `K` old tuple (update that changes the key, delete) carries every published column, the
 *   non-key ones as `n`: not the key columns alone.
 * - An update that leaves an out-of-line (TOASTed) key unchanged sends `K` with the whole key
 *   and `u` for that column in the new tuple: the decoder takes the new key from the old tuple.
 * - REPLICA IDENTITY FULL sends `O` on every update and delete and flags every column as key.
 * - A Relation message is re-sent within one peek after ALTER TABLE and before a TRUNCATE, and
 *   each peek (a new decoding session) sends it again before a relation's first change, so a
 *   fresh decoder per peek suffices. A Type message precedes it for a column of a user-defined
 *   type (an enum). Generated and dropped columns are in neither the Relation nor the tuples.
 * - Row `lsn`: Begin and Relation rows carry the first change's LSN, each change its own, the
 *   Commit row the transaction's end LSN (= Commit.endLsn); Begin.finalLsn = Commit.commitLsn.
 * - Transactions with no published change (DDL alone) are not sent at all; `upto_nchanges`
 *   stops at a transaction boundary (2 asked, a whole 5-message transaction returned).
 * - Message (`M`) comes only with the 'messages' option; Origin follows Begin when the session
 *   set a replication origin (origin LSN 0 without pg_replication_origin_xact_setup).
 * The fixtures in 'bytes a PostgreSQL 15 server sent' are that server's bytes; their values
 * are made up.
 */

/** Builds pgoutput messages field by field, big-endian, as the server writes them. */
class Writer {
  private readonly parts: Buffer[] = [];

  byte(v: string | number): this {
    this.parts.push(Buffer.from([typeof v === 'string' ? v.charCodeAt(0) : v]));
    return this;
  }

  int16(v: number): this {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(v);
    this.parts.push(b);
    return this;
  }

  int32(v: number): this {
    const b = Buffer.alloc(4);
    b.writeInt32BE(v);
    this.parts.push(b);
    return this;
  }

  int64(v: bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(v);
    this.parts.push(b);
    return this;
  }

  str(s: string): this {
    this.parts.push(Buffer.from(s, 'utf8'), Buffer.from([0]));
    return this;
  }

  raw(b: Buffer): this {
    this.parts.push(b);
    return this;
  }

  build(): Buffer {
    return Buffer.concat(this.parts);
  }
}

interface Col {
  name: string;
  type?: number;
  key?: boolean;
}

function relationMsg(oid: number, schema: string, table: string, columns: Col[], identity = 'd'): Buffer {
  const w = new Writer().byte('R').int32(oid).str(schema).str(table).byte(identity).int16(columns.length);
  for (const c of columns) w.byte(c.key ? 1 : 0).str(c.name).int32(c.type ?? 25).int32(-1);
  return w.build();
}

/** A column value: text, null, or `U` for unchanged TOAST. */
const U = Symbol('unchanged');
type Value = string | null | typeof U;

function tuple(values: Value[]): Buffer {
  const w = new Writer().int16(values.length);
  for (const v of values) {
    if (v === null) w.byte('n');
    else if (v === U) w.byte('u');
    else {
      const b = Buffer.from(v, 'utf8');
      w.byte('t').int32(b.length).raw(b);
    }
  }
  return w.build();
}

const insertMsg = (oid: number, values: Value[]) => new Writer().byte('I').int32(oid).byte('N').raw(tuple(values)).build();
const deleteMsg = (oid: number, part: 'K' | 'O', values: Value[]) => new Writer().byte('D').int32(oid).byte(part).raw(tuple(values)).build();
function updateMsg(oid: number, values: Value[], old?: { part: 'K' | 'O'; values: Value[] }): Buffer {
  const w = new Writer().byte('U').int32(oid);
  if (old) w.byte(old.part).raw(tuple(old.values));
  return w.byte('N').raw(tuple(values)).build();
}

const SECRET = 'ada.lovelace@example.com';
const USERS = 16384;
const usersColumns: Col[] = [{ name: 'id', type: 23, key: true }, { name: 'email' }, { name: 'note' }];

function decoderWithUsers(options?: ConstructorParameters<typeof PgoutputDecoder>[0]): PgoutputDecoder {
  const d = new PgoutputDecoder(options);
  d.decode(relationMsg(USERS, 'public', 'users', usersColumns));
  return d;
}

function errorOf(fn: () => unknown): PgoutputError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(PgoutputError);
    return e as PgoutputError;
  }
  throw new Error('expected a PgoutputError');
}

describe('PgoutputDecoder', () => {
  it('reads Begin and Commit, with LSNs in pg_lsn text form', () => {
    const d = new PgoutputDecoder();
    const begin = new Writer().byte('B').int64(0x16b374d848n).int64(0n).int32(733).build();
    expect(d.decode(begin)).toEqual({ kind: 'begin', finalLsn: '16/B374D848', committedAt: 946_684_800_000, xid: 733 });
    const commit = new Writer().byte('C').byte(0).int64(0x16b374d848n).int64(0x16b374d878n).int64(0n).build();
    expect(d.decode(commit)).toEqual({ kind: 'commit', commitLsn: '16/B374D848', endLsn: '16/B374D878' });
    // xid is unsigned 32-bit
    expect(d.decode(new Writer().byte('B').int64(1n).int64(0n).int32(-1).build())).toMatchObject({ xid: 4294967295 });
  });

  it('caches each Relation message: columns, types, key flags and replica identity', () => {
    const d = new PgoutputDecoder();
    expect(d.decode(relationMsg(USERS, 'public', 'users', usersColumns))).toEqual({ kind: 'relation', schema: 'public', table: 'users' });
    expect(d.relation(USERS)).toEqual({
      oid: USERS,
      schema: 'public',
      table: 'users',
      replicaIdentity: 'd',
      columns: [
        { name: 'id', typeOid: 23, isKey: true },
        { name: 'email', typeOid: 25, isKey: false },
        { name: 'note', typeOid: 25, isKey: false },
      ],
    });
  });

  it('returns an insert with the key values of its new tuple and no other value', () => {
    const change = decoderWithUsers().decode(insertMsg(USERS, ['42', SECRET, 'note']));
    expect(change).toEqual({ kind: 'insert', schema: 'public', table: 'users', keys: { id: '42' } });
    expect(JSON.stringify(change)).not.toContain(SECRET);
  });

  it('returns a null key as null', () => {
    const d = new PgoutputDecoder();
    d.decode(relationMsg(1, 's', 't', [{ name: 'a', key: true }, { name: 'b', key: true }]));
    expect(d.decode(insertMsg(1, [null, 'x']))).toMatchObject({ keys: { a: null, b: 'x' } });
  });

  it('returns an update that keeps its key without oldKeys', () => {
    const change = decoderWithUsers().decode(updateMsg(USERS, ['42', SECRET, null]));
    expect(change).toEqual({ kind: 'update', schema: 'public', table: 'users', keys: { id: '42' } });
  });

  it('returns an update that changes its key with the old key from the K tuple', () => {
    // As the server sends it: the K tuple holds every column, the non-key ones null.
    const change = decoderWithUsers().decode(updateMsg(USERS, ['43', SECRET, 'n'], { part: 'K', values: ['42', null, null] }));
    expect(change).toEqual({ kind: 'update', schema: 'public', table: 'users', keys: { id: '43' }, oldKeys: { id: '42' } });
  });

  it('takes an unchanged TOASTed key of an update from its old key tuple', () => {
    const d = new PgoutputDecoder();
    d.decode(relationMsg(2, 'public', 'docs', [{ name: 'k', key: true }, { name: 'v', type: 23 }]));
    const long = 'K'.repeat(3000);
    expect(d.decode(updateMsg(2, [U, '2'], { part: 'K', values: [long, null] }))).toMatchObject({ keys: { k: long }, oldKeys: { k: long } });
    // Without an old tuple there is nothing to take it from: the key is absent.
    expect(d.decode(updateMsg(2, [U, '2']))).toEqual({ kind: 'update', schema: 'public', table: 'docs', keys: {} });
  });

  it('returns a delete with the key of its K tuple', () => {
    expect(decoderWithUsers().decode(deleteMsg(USERS, 'K', ['42', null, null]))).toEqual({ kind: 'delete', schema: 'public', table: 'users', keys: { id: '42' } });
  });

  it('returns only the key columns of a full O old tuple (REPLICA IDENTITY FULL)', () => {
    const d = new PgoutputDecoder({ keyColumnsOf: (schema, table) => (schema === 'public' && table === 'users' ? ['id'] : undefined) });
    const allKeys = usersColumns.map((c) => ({ ...c, key: true }));
    d.decode(relationMsg(USERS, 'public', 'users', allKeys, 'f'));
    const del = d.decode(deleteMsg(USERS, 'O', ['42', SECRET, 'a note']));
    expect(del).toEqual({ kind: 'delete', schema: 'public', table: 'users', keys: { id: '42' } });
    const upd = d.decode(updateMsg(USERS, ['42', 'new@example.com', null], { part: 'O', values: ['42', SECRET, 'a note'] }));
    expect(upd).toEqual({ kind: 'update', schema: 'public', table: 'users', keys: { id: '42' }, oldKeys: { id: '42' } });
    expect(JSON.stringify([del, upd])).not.toContain(SECRET);
  });

  it('uses the key columns the caller names over the relation flags, in the caller order', () => {
    const d = new PgoutputDecoder({ keyColumnsOf: () => ['b', 'a'] });
    d.decode(relationMsg(3, 'app', 'pairs', [{ name: 'a', key: true }, { name: 'b', key: true }, { name: 'c', key: true }], 'i'));
    const change = d.decode(insertMsg(3, ['1', '2', '3']));
    expect(change).toMatchObject({ keys: { b: '2', a: '1' } });
    expect(Object.keys((change as { keys: object }).keys)).toEqual(['b', 'a']);
  });

  it('returns no keys for a relation without key columns', () => {
    const d = new PgoutputDecoder();
    d.decode(relationMsg(4, 'public', 'log', [{ name: 'line' }], 'n'));
    expect(d.decode(insertMsg(4, [SECRET]))).toEqual({ kind: 'insert', schema: 'public', table: 'log', keys: undefined });
  });

  it('keeps a column named __proto__ as a key', () => {
    const d = new PgoutputDecoder();
    d.decode(relationMsg(5, 'public', 'odd', [{ name: '__proto__', key: true }]));
    const change = d.decode(insertMsg(5, ['7'])) as { keys: Record<string, string> };
    expect(Object.hasOwn(change.keys, '__proto__')).toBe(true);
    expect(change.keys['__proto__']).toBe('7');
  });

  it('replaces a relation re-sent with changed columns', () => {
    const d = decoderWithUsers();
    expect(() => d.decode(insertMsg(USERS, ['1', null, null, '40']))).toThrow(/tuple has 4 columns, its Relation message 3/);
    d.decode(relationMsg(USERS, 'public', 'users', [...usersColumns, { name: 'age', type: 23 }]));
    expect(d.decode(insertMsg(USERS, ['1', null, null, '40']))).toMatchObject({ keys: { id: '1' } });
    // A new primary key on another column
    d.decode(relationMsg(USERS, 'public', 'users', [{ name: 'id', type: 23 }, { name: 'email', key: true }, { name: 'note' }]));
    expect(d.decode(insertMsg(USERS, ['1', 'e', null]))).toMatchObject({ keys: { email: 'e' } });
  });

  it('returns the relations of a Truncate', () => {
    const d = decoderWithUsers();
    d.decode(relationMsg(6, 'app', 'orders', [{ name: 'id', key: true }]));
    const truncate = new Writer().byte('T').int32(2).byte(1).int32(USERS).int32(6).build();
    expect(d.decode(truncate)).toEqual({ kind: 'truncate', relations: [{ schema: 'public', table: 'users' }, { schema: 'app', table: 'orders' }] });
  });

  it('reads Origin, Type and Message and keeps nothing of them', () => {
    const d = new PgoutputDecoder();
    expect(d.decode(new Writer().byte('O').int64(0x10n).str('origin').build())).toEqual({ kind: 'other', tag: 'O' });
    expect(d.decode(new Writer().byte('Y').int32(16385).str('public').str('mood').build())).toEqual({ kind: 'other', tag: 'Y' });
    const content = Buffer.from(SECRET);
    const message = new Writer().byte('M').byte(1).int64(0x20n).str('prefix').int32(content.length).raw(content).build();
    expect(JSON.stringify(d.decode(message))).toBe('{"kind":"other","tag":"M"}');
  });

  describe('refuses, naming what and where but no value,', () => {
    it('a change for a relation oid it has no Relation message for', () => {
      const e = errorOf(() => new PgoutputDecoder().decode(insertMsg(999, ['1', SECRET])));
      expect(e.message).toBe('pgoutput Insert: relation oid 999 has had no Relation message (decode every message of a peek, from its first)');
      expect(() => new PgoutputDecoder().decode(new Writer().byte('T').int32(1).byte(0).int32(999).build())).toThrow(/Truncate: relation oid 999/);
    });

    it('every truncated message, at every length', () => {
      const d = decoderWithUsers();
      const messages = [
        relationMsg(USERS, 'public', 'users', usersColumns),
        insertMsg(USERS, ['42', SECRET, 'n']),
        updateMsg(USERS, ['43', SECRET, null], { part: 'K', values: ['42', null, null] }),
        deleteMsg(USERS, 'K', ['42', null, null]),
        new Writer().byte('B').int64(1n).int64(0n).int32(7).build(),
        new Writer().byte('C').byte(0).int64(1n).int64(2n).int64(0n).build(),
        new Writer().byte('T').int32(1).byte(0).int32(USERS).build(),
        new Writer().byte('M').byte(1).int64(0x20n).str('p').int32(SECRET.length).raw(Buffer.from(SECRET)).build(),
      ];
      for (const whole of messages) {
        expect(() => d.decode(whole)).not.toThrow();
        for (let n = 0; n < whole.length; n++) {
          const e = errorOf(() => d.decode(whole.subarray(0, n)));
          expect(e.message).toMatch(n === 0 ? /empty message/ : /is truncated: .* at offset \d+/);
          expect(e.message).not.toContain('ada');
        }
      }
      expect(errorOf(() => d.decode(insertMsg(USERS, ['42', SECRET, 'n']).subarray(0, 21))).message).toBe(
        'pgoutput Insert message is truncated: value needs 24 byte(s) at offset 20, 1 left',
      );
    });

    it('trailing bytes after the last field', () => {
      const d = decoderWithUsers();
      const e = errorOf(() => d.decode(Buffer.concat([deleteMsg(USERS, 'K', ['42', null, null]), Buffer.from(SECRET)])));
      expect(e.message).toBe(`pgoutput Delete message has ${SECRET.length} byte(s) after its last field`);
    });

    it('a binary value (the binary option), naming relation and column', () => {
      const d = decoderWithUsers();
      const secret = Buffer.from(SECRET);
      const binary = new Writer().byte('I').int32(USERS).byte('N').int16(3).byte('t').int32(2).raw(Buffer.from('42')).byte('b').int32(secret.length).raw(secret).byte('n').build();
      const e = errorOf(() => d.decode(binary));
      expect(e.message).toBe(`pgoutput Insert on public.users: column "email" is in binary format; decode with the default text format (no 'binary' option)`);
    });

    it('a value in any malformed message', () => {
      const d = decoderWithUsers();
      const whole = updateMsg(USERS, ['43', SECRET, SECRET], { part: 'K', values: ['42', null, null] });
      // Every single-byte corruption: whatever is reported, the value is not in it.
      for (let i = 0; i < whole.length; i++) {
        for (const v of [0x00, 0x4e, 0x62, 0x74, 0xff]) {
          const bad = Buffer.from(whole);
          bad[i] = v;
          try {
            d.decode(bad);
          } catch (e) {
            expect(e).toBeInstanceOf(PgoutputError);
            expect((e as Error).message).not.toContain('ada');
            expect((e as Error).message).not.toContain('example');
          }
        }
      }
    });

    it('an unknown tag, an unknown column kind and a missing tuple marker', () => {
      const d = decoderWithUsers();
      expect(errorOf(() => d.decode(Buffer.from('S'))).message).toMatch(/^pgoutput: unknown message tag 0x53 \(protocol version 1 sends B C O R Y I U D T M\)$/);
      const badKind = new Writer().byte('I').int32(USERS).byte('N').int16(3).byte('x').build();
      expect(errorOf(() => d.decode(badKind)).message).toBe('pgoutput Insert on public.users: column "id" has unknown kind 0x78');
      expect(errorOf(() => d.decode(new Writer().byte('D').int32(USERS).byte('N').raw(tuple(['1', null, null])).build())).message).toMatch(/Delete on public.users: expected tuple marker K or O/);
      expect(errorOf(() => d.decode(new Writer().byte('I').int32(USERS).byte('K').raw(tuple(['1', null, null])).build())).message).toMatch(/expected new tuple marker N/);
    });

    it('REPLICA IDENTITY FULL without named key columns (every column would be a key)', () => {
      const d = new PgoutputDecoder();
      expect(() => d.decode(relationMsg(7, 'public', 'users', [{ name: 'id', key: true }, { name: 'email', key: true }], 'f'))).toThrow(/REPLICA IDENTITY FULL flags every column as key; name its key columns/);
    });

    it('a named key column that is missing, or not part of the replica identity', () => {
      const missing = new PgoutputDecoder({ keyColumnsOf: () => ['user_id'] });
      expect(() => missing.decode(relationMsg(USERS, 'public', 'users', usersColumns))).toThrow('pgoutput Relation public.users: key column "user_id" is not among its published columns');
      const outside = new PgoutputDecoder({ keyColumnsOf: () => ['email'] });
      expect(() => outside.decode(relationMsg(USERS, 'public', 'users', usersColumns))).toThrow(/key column "email" is not part of its replica identity \(relreplident d\), so the server sends no old value/);
    });
  });

  describe('bytes a PostgreSQL 15 server sent', () => {
    const hex = (s: string) => Buffer.from(s, 'hex');
    // create type mood as enum (...); create table orders (a int, b text, payload text, m mood, primary key (a, b));
    // create table full_t (id int, name text) with replica identity full; people (id int primary key, ...).
    // Messages picked from one peek with proto_version 1 (and 'messages' 'true' for the M).
    const orders = [
      '420000000001554fa8000304a6e0ba84f0000002e1', // Begin
      '59000040017075626c6963006d6f6f6400', // Type public.mood
      '520000400d7075626c6963006f72646572730064000401610000000017ffffffff01620000000019ffffffff007061796c6f61640000000019ffffffff006d0000004001ffffffff',
      '490000400d4e000474000000013774000000036b2d62740000000e7365637265742d7061796c6f616474000000026f6b', // insert (7, 'k-b', 'secret-payload', 'ok')
      '43000000000001554fa80000000001554fd8000304a6e0ba84f0', // Commit
      '550000400d4b000474000000013774000000036b2d626e6e4e000474000000013774000000046b2d6232740000000e7365637265742d7061796c6f616474000000026f6b', // set b = 'k-b2'
      '440000400d4b000474000000013774000000046b2d62326e6e', // delete
      '52000040147075626c69630066756c6c5f74006600020169640000000017ffffffff016e616d650000000019ffffffff', // full_t
      '55000040144f0002740000000131740000000b7365637265742d6e616d654e0002740000000131740000000d7365637265742d6e616d652d32',
      '44000040144f0002740000000131740000000d7365637265742d6e616d652d32',
      '4f00000000000000006f3100', // Origin 'o1'
      '4d010000000001557ca8706678000000000a7365637265742d6d7367', // pg_logical_emit_message(true, 'pfx', 'secret-msg')
      '52000040057075626c69630070656f706c65006400040169640000000017ffffffff00656d61696c0000000019ffffffff006e6f74650000000019ffffffff006167650000000017ffffffff', // people
      '540000000200000040050000400d', // truncate people, orders
    ];

    it('decode to the relations and keys the server sent, and no other value', () => {
      const d = new PgoutputDecoder({ keyColumnsOf: (_schema, table) => (table === 'full_t' ? ['id'] : undefined) });
      const decoded: DecodedMessage[] = orders.map((m) => d.decode(hex(m)));
      const where = { schema: 'public', table: 'orders' };
      expect(decoded).toEqual([
        { kind: 'begin', finalLsn: '0/1554FA8', committedAt: 1_796_224_511_534, xid: 737 },
        { kind: 'other', tag: 'Y' },
        { kind: 'relation', ...where },
        { kind: 'insert', ...where, keys: { a: '7', b: 'k-b' } },
        { kind: 'commit', commitLsn: '0/1554FA8', endLsn: '0/1554FD8' },
        { kind: 'update', ...where, keys: { a: '7', b: 'k-b2' }, oldKeys: { a: '7', b: 'k-b' } },
        { kind: 'delete', ...where, keys: { a: '7', b: 'k-b2' } },
        { kind: 'relation', schema: 'public', table: 'full_t' },
        { kind: 'update', schema: 'public', table: 'full_t', keys: { id: '1' }, oldKeys: { id: '1' } },
        { kind: 'delete', schema: 'public', table: 'full_t', keys: { id: '1' } },
        { kind: 'other', tag: 'O' },
        { kind: 'other', tag: 'M' },
        { kind: 'relation', schema: 'public', table: 'people' },
        { kind: 'truncate', relations: [{ schema: 'public', table: 'people' }, { schema: 'public', table: 'orders' }] },
      ]);
      expect(JSON.stringify(decoded)).not.toContain('secret');
      expect(d.relation(0x400d)?.columns.map((c) => [c.name, c.typeOid, c.isKey])).toEqual([
        ['a', 23, true],
        ['b', 25, true],
        ['payload', 25, false],
        ['m', 0x4001, false],
      ]);
    });
  });
});

describe('LSNs', () => {
  it('format as pg_lsn prints them and parse back', () => {
    expect(formatLsn(0n)).toBe('0/0');
    expect(formatLsn(0x16b374d848n)).toBe('16/B374D848');
    expect(formatLsn(0xffffffffffffffffn)).toBe('FFFFFFFF/FFFFFFFF');
    expect(parseLsn('16/b374d848')).toBe(0x16b374d848n);
    expect(() => parseLsn('16-B374D848')).toThrow(PgoutputError);
    expect(() => parseLsn('123456789/0')).toThrow(/expected an LSN as X\/Y in hex/);
  });

  it('compare by value, not as text', () => {
    expect(compareLsn('0/1554FA8', '0/1554FD8')).toBeLessThan(0);
    expect(compareLsn('A/0', '9/FFFFFFFF')).toBeGreaterThan(0);
    expect(compareLsn('0/F', '0/10')).toBeLessThan(0);
    expect(compareLsn('1/a', '1/A')).toBe(0);
  });
});
