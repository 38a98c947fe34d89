import { randomUUID } from 'node:crypto';
import { connectClient } from './clients/temporal';
import { CutoverConfig, loadConfig, workflowUrl } from './config';
import type { WiringCheckResult } from './shared/wiring-check';
import { wiringCheck } from './workflows';

export interface StartedCheck {
  workflowId: string;
  url: string;
  result?: WiringCheckResult;
}

/** Starts the wiring-check workflow; with `wait`, returns its result too. */
export async function startWiringCheck(config: CutoverConfig, options: { taskQueue?: string; wait?: boolean; probeId?: string } = {}): Promise<StartedCheck> {
  const { client, connection } = await connectClient(config);
  try {
    const probeId = options.probeId ?? randomUUID();
    const workflowId = `wiring-check-${probeId}`;
    const handle = await client.workflow.start(wiringCheck, {
      workflowId,
      taskQueue: options.taskQueue ?? config.temporal.taskQueue,
      args: [{ probeId }],
      // A wiring check that cannot finish in five minutes means something is down.
      workflowExecutionTimeout: '5 minutes',
    });
    const started: StartedCheck = { workflowId: handle.workflowId, url: workflowUrl(config, handle.workflowId) };
    if (options.wait) started.result = await handle.result();
    return started;
  } finally {
    await connection.close();
  }
}

export async function main(): Promise<void> {
  const config = loadConfig();
  const started = await startWiringCheck(config, { wait: process.argv.includes('--wait') });
  console.log(`workflow id: ${started.workflowId}`);
  console.log(`Web UI:      ${started.url}`);
  if (started.result) console.log(JSON.stringify(started.result, null, 2));
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
