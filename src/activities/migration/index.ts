import { MigrationContext, MigrationDeps } from '../../stores/migration-context';
import { createLoadActivities } from './load';
import { createPrepareActivities } from './prepare';
import { createRangeActivities } from './ranges';
import { createReconcileActivities } from './reconcile';
import { createStageActivities } from './stage';
import { createPhaseActivities } from './phase';
import { createRollbackActivities } from './rollback';
import { sanitizeDbErrors } from '../../stores/errors';
import { createAuditActivities } from './audit';
import { createSyncActivities } from './sync';

export { MigrationContext } from '../../stores/migration-context';
export type { MigrationDeps } from '../../stores/migration-context';

export function createMigrationActivities(ctx: MigrationContext) {
  return sanitizeDbErrors({
    ...createPrepareActivities(ctx),
    ...createRangeActivities(ctx),
    ...createStageActivities(ctx),
    ...createLoadActivities(ctx),
    ...createReconcileActivities(ctx),
    ...createPhaseActivities(ctx),
    ...createRollbackActivities(ctx),
    ...createAuditActivities(ctx),
    ...createSyncActivities(ctx),
  });
}

export function createMigrationContext(deps: MigrationDeps): MigrationContext {
  return new MigrationContext(deps);
}
