import { parseArgs } from 'node:util';
import { loadConfig } from '../../config';
import { startWiringCheck } from '../../starter';
import { Command, EXIT } from '../command';

export const wiringCheckCommand: Command = {
  usage: `cutover wiring-check [--wait] [--json]

Prints the workflow id and its Web UI link; --wait waits for the result.`,
  async run(args) {
    const { values } = parseArgs({ args, options: { wait: { type: 'boolean', default: false }, json: { type: 'boolean', default: false } } });
    const started = await startWiringCheck(loadConfig(), { wait: values.wait });
    if (values.json) console.log(JSON.stringify(started, null, 2));
    else {
      console.log(`workflow id: ${started.workflowId}`);
      console.log(`Web UI:      ${started.url}`);
    }
    return EXIT.ok;
  },
};
