/**
 * Poll sync's key-set comparison, pure: what the source's keys say that a change column
 * cannot. `deleted`: rows the migration loaded that the source no longer has, or that a skip
 * filter now leaves out (they left the migration's scope). `unseen`: rows the source has, not
 * skipped, that the migration neither loaded nor quarantined (inserted without a change value).
 */
export function sourceKeySetChanges(source: ReadonlyMap<string, string | null>, loaded: ReadonlySet<string>, quarantined: ReadonlySet<string>): { deleted: string[]; unseen: string[] } {
  const deleted: string[] = [];
  const unseen: string[] = [];
  for (const k of loaded) {
    const skipped = source.get(k);
    if (skipped === undefined || skipped !== null) deleted.push(k);
  }
  for (const [k, skipped] of source) if (skipped === null && !loaded.has(k) && !quarantined.has(k)) unseen.push(k);
  return { deleted, unseen };
}

/**
 * The mass-delete guard: an entity whose round would delete more than `maxRatio` of the rows
 * the migration loaded. A partial read of the source looks exactly like a mass delete, so such
 * a round waits for an operator. A handful of deletes in a small table passes (at most 10 rows
 * never trip it).
 */
export function deletesOverLimit(entities: readonly { entity: string; deletes: number; loaded: number }[], maxRatio: number): { entity: string; deletes: number; loaded: number }[] {
  return entities.filter((e) => e.deletes > 10 && e.deletes > maxRatio * e.loaded);
}
