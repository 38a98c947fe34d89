import type { Stores } from '../stores/stores';
import { createMigrationActivities } from './migration';
import { createWiringCheckActivities, WiringCheckDeps } from './wiring-check';

export interface ActivityDeps extends WiringCheckDeps {
  stores: Stores;
}

/** Every activity, built once in the worker from its stores and clients. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createWiringCheckActivities(deps),
    ...createMigrationActivities(deps.stores),
  };
}

export type Activities = ReturnType<typeof createActivities>;
