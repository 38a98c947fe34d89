import { main as workerMain } from '../../worker';
import { Command } from '../command';

export const workerCommand: Command = {
  usage: `cutover worker

Polls CUTOVER_TASK_QUEUE (default "cutover"). Stops cleanly on SIGINT or SIGTERM.`,
  async run() {
    await workerMain();
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  },
};
