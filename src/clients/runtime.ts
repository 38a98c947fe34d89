import { DefaultLogger, LogLevel, Runtime } from '@temporalio/worker';
import { logFormat, logLevel } from '../config';
import { createLog, TemporalLog } from './log';

let installed = false;

/**
 * Installs Temporal's worker runtime once, with the log level from CUTOVER_LOG_LEVEL (config.ts)
 * (default INFO), its logger the redacted JSON log (src/clients/log.ts; CUTOVER_LOG_FORMAT=text
 * for Temporal's default) and, when `metricsAddress` is given, a Prometheus endpoint there
 * (http://<address>/metrics) serving Temporal's runtime metrics and Cutover's own
 * (cutover_rows_loaded, cutover_batches_staged, …, from the activities' metric meter).
 * The runtime can only be installed before the first worker or native connection is
 * created; later calls keep the first setting.
 */
export function installRuntime(options: { level?: LogLevel; metricsAddress?: string } = {}): void {
  if (installed) return;
  installed = true;
  const level = options.level ?? logLevel() ?? 'INFO';
  try {
    Runtime.install({
      logger: logFormat() === 'text' ? new DefaultLogger(level) : new TemporalLog(createLog(level)),
      ...(options.metricsAddress ? { telemetryOptions: { metrics: { prometheus: { bindAddress: options.metricsAddress, countersTotalSuffix: true } } } } : {}),
    });
  } catch {
    /* already installed by the embedding program (a test, say) */
  }
}
