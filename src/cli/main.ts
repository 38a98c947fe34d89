import { Command, EXIT, wantsHelp } from './command';

/**
 * Every command: its name, what it does, and how to load it. A command's module (and with it
 * the Temporal client, the AWS SDK, knex...) is loaded only when that command runs or prints its
 * usage, so `cutover --help` loads nothing else and `cutover plan validate` only the plan code.
 * Keep this file free of value imports beyond ./command.
 */
export interface CommandEntry {
  name: string;
  summary: string;
  load(): Command;
}

export const COMMANDS: CommandEntry[] = [
  { name: 'start', summary: 'start the migration of a plan (prints its id and Web UI link; --rehearsal: into a masked sandbox)', load: () => (require('./commands/start') as typeof import('./commands/start')).startCommand },
  { name: 'status', summary: 'show a migration: per-entity progress, rows/s, ETA, reconcile, approvals (--watch: live)', load: () => (require('./commands/status') as typeof import('./commands/status')).statusCommand },
  { name: 'list', summary: 'list migrations, newest first (--status to filter)', load: () => (require('./commands/list') as typeof import('./commands/list')).listCommand },
  { name: 'pause', summary: 'pause a migration: no new batch starts (batches in flight finish)', load: () => (require('./commands/controls') as typeof import('./commands/controls')).pauseCommand },
  { name: 'resume', summary: 'resume a paused migration', load: () => (require('./commands/controls') as typeof import('./commands/controls')).resumeCommand },
  { name: 'cutover', summary: 'switch a syncing migration over: quiet period, final delta, final reconcile of every row, complete', load: () => (require('./commands/controls') as typeof import('./commands/controls')).cutoverCommand },
  { name: 'tune', summary: 'change the throttle or the batch size of a running migration', load: () => (require('./commands/controls') as typeof import('./commands/controls')).tuneCommand },
  { name: 'approve', summary: 'approve (or --reject) the gate a migration waits at', load: () => (require('./commands/gate') as typeof import('./commands/gate')).approveCommand },
  { name: 'rollback', summary: 'undo a migration: a running one stops and rolls back; a completed one until its window is closed', load: () => (require('./commands/controls') as typeof import('./commands/controls')).rollbackCommand },
  { name: 'close', summary: "close a completed migration's rollback window: later rollbacks are refused (--shred: destroy its keys too)", load: () => (require('./commands/controls') as typeof import('./commands/controls')).closeCommand },
  { name: 'keys', summary: "a migration's own keys: show them, or rotate (re-wrap under another KMS key; nothing re-encrypted)", load: () => (require('./commands/keys') as typeof import('./commands/keys')).keysCommand },
  { name: 'cancel', summary: 'stop a migration without undoing what it loaded (see rollback)', load: () => (require('./commands/controls') as typeof import('./commands/controls')).cancelCommand },
  { name: 'report', summary: 'write a migration report: JSON, HTML (with a throughput chart) and Markdown', load: () => (require('./commands/report') as typeof import('./commands/report')).reportCommand },
  { name: 'rehearsal', summary: 'purge an ended rehearsal (start --rehearsal): its staged objects, vault entries no other migration uses, control rows', load: () => (require('./commands/rehearsal') as typeof import('./commands/rehearsal')).rehearsalCommand },
  { name: 'quarantine', summary: "list a migration's quarantined rows: source key, reason, column (never their values)", load: () => (require('./commands/quarantine') as typeof import('./commands/quarantine')).quarantineCommand },
  { name: 'audit', summary: 'verify the tamper-evident audit chain, or print its events', load: () => (require('./commands/audit') as typeof import('./commands/audit')).auditCommand },
  { name: 'plan', summary: 'validate a migration plan (its hash and migration id), or draft one from the source and target catalogs', load: () => (require('./commands/plan') as typeof import('./commands/plan')).planCommand },
  { name: 'assess', summary: 'assess a plan before it runs: inventory, personal data and risk scores, pre-flight and the quarantine forecast (--strict)', load: () => (require('./commands/assess') as typeof import('./commands/assess')).assessCommand },
  { name: 'doctor', summary: 'check every dependency (Temporal, databases, S3, KMS; --plan: its source for delta sync) and print a table', load: () => (require('./commands/doctor') as typeof import('./commands/doctor')).doctorCommand },
  { name: 'stack', summary: 'run the local stack: Temporal + Web UI, PostgreSQL, MinIO, local-kms, codec server', load: () => (require('./commands/stack') as typeof import('./commands/stack')).stackCommand },
  { name: 'worker', summary: 'run a worker on the configured task queue (refuses to start if `doctor` fails)', load: () => (require('./commands/worker') as typeof import('./commands/worker')).workerCommand },
  { name: 'codec-server', summary: 'serve decrypted payloads to the Temporal Web UI, for viewers holding the token', load: () => (require('./commands/codec-server') as typeof import('./commands/codec-server')).codecServerCommand },
  { name: 'wiring-check', summary: 'start the wiring-check workflow (KMS + S3 + PostgreSQL) on a running worker', load: () => (require('./commands/wiring-check') as typeof import('./commands/wiring-check')).wiringCheckCommand },
  { name: 'demo', summary: 'bring up the stack, seed a demo LMS, run a worker, migrate it phase by phase; print the report', load: () => (require('./commands/demo') as typeof import('./commands/demo')).demoCommand },
];

export function help(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'cutover — durable, secure data migration on Temporal',
    '',
    'Usage: cutover <command> [options]    (cutover <command> --help for details)',
    '',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
  ].join('\n');
}

/**
 * Errors recognised by name (each sets it), not instanceof: their classes live in modules only
 * some commands load (PlanError in src/plan, StackError beside the AWS SDK, WorkflowFailedError
 * in @temporalio/client), and importing them here would load those for every command.
 */
const EXIT_BY_ERROR_NAME: Record<string, number> = {
  UsageError: EXIT.usage,
  PlanError: EXIT.usage,
  ConfigError: EXIT.usage,
  MigrationAlreadyRunningError: EXIT.failed,
  RefusedError: EXIT.failed,
  MigrationNotFoundError: EXIT.notFound,
  StackError: EXIT.unavailable,
  BinaryUnavailableError: EXIT.unavailable,
  TemporalUnreachableError: EXIT.unavailable,
};

/** One clear line per failure; a stack trace only with CUTOVER_DEBUG=1. */
export function explain(err: unknown): { message: string; code: number } {
  const e = err as { code?: string; message?: string; name?: string; cause?: unknown } | undefined;
  if (err instanceof Error && Object.hasOwn(EXIT_BY_ERROR_NAME, err.name)) return { message: err.message, code: EXIT_BY_ERROR_NAME[err.name]! };
  if (err instanceof Error && err.name === 'WorkflowFailedError') {
    // The cause chain ends at what went wrong (an abort, a reconcile mismatch, a bad plan).
    let cause: unknown = err.cause;
    while (cause instanceof Error && cause.cause instanceof Error) cause = cause.cause;
    const c = cause as { type?: string; message?: string } | undefined;
    return { message: `workflow failed${c?.type ? ` (${c.type})` : ''}: ${c?.message ?? err.message}`, code: EXIT.failed };
  }
  if (e?.name === 'TransportError' || /Failed to connect|ECONNREFUSED|UNAVAILABLE/.test(e?.message ?? '')) {
    return { message: `cannot reach a dependency: ${(e?.message ?? '').split('\n')[0]} (run \`cutover doctor\`)`, code: EXIT.unavailable };
  }
  if (e?.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return { message: e.message ?? 'bad option', code: EXIT.usage };
  // The first line that says something: some errors (gRPC's among them) begin with an empty line.
  const line = (e?.message ?? String(err)).split('\n').find((l) => l.trim() !== '');
  return { message: line ?? `${e?.name ?? 'Error'}${e?.code ? ` (${e.code})` : ''} without a message (CUTOVER_DEBUG=1 shows the trace)`, code: EXIT.failed };
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(help());
    return name ? EXIT.ok : EXIT.usage;
  }
  const entry = COMMANDS.find((c) => c.name === name);
  if (!entry) {
    console.error(`cutover: unknown command ${JSON.stringify(name)}\n\n${help()}`);
    return EXIT.usage;
  }
  try {
    const command = entry.load();
    if (wantsHelp(args)) {
      console.log(`${entry.summary}\n\n${command.usage}`);
      return EXIT.ok;
    }
    return await command.run(args);
  } catch (err) {
    const { message, code } = explain(err);
    console.error(`cutover ${name}: ${message}`);
    // config.ts loaded only now: --help and plan validate load no Temporal package (test/unit/cli-main.test.ts).
    const { debugErrors } = require('../config') as typeof import('../config');
    if (debugErrors()) console.error(err);
    return code;
  }
}
