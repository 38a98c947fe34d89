import { Context } from '@temporalio/activity';
import { batchSizeOf } from '../../plan/types';
import { nextRangeSql, treeParentColumn, treeShapeSql, UNREACHED_LEVEL } from '../../plan/source-sql';
import type { KeyRange, RangePage } from '../../shared/migration';
import { MigrationContext } from './context';
import { withoutValues } from './errors';

export interface RangeRequest {
  migrationId: string;
  entity: string;
  /** Start after this source key; null for the beginning. For a tree: `{"level":n,"after":key}` as JSON. */
  after: string | null;
  maxRanges: number;
  /** Rows per range, when an operator changed it while the migration runs; default: the plan's. */
  batchSize?: number;
  /** Stop at this source key (inclusive): planning the rest of a span again at another batch size. */
  upTo?: string;
}

/** Where planning stands in a tree: the level, and the last key taken in it. */
interface TreeCursor {
  level: number;
  after: string | null;
}

export function createRangeActivities(ctx: MigrationContext) {
  return {
    /**
     * Splits the source (a table or the plan's query) into keyset ranges of `batch_size` rows,
     * walking its key (never OFFSET); a tree level by level, its unreached rows last. Heartbeats
     * its cursor; a retried attempt resumes from it.
     */
    async planRanges(req: RangeRequest): Promise<RangePage> {
      const loaded = await ctx.plan(req.migrationId);
      const { spec } = loaded.entity(req.entity);
      const batchSize = req.batchSize ?? batchSizeOf(loaded.plan, spec);
      const tree = treeParentColumn(spec) !== undefined;
      let resumed: { after: string | null; ranges: KeyRange[] } | undefined;
      try {
        resumed = Context.current().info.heartbeatDetails as typeof resumed;
      } catch {
        /* not in an activity */
      }
      let after = resumed?.after ?? req.after;
      const ranges: KeyRange[] = resumed?.ranges ?? [];
      const read = <T>(q: { sql: string; bindings: unknown[] }) =>
        loaded.source
          .raw(q.sql, q.bindings as never)
          .then((r) => r.rows[0] as T)
          .catch((err) => withoutValues(`plan batches of ${req.entity}`, err));
      const shape = tree ? await read<{ depth: number; unreached: boolean }>(treeShapeSql(spec)) : undefined;
      for (;;) {
        if (ranges.length >= req.maxRanges) return { ranges, next: after, done: false };
        const cursor: TreeCursor | undefined = tree ? (after === null ? { level: 0, after: null } : (JSON.parse(after) as TreeCursor)) : undefined;
        if (cursor && cursor.level > shape!.depth && cursor.level !== UNREACHED_LEVEL) {
          // Every level walked: the rows no root reaches come last (they load as orphans).
          if (!shape!.unreached) return { ranges, next: null, done: true };
          cursor.level = UNREACHED_LEVEL;
          cursor.after = null;
        }
        const range = cursor ? { afterKey: cursor.after, level: cursor.level } : { afterKey: after };
        const row = await read<{ last: string | null; n: number }>(nextRangeSql(spec, range, batchSize, req.upTo));
        const rows = Number(row?.n ?? 0);
        if (rows > 0) ranges.push({ afterKey: range.afterKey, lastKey: row.last!, rows, ...(cursor ? { level: cursor.level } : {}) });
        const levelDone = rows < batchSize;
        if (!cursor) {
          if (rows === 0) return { ranges, next: null, done: true };
          after = row.last!;
        } else if (!levelDone) {
          after = JSON.stringify({ level: cursor.level, after: row.last } satisfies TreeCursor);
        } else if (cursor.level === UNREACHED_LEVEL) {
          return { ranges, next: null, done: true };
        } else {
          after = JSON.stringify({ level: cursor.level + 1, after: null } satisfies TreeCursor);
        }
        try {
          Context.current().heartbeat({ after, ranges });
        } catch {
          /* not in an activity */
        }
        if (!cursor && levelDone) return { ranges, next: null, done: true };
      }
    },
  };
}
