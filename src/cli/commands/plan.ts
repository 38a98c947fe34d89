import { parseArgs } from 'node:util';
import { migrationId, planHash } from '../../plan/hash';
import { loadPlanFile } from '../../plan/load';
import { Command, EXIT, UsageError } from '../command';

export const planCommand: Command = {
  usage: `cutover plan validate <plan.yaml> [--json]

Lists every problem with the path of the field (exit 2), or prints the plan's canonical
hash and the migration id it starts.`,
  async run(args) {
    const { values, positionals } = parseArgs({ args, options: { json: { type: 'boolean', default: false } }, allowPositionals: true });
    const [action, file] = positionals;
    if (action !== 'validate' || !file) throw new UsageError('expected: cutover plan validate <plan.yaml>');
    const plan = loadPlanFile(file);
    const summary = { valid: true, name: plan.name, migrationId: migrationId(plan), planHash: planHash(plan), entities: plan.entities.map((e) => e.name) };
    if (values.json) console.log(JSON.stringify(summary, null, 2));
    else console.log(`${file}: valid\n  migration id: ${summary.migrationId}\n  plan hash:    ${summary.planHash}\n  entities:     ${summary.entities.join(', ')}`);
    return EXIT.ok;
  },
};
