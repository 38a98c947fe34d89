import { createWiringCheckActivities, WiringCheckDeps } from './wiring-check';

export type ActivityDeps = WiringCheckDeps;

/** Every activity, built once in the worker from the clients it needs. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createWiringCheckActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
