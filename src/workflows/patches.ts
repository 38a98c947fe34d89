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

/**
 * An operator's rollback is decided from the request, not from the first error that surfaces:
 * the cancellation of the entity runs the rollback itself stopped is its echo, not a failure, and
 * a rollback asked for while a phase reconciles, during the cutover's final step or as the run
 * completes is carried out before the migration may complete. Only a cancel of the migration
 * itself skips the compensations. Before this patch, a rollback asked for while entity runs
 * loaded rethrew the runs' cancellation and the migration failed with nothing undone.
 */
export const ROLLBACK_DECIDED_BY_REQUEST = 'rollback-decided-by-request';

/**
 * A migration cancelled or failed while startCapture waited for its replication slot (an open
 * writing transaction on the source can hold it for minutes) drops the slot too: before this
 * patch only a capture that had returned was ended, and a slot that became consistent as the
 * cancel arrived stayed on the source, holding its WAL.
 */
export const END_CAPTURE_STARTED = 'end-capture-started';

/**
 * The rollback after a migration's end runs its last two compensations in the running
 * migration's order — purge the vault entries, then delete the staged objects — so both paths
 * of the one saga take the same steps in the same order. Before this patch it deleted the
 * staged objects first (the same end state: the two are independent).
 */
export const AFTER_END_UNDO_ORDER = 'after-end-undo-order';

/**
 * The cutover verifies the tail, not the tables: once a round begun after the cutover was asked
 * captured everything up to the source's position then, applied it and changed nothing more (the
 * source is frozen), only the rows whose last verification failed are compared again, and the
 * counts both ways; no quiet period is waited for and no round sleeps between. Every other row
 * was verified by the batch that last wrote it. `cutover cutover --full` still compares every row.
 * Before this patch, the cutover waited for sync.quiet_seconds without a change, then compared
 * every row of every entity.
 */
export const CUTOVER_VERIFIES_TAIL = 'cutover-verifies-tail';

/**
 * Rounds start every sync.interval_seconds, counted from the previous round's start: a round that
 * took longer than the interval is followed by the next at once. Before this patch the interval
 * was waited after each round, so the target's lag was a round plus the interval.
 */
export const SYNC_INTERVAL_FROM_ROUND_START = 'sync-interval-from-round-start';

/**
 * Logical sync follows its slot: beside the rounds, one long-running activity (followChanges)
 * holds a replication connection, and the walsender decodes each WAL record once; rounds take the
 * keys it kept. Before this patch every round peeked the slot, which decodes again all the WAL the
 * slot retains (from its restart position: seconds a round on a busy source).
 */
export const SYNC_FOLLOWS_SLOT = 'sync-follows-slot';

/**
 * The abort threshold is held against the entity as a whole: while it runs, an entity aborts only
 * once its final quarantined share is sure to pass the threshold (quarantined rows against its
 * source count less the rows skipped so far), and once every row was read, against the rows it
 * extracted. Before this patch each batch's running share decided: which batch finished first
 * could abort a migration whose whole was within the threshold, and a partition judged its own
 * rows alone.
 */
export const QUARANTINE_ABORT_ON_WHOLE = 'quarantine-abort-on-whole';
