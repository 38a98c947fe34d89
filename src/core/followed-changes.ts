/**
 * What a follower of a logical slot keeps of the stream (pure): per row change of a plan table,
 * the entity, the source key, the kind and the commit it belongs to; and how far the stream is
 * known complete. Rounds take their keys from what was kept, so the slot's WAL is decoded once,
 * as it is written, instead of again by every round (pg_logical_slot_peek_* decodes all the WAL
 * the slot retains, from its restart position, each time it is called).
 */
import type { DecodedMessage } from './pgoutput';

/** One row change kept: `t` a truncation of the entity's table (no key), `d` a delete, `c` any other change. */
export interface FollowedRow {
  /** Where the change's transaction commits: a round takes the transactions that commit before its position. */
  commitLsn: string;
  /** The WAL position of the change itself (with the rest, it names the row uniquely: a stream read again keeps nothing twice). */
  lsn: string;
  kind: 'c' | 'd' | 't';
  entity: string;
  sourceKey: string;
  /** The transaction's commit time, Unix milliseconds (the round's lag). */
  committedAt: number;
}

export interface EntityTable {
  entity: string;
  key: string;
}

/**
 * Folds the decoded stream into rows and a position. `followedTo` moves only between
 * transactions: after a Commit (to its end), or to a keepalive's position when no transaction is
 * open (every transaction that committed before it was sent before it).
 */
export class FollowBuffer {
  private rows: FollowedRow[] = [];
  private open: { commitLsn: string; committedAt: number; rows: FollowedRow[] } | undefined;
  private position: string | undefined;

  constructor(private readonly tables: ReadonlyMap<string, EntityTable>) {}

  /** One decoded pgoutput message and the WAL position of its record. */
  onMessage(m: DecodedMessage, lsn: string): void {
    if (m.kind === 'begin') {
      this.open = { commitLsn: m.finalLsn, committedAt: m.committedAt, rows: [] };
      return;
    }
    if (m.kind === 'commit') {
      if (this.open) this.rows.push(...this.open.rows);
      this.open = undefined;
      this.position = m.endLsn;
      return;
    }
    if (!this.open) return;
    const t = this.open;
    if (m.kind === 'truncate') {
      for (const r of m.relations) {
        const e = this.tables.get(`${r.schema}.${r.table}`);
        if (e) t.rows.push({ commitLsn: t.commitLsn, lsn, kind: 't', entity: e.entity, sourceKey: '', committedAt: t.committedAt });
      }
      return;
    }
    if (m.kind !== 'insert' && m.kind !== 'update' && m.kind !== 'delete') return;
    const e = this.tables.get(`${m.schema}.${m.table}`);
    if (!e) return;
    const keys = new Set<string>();
    for (const values of [m.keys, m.oldKeys]) {
      const key = values?.[e.key];
      if (key !== undefined && key !== null) keys.add(key);
    }
    // The row's current state is read again at stage: a key is all a change needs to carry.
    for (const sourceKey of keys) t.rows.push({ commitLsn: t.commitLsn, lsn, kind: m.kind === 'delete' ? 'd' : 'c', entity: e.entity, sourceKey, committedAt: t.committedAt });
  }

  onKeepalive(walEnd: string): void {
    if (!this.open) this.position = walEnd;
  }

  /** Whether a transaction is open (its rows are held until its Commit). */
  get inTransaction(): boolean {
    return this.open !== undefined;
  }

  /** The rows of committed transactions since the last take, and the position the stream is complete to (if it moved). */
  take(): { rows: FollowedRow[]; followedTo: string | undefined } {
    const out = { rows: this.rows, followedTo: this.position };
    this.rows = [];
    this.position = undefined;
    return out;
  }
}
