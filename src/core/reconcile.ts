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

/** A batch's rows as its reconcile leaves them: verified, or unverified with the reason. */
export interface VerificationOutcome {
  /** Source keys verified now (or accounted for otherwise: refused, gone as the source asked): they leave the unverified list. */
  verified: string[];
  failed: { sourceKey: string; businessKey: string; reason: string }[];
}

/** Stands for the source key of a row staged before manifests carried it: the cutover then verifies its entity whole. */
export const UNKNOWN_SOURCE_KEY = '?bk:';

/**
 * Which of a batch's rows its reconcile verified. `staged`: the manifest's [business key,
 * digest, source key?] of every staged row; `refused`: source keys quarantined or kept out by a
 * conflict (accounted for apart); `deleted`: a sync round's source keys gone from the source, of
 * which `stillPresent` are still in the target. Pure.
 */
export function verificationOutcome(d: {
  staged: readonly (readonly [string, string, string?])[];
  result: ReconcileResult;
  refused: ReadonlySet<string>;
  deleted?: readonly string[];
  stillPresent?: readonly { sourceKey: string; businessKey: string }[];
}): VerificationOutcome {
  const sourceOf = new Map(d.staged.map(([bk, , sourceKey]) => [bk, sourceKey ?? `${UNKNOWN_SOURCE_KEY}${bk}`] as const));
  const failed: VerificationOutcome['failed'] = [];
  const add = (bks: readonly string[], reason: string) => {
    for (const bk of bks) failed.push({ sourceKey: sourceOf.get(bk) ?? `${UNKNOWN_SOURCE_KEY}${bk}`, businessKey: bk, reason });
  };
  add(d.result.missing, 'missing');
  add(d.result.mismatched, 'mismatched');
  add(d.result.duplicated, 'duplicated');
  for (const s of d.stillPresent ?? []) failed.push({ sourceKey: s.sourceKey, businessKey: s.businessKey, reason: 'still present' });
  const bad = new Set(failed.map((f) => f.sourceKey));
  const verified = [...new Set([...sourceOf.values(), ...(d.deleted ?? []), ...d.refused])].filter((k) => !bad.has(k) && !k.startsWith(UNKNOWN_SOURCE_KEY));
  return { verified, failed };
}
