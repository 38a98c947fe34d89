import { parseArgs } from 'node:util';
import { loadConfig } from '../../config';
import { startMigration } from '../../migration-client';
import { loadPlanFile } from '../../plan/load';
import type { MigrationReport } from '../../shared/migration';
import { Command, EXIT, UsageError } from '../command';

export function summarize(report: MigrationReport): string {
  const lines = [`migration ${report.migrationId}: ${report.status}${report.clean ? ', every batch reconciled clean' : ', RECONCILE DIFFERENCES'}`];
  for (const e of report.entities) {
    const r = e.reconcile;
    lines.push(
      `  ${e.entity}: ${e.extracted} extracted, ${e.inserted} inserted, ${e.updated} updated, ${e.unchanged} unchanged, ${e.quarantined} quarantined; ` +
        `reconcile ${r.found}/${r.expected} found, ${r.missing} missing, ${r.mismatched} mismatched (${e.batchesDone}/${e.batches} batches)`,
    );
  }
  return lines.join('\n');
}

export const startCommand: Command = {
  name: 'start',
  summary: 'start the migration of a plan (prints its id and Web UI link)',
  usage: `cutover start <plan.yaml> [--wait] [--json] [--started-by NAME]

The plan is validated first; an invalid plan starts nothing (exit 2). The migration id is
the plan's name and hash: starting the same plan again re-runs it and changes nothing that
is already right. --wait waits for the result and prints the per-entity counts.`,
  async run(args) {
    const { values, positionals } = parseArgs({
      args,
      options: { wait: { type: 'boolean', default: false }, json: { type: 'boolean', default: false }, 'started-by': { type: 'string' } },
      allowPositionals: true,
    });
    const [file] = positionals;
    if (!file) throw new UsageError('expected: cutover start <plan.yaml>');
    const plan = loadPlanFile(file);
    const started = await startMigration(loadConfig(), plan, { wait: values.wait, startedBy: values['started-by'] });
    if (values.json) console.log(JSON.stringify(started, null, 2));
    else {
      console.log(`migration id: ${started.migrationId}`);
      console.log(`workflow id:  ${started.workflowId}`);
      console.log(`Web UI:       ${started.url}`);
      if (started.report) console.log(`\n${summarize(started.report)}`);
    }
    return EXIT.ok;
  },
};
