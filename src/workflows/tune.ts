import type { TuneRequest } from '../shared/queries';

/** The tune update's validator: whole numbers in range, at least one of them. Throws the reason. */
export function validateTune(req: TuneRequest): void {
  const { throttleRowsPerSecond: throttle, batchSize } = req;
  if (throttle === undefined && batchSize === undefined) throw new Error('nothing to change: give a throttle or a batch size');
  if (throttle !== undefined && (!Number.isInteger(throttle) || throttle < 0 || throttle > 10_000_000)) {
    throw new Error(`throttle must be a whole number of rows per second from 0 (no limit) to 10,000,000, got ${JSON.stringify(throttle)}`);
  }
  if (batchSize !== undefined && (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 100_000)) {
    throw new Error(`batch size must be a whole number of rows from 1 to 100,000, got ${JSON.stringify(batchSize)}`);
  }
}
