import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig, processEnv } from '../../config';
import { workflowIdFrom } from '../../migration-client';
import { gatherReport } from '../../report/gather';
import { writeReportFiles } from '../../report/write-report';
import { stackPaths } from '../../stack/state';
import { Command, EXIT, UsageError } from '../command';
import { leftBehindLines } from '../status-view';

export const reportCommand: Command = {
  usage: `cutover report <migration-id> [--out DIR] [--json]

Per-entity counts, batch and phase reconcile results, quarantine reasons (codes and counts,
never row data), throughput over time, milestones, approvals, rollback, and the audit
chain's verified head. The status is the one \`status\` and \`list\` show. A migration that
ended without a report (a closed workflow no worker can be asked about) gets the report of
what there is, saying what is missing; one that ended without undoing says what it left in the
target and that \`cutover rollback <id>\` undoes it. Writes <DIR>/<migration-id>.json, .html and .md (default DIR:
.cutover/reports) and prints their paths; --json prints the report data instead.`,
  async run(args) {
    const { values, positionals } = parseArgs({ args, options: { out: { type: 'string' }, json: { type: 'boolean', default: false } }, allowPositionals: true });
    const [id] = positionals;
    if (!id) throw new UsageError('expected: cutover report <migration-id>');
    const { data, view } = await gatherReport(loadConfig(), workflowIdFrom(id));
    const written = writeReportFiles(resolve(values.out ?? join(stackPaths(processEnv()).root, 'reports')), data);
    if (values.json) console.log(JSON.stringify(data, null, 2));
    else {
      console.log(`report of ${data.rehearsal ? 'REHEARSAL ' : ''}${view.migrationId} (${data.report.status}):\n  ${written.html}\n  ${written.json}\n  ${written.markdown}`);
      for (const line of leftBehindLines(view)) console.log(`  ${line}`);
      for (const m of data.missing ?? []) console.log(`  missing: ${m}`);
    }
    return EXIT.ok;
  },
};
