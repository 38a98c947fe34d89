import { Context } from '@temporalio/activity';
import { batchSizeOf } from '../../plan/types';
import { keyRanges, type ReadFirst } from '../../plan/key-ranges';
import type { KeyRange, RangePage } from '../../shared/migration';
import type { Stores } from '../../stores/stores';
import { withoutValues } from '../../stores/errors';

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

export function createRangeActivities(stores: Pick<Stores, 'plans'>) {
  return {
    /**
     * Splits the source (a table or the plan's query) into keyset ranges of `batch_size` rows,
     * walking its key (never OFFSET); a tree level by level, its unreached rows last. Heartbeats
     * its cursor; a retried attempt resumes from it.
     */
    async planRanges(req: RangeRequest): Promise<RangePage> {
      const loaded = await stores.plans.plan(req.migrationId);
      const { spec } = loaded.entity(req.entity);
      const batchSize = req.batchSize ?? batchSizeOf(loaded.plan, spec);
      let resumed: { after: string | null; ranges: KeyRange[] } | undefined;
      try {
        resumed = Context.current().info.heartbeatDetails as typeof resumed;
      } catch {
        /* not in an activity */
      }
      let after = resumed?.after ?? req.after;
      const ranges: KeyRange[] = resumed?.ranges ?? [];
      if (ranges.length >= req.maxRanges) return { ranges, next: after, done: false };
      const read: ReadFirst = <T>(q: { sql: string; bindings: unknown[] }) =>
        loaded.source
          .raw(q.sql, q.bindings as never)
          .then((r) => r.rows[0] as T)
          .catch((err) => withoutValues(`plan batches of ${req.entity}`, err));
      for await (const { range, next } of keyRanges(read, spec, batchSize, after, req.upTo)) {
        if (range) ranges.push(range);
        after = next;
        if (next === null) break;
        try {
          Context.current().heartbeat({ after, ranges });
        } catch {
          /* not in an activity */
        }
        if (ranges.length >= req.maxRanges) return { ranges, next: after, done: false };
      }
      return { ranges, next: null, done: true };
    },
  };
}
