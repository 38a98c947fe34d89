import type { TableChecksum } from '../shared/migration';

/** What a rollback proved about the target: the one answer every rollback path gives. */
export interface RollbackVerdict {
  /** True only when every table's checksum after the rollback equals the one taken before the migration. */
  restored: boolean;
  /** Tables whose checksum differs, or that only one side has (named, so an operator knows where to look). */
  differs: string[];
}

/** Tables whose checksum after differs from before (or that only one side has), in the order first seen. */
export function differingTables(before: readonly TableChecksum[], after: readonly TableChecksum[]): string[] {
  const tables = [...new Set([...before.map((c) => c.table), ...after.map((c) => c.table)])];
  return tables.filter((table) => {
    const b = before.find((c) => c.table === table);
    const a = after.find((c) => c.table === table);
    return !a || !b || a.rows !== b.rows || a.md5 !== b.md5;
  });
}

/**
 * Compares the target after a rollback with the checksums taken before the migration's first
 * write, table by table (by name: the order the tables were read in proves nothing). Without
 * checksums from before there is nothing to prove against, so it is never "restored".
 */
export function rollbackVerdict(before: readonly TableChecksum[], after: readonly TableChecksum[]): RollbackVerdict {
  if (before.length === 0) return { restored: false, differs: [] };
  const differs = differingTables(before, after);
  return { restored: differs.length === 0, differs };
}

/**
 * The verdict of a rollback whose migration never finished preparing: no checksum was taken and
 * no load could start (loads begin after them), so the target holds nothing of it to undo.
 */
export function nothingWritten(): RollbackVerdict {
  return { restored: true, differs: [] };
}
