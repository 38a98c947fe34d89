/** Quarantined rows against the abort threshold of the plan. */
export interface QuarantineTally {
  entity: string;
  processed: number;
  quarantined: number;
}

/** The reason to abort, naming entity, count and threshold; undefined while within it. */
export function quarantineAbortReason(t: QuarantineTally, maxRatio: number): string | undefined {
  if (t.processed === 0 || t.quarantined === 0) return undefined;
  const ratio = t.quarantined / t.processed;
  if (ratio <= maxRatio) return undefined;
  const pct = (x: number) => `${(x * 100).toFixed(x < 0.01 ? 2 : 1)} %`;
  return `${t.entity}: ${t.quarantined} of ${t.processed} rows quarantined (${pct(ratio)}), above the abort threshold of ${pct(maxRatio)}`;
}
