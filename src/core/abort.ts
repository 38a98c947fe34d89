/** Quarantined rows against the abort threshold of the plan. */
export interface QuarantineTally {
  entity: string;
  /** Rows extracted so far (rows a filter skipped do not count). */
  processed: number;
  quarantined: number;
  /**
   * While the entity still runs: the most rows it can extract in all (its source count, less the
   * rows skipped so far). The threshold is then held against the least the entity's final share
   * can be, so the decision does not depend on which batches came first. Unset once every row was read.
   */
  atMost?: number;
}

const pct = (x: number) => `${(x * 100).toFixed(x < 0.01 ? 2 : 1)} %`;

/**
 * The reason to abort, naming entity, count and threshold; undefined while within it. While the
 * entity runs (`atMost` set) it aborts only once its final share is sure to be past the
 * threshold, whatever the rows still to come hold: a run of bad rows in the first batches (or a
 * batch of them finishing first) does not stop a migration whose whole is within it, and the
 * same source is decided the same way however its batches are ordered.
 */
export function quarantineAbortReason(t: QuarantineTally, maxRatio: number): string | undefined {
  if (t.processed === 0 || t.quarantined === 0) return undefined;
  const whole = Math.max(t.atMost ?? t.processed, t.processed);
  const ratio = t.quarantined / whole;
  if (ratio <= maxRatio) return undefined;
  if (whole > t.processed) {
    return (
      `${t.entity}: ${t.quarantined} of ${t.processed} rows quarantined so far (${pct(t.quarantined / t.processed)}), so at least ${t.quarantined} of at most ${whole} ` +
      `(${(ratio * 100).toFixed(2)} %) whatever the rest holds: above the abort threshold of ${pct(maxRatio)}`
    );
  }
  return `${t.entity}: ${t.quarantined} of ${t.processed} rows quarantined (${pct(ratio)}), above the abort threshold of ${pct(maxRatio)}`;
}
