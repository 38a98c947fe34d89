/**
 * The streaming replication protocol's CopyData messages, as a logical walsender exchanges them
 * after `START_REPLICATION SLOT … LOGICAL` (pure: bytes in, bytes out). From the server: XLogData
 * (`w`), carrying one message of the output plugin (here pgoutput, see pgoutput.ts), and the
 * primary keepalive (`k`), carrying how far the walsender has decoded. To the server: the standby
 * status update (`r`), saying how far the client has received and made durable what it was sent:
 * the slot is confirmed up to the flushed position, and the source may recycle the WAL before it.
 *
 * https://www.postgresql.org/docs/15/protocol-replication.html
 */
import { formatLsn } from './pgoutput';

export type ServerMessage =
  /** One output plugin message; `walStart` is the WAL position of the record it came from. */
  | { kind: 'xlog'; walStart: string; walEnd: string; data: Buffer }
  /**
   * `walEnd`: the walsender has decoded the WAL before it, and sent every transaction that
   * committed there. `replyRequested`: answer with a status update at once, or be disconnected.
   */
  | { kind: 'keepalive'; walEnd: string; replyRequested: boolean };

export class ReplicationMessageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReplicationMessageError';
  }
}

/** Parses one CopyData payload from a logical walsender. */
export function parseServerMessage(buf: Buffer): ServerMessage {
  if (buf.length < 1) throw new ReplicationMessageError('replication stream: an empty CopyData message');
  const tag = String.fromCharCode(buf[0]!);
  if (tag === 'w') {
    if (buf.length < 25) throw new ReplicationMessageError(`replication stream: XLogData of ${buf.length} bytes (at least 25 expected)`);
    return { kind: 'xlog', walStart: formatLsn(buf.readBigUInt64BE(1)), walEnd: formatLsn(buf.readBigUInt64BE(9)), data: buf.subarray(25) };
  }
  if (tag === 'k') {
    if (buf.length < 18) throw new ReplicationMessageError(`replication stream: a keepalive of ${buf.length} bytes (18 expected)`);
    return { kind: 'keepalive', walEnd: formatLsn(buf.readBigUInt64BE(1)), replyRequested: buf[17] === 1 };
  }
  throw new ReplicationMessageError(`replication stream: unknown message tag ${JSON.stringify(tag)} (0x${buf[0]!.toString(16)})`);
}

/** Microseconds between the Unix epoch and PostgreSQL's (2000-01-01). */
const PG_EPOCH_MICROS = 946_684_800_000_000n;

/**
 * A standby status update: received up to `written`, durable up to `flushed` (the slot's
 * confirmed position), applied up to `applied`; `replyRequested` asks for a keepalive at once.
 */
export function standbyStatusUpdate(p: { written: bigint; flushed: bigint; applied: bigint; nowMs: number; replyRequested: boolean }): Buffer {
  const buf = Buffer.alloc(34);
  buf.write('r', 0, 'latin1');
  buf.writeBigUInt64BE(p.written, 1);
  buf.writeBigUInt64BE(p.flushed, 9);
  buf.writeBigUInt64BE(p.applied, 17);
  buf.writeBigInt64BE(BigInt(Math.round(p.nowMs)) * 1000n - PG_EPOCH_MICROS, 25);
  buf.writeUInt8(p.replyRequested ? 1 : 0, 33);
  return buf;
}

/** `START_REPLICATION` for a logical slot with pgoutput (version 1) and a publication; names are quoted as identifiers and literals. */
export function startReplicationCommand(slot: string, fromLsn: string, publication: string): string {
  if (!/^[0-9A-F]+\/[0-9A-F]+$/i.test(fromLsn)) throw new ReplicationMessageError(`replication stream: ${JSON.stringify(fromLsn)} is not an LSN`);
  const ident = `"${slot.replace(/"/g, '""')}"`;
  const literal = `'${publication.replace(/'/g, "''")}'`;
  return `START_REPLICATION SLOT ${ident} LOGICAL ${fromLsn} (proto_version '1', publication_names ${literal})`;
}
