import type { Stores } from '../../stores/stores';
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
import { createFollowActivities } from './follow';

/** Every migration activity, over the worker's stores (each factory takes only the stores it uses). */
export function createMigrationActivities(stores: Stores) {
  return sanitizeDbErrors({
    ...createPrepareActivities(stores),
    ...createRangeActivities(stores),
    ...createStageActivities(stores),
    ...createLoadActivities(stores),
    ...createReconcileActivities(stores),
    ...createPhaseActivities(stores),
    ...createRollbackActivities(stores),
    ...createAuditActivities(stores),
    ...createSyncActivities(stores),
    ...createFollowActivities(stores),
  });
}
