/**
 * A decoder of PostgreSQL's logical replication output (`pgoutput`, protocol version 1), one
 * message at a time, as `pg_logical_slot_peek_binary_changes(slot, upto, n, 'proto_version', '1',
 * 'publication_names', pub)` returns them: each row's `data` is one message.
 *
 * Of a row change it keeps only the relation and the values of its key columns. Other columns'
 * bytes are stepped over, never turned into strings (they may be personal data), and no error
 * message carries a value: only tags, offsets, counts and the names of relations and columns.
 *
 * Formats: https://www.postgresql.org/docs/15/protocol-logicalrep-message-formats.html
 */

/** A column as the last Relation message described it. */
export interface RelationColumn {
  readonly name: string;
  readonly typeOid: number;
  /** Flag 1 in the Relation message: part of the replica identity (every column under FULL). */
  readonly isKey: boolean;
}

/** A relation as the last Relation message for its oid described it. */
export interface RelationInfo {
  readonly oid: number;
  readonly schema: string;
  readonly table: string;
  readonly columns: readonly RelationColumn[];
  /** `relreplident`: `d` default (primary key), `n` nothing, `f` full, `i` index. */
  readonly replicaIdentity: string;
}

/**
 * Key column name → its value in text form, or null for SQL NULL. A key column whose value the
 * server sent as "unchanged TOAST" (`u`) and that no old tuple supplies is absent.
 */
export type KeyValues = Record<string, string | null>;

export interface TableName {
  schema: string;
  table: string;
}

export type DecodedMessage =
  /** `committedAt`: the commit's time (ms since the Unix epoch), how far behind a change is. */
  | { kind: 'begin'; finalLsn: string; committedAt: number; xid: number }
  | { kind: 'commit'; commitLsn: string; endLsn: string }
  | ({ kind: 'relation' } & TableName)
  | RowChange
  | { kind: 'truncate'; relations: TableName[] }
  /** Origin (`O`), Type (`Y`) and logical decoding Message (`M`): checked, nothing kept. */
  | { kind: 'other'; tag: 'O' | 'Y' | 'M' };

export interface RowChange extends TableName {
  kind: 'insert' | 'update' | 'delete';
  /**
   * Insert and update: from the new tuple; delete: from the old one. Undefined when the
   * relation has no key columns (no replica identity and none named by `keyColumnsOf`).
   */
  keys: KeyValues | undefined;
  /**
   * Update only, when the server sent an old tuple: with `K` because a replica identity column
   * changed (or one is stored out of line); with `O` (REPLICA IDENTITY FULL) on every update,
   * so compare it with `keys`.
   */
  oldKeys?: KeyValues;
}

export interface PgoutputDecoderOptions {
  /**
   * The key columns of a table when the caller names them (an entity's source key in the plan);
   * they take precedence over the replica identity flags. Each must be part of the replica
   * identity, or the server would not send its old value on update and delete.
   * @default the columns the Relation message flags as replica identity
   */
  keyColumnsOf?: (schema: string, table: string) => readonly string[] | undefined;
}

/** A message the decoder cannot read. Its message names tags, offsets, relations and columns, never a value. */
export class PgoutputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PgoutputError';
  }
}

interface CachedRelation {
  readonly info: RelationInfo;
  /** Indexes into `info.columns` of the key columns, in the order the caller named them (or column order). */
  readonly keyIndexes: readonly number[];
}

const MESSAGE_NAMES: Record<string, string> = {
  B: 'Begin',
  C: 'Commit',
  O: 'Origin',
  R: 'Relation',
  Y: 'Type',
  I: 'Insert',
  U: 'Update',
  D: 'Delete',
  T: 'Truncate',
  M: 'Message',
};

export class PgoutputDecoder {
  private readonly relations = new Map<number, CachedRelation>();

  constructor(private readonly options: PgoutputDecoderOptions = {}) {}

  /** The relation as last described, if a Relation message for `oid` was decoded. */
  relation(oid: number): RelationInfo | undefined {
    return this.relations.get(oid)?.info;
  }

  decode(message: Buffer): DecodedMessage {
    if (message.length === 0) throw new PgoutputError('pgoutput: empty message');
    const tag = String.fromCharCode(message[0]!);
    const name = MESSAGE_NAMES[tag];
    if (!name) {
      // Protocol version 1 sends only the tags above; anything else (a stream or prepare message
      // of a later version) would be a change we cannot follow, so it is not skipped.
      throw new PgoutputError(`pgoutput: unknown message tag 0x${message[0]!.toString(16).padStart(2, '0')} (protocol version 1 sends ${Object.keys(MESSAGE_NAMES).join(' ')})`);
    }
    const r = new Reader(message, `pgoutput ${name} message`);
    const decoded = this.decodeBody(tag, r);
    r.end();
    return decoded;
  }

  private decodeBody(tag: string, r: Reader): DecodedMessage {
    switch (tag) {
      case 'B': {
        const finalLsn = formatLsn(r.u64('final LSN'));
        const committedAt = pgTimestampMs(r.u64('commit timestamp'));
        return { kind: 'begin', finalLsn, committedAt, xid: r.u32('xid') };
      }
      case 'C': {
        r.u8('flags');
        const commitLsn = formatLsn(r.u64('commit LSN'));
        const endLsn = formatLsn(r.u64('end LSN'));
        r.u64('commit timestamp');
        return { kind: 'commit', commitLsn, endLsn };
      }
      case 'O':
        r.u64('origin commit LSN');
        r.cstring('origin name');
        return { kind: 'other', tag };
      case 'Y':
        r.u32('type oid');
        r.cstring('type namespace');
        r.cstring('type name');
        return { kind: 'other', tag };
      case 'M':
        r.u8('flags');
        r.u64('message LSN');
        r.cstring('prefix');
        r.skip(r.u32('content length'), 'content');
        return { kind: 'other', tag };
      case 'R':
        return this.decodeRelation(r);
      case 'I': {
        const rel = this.cached(r.u32('relation oid'), 'Insert');
        r.expect('N', 'new tuple marker');
        return { kind: 'insert', schema: rel.info.schema, table: rel.info.table, keys: readKeys(r, rel, 'Insert') };
      }
      case 'U': {
        const rel = this.cached(r.u32('relation oid'), 'Update');
        let oldKeys: KeyValues | undefined;
        let part = r.char('tuple marker');
        if (part === 'K' || part === 'O') {
          oldKeys = readKeys(r, rel, 'Update');
          part = r.char('new tuple marker');
        }
        if (part !== 'N') throw new PgoutputError(`pgoutput Update on ${nameOf(rel.info)}: expected tuple marker K, O or N, got 0x${part.charCodeAt(0).toString(16)}`);
        // An unchanged out-of-line key value is the old one (the server sends the old key then).
        const keys = readKeys(r, rel, 'Update', oldKeys);
        const change: RowChange = { kind: 'update', schema: rel.info.schema, table: rel.info.table, keys };
        if (oldKeys) change.oldKeys = oldKeys;
        return change;
      }
      case 'D': {
        const rel = this.cached(r.u32('relation oid'), 'Delete');
        const part = r.char('old tuple marker');
        if (part !== 'K' && part !== 'O') throw new PgoutputError(`pgoutput Delete on ${nameOf(rel.info)}: expected tuple marker K or O, got 0x${part.charCodeAt(0).toString(16)}`);
        return { kind: 'delete', schema: rel.info.schema, table: rel.info.table, keys: readKeys(r, rel, 'Delete') };
      }
      case 'T': {
        const count = r.u32('relation count');
        r.u8('options');
        const relations: TableName[] = [];
        for (let i = 0; i < count; i++) {
          const rel = this.cached(r.u32('relation oid'), 'Truncate');
          relations.push({ schema: rel.info.schema, table: rel.info.table });
        }
        return { kind: 'truncate', relations };
      }
      default:
        throw new PgoutputError(`pgoutput: no decoder for tag ${tag}`);
    }
  }

  private decodeRelation(r: Reader): DecodedMessage {
    const oid = r.u32('relation oid');
    const schema = r.cstring('namespace');
    const table = r.cstring('relation name');
    const replicaIdentity = r.char('replica identity');
    const count = r.u16('column count');
    const columns: RelationColumn[] = [];
    for (let i = 0; i < count; i++) {
      const flags = r.u8('column flags');
      const name = r.cstring('column name');
      const typeOid = r.u32('column type oid');
      r.u32('column type modifier');
      columns.push({ name, typeOid, isKey: (flags & 1) === 1 });
    }
    const info: RelationInfo = { oid, schema, table, columns, replicaIdentity };
    // A Relation message is re-sent when the table changes (and at the start of each decoding
    // session): the newest description replaces the old one.
    this.relations.set(oid, { info, keyIndexes: this.keyIndexesOf(info) });
    return { kind: 'relation', schema, table };
  }

  private keyIndexesOf(rel: RelationInfo): number[] {
    const named = this.options.keyColumnsOf?.(rel.schema, rel.table);
    if (named) {
      return named.map((column) => {
        const i = rel.columns.findIndex((c) => c.name === column);
        if (i < 0) throw new PgoutputError(`pgoutput Relation ${nameOf(rel)}: key column "${column}" is not among its published columns`);
        if (!rel.columns[i]!.isKey) {
          throw new PgoutputError(
            `pgoutput Relation ${nameOf(rel)}: key column "${column}" is not part of its replica identity (relreplident ${rel.replicaIdentity}), so the server sends no old value for it on update or delete; ` +
              'make it part of the replica identity (ALTER TABLE ... REPLICA IDENTITY USING INDEX or FULL)',
          );
        }
        return i;
      });
    }
    if (rel.replicaIdentity === 'f') {
      // FULL flags every column as key: returning them all would return every value of the row.
      throw new PgoutputError(`pgoutput Relation ${nameOf(rel)}: REPLICA IDENTITY FULL flags every column as key; name its key columns (keyColumnsOf) so no other value is returned`);
    }
    return rel.columns.flatMap((c, i) => (c.isKey ? [i] : []));
  }

  private cached(oid: number, message: string): CachedRelation {
    const rel = this.relations.get(oid);
    if (rel) return rel;
    throw new PgoutputError(`pgoutput ${message}: relation oid ${oid} has had no Relation message (decode every message of a peek, from its first)`);
  }
}

/**
 * The key values of one TupleData; other columns are stepped over without being decoded. A key
 * column sent as unchanged TOAST (`u`) takes its value from `unchanged`, or is left out.
 */
function readKeys(r: Reader, rel: CachedRelation, message: string, unchanged?: KeyValues): KeyValues | undefined {
  const { info, keyIndexes } = rel;
  const count = r.u16('tuple column count');
  if (count !== info.columns.length) {
    throw new PgoutputError(`pgoutput ${message} on ${nameOf(info)}: tuple has ${count} columns, its Relation message ${info.columns.length}`);
  }
  const values = new Map<number, string | null>();
  for (let i = 0; i < count; i++) {
    const kind = r.char('column kind');
    if (kind === 'n') {
      values.set(i, null);
    } else if (kind === 't') {
      const length = r.u32('value length');
      if (keyIndexes.includes(i)) values.set(i, r.utf8(length, 'value'));
      else r.skip(length, 'value');
    } else if (kind === 'b') {
      throw new PgoutputError(`pgoutput ${message} on ${nameOf(info)}: column "${info.columns[i]!.name}" is in binary format; decode with the default text format (no 'binary' option)`);
    } else if (kind === 'u') {
      const name = info.columns[i]!.name;
      if (unchanged && Object.hasOwn(unchanged, name)) values.set(i, unchanged[name]!);
    } else {
      throw new PgoutputError(`pgoutput ${message} on ${nameOf(info)}: column "${info.columns[i]!.name}" has unknown kind 0x${kind.charCodeAt(0).toString(16)}`);
    }
  }
  if (keyIndexes.length === 0) return undefined;
  // fromEntries defines own properties, so a column named __proto__ stays a key.
  return Object.fromEntries(keyIndexes.filter((i) => values.has(i)).map((i) => [info.columns[i]!.name, values.get(i)!]));
}

function nameOf(rel: TableName): string {
  return `${rel.schema}.${rel.table}`;
}

/** Reads big-endian fields in order, naming the field and offset when the message ends early. */
class Reader {
  private at = 1;

  constructor(
    private readonly buf: Buffer,
    private readonly what: string,
  ) {}

  private take(n: number, field: string): number {
    if (this.at + n > this.buf.length) {
      throw new PgoutputError(`${this.what} is truncated: ${field} needs ${n} byte(s) at offset ${this.at}, ${this.buf.length - this.at} left`);
    }
    const at = this.at;
    this.at += n;
    return at;
  }

  u8(field: string): number {
    return this.buf.readUInt8(this.take(1, field));
  }

  char(field: string): string {
    return String.fromCharCode(this.u8(field));
  }

  expect(char: string, field: string): void {
    const got = this.u8(field);
    if (got !== char.charCodeAt(0)) throw new PgoutputError(`${this.what}: expected ${field} ${char} at offset ${this.at - 1}, got 0x${got.toString(16)}`);
  }

  u16(field: string): number {
    return this.buf.readUInt16BE(this.take(2, field));
  }

  u32(field: string): number {
    return this.buf.readUInt32BE(this.take(4, field));
  }

  u64(field: string): bigint {
    return this.buf.readBigUInt64BE(this.take(8, field));
  }

  cstring(field: string): string {
    const end = this.buf.indexOf(0, this.at);
    if (end < 0) throw new PgoutputError(`${this.what} is truncated: ${field} at offset ${this.at} has no terminating zero byte`);
    const s = this.buf.toString('utf8', this.at, end);
    this.at = end + 1;
    return s;
  }

  utf8(n: number, field: string): string {
    const at = this.take(n, field);
    return this.buf.toString('utf8', at, at + n);
  }

  skip(n: number, field: string): void {
    this.take(n, field);
  }

  end(): void {
    if (this.at !== this.buf.length) throw new PgoutputError(`${this.what} has ${this.buf.length - this.at} byte(s) after its last field`);
  }
}

/** An LSN in PostgreSQL's text form, as `pg_lsn` prints it: `16/B374D848`. */
export function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

/** The 64-bit value of an LSN in text form (`X/Y`, hex). */
export function parseLsn(text: string): bigint {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text);
  if (!m) throw new PgoutputError('parseLsn: expected an LSN as X/Y in hex, like 16/B374D848');
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

/** Orders two LSNs in text form: negative if `a` is earlier, 0 if equal, positive if later. */
export function compareLsn(a: string, b: string): number {
  const x = parseLsn(a);
  const y = parseLsn(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** PostgreSQL's epoch (2000-01-01) in Unix milliseconds. */
const PG_EPOCH_MS = 946_684_800_000;

/** A PostgreSQL timestamp (microseconds since 2000-01-01) as Unix milliseconds. */
export function pgTimestampMs(micros: bigint): number {
  return PG_EPOCH_MS + Number(micros / 1000n);
}
