/**
 * The bench's clean-up: every database, bucket, staged prefix, workflow and worker process it
 * makes is registered here when made, and undone (newest first) when its run ends, whether it
 * succeeded, failed or was interrupted (SIGINT, SIGTERM). A clean-up step that fails is said
 * and the others still run.
 */
import type { ChildProcess } from 'node:child_process';

type Task = { label: string; fn: () => unknown };

export class Cleanup {
  private readonly tasks: Task[] = [];
  private running?: Promise<void>;

  /** Registers an undo step; steps run newest first. */
  defer(label: string, fn: () => unknown): void {
    this.tasks.push({ label, fn });
  }

  /**
   * Runs (once) every step still registered. On Ctrl-C the signal handler and the interrupted
   * run's own `finally` both call it: the second caller waits for the same pass, so the steps
   * keep their order and the process does not exit while one is still in flight.
   */
  run(): Promise<void> {
    this.running ??= (async () => {
      for (let task = this.tasks.pop(); task; task = this.tasks.pop()) {
        try {
          await task.fn();
        } catch (err) {
          console.error(`  clean-up: ${task.label} failed: ${errorLine(err)}`);
        }
      }
    })().finally(() => (this.running = undefined));
    return this.running;
  }
}

const open = new Set<Cleanup>();
const processes = new Set<ChildProcess>();
let interrupted = false;

/** Runs `fn` with a clean-up scope that is emptied when `fn` ends, however it ends. */
export async function withCleanup<T>(fn: (cleanup: Cleanup) => Promise<T>): Promise<T> {
  const cleanup = new Cleanup();
  open.add(cleanup);
  try {
    return await fn(cleanup);
  } finally {
    await cleanup.run();
    open.delete(cleanup);
  }
}

/** A child process killed when the bench exits, however it exits. */
export function track(child: ChildProcess): void {
  processes.add(child);
  child.once('exit', () => processes.delete(child));
}

export const wasInterrupted = () => interrupted;

/** Throws once the bench was interrupted, so that no new run starts while it cleans up. */
export function checkInterrupted(): void {
  if (interrupted) throw new Error('interrupted');
}

export function errorLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split('\n').find((l) => l.trim()) ?? (err instanceof Error ? err.name : 'error');
}

/** On SIGINT/SIGTERM: kill the workers, run every open clean-up, exit 130. A second signal exits at once. */
export function installExitHandlers(): void {
  process.on('exit', () => {
    for (const child of processes) child.kill('SIGKILL');
  });
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) process.exit(130);
    interrupted = true;
    console.error(`\n${signal}: stopping the workers and cleaning up (again to quit at once)...`);
    for (const child of processes) child.kill('SIGTERM');
    const cleanups = [...open].reverse();
    void (async () => {
      for (const cleanup of cleanups) await cleanup.run();
      process.exit(130);
    })();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}
