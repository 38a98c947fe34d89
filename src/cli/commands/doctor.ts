import { parseArgs } from 'node:util';
import { loadConfig } from '../../config';
import { runDoctor } from '../../doctor/doctor';
import { failedComponents, renderTable } from '../../doctor/table';
import { loadPlanFile } from '../../plan/load';
import { Command, EXIT } from '../command';

export const doctorCommand: Command = {
  usage: `cutover doctor [--plan FILE] [--json]

  --plan FILE   check the source the plan names (its source.url_env) and, when the plan has a
                sync section, whether that source can be followed: for logical sync wal_level,
                the role's REPLICATION, the publication, replica identities, the slot, free
                slots and long transactions; for poll sync each entity's change column

Exit status 0 when every check passes (WARN rows pass), 1 otherwise; the failing components are named last.`,
  async run(args) {
    const { values } = parseArgs({ args, options: { json: { type: 'boolean', default: false }, plan: { type: 'string' } } });
    const plan = values.plan ? loadPlanFile(values.plan) : undefined;
    const config = loadConfig();
    const results = await runDoctor(config, { plan });
    const failed = failedComponents(results);
    if (values.json) console.log(JSON.stringify({ ok: failed.length === 0, failed, results }, null, 2));
    else {
      console.log(renderTable(results));
      const warnings = results.filter((r) => r.ok && r.warning).length;
      const warned = warnings ? ` (${warnings} warning${warnings === 1 ? '' : 's'}: read the WARN rows)` : '';
      console.log(failed.length ? `\nproblem: ${failed.join(', ')}` : `\nall checks passed${warned}`);
    }
    return failed.length ? EXIT.failed : EXIT.ok;
  },
};
