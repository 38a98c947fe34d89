import { defineQuery } from '@temporalio/workflow';
import type { MigrationReport } from './migration';

/** The migration's current progress: counts and reconcile results per entity, no data. */
export const progressQuery = defineQuery<MigrationReport>('progress');
