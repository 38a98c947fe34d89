import { parseArgs } from 'node:util';
import { appendAudit } from '../../audit/store';
import { withControl } from '../../clients/control';
import { CutoverConfig, loadConfig } from '../../config';
import { cancelMigration, defaultOperator, pauseMigration, resumeMigration, tuneMigration, workflowIdFrom } from '../../migration-client';
import type { Controls } from '../../shared/migration';
import { Command, EXIT, UsageError } from '../command';

function describeControls(c: Controls): string {
  return `${c.paused ? 'paused' : 'running'}, throttle ${c.throttleRowsPerSecond ? `${c.throttleRowsPerSecond} rows/s` : 'none'}, batch size ${c.batchSize ?? 'as planned'}`;
}

function operatorCommand(name: 'pause' | 'resume', summary: string, usage: string, act: typeof pauseMigration): Command {
  return {
    name,
    summary,
    usage,
    async run(args) {
      const { values, positionals } = parseArgs({ args, options: { as: { type: 'string' }, reason: { type: 'string' }, json: { type: 'boolean', default: false } }, allowPositionals: true });
      const [id] = positionals;
      if (!id) throw new UsageError(`expected: cutover ${name} <migration-id>`);
      const controls = await act(loadConfig(), workflowIdFrom(id), values.as ?? defaultOperator(), values.reason);
      console.log(values.json ? JSON.stringify(controls) : `${workflowIdFrom(id)}: ${describeControls(controls)}`);
      return EXIT.ok;
    },
  };
}

export const pauseCommand = operatorCommand(
  'pause',
  'pause a migration: no new batch starts (batches in flight finish)',
  `cutover pause <migration-id> [--as NAME] [--reason TEXT] [--json]

Recorded in the audit chain with your login. Refused when it is already paused or has ended.`,
  pauseMigration,
);

export const resumeCommand = operatorCommand(
  'resume',
  'resume a paused migration',
  `cutover resume <migration-id> [--as NAME] [--reason TEXT] [--json]

Recorded in the audit chain with your login. Refused when it is not paused.`,
  resumeMigration,
);

function wholeNumber(text: string | undefined, option: string): number | undefined {
  if (text === undefined) return undefined;
  if (!/^-?\d+$/.test(text)) throw new UsageError(`${option}: expected a whole number, got ${JSON.stringify(text)}`);
  return Number(text);
}

export const tuneCommand: Command = {
  name: 'tune',
  summary: 'change the throttle or the batch size of a running migration',
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
  name: 'cancel',
  summary: 'stop a migration without undoing what it loaded (see rollback)',
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
    await auditCancel(config, workflowId.replace(/^cutover-/, ''), values.as ?? defaultOperator(), values.reason);
    console.log(`cancel requested for ${workflowId}`);
    return EXIT.ok;
  },
};
