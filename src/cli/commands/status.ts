import { withControl } from '../../clients/control';
import { registeredRehearsal } from '../../control/registered-rehearsal';
import { parseArgs } from 'node:util';
import type { Client } from '@temporalio/client';
import { CutoverConfig, loadConfig } from '../../config';
import { withClient, workflowIdFrom } from '../../migration-client';
import { afterCompletionOf, withAfterCompletion } from '../../rollback-client';
import { inFlight, leftLoaded } from '../../migration-status';
import { migrationView } from '../../migration-view';
import { Command, EXIT, UsageError } from '../command';
import { renderStatus, Sample, sampleOf, StatusView } from '../status-view';

/** Exit code of a view: 0 while it runs or when it completed, 1 when it failed, was cancelled, terminated, timed out or rolled back (after its end too). */
function exitOf(view: StatusView): number {
  if (view.status === 'rolled-back' || leftLoaded(view.status)) return EXIT.failed;
  return view.execution === 'RUNNING' || view.execution === 'COMPLETED' || inFlight(view.status) ? EXIT.ok : EXIT.failed;
}

/** Still moving: the migration runs, or a rollback after completion does (and is not waiting for an operator). */
const moving = (view: StatusView) => view.execution === 'RUNNING' || (view.afterCompletion?.rollback?.execution === 'RUNNING' && view.status !== 'rollback-blocked');

/** The migration, and once it ended its rollback after the end and, for a completed one, its rollback window. */
async function statusView(client: Client, config: CutoverConfig, workflowId: string): Promise<StatusView> {
  const view = await migrationView(client, config, workflowId);
  // A rehearsal says so: its plan, as the control database registered it.
  if (config.databases.controlUrl) {
    const rehearsal = await withControl(config, (control) => registeredRehearsal(control, view.migrationId)).catch(() => undefined);
    if (rehearsal) view.rehearsal = rehearsal;
  }
  return view.execution === 'RUNNING' ? view : withAfterCompletion(view, await afterCompletionOf(client, config, workflowId, view));
}

export const statusCommand: Command = {
  usage: `cutover status <migration-id> [--watch] [--interval SECONDS] [--json]

Queries the running migration (a worker must be up to answer; otherwise the search
attributes are shown) or reads the result of an ended one. The status is the one \`list\`,
\`report\` and \`start --wait\` show: completed, rolled-back, rollback-blocked, failed,
cancelled, terminated or timed-out once it has ended. A migration that ended without undoing
(failed, cancelled, terminated, timed out) lists the rows it left in the target by table (its
ledger) and the command that undoes them, \`cutover rollback <id>\`. For a completed migration
it says whether its rollback window is open (or who closed it, when); after a rollback after
its end it shows rolled-back with whether the target was restored. --watch redraws every
--interval seconds (default 2) with a progress bar per entity, rows/s and ETA, and exits when
the migration (or its rollback after its end) ends: 0 if it completed, 1 otherwise.`,
  async run(args) {
    const { values, positionals } = parseArgs({
      args,
      options: { watch: { type: 'boolean', default: false }, interval: { type: 'string', default: '2' }, json: { type: 'boolean', default: false } },
      allowPositionals: true,
    });
    const [id] = positionals;
    if (!id) throw new UsageError('expected: cutover status <migration-id>');
    const interval = Number(values.interval);
    if (!Number.isFinite(interval) || interval < 0.2) throw new UsageError(`--interval: expected seconds (at least 0.2), got ${JSON.stringify(values.interval)}`);
    const config = loadConfig();
    const workflowId = workflowIdFrom(id);
    try {
      return await watchOrShow();
    } catch (err) {
      // KMS unreachable from here: the codec key cannot be opened, so show what Temporal keeps in
      // clear (status, phase, percent, which activities are retried and how often) and say why the rest is missing.
      if ((err as Error)?.name !== 'KmsUnavailable') throw err;
      const why = `KMS unreachable from this CLI (${(err as Error).message.split('\n')[0]}): the report and failure reasons are sealed under the codec key; showing what Temporal keeps in clear`;
      return withClient(
        config,
        workflowId,
        async (client) => {
          const view = await migrationView(client, config, workflowId);
          view.note = why;
          console.log(values.json ? JSON.stringify(view, null, 2) : renderStatus(view));
          console.error(`cutover status: ${why}`);
          return EXIT.unavailable;
        },
        { codec: false },
      );
    }

    async function watchOrShow(): Promise<number> {
      return withClient(config, workflowId, async (client) => {
        let view = await statusView(client, config, workflowId);
        if (!values.watch) {
          console.log(values.json ? JSON.stringify(view, null, 2) : renderStatus(view));
          return exitOf(view);
        }
        const samples: Sample[] = [sampleOf(view, Date.now())];
        const tty = process.stdout.isTTY;
        for (;;) {
          const frame = values.json ? JSON.stringify({ at: new Date().toISOString(), ...view }) : renderStatus(view, samples);
          if (tty && !values.json) process.stdout.write(`\x1b[H\x1b[2J${frame}\n`);
          else console.log(values.json ? frame : `${frame}\n`);
          if (!moving(view)) return exitOf(view);
          await new Promise((r) => setTimeout(r, interval * 1000));
          view = await statusView(client, config, workflowId);
          samples.push(sampleOf(view, Date.now()));
          if (samples.length > 200) samples.shift();
        }
      });
    }
  },
};
