import { MigrationContext, MigrationDeps } from './context';
import { createLoadActivities } from './load';
import { createPrepareActivities } from './prepare';
import { createRangeActivities } from './ranges';
import { createReconcileActivities } from './reconcile';
import { createStageActivities } from './stage';
import { sanitizeDbErrors } from './errors';

export { MigrationContext } from './context';
export type { MigrationDeps } from './context';

export function createMigrationActivities(ctx: MigrationContext) {
  return sanitizeDbErrors({
    ...createPrepareActivities(ctx),
    ...createRangeActivities(ctx),
    ...createStageActivities(ctx),
    ...createLoadActivities(ctx),
    ...createReconcileActivities(ctx),
  });
}

export function createMigrationContext(deps: MigrationDeps): MigrationContext {
  return new MigrationContext(deps);
}
