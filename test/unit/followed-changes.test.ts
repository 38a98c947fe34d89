import { FollowBuffer } from '../../src/core/followed-changes';
import type { DecodedMessage } from '../../src/core/pgoutput';
import { parseServerMessage, ReplicationMessageError, standbyStatusUpdate, startReplicationCommand } from '../../src/core/replication-stream';

const tables = new Map([
  ['public.users', { entity: 'users', key: 'id' }],
  ['public.courses', { entity: 'courses', key: 'code' }],
]);
const begin = (finalLsn: string, committedAt = 1000): DecodedMessage => ({ kind: 'begin', finalLsn, committedAt, xid: 7 });
const commit = (commitLsn: string, endLsn: string): DecodedMessage => ({ kind: 'commit', commitLsn, endLsn, committedAt: 0 }) as DecodedMessage;
const change = (kind: 'insert' | 'update' | 'delete', table: string, keys: Record<string, string | null>, oldKeys?: Record<string, string | null>): DecodedMessage =>
  ({ kind, schema: 'public', table, keys, ...(oldKeys ? { oldKeys } : {}) }) as unknown as DecodedMessage;

describe('the slot follower keeps the stream', () => {
  it('keeps the keys of plan tables, with their commit, kind and time; the position moves at the Commit', () => {
    const b = new FollowBuffer(tables);
    b.onMessage(begin('0/200', 5000), '0/100');
    b.onMessage(change('insert', 'users', { id: '1' }), '0/110');
    b.onMessage(change('delete', 'users', { id: '2' }), '0/120');
    b.onMessage(change('update', 'other', { id: '3' }), '0/130'); // not a plan table
    // A key change carries both keys: the old row is gone, the new one is there.
    b.onMessage(change('update', 'courses', { code: 'B' }, { code: 'A' }), '0/140');
    // Before its Commit: the rows, each with the commit its Begin named; the position does not move.
    expect(b.held).toBe(4);
    expect(b.take()).toEqual({
      rows: [
        { commitLsn: '0/200', lsn: '0/110', kind: 'c', entity: 'users', sourceKey: '1', committedAt: 5000 },
        { commitLsn: '0/200', lsn: '0/120', kind: 'd', entity: 'users', sourceKey: '2', committedAt: 5000 },
        { commitLsn: '0/200', lsn: '0/140', kind: 'c', entity: 'courses', sourceKey: 'B', committedAt: 5000 },
        { commitLsn: '0/200', lsn: '0/140', kind: 'c', entity: 'courses', sourceKey: 'A', committedAt: 5000 },
      ],
      followedTo: undefined,
    });
    expect(b.held).toBe(0);
    b.onMessage(commit('0/200', '0/228'), '0/200');
    expect(b.take()).toEqual({ rows: [], followedTo: '0/228' });
    expect(b.take()).toEqual({ rows: [], followedTo: undefined });
  });

  it('never holds a large transaction whole: taken piece by piece, the position moves only once it is all there', () => {
    const b = new FollowBuffer(tables);
    b.onMessage(begin('9/0'), '1/0');
    const pieces: { rows: number; followedTo: string | undefined }[] = [];
    for (let i = 0; i < 100_000; i++) {
      b.onMessage(change('update', 'users', { id: String(i) }), `1/${i.toString(16)}`);
      if (b.held >= 10_000) pieces.push({ rows: b.take().rows.length, followedTo: undefined });
    }
    b.onMessage(commit('9/0', '9/28'), '9/0');
    const last = b.take();
    expect(pieces).toHaveLength(10);
    expect(pieces.every((p) => p.rows === 10_000)).toBe(true);
    expect(last).toEqual({ rows: [], followedTo: '9/28' });
  });

  it('moves its position by a keepalive only between transactions', () => {
    const b = new FollowBuffer(tables);
    b.onKeepalive('0/500');
    expect(b.take().followedTo).toBe('0/500');
    b.onMessage(begin('0/900'), '0/600');
    b.onMessage(change('insert', 'users', { id: '9' }), '0/610');
    // The walsender may send a keepalive while it sends a transaction: the transaction is not complete there.
    b.onKeepalive('0/800');
    expect(b.inTransaction).toBe(true);
    expect(b.take()).toMatchObject({ rows: [{ sourceKey: '9', commitLsn: '0/900' }], followedTo: undefined });
    b.onMessage(commit('0/900', '0/928'), '0/900');
    expect(b.take()).toEqual({ followedTo: '0/928', rows: [] });
  });

  it('keeps a truncation of a plan table as one row without a key', () => {
    const b = new FollowBuffer(tables);
    b.onMessage(begin('0/300'), '0/280');
    b.onMessage({ kind: 'truncate', relations: [{ schema: 'public', table: 'courses' }, { schema: 'public', table: 'other' }] } as unknown as DecodedMessage, '0/290');
    b.onMessage(commit('0/300', '0/328'), '0/300');
    expect(b.take().rows).toEqual([{ commitLsn: '0/300', lsn: '0/290', kind: 't', entity: 'courses', sourceKey: '', committedAt: 1000 }]);
  });
});

describe('the streaming replication messages', () => {
  const u64 = (n: bigint) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(n);
    return b;
  };

  it('parses XLogData and keepalives', () => {
    const data = Buffer.from('B-payload');
    expect(parseServerMessage(Buffer.concat([Buffer.from('w'), u64(0x16b374d848n), u64(0x16b374d900n), u64(0n), data]))).toEqual({ kind: 'xlog', walStart: '16/B374D848', walEnd: '16/B374D900', data });
    expect(parseServerMessage(Buffer.concat([Buffer.from('k'), u64(0x1_0000_0010n), u64(0n), Buffer.from([1])]))).toEqual({ kind: 'keepalive', walEnd: '1/10', replyRequested: true });
    expect(parseServerMessage(Buffer.concat([Buffer.from('k'), u64(5n), u64(0n), Buffer.from([0])]))).toEqual({ kind: 'keepalive', walEnd: '0/5', replyRequested: false });
  });

  it('refuses what it does not know, naming the tag or the size', () => {
    expect(() => parseServerMessage(Buffer.from('x'))).toThrow(/unknown message tag "x"/);
    expect(() => parseServerMessage(Buffer.from('k12'))).toThrow(ReplicationMessageError);
    expect(() => parseServerMessage(Buffer.alloc(0))).toThrow(/empty/);
  });

  it('writes a standby status update of 34 bytes, positions and clock in PostgreSQL epoch microseconds', () => {
    const b = standbyStatusUpdate({ written: 0x20n, flushed: 0x10n, applied: 0x10n, nowMs: 946_684_800_000 + 1500, replyRequested: true });
    expect(b.length).toBe(34);
    expect(b.toString('latin1', 0, 1)).toBe('r');
    expect([b.readBigUInt64BE(1), b.readBigUInt64BE(9), b.readBigUInt64BE(17), b.readBigInt64BE(25), b[33]]).toEqual([0x20n, 0x10n, 0x10n, 1_500_000n, 1]);
  });

  it('quotes the slot and the publication, and refuses a position that is not an LSN', () => {
    expect(startReplicationCommand('cut"over', '0/0', "pub'x")).toBe(`START_REPLICATION SLOT "cut""over" LOGICAL 0/0 (proto_version '1', publication_names 'pub''x')`);
    expect(() => startReplicationCommand('s', "0/0; drop table x", 'p')).toThrow(/not an LSN/);
  });
});
