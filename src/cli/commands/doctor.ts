import { parseArgs } from 'node:util';
import { loadConfig } from '../../config';
import { runDoctor } from '../../doctor/doctor';
import { failedComponents, renderTable } from '../../doctor/table';
import { Command, EXIT } from '../command';

export const doctorCommand: Command = {
  usage: `cutover doctor [--json]

Exit status 0 when every check passes, 1 otherwise; the failing components are named last.`,
  async run(args) {
    const { values } = parseArgs({ args, options: { json: { type: 'boolean', default: false } } });
    const config = loadConfig();
    const results = await runDoctor(config);
    const failed = failedComponents(results);
    if (values.json) console.log(JSON.stringify({ ok: failed.length === 0, failed, results }, null, 2));
    else {
      console.log(renderTable(results));
      console.log(failed.length ? `\nproblem: ${failed.join(', ')}` : '\nall checks passed');
    }
    return failed.length ? EXIT.failed : EXIT.ok;
  },
};
