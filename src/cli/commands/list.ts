import { parseArgs } from 'node:util';
import { loadConfig } from '../../config';
import { withClient } from '../../migration-client';
import { LISTABLE_STATUSES, listMigrations } from '../../migration-view';
import { thousands } from '../../shared/progress';
import { Command, EXIT, UsageError } from '../command';

export const listCommand: Command = {
  usage: `cutover list [--status ${LISTABLE_STATUSES.join('|')}] [--limit N] [--json]

One line per migration id: its newest run (RUNS counts the runs of the same plan), newest
first. The status is the one \`status\`, \`report\` and \`start --wait\` show, after any
rollback after its end: a migration rolled back after completion (or after it failed, was
cancelled, terminated or timed out) is rolled-back, and --status filters on that status.
Reads Temporal's visibility store (the CutoverStatus, CutoverPhase, CutoverPercent and
CutoverRowsLoaded search attributes of the migrate and rollback workflows); no worker needed.`,
  async run(args) {
    const { values, positionals } = parseArgs({ args, options: { status: { type: 'string' }, limit: { type: 'string', default: '50' }, json: { type: 'boolean', default: false } }, allowPositionals: true });
    if (positionals.length) throw new UsageError(`list takes no arguments, got ${JSON.stringify(positionals[0])}`);
    if (values.status && !(LISTABLE_STATUSES as string[]).includes(values.status)) throw new UsageError(`--status: expected one of ${LISTABLE_STATUSES.join(', ')}, got ${JSON.stringify(values.status)}`);
    const limit = Number(values.limit);
    if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--limit: expected a positive whole number, got ${JSON.stringify(values.limit)}`);
    return withClient(loadConfig(), undefined, async (client) => {
      const rows = await listMigrations(client, { status: values.status, limit });
      if (values.json) {
        console.log(JSON.stringify(rows, null, 2));
        return EXIT.ok;
      }
      if (!rows.length) {
        console.log(values.status ? `no migration is ${values.status}` : 'no migrations yet');
        return EXIT.ok;
      }
      const table = [
        ['MIGRATION', 'STATUS', 'PHASE', 'DONE', 'ROWS LOADED', 'RUNS', 'STARTED'],
        ...rows.map((r) => [r.migrationId, r.status, r.phase ?? '-', r.percent === undefined ? '-' : `${r.percent} %`, thousands(r.rowsLoaded ?? 0), String(r.runs), r.startTime.replace('T', ' ').slice(0, 19)]),
      ];
      const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
      for (const row of table) console.log(row.map((c, i) => c.padEnd(widths[i]!)).join('  '));
      return EXIT.ok;
    });
  },
};
