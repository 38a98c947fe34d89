import { registeredRehearsal } from '../control/registered-rehearsal';
import type { Knex } from 'knex';
import type { AuditRow } from '../audit/chain';
import { auditEvents, verifyAudit } from '../audit/store';
import { withControl } from '../clients/control';
import { ConfigError, CutoverConfig } from '../config';
import { CONTROL_SCHEMA, ensureControlSchema } from '../control/schema';
import { migrationView, MigrationView } from '../migration-view';
import { withClient } from '../migration-client';
import { AfterCompletion, afterCompletionOf, withAfterCompletion } from '../rollback-client';
import type { ReportData } from './report-data';
import type { MigrationReport, MigrationStatus } from '../shared/migration';

/** What an audit event means on the report's timeline (details are counts and names, never data). */
export function timingLabel(e: AuditRow): string | undefined {
  const d = e.details;
  switch (e.action) {
    case 'started':
      return `started by ${e.actor}`;
    case 'phase-reconciled':
      return `phase ${d.phase} reconciled ${d.clean ? 'clean' : 'with differences'}`;
    case 'approved':
    case 'rejected':
      return `gate of ${d.phase} ${e.action} by ${e.actor}`;
    case 'paused':
    case 'resumed':
      return `${e.action} by ${e.actor}`;
    case 'tuned':
      return `tuned by ${e.actor}: throttle ${d.throttleAfter || 'none'}, batch size ${d.batchSizeAfter ?? 'as planned'}`;
    case 'cancel-requested':
      return `cancel requested by ${e.actor}`;
    case 'rollback-started':
      return d.afterCompletion ? `rollback after completion started (${e.actor})` : `rollback started (${e.actor})`;
    case 'rollback-blocked':
      return `rollback blocked at ${d.step}`;
    case 'rollback-resumed':
      return `rollback resumed by ${e.actor}`;
    case 'rolled-back':
      return `rolled back${d.afterCompletion ? ' after completion' : ''}, target ${d.restored ? 'restored' : 'NOT restored'}`;
    case 'rollback-window-closed':
      return `rollback window closed by ${e.actor}`;
    case 'completed':
      return 'completed';
    default:
      return undefined;
  }
}

/**
 * The events of a migration's latest run: from its last `started` event on. The same plan is
 * the same migration id, so earlier runs' events are in the chain too.
 */
export function latestRun(events: readonly AuditRow[]): AuditRow[] {
  let start = 0;
  events.forEach((e, i) => {
    if (e.action === 'started') start = i;
  });
  return events.slice(start);
}

/** Report data from the audit events of one migration run: throughput points and milestones. */
export function fromAudit(events: readonly AuditRow[]): Pick<ReportData, 'throughput' | 'timings'> {
  const throughput = events
    .filter((e) => e.action === 'batch-loaded')
    .map((e) => ({ at: e.at, rows: Number(e.details.inserted ?? 0) + Number(e.details.updated ?? 0) + Number(e.details.unchanged ?? 0) }));
  const timings = events.flatMap((e) => {
    const label = timingLabel(e);
    return label ? [{ label, at: e.at }] : [];
  });
  return { throughput, timings };
}

async function quarantineCounts(control: Knex, migrationId: string): Promise<ReportData['quarantine']> {
  await ensureControlSchema(control);
  const result = await control.raw(`select entity, reason, count(*)::int as rows from ${CONTROL_SCHEMA}.quarantine where migration_id = ? group by entity, reason order by entity, reason`, [migrationId]);
  return (result.rows as { entity: string; reason: string; rows: number }[]).map((r) => ({ entity: r.entity, reason: r.reason, rows: Number(r.rows) }));
}

/**
 * A report built from what there is when the workflow's own cannot be had: the registered plan,
 * the search attributes and the decided status; no entity figures (the report says they are missing).
 */
async function reportFromWhatThereIs(control: Knex, view: MigrationView): Promise<MigrationReport> {
  const registered = await control(`${CONTROL_SCHEMA}.migrations`).where({ migration_id: view.migrationId }).first().catch(() => undefined);
  return {
    migrationId: view.migrationId,
    planHash: registered?.plan_hash ?? 'unknown',
    plan: view.plan ?? registered?.plan_name,
    status: view.status as MigrationStatus,
    phase: view.phase,
    startedBy: registered?.started_by ?? 'unknown',
    entities: [],
    phases: [],
    approvals: [],
    clean: false,
  };
}

/**
 * Everything `cutover report` shows: the workflow's report (live or final), quarantine reasons,
 * throughput and milestones from the audit chain, and the chain's verified head.
 */
export async function gatherReport(config: CutoverConfig, workflowId: string): Promise<{ data: ReportData; view: MigrationView & { afterCompletion?: AfterCompletion } }> {
  if (!config.databases.controlUrl) throw new ConfigError('no control database: set CUTOVER_CONTROL_URL or run `cutover stack up`');
  const view = await withClient(config, workflowId, async (client): Promise<MigrationView & { afterCompletion?: AfterCompletion }> => {
    const v = await migrationView(client, config, workflowId);
    // A completed migration: its rollback window, and a rollback after completion's report in place of its own.
    return v.execution === 'RUNNING' ? v : withAfterCompletion(v, await afterCompletionOf(client, config, workflowId, v));
  });
  return withControl(
    config,
    async (control, keys) => {
      // No report from the workflow (a closed one no worker answered for): the report of what there is, saying what is missing.
      const report = view.report ?? (await reportFromWhatThereIs(control, view));
      const missing = view.missing ?? (view.report ? undefined : [`the workflow's report: ${view.note ?? view.failure ?? 'none could be had'}`]);
      const [all, quarantine, verified] = await Promise.all([auditEvents(control, view.migrationId), quarantineCounts(control, view.migrationId), verifyAudit(control, await keys().get('audit'))]);
      // The registered plan says what ran; the workflow's memo, when the plan is not (or no longer) registered.
      const rehearsal = (await registeredRehearsal(control, view.migrationId)) ?? view.rehearsal;
      const events = latestRun(all);
      const audit = fromAudit(events);
      return {
        view,
        data: {
          generatedAt: new Date().toISOString(),
          report,
          workflow: { workflowId, url: view.url, status: view.execution, startTime: view.startTime, closeTime: view.closeTime },
          quarantine,
          throughput: audit.throughput,
          timings: audit.timings,
          audit: verified.head ? { head: verified.head, events: events.length, verified: verified.ok } : undefined,
          rollbackWindow: view.afterCompletion && !view.afterCompletion.rollback ? view.afterCompletion.window : undefined,
          rollbackWorkflow: view.afterCompletion?.rollback ? { workflowId: view.afterCompletion.rollback.workflowId, url: view.afterCompletion.rollback.url, status: view.afterCompletion.rollback.execution } : undefined,
          ...(view.leftBehind ? { leftBehind: view.leftBehind } : {}),
          ...(view.keysShredded ? { keysShredded: view.keysShredded } : {}),
          ...(missing?.length ? { missing } : {}),
          ...(rehearsal ? { rehearsal } : {}),
        },
      };
    },
    'cutover-report',
  );
}
