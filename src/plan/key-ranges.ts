import { nextRangeSql, treeParentColumn, treeShapeSql, UNREACHED_LEVEL, type Sql } from './source-sql';
import type { EntitySpec } from './types';
import type { KeyRange } from '../shared/migration';

/** Where planning stands in a tree: the level, and the last key taken in it. */
interface TreeCursor {
  level: number;
  after: string | null;
}

/** Runs one statement on the source and returns its first row. */
export type ReadFirst = <T>(q: Sql) => Promise<T>;

/**
 * An entity's keyset ranges of `batchSize` rows, in load order: by key (never OFFSET); a tree
 * level by level, the rows no root reaches last. Each range comes with the cursor after it
 * (`next`: null when none follows), so a caller that stops can resume from `next`. `after`:
 * the cursor to start from (null for the beginning; for a tree `{"level":n,"after":key}` as JSON).
 */
export async function* keyRanges(read: ReadFirst, spec: EntitySpec, batchSize: number, after: string | null, upTo?: string): AsyncGenerator<{ range?: KeyRange; next: string | null }> {
  const tree = treeParentColumn(spec) !== undefined;
  const shape = tree ? await read<{ depth: number; unreached: boolean }>(treeShapeSql(spec)) : undefined;
  for (;;) {
    const cursor: TreeCursor | undefined = tree ? (after === null ? { level: 0, after: null } : (JSON.parse(after) as TreeCursor)) : undefined;
    if (cursor && cursor.level > shape!.depth && cursor.level !== UNREACHED_LEVEL) {
      // Every level walked: the rows no root reaches come last (they load as orphans).
      if (!shape!.unreached) return;
      cursor.level = UNREACHED_LEVEL;
      cursor.after = null;
    }
    const at = cursor ? { afterKey: cursor.after, level: cursor.level } : { afterKey: after };
    const row = await read<{ last: string | null; n: number }>(nextRangeSql(spec, at, batchSize, upTo));
    const rows = Number(row?.n ?? 0);
    const range: KeyRange | undefined = rows > 0 ? { afterKey: at.afterKey, lastKey: row.last!, rows, ...(cursor ? { level: cursor.level } : {}) } : undefined;
    const levelDone = rows < batchSize;
    let next: string | null;
    if (!cursor) next = rows === 0 || levelDone ? null : row.last!;
    else if (!levelDone) next = JSON.stringify({ level: cursor.level, after: row.last } satisfies TreeCursor);
    else if (cursor.level === UNREACHED_LEVEL) next = null;
    else next = JSON.stringify({ level: cursor.level + 1, after: null } satisfies TreeCursor);
    yield { range, next };
    if (next === null) return;
    after = next;
  }
}
