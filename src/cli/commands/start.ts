import { skippedText } from '../../shared/progress';
import { parseArgs } from 'node:util';
import { loadConfig } from '../../config';
import { startMigration, waitForMigration } from '../../migration-client';
import { loadPlanFile } from '../../plan/load';
import type { Plan } from '../../plan/types';
import { headline } from '../../report/headline';
import type { MigrationReport } from '../../shared/migration';
import { Command, EXIT, UsageError } from '../command';

export function summarize(report: MigrationReport): string {
  const lines = [`migration ${report.migrationId}: ${headline(report)}`];
  for (const e of report.entities) {
    const r = e.reconcile;
    lines.push(
      `  ${e.entity}: ${e.extracted} extracted, ${e.inserted} inserted, ${e.updated} updated, ${e.unchanged} unchanged, ${e.quarantined} quarantined${skippedText(e) ? `, ${skippedText(e)}` : ''}; ` +
        `reconcile ${r.found}/${r.expected} found, ${r.missing} missing, ${r.mismatched} mismatched (${e.batchesDone}/${e.batches} batches)`,
    );
  }
  if (report.rollback && !report.rollback.blocked) lines.push(`  rollback: ${report.rollback.reason}`);
  return lines.join('\n');
}

/** The line `start --wait` prints when the migration reaches a gate: what to run, and who may. */
export function gateLine(plan: Plan, report: MigrationReport): string | undefined {
  if (report.status !== 'awaiting-approval' || !report.phase) return undefined;
  const gate = plan.phases.find((p) => p.name === report.phase)?.gate;
  const second = gate?.distinctApprover ? ` (a second person: not ${report.startedBy})` : '';
  return `waiting at the gate of phase ${report.phase}: approve with \`cutover approve ${report.migrationId} ${report.phase}\`${second}, or refuse with --reject`;
}

export const startCommand: Command = {
  usage: `cutover start <plan.yaml> [--wait] [--json] [--started-by NAME]

The plan is validated first; an invalid plan starts nothing (exit 2). The migration id is
the plan's name and hash: starting the same plan again re-runs it and changes nothing that
is already right. Prints the migration id and its Web UI link at once. --wait then follows
it (every 3 s; it says when the migration waits at a gate and how to approve it) and prints
the per-entity counts at the end: exit 0 when it completed, 1 when it rolled back or failed.`,
  async run(args) {
    const { values, positionals } = parseArgs({
      args,
      options: { wait: { type: 'boolean', default: false }, json: { type: 'boolean', default: false }, 'started-by': { type: 'string' } },
      allowPositionals: true,
    });
    const [file] = positionals;
    if (!file) throw new UsageError('expected: cutover start <plan.yaml>');
    const plan = loadPlanFile(file);
    const config = loadConfig();
    const started = await startMigration(config, plan, { startedBy: values['started-by'] });
    if (!values.json) {
      console.log(`migration id: ${started.migrationId}`);
      console.log(`workflow id:  ${started.workflowId}`);
      console.log(`Web UI:       ${started.url}`);
    }
    if (!values.wait) {
      if (values.json) console.log(JSON.stringify(started, null, 2));
      return EXIT.ok;
    }
    const announced = new Set<string>();
    const view = await waitForMigration(config, started.workflowId, (report) => {
      const line = gateLine(plan, report);
      if (line && !announced.has(report.phase!)) {
        announced.add(report.phase!);
        if (!values.json) console.log(line);
      }
    });
    const ok = view.execution === 'COMPLETED' && view.report?.status === 'completed';
    if (values.json) console.log(JSON.stringify({ ...started, report: view.report, status: view.status, failure: view.failure }, null, 2));
    else {
      console.log(view.report ? `\n${summarize(view.report)}` : `\nmigration ${started.migrationId}: ${view.status}`);
      if (view.failure && !ok) console.log(`  ${view.failure}`);
      if (view.note) console.log(`  note: ${view.note}`);
    }
    return ok ? EXIT.ok : EXIT.failed;
  },
};
