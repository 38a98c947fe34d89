/**
 * Patch ids of workflow behaviour changes (`patched()`): a run started before a change replays
 * and carries on as it ran; a run started after takes the new path. Remove a patch (through
 * `deprecatePatch`) only once no run older than it can still be open.
 */

/**
 * A failing entity, partition or batch stops its siblings and waits until each has ended; the
 * rollback closes the load fence before it undoes anything, and a compensation the target
 * refuses waits for an operator's `rollback` instead of retrying for ever.
 */
export const STOP_RUNS_BEFORE_ROLLBACK = 'stop-runs-before-rollback';
