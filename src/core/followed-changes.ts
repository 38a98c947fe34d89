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
 *
 * A transaction's rows are given out as they come, before its Commit: pgoutput (protocol 1)
 * sends a transaction only once it has committed, and its Begin names where it commits, so each
 * row already carries its commit. What is kept of a transaction whose Commit has not come yet is
 * not taken by a round (rounds take what commits before the followed position, which is still
 * before this commit), and a follower that dies in it streams it again from the slot (rows kept
 * twice are kept once). So one transaction of millions of rows is never held whole in memory.
 */
export class FollowBuffer {
  private rows: FollowedRow[] = [];
  private open: { commitLsn: string; committedAt: number } | undefined;
  private position: string | undefined;

  constructor(private readonly tables: ReadonlyMap<string, EntityTable>) {}

  /** One decoded pgoutput message and the WAL position of its record. */
  onMessage(m: DecodedMessage, lsn: string): void {
    if (m.kind === 'begin') {
      this.open = { commitLsn: m.finalLsn, committedAt: m.committedAt };
      return;
    }
    if (m.kind === 'commit') {
      this.open = undefined;
      this.position = m.endLsn;
      return;
    }
    if (!this.open) return;
    const t = this.open;
    if (m.kind === 'truncate') {
      for (const r of m.relations) {
        const e = this.tables.get(`${r.schema}.${r.table}`);
        if (e) this.rows.push({ commitLsn: t.commitLsn, lsn, kind: 't', entity: e.entity, sourceKey: '', committedAt: t.committedAt });
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
    for (const sourceKey of keys) this.rows.push({ commitLsn: t.commitLsn, lsn, kind: m.kind === 'delete' ? 'd' : 'c', entity: e.entity, sourceKey, committedAt: t.committedAt });
  }

  onKeepalive(walEnd: string): void {
    if (!this.open) this.position = walEnd;
  }

  /** Whether a transaction's Commit has not come yet (the followed position waits for it). */
  get inTransaction(): boolean {
    return this.open !== undefined;
  }

  /** Rows not taken yet. */
  get held(): number {
    return this.rows.length;
  }

  /** The rows since the last take (of a transaction not complete yet too), and the position the stream is complete to (if it moved). */
  take(): { rows: FollowedRow[]; followedTo: string | undefined } {
    const out = { rows: this.rows, followedTo: this.position };
    this.rows = [];
    this.position = undefined;
    return out;
  }
}
