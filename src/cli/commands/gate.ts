import { parseArgs } from 'node:util';
import { loadConfig } from '../../config';
import { decideGate, defaultOperator, requestRollback, workflowIdFrom } from '../../migration-client';
import { Command, EXIT, UsageError } from '../command';

export const approveCommand: Command = {
  name: 'approve',
  summary: 'approve (or --reject) the gate a migration waits at',
  usage: `cutover approve <migration-id> <phase> [--as NAME] [--reject]

Your login is recorded as the approver (--as overrides it). A plan may require that the
approver is not who started the migration; such an approval is refused. --reject refuses
the gate, which rolls the migration back.`,
  async run(args) {
    const { values, positionals } = parseArgs({ args, options: { as: { type: 'string' }, reject: { type: 'boolean', default: false } }, allowPositionals: true });
    const [id, phase] = positionals;
    if (!id || !phase) throw new UsageError('expected: cutover approve <migration-id> <phase>');
    // A refused approval (wrong phase, the starter where a second person is needed) exits 1 with the reason.
    const approval = await decideGate(loadConfig(), workflowIdFrom(id), phase, values.as ?? defaultOperator(), values.reject ? 'reject' : 'approve');
    console.log(`phase ${approval.phase}: ${approval.decision === 'approve' ? 'approved' : 'rejected'} by ${approval.approver} at ${approval.decidedAt}`);
    return EXIT.ok;
  },
};

export const rollbackCommand: Command = {
  name: 'rollback',
  summary: 'stop a running migration and undo everything it did',
  usage: `cutover rollback <migration-id> [--reason TEXT]

Deletes the rows it inserted, restores the rows it updated (children before parents),
deletes its staged objects and its vault entries, and checks the target's checksums
against those taken before it started.`,
  async run(args) {
    const { values, positionals } = parseArgs({ args, options: { reason: { type: 'string' } }, allowPositionals: true });
    const [id] = positionals;
    if (!id) throw new UsageError('expected: cutover rollback <migration-id>');
    await requestRollback(loadConfig(), workflowIdFrom(id), defaultOperator(), values.reason);
    console.log(`rollback requested for ${workflowIdFrom(id)}`);
    return EXIT.ok;
  },
};
