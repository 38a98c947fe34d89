import { parseArgs } from 'node:util';
import { loadConfig } from '../../config';
import { decideGate, defaultOperator, workflowIdFrom } from '../../migration-client';
import { Command, EXIT, UsageError } from '../command';

export const approveCommand: Command = {
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
