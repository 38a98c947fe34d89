import { parseArgs } from 'node:util';
import { loadConfig } from '../../config';
import { defaultOperator, workflowIdFrom } from '../../migration-client';
import { purgeRehearsal } from '../../rehearsal-purge';
import { Command, EXIT, UsageError } from '../command';

export const rehearsalCommand: Command = {
  usage: `cutover rehearsal purge <rehearsal-id> [--as NAME] [--json]

A rehearsal (\`cutover start <plan> --rehearsal\`) loads the plan into a masked sandbox under a
migration id of its own (<name>-rehearsal-<hash>). \`rehearsal purge\` removes what it left
behind once it has ended:
  - its staged objects: everything under <staging prefix>/<rehearsal id>/ (no other
    migration's objects are under that prefix);
  - its vault entries that no other migration uses; an entry another migration uses too (the
    real migration, run after the rehearsal, shares the tokens of equal values) passes to that
    migration and stays, as in a rollback's purge;
  - its rows in the control database (plan, batches, quarantine, approvals, sync state).
It first closes the rehearsal's load fence in the sandbox (when the sandbox variable is set
here), so no straggling stage or load of it can write afterwards. Kept: the audit chain
(append-only; the purge is recorded in it with your login), the workflow history in Temporal,
and the sandbox database itself (drop it when you are done).
Refused (exit 1) for a migration that is not a rehearsal (its registered plan carries no
rehearsal marker: a real migration is undone with \`cutover rollback\`), and for a rehearsal
still running (wait, or \`cutover cancel\` it first).`,
  async run(args) {
    const { values, positionals } = parseArgs({ args, options: { as: { type: 'string' }, json: { type: 'boolean', default: false } }, allowPositionals: true });
    const [action, id] = positionals;
    if (action !== 'purge' || !id || positionals.length > 2) throw new UsageError('expected: cutover rehearsal purge <rehearsal-id>');
    const purged = await purgeRehearsal(loadConfig(), workflowIdFrom(id), values.as ?? defaultOperator());
    if (values.json) {
      console.log(JSON.stringify(purged, null, 2));
      return EXIT.ok;
    }
    const rows = Object.entries(purged.controlRows)
      .filter(([, n]) => n > 0)
      .map(([t, n]) => `${t} ${n}`)
      .join(', ');
    console.log(
      [
        `purged rehearsal ${purged.migrationId} (of ${purged.rehearsal.of}):`,
        `  staged objects: ${purged.staged.deleted} deleted under s3://${purged.staged.bucket}/${purged.staged.prefix}`,
        `  vault: ${purged.vault.purged} entries deleted (no other migration used them), ${purged.vault.handedOver} handed over to migrations that use them too`,
        `  control rows: ${rows || 'none'}`,
        `  load fence in the sandbox: ${purged.fence}`,
        `  kept: the audit chain, the workflow history, the sandbox database $${purged.rehearsal.sandboxEnv} (drop it when done)`,
      ].join('\n'),
    );
    return EXIT.ok;
  },
};
