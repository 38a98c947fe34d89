import { safeDbError, SafeDbError } from './errors';

/** Runs work in a savepoint: undone when it throws, and the transaction goes on. */
export type Savepoint<S> = <R>(work: (savepoint: S) => Promise<R>) => Promise<R>;

/**
 * Applies a chunk of rows in a savepoint; a chunk the target refuses (a constraint, a
 * reference) is halved until each refused row stands alone, so the others still apply. `done`
 * hears each chunk that applied, `refused` each row the target refused with its safe error. An
 * error that is not the rows' (a lost connection) is thrown.
 */
export async function applyInHalves<T, S>(
  savepoint: Savepoint<S>,
  chunk: readonly T[],
  apply: (savepoint: S, chunk: readonly T[]) => Promise<unknown>,
  done: (chunk: readonly T[]) => void,
  refused: (row: T, error: SafeDbError) => void,
): Promise<void> {
  if (!chunk.length) return;
  try {
    await savepoint((sp) => apply(sp, chunk));
    done(chunk);
  } catch (err) {
    const safe = safeDbError(err);
    if (!safe) throw err;
    if (chunk.length > 1) {
      await applyInHalves(savepoint, chunk.slice(0, chunk.length >> 1), apply, done, refused);
      await applyInHalves(savepoint, chunk.slice(chunk.length >> 1), apply, done, refused);
      return;
    }
    refused(chunk[0]!, safe);
  }
}
