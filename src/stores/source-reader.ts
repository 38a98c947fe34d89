/**
 * The source reader: a batch's rows of one entity, read in a read-only, repeatable-read snapshot
 * with the plan's own SQL (its query or table, its filters, the keyset range). `pgSourceReader`
 * reads the plan's source pool; a unit test brings a small in-memory one.
 */
import type { Knex } from 'knex';
import type { EntitySpec } from '../plan/types';
import { extractSql } from '../plan/source-sql';
import { withoutValues } from './errors';

/** A keyset range of an entity: rows after `afterKey` up to `lastKey` (and a tree's level). */
export interface ExtractRange {
  afterKey: string | null;
  lastKey: string;
  level?: number;
}

export interface SourceReader {
  /** The source rows of one batch, as the plan's source columns name them; `what` names the batch in an error. */
  extract(spec: EntitySpec, sourceColumns: readonly string[], range: ExtractRange, what: string): Promise<Record<string, unknown>[]>;
}

export function pgSourceReader(source: Knex): SourceReader {
  return {
    async extract(spec, sourceColumns, range, what) {
      const q = extractSql(spec, sourceColumns, range);
      return source
        .transaction(async (trx) => (await trx.raw(q.sql, q.bindings as never)).rows as Record<string, unknown>[], { isolationLevel: 'repeatable read', readOnly: true })
        .catch((err) => withoutValues(what, err));
    },
  };
}
