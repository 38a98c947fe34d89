/** Expected rows (from the manifest) against rows found in the target, by business key. */
export interface ReconcileResult {
  expected: number;
  found: number;
  missing: string[];
  mismatched: string[];
  /** Business keys found more than once (a target without a unique business key). */
  duplicated: string[];
}

/** Business keys are never personal data (the plan refuses it), so they may be reported. */
export function reconcileDigests(expected: ReadonlyMap<string, string>, found: Iterable<[string, string]>): ReconcileResult {
  const seen = new Map<string, number>();
  const mismatched: string[] = [];
  let count = 0;
  for (const [key, digest] of found) {
    count++;
    seen.set(key, (seen.get(key) ?? 0) + 1);
    const want = expected.get(key);
    if (want !== undefined && want !== digest && seen.get(key) === 1) mismatched.push(key);
  }
  const missing = [...expected.keys()].filter((k) => !seen.has(k));
  const duplicated = [...seen].filter(([, n]) => n > 1).map(([k]) => k);
  return { expected: expected.size, found: count, missing, mismatched, duplicated };
}

export function isClean(r: ReconcileResult): boolean {
  return r.missing.length === 0 && r.mismatched.length === 0 && r.duplicated.length === 0 && r.found === r.expected;
}
