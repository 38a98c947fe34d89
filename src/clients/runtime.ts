import { DefaultLogger, LogLevel, Runtime } from '@temporalio/worker';

let installed = false;

/**
 * Installs Temporal's worker runtime once, with the log level from CUTOVER_LOG_LEVEL
 * (default INFO). The runtime can only be installed before the first worker or
 * native connection is created; later calls keep the first setting.
 */
export function installRuntime(level: LogLevel = (process.env.CUTOVER_LOG_LEVEL as LogLevel) || 'INFO'): void {
  if (installed) return;
  installed = true;
  try {
    Runtime.install({ logger: new DefaultLogger(level) });
  } catch {
    /* already installed by the embedding program (a test, say) */
  }
}
