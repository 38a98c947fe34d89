import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/**
 * The custom search attributes a migration keeps current, so the Web UI and
 * `temporal workflow list --query "CutoverStatus='running'"` can list and filter migrations.
 * The stack registers them (src/stack/services.ts); a real cluster needs them registered once.
 */
export const CUTOVER_PHASE = defineSearchAttributeKey('CutoverPhase', SearchAttributeType.KEYWORD);
export const CUTOVER_STATUS = defineSearchAttributeKey('CutoverStatus', SearchAttributeType.KEYWORD);
export const CUTOVER_PLAN = defineSearchAttributeKey('CutoverPlan', SearchAttributeType.KEYWORD);
export const CUTOVER_ROWS_LOADED = defineSearchAttributeKey('CutoverRowsLoaded', SearchAttributeType.INT);
export const CUTOVER_PERCENT = defineSearchAttributeKey('CutoverPercent', SearchAttributeType.DOUBLE);
