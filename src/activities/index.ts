import { createMigrationActivities, MigrationContext } from './migration';
import { createWiringCheckActivities, WiringCheckDeps } from './wiring-check';

export interface ActivityDeps extends WiringCheckDeps {
  migration: MigrationContext;
}

/** Every activity, built once in the worker from the clients it needs. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createWiringCheckActivities(deps),
    ...createMigrationActivities(deps.migration),
  };
}

export type Activities = ReturnType<typeof createActivities>;
