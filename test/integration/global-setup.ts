import { stackUp } from '../../src/stack/stack';
import { killRecordedChildren, runChildrenDir } from './helpers';

/**
 * Brings the real stack up (idempotent: a no-op when `npm test` already did), and makes sure no
 * process a test spawned outlives this jest run. This runs in jest's own process, where 'exit'
 * and signals do arrive (unlike in a test file's sandboxed `process`): when jest exits, however it
 * ends (tests done, --forceExit, Ctrl-C, SIGTERM from CI), the children the helpers recorded for
 * this run are killed.
 */
export default async function globalSetup(): Promise<void> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  process.env.CUTOVER_TEST_RUN = `run-${process.pid}`;
  const dir = runChildrenDir();
  process.once('exit', () => {
    const killed = killRecordedChildren(dir);
    if (killed) console.error(`killed ${killed} child process(es) tests left running`);
  });
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    process.once(signal, () => {
      killRecordedChildren(dir);
      process.exit(code);
    });
  }
  await stackUp(process.env, (line) => console.log(`stack: ${line}`));
}
