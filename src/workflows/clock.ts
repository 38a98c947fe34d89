/**
 * Workflow time: inside the workflow sandbox, `Date` is Temporal's deterministic clock (the
 * time of the current workflow task, recorded in history), so a replay sees the same values.
 * The only place workflow code reads it; everywhere else the lint rule forbids `Date`, so a
 * reader never wonders whether a time came from the wall clock.
 */
export function workflowNow(): number {
  // eslint-disable-next-line no-restricted-globals
  return Date.now();
}

/** Workflow time as ISO 8601. */
export function workflowIso(ms: number = workflowNow()): string {
  // eslint-disable-next-line no-restricted-globals
  return new Date(ms).toISOString();
}
