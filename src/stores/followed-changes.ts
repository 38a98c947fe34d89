/**
 * Delta sync's followed changes (logical mode): what the slot's follower kept of the stream,
 * until the round that took it is confirmed, and how far the stream is kept complete. The
 * control database's `sync_followed` and `sync_follow_state` tables.
 */
import type { Knex } from 'knex';
import { CONTROL_SCHEMA } from '../control/schema';
import type { FollowedRow } from '../core/followed-changes';

const ROWS = `${CONTROL_SCHEMA}.sync_followed`;
const STATE = `${CONTROL_SCHEMA}.sync_follow_state`;

export interface FollowState {
  /** Every transaction that commits before this position is kept (null: nothing followed yet). */
  followedTo: string | null;
  /** Rounds applied everything before this position: the slot may be confirmed to it. */
  confirmed: string | null;
  /** Seconds since the follower last moved or touched its position. */
  ageSeconds: number;
}

export interface FollowedChanges {
  /** Keeps rows (a row kept before is kept once) and moves the followed position forward, at once. */
  append(migrationId: string, rows: readonly FollowedRow[], followedTo: string | undefined): Promise<void>;
  state(migrationId: string): Promise<FollowState | undefined>;
  /**
   * The rows of transactions that commit before `upTo`, at most about `limit` (whole
   * transactions): `through` is where they end (every transaction before it is in `rows`).
   */
  before(migrationId: string, upTo: string, limit: number): Promise<{ rows: FollowedRow[]; through: string; more: boolean }>;
  /** Rounds applied every transaction before `lsn`: the rows before it go. */
  confirm(migrationId: string, lsn: string): Promise<void>;
  /** The migration's sync ended: everything goes. */
  forget(migrationId: string): Promise<void>;
}

interface Row {
  commit_lsn: string;
  lsn: string;
  kind: 'c' | 'd' | 't';
  entity: string;
  source_key: string;
  committed_at: number;
}

const asFollowed = (r: Row): FollowedRow => ({ commitLsn: r.commit_lsn, lsn: r.lsn, kind: r.kind, entity: r.entity, sourceKey: r.source_key, committedAt: Number(r.committed_at) });

export function pgFollowedChanges(control: Knex): FollowedChanges {
  return {
    async append(migrationId, rows, followedTo) {
      await control.transaction(async (trx) => {
        for (let i = 0; i < rows.length; i += 5000) {
          const slice = rows.slice(i, i + 5000).map((r) => [r.commitLsn, r.lsn, r.kind, r.entity, r.sourceKey, r.committedAt]);
          await trx.raw(
            `insert into ${ROWS} (migration_id, commit_lsn, lsn, kind, entity, source_key, committed_at)
             select ?, (r->>0)::pg_lsn, (r->>1)::pg_lsn, r->>2, r->>3, r->>4, (r->>5)::float8 from json_array_elements(?::json) as r on conflict do nothing`,
            [migrationId, JSON.stringify(slice)],
          );
        }
        await trx.raw(
          `insert into ${STATE} as s (migration_id, followed_to) values (?, ?::pg_lsn)
           on conflict (migration_id) do update set followed_to = greatest(s.followed_to, excluded.followed_to), updated_at = now()`,
          [migrationId, followedTo ?? null],
        );
      });
    },
    async state(migrationId) {
      const r = await control.raw(`select followed_to::text, confirmed::text, extract(epoch from now() - updated_at)::float8 as age from ${STATE} where migration_id = ?`, [migrationId]);
      const row = r.rows[0] as { followed_to: string | null; confirmed: string | null; age: number } | undefined;
      return row ? { followedTo: row.followed_to, confirmed: row.confirmed, ageSeconds: row.age } : undefined;
    },
    async before(migrationId, upTo, limit) {
      const cols = 'commit_lsn::text, lsn::text, kind, entity, source_key, committed_at';
      const { rows } = await control.raw(`select ${cols} from ${ROWS} where migration_id = ? and commit_lsn < ?::pg_lsn order by commit_lsn, lsn limit ?`, [migrationId, upTo, limit + 1]);
      const got = rows as Row[];
      if (got.length <= limit) return { rows: got.map(asFollowed), through: upTo, more: false };
      // Cut between transactions: before the first one not taken whole (one larger than the limit is taken whole).
      let cut = got[limit]!.commit_lsn;
      if (cut === got[0]!.commit_lsn) {
        const next = await control.raw(`select min(commit_lsn)::text as c from ${ROWS} where migration_id = ? and commit_lsn > ?::pg_lsn and commit_lsn < ?::pg_lsn`, [migrationId, cut, upTo]);
        const whole = await control.raw(`select ${cols} from ${ROWS} where migration_id = ? and commit_lsn = ?::pg_lsn order by lsn`, [migrationId, cut]);
        cut = next.rows[0].c ?? upTo;
        return { rows: (whole.rows as Row[]).map(asFollowed), through: cut, more: cut !== upTo };
      }
      return { rows: got.filter((r) => r.commit_lsn !== cut).map(asFollowed), through: cut, more: true };
    },
    async confirm(migrationId, lsn) {
      await control.transaction(async (trx) => {
        await trx.raw(`delete from ${ROWS} where migration_id = ? and commit_lsn < ?::pg_lsn`, [migrationId, lsn]);
        await trx.raw(
          `insert into ${STATE} as s (migration_id, confirmed) values (?, ?::pg_lsn)
           on conflict (migration_id) do update set confirmed = greatest(s.confirmed, excluded.confirmed)`,
          [migrationId, lsn],
        );
      });
    },
    async forget(migrationId) {
      await control.transaction(async (trx) => {
        await trx.raw(`delete from ${ROWS} where migration_id = ?`, [migrationId]);
        await trx.raw(`delete from ${STATE} where migration_id = ?`, [migrationId]);
      });
    },
  };
}
