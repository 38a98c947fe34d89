import { Context } from '@temporalio/activity';
import { batchSizeOf } from '../../plan/types';
import type { KeyRange, RangePage } from '../../shared/migration';
import { MigrationContext } from './context';

export interface RangeRequest {
  migrationId: string;
  entity: string;
  /** Start after this source key; null for the beginning. */
  after: string | null;
  maxRanges: number;
  /** Rows per range, when an operator changed it while the migration runs; default: the plan's. */
  batchSize?: number;
  /** Stop at this source key (inclusive): planning the rest of a span again at another batch size. */
  upTo?: string;
}

export function createRangeActivities(ctx: MigrationContext) {
  return {
    /**
     * Splits the source table into keyset ranges of `batch_size` rows, walking the primary key
     * (never OFFSET). Heartbeats its cursor; a retried attempt resumes from it.
     */
    async planRanges(req: RangeRequest): Promise<RangePage> {
      const loaded = await ctx.plan(req.migrationId);
      const { spec } = loaded.entity(req.entity);
      const table = `${spec.source.schema}.${spec.source.table}`;
      const key = spec.source.key;
      const batchSize = req.batchSize ?? batchSizeOf(loaded.plan, spec);
      let resumed: { after: string | null; ranges: KeyRange[] } | undefined;
      try {
        resumed = Context.current().info.heartbeatDetails as typeof resumed;
      } catch {
        /* not in an activity */
      }
      let after = resumed?.after ?? req.after;
      const ranges: KeyRange[] = resumed?.ranges ?? [];
      while (ranges.length < req.maxRanges) {
        const inner = loaded.source(table).select(key).orderBy(key).limit(batchSize);
        if (after !== null) inner.where(key, '>', after);
        if (req.upTo !== undefined) inner.where(key, '<=', req.upTo);
        const row = await loaded.source.from(inner.as('page')).max({ last: key }).count({ n: '*' }).first();
        const rows = Number(row?.n ?? 0);
        if (rows === 0) return { ranges, next: null, done: true };
        const lastKey = String(row!.last);
        ranges.push({ afterKey: after, lastKey, rows });
        after = lastKey;
        try {
          Context.current().heartbeat({ after, ranges });
        } catch {
          /* not in an activity */
        }
        if (rows < batchSize) return { ranges, next: null, done: true };
      }
      return { ranges, next: after, done: false };
    },
  };
}
