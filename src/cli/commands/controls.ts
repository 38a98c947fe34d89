import { parseArgs } from 'node:util';
import { appendAudit } from '../../audit/store';
import { withControl } from '../../clients/control';
import { CutoverConfig, loadConfig } from '../../config';
import { cancelMigration, defaultOperator, migrationReport, pauseMigration, requestCutover, resumeMigration, tuneMigration, workflowIdFrom } from '../../migration-client';
import { shredMigration } from '../../migration-keys-client';
import { closeRollbackWindow, rollbackMigration } from '../../rollback-client';
import { headline } from '../../report/headline';
import type { Controls } from '../../shared/migration';
import { migrationIdFromWorkflow } from '../../migration-status';
import { Command, EXIT, UsageError } from '../command';

function describeControls(c: Controls): string {
  return `${c.paused ? 'paused' : 'running'}, throttle ${c.throttleRowsPerSecond ? `${c.throttleRowsPerSecond} rows/s` : 'none'}, batch size ${c.batchSize ?? 'as planned'}`;
}

function operatorCommand(name: 'pause' | 'resume', usage: string, act: typeof resumeMigration): Command {
  return {
    usage,
    async run(args) {
      const { values, positionals } = parseArgs({
        args,
        options: { as: { type: 'string' }, reason: { type: 'string' }, json: { type: 'boolean', default: false }, ...(name === 'resume' ? { 'confirm-deletes': { type: 'boolean' as const, default: false } } : {}) },
        allowPositionals: true,
      });
      const [id] = positionals;
      if (!id) throw new UsageError(`expected: cutover ${name} <migration-id>`);
      const controls = await act(loadConfig(), workflowIdFrom(id), values.as ?? defaultOperator(), values.reason, (values as { 'confirm-deletes'?: boolean })['confirm-deletes']);
      console.log(values.json ? JSON.stringify(controls) : `${workflowIdFrom(id)}: ${describeControls(controls)}`);
      return EXIT.ok;
    },
  };
}

export const pauseCommand = operatorCommand(
  'pause',
  `cutover pause <migration-id> [--as NAME] [--reason TEXT] [--json]

Recorded in the audit chain with your login. Refused when it is already paused or has ended.`,
  pauseMigration,
);

export const resumeCommand = operatorCommand(
  'resume',
  `cutover resume <migration-id> [--as NAME] [--reason TEXT] [--confirm-deletes] [--json]

Recorded in the audit chain with your login. Refused when it is not paused.
--confirm-deletes: a sync round held because it would delete more than sync.max_delete_ratio
of an entity's rows applies those deletes (check the source first: a partial read looks like a
mass delete). Without it, resume captures the round again and holds again if it still would.`,
  resumeMigration,
);

export const cutoverCommand: Command = {
  usage: `cutover cutover <migration-id> [--full] [--as NAME] [--reason TEXT] [--no-wait]

Switches a syncing migration over. Freeze writes on the source first. Cutover then captures the
changes up to the source's position at the request, applies that final delta, and runs rounds
until one finds no change (the source is frozen). Every row was verified by the batch that last
wrote it (its digest in the target's types against the source row's); the rows whose check
failed are compared again with the source, and each entity's counts are checked both ways (the
source's rows against those loaded plus quarantined). Clean: it records the cutover in the audit
chain and the report, drops the replication slot, and completes; the window (request to
completion) is printed. --full compares every row of every entity both ways instead (minutes on
large tables). If anything is not verified, the migration goes on syncing and says what (exit 1).
Until \`cutover close\`, \`cutover rollback\` still restores the target. Refused unless the
migration is syncing.`,
  async run(args) {
    const { values, positionals } = parseArgs({ args, options: { as: { type: 'string' }, reason: { type: 'string' }, full: { type: 'boolean', default: false }, 'no-wait': { type: 'boolean', default: false } }, allowPositionals: true });
    const [id] = positionals;
    if (!id) throw new UsageError('expected: cutover cutover <migration-id>');
    const config = loadConfig();
    const workflowId = workflowIdFrom(id);
    const asked = await requestCutover(config, workflowId, values.as ?? defaultOperator(), values.reason, values.full);
    console.log(`${workflowId}: cutover asked by ${asked.requestedBy} at ${asked.requestedAt}; waiting for the final delta and the final ${values.full ? 'reconcile of every row' : 'verification'}`);
    if (values['no-wait']) return EXIT.ok;
    let printed = 0;
    for (;;) {
      const report = await migrationReport(config, workflowId);
      const k = report.cutover;
      if (k && k.finalRounds > printed) {
        printed = k.finalRounds;
        console.log(`  final delta: ${k.finalChanges} change(s) in ${k.finalRounds} round(s)`);
      }
      if (report.status === 'completed' && k?.completedAt) {
        const tail = !!k.verified?.entities.every((e) => e.scope === 'tail');
        const compared = k.verified?.entities.reduce((n, e) => n + e.compared, 0) ?? 0;
        console.log(`cut over at ${k.completedAt}: window ${k.windowSeconds} s, final delta ${k.finalChanges} change(s); ${tail ? `final verification clean (${compared} row(s) not verified before compared again, counts equal both ways)` : `final reconcile clean (${compared} rows compared)`}`);
        return EXIT.ok;
      }
      if (k?.refused && !report.cutover?.completedAt && report.status !== 'cutting-over') {
        console.log(`cutover refused: ${k.refused}`);
        return EXIT.failed;
      }
      if (!['cutting-over', 'syncing', 'paused', 'completed'].includes(report.status)) {
        console.log(`migration is ${report.status}: the cutover did not complete`);
        return EXIT.failed;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  },
};

function wholeNumber(text: string | undefined, option: string): number | undefined {
  if (text === undefined) return undefined;
  if (!/^-?\d+$/.test(text)) throw new UsageError(`${option}: expected a whole number, got ${JSON.stringify(text)}`);
  return Number(text);
}

export const tuneCommand: Command = {
  usage: `cutover tune <migration-id> [--throttle ROWS_PER_SECOND] [--batch-size ROWS] [--as NAME] [--json]

--throttle limits the whole migration (0: no limit) from its next batches on. --batch-size
applies to every batch not started yet (a running entity plans its remaining keys again
once its batches in flight finish). The workflow's
validator refuses values out of range (throttle 0..10,000,000, batch size 1..100,000).`,
  async run(args) {
    const { values, positionals } = parseArgs({ args, options: { throttle: { type: 'string' }, 'batch-size': { type: 'string' }, as: { type: 'string' }, json: { type: 'boolean', default: false } }, allowPositionals: true });
    const [id] = positionals;
    if (!id) throw new UsageError('expected: cutover tune <migration-id> --throttle N | --batch-size N');
    const controls = await tuneMigration(loadConfig(), workflowIdFrom(id), {
      by: values.as ?? defaultOperator(),
      throttleRowsPerSecond: wholeNumber(values.throttle, '--throttle'),
      batchSize: wholeNumber(values['batch-size'], '--batch-size'),
    });
    console.log(values.json ? JSON.stringify(controls) : `${workflowIdFrom(id)}: ${describeControls(controls)}`);
    return EXIT.ok;
  },
};

/** The CLI records a cancel itself: the workflow does not learn who asked. */
function auditCancel(config: CutoverConfig, migrationId: string, actor: string, reason?: string): Promise<unknown> {
  return withControl(config, async (control, keys) =>
    appendAudit(control, await keys().get('audit'), { migrationId, actor, action: 'cancel-requested', eventKey: `${migrationId}/cancel/${new Date().toISOString()}`, details: { reason: reason ?? null } }),
  );
}

export const cancelCommand: Command = {
  usage: `cutover cancel <migration-id> [--as NAME] [--reason TEXT]

Cancels the workflow and its entity runs: batches in flight stop, nothing is undone.
Starting the same plan again later resumes where it stopped (loaded rows are unchanged).
Use \`cutover rollback\` to undo instead.`,
  async run(args) {
    const { values, positionals } = parseArgs({ args, options: { as: { type: 'string' }, reason: { type: 'string' } }, allowPositionals: true });
    const [id] = positionals;
    if (!id) throw new UsageError('expected: cutover cancel <migration-id>');
    const config = loadConfig();
    const workflowId = workflowIdFrom(id);
    await cancelMigration(config, workflowId);
    await auditCancel(config, migrationIdFromWorkflow(workflowId), values.as ?? defaultOperator(), values.reason);
    console.log(`cancel requested for ${workflowId}`);
    return EXIT.ok;
  },
};

export const rollbackCommand: Command = {
  usage: `cutover rollback <migration-id> [--as NAME] [--reason TEXT] [--no-wait]

Deletes the rows the migration inserted, restores the rows it updated from their sealed
pre-images (children before parents), deletes its staged objects and its vault entries, and
compares the target's checksums with those taken before it started.

A running migration is asked to stop and roll back (exit 0 once asked; \`cutover status\`
follows it). One that has ended without rolling back — completed, failed, cancelled, terminated
or timed out — is undone by a workflow of its own, <workflow id>/rollback, from the ledger the
target keeps; the command waits for it (--no-wait: only starts it) and exits 0
when the target is restored, 1 when its checksums differ from before (the target changed since
the migration: the tables are named) or the target refuses an undo (one line says which rows
block it; fix them and run \`cutover rollback\` again to carry on). Refused (exit 1) once
\`cutover close\` has closed the migration's rollback window, and for a migration already
rolled back (in flight, or after its end). Recorded in the audit chain with
your login (--as overrides it).`,
  async run(args) {
    const { values, positionals } = parseArgs({ args, options: { as: { type: 'string' }, reason: { type: 'string' }, 'no-wait': { type: 'boolean', default: false } }, allowPositionals: true });
    const [id] = positionals;
    if (!id) throw new UsageError('expected: cutover rollback <migration-id>');
    const workflowId = workflowIdFrom(id);
    const outcome = await rollbackMigration(loadConfig(), workflowId, values.as ?? defaultOperator(), values.reason, {
      wait: !values['no-wait'],
      onStarted: ({ workflowId: rollbackId, url, action, after }) => {
        const what = action === 'started' ? 'started' : action === 'resumed' ? 'resumed (it was blocked)' : 'already running';
        console.log(`rollback after ${after} of ${migrationIdFromWorkflow(workflowId)} ${what}: ${rollbackId}\n  Web UI: ${url}`);
      },
      onNote: (note) => console.log(`  ${note}`),
    });
    if (outcome.kind === 'requested') {
      console.log(`rollback requested for ${workflowId}`);
      return EXIT.ok;
    }
    const report = outcome.report;
    if (!report) {
      if (outcome.execution === 'RUNNING') return EXIT.ok; // --no-wait
      console.log(`the rollback workflow ${outcome.workflowId} ended ${outcome.execution.toLowerCase().replace(/_/g, ' ')}: run \`cutover rollback ${id}\` again to carry on`);
      return EXIT.failed;
    }
    console.log(`migration ${report.migrationId}: ${headline(report)}`);
    for (const s of report.rollback?.steps ?? []) console.log(`  ${s.step}: ${Object.entries(s.result).map(([k, v]) => `${v} ${k}`).join(', ')}`);
    return report.status === 'rolled-back' && report.rollback?.restored ? EXIT.ok : EXIT.failed;
  },
};

export const closeCommand: Command = {
  usage: `cutover close <migration-id> [--shred] [--as NAME] [--reason TEXT]

A completed migration can be rolled back (\`cutover rollback\`) from the ledger the target
keeps, until its rollback window is closed. Closing it is recorded in the control database and
in the audit chain with your login (--as overrides it); from then on \`cutover rollback\` refuses
(exit 1), naming who closed it and when. Refused for a migration that has not completed, is
being rolled back, or whose window is already closed.

--shred ends the migration's life: closes its window (if it completed and the window is open),
destroys its own root key (nothing it staged, no pre-image, no quarantined row and no sealed
token it made can be opened again, by anyone) and purges the vault entries only it used. The
target and the audit chain stay as they are; the audit records the key's KMS key, fingerprint,
time and who. Also for a migration that failed, was cancelled or was rolled back; refused while
it runs or a rollback of it is under way. Run again after a failure: it finishes the purge.`,
  async run(args) {
    const { values, positionals } = parseArgs({ args, options: { as: { type: 'string' }, reason: { type: 'string' }, shred: { type: 'boolean', default: false } }, allowPositionals: true });
    const [id] = positionals;
    if (!id) throw new UsageError('expected: cutover close <migration-id>');
    if (values.shred) {
      const s = await shredMigration(loadConfig(), workflowIdFrom(id), values.as ?? defaultOperator(), values.reason);
      if (s.closedWindow) console.log(`rollback window of ${s.migrationId} closed: \`cutover rollback\` now refuses it`);
      console.log(
        s.shredded
          ? `keys of ${s.migrationId} shredded by ${s.after.shreddedBy} at ${s.after.shreddedAt}: root key ${s.before.fingerprint ?? '(never generated)'} (wrapped by ${s.before.kmsKeyId ?? 'none'}) destroyed; its staged objects, pre-images, ${s.quarantinedRows} quarantined row(s) and sealed tokens can no longer be opened`
          : `keys of ${s.migrationId} were already shredded by ${s.after.shreddedBy} at ${s.after.shreddedAt}`,
      );
      console.log(`vault: ${s.vault.purged} entr${s.vault.purged === 1 ? 'y' : 'ies'} only it used purged, ${s.vault.handedOver} handed over to migrations that use them too`);
      return EXIT.ok;
    }
    const closed = await closeRollbackWindow(loadConfig(), workflowIdFrom(id), values.as ?? defaultOperator(), values.reason);
    console.log(`rollback window of ${closed.migrationId} closed by ${closed.closedBy} at ${closed.closedAt}: \`cutover rollback\` now refuses it`);
    return EXIT.ok;
  },
};
