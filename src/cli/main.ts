import { WorkflowFailedError } from '@temporalio/client';
import { ConfigError } from '../config';
import { TemporalUnreachableError } from '../clients/temporal';
import { MigrationAlreadyRunningError, MigrationNotFoundError, RefusedError } from '../migration-client';
import { PlanError } from '../plan/validate';
import { BinaryUnavailableError } from '../stack/binaries';
import { StackError } from '../stack/stack';
import { Command, EXIT, UsageError, wantsHelp } from './command';
import { auditCommand } from './commands/audit';
import { codecServerCommand } from './commands/codec-server';
import { demoCommand } from './commands/demo';
import { doctorCommand } from './commands/doctor';
import { planCommand } from './commands/plan';
import { startCommand } from './commands/start';
import { approveCommand } from './commands/gate';
import { statusCommand } from './commands/status';
import { listCommand } from './commands/list';
import { cancelCommand, closeCommand, pauseCommand, resumeCommand, rollbackCommand, tuneCommand } from './commands/controls';
import { reportCommand } from './commands/report';
import { quarantineCommand } from './commands/quarantine';
import { stackCommand } from './commands/stack';
import { wiringCheckCommand } from './commands/wiring-check';
import { workerCommand } from './commands/worker';

const COMMANDS: Command[] = [
  startCommand,
  statusCommand,
  listCommand,
  pauseCommand,
  resumeCommand,
  tuneCommand,
  approveCommand,
  rollbackCommand,
  closeCommand,
  cancelCommand,
  reportCommand,
  quarantineCommand,
  auditCommand,
  planCommand,
  doctorCommand,
  stackCommand,
  workerCommand,
  codecServerCommand,
  wiringCheckCommand,
  demoCommand,
];

function help(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'cutover — durable, secure data migration on Temporal',
    '',
    'Usage: cutover <command> [options]    (cutover <command> --help for details)',
    '',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
  ].join('\n');
}

/** One clear line per failure; a stack trace only with CUTOVER_DEBUG=1. */
function explain(err: unknown): { message: string; code: number } {
  if (err instanceof UsageError) return { message: err.message, code: EXIT.usage };
  if (err instanceof PlanError) return { message: err.message, code: EXIT.usage };
  if (err instanceof MigrationAlreadyRunningError || err instanceof RefusedError) return { message: err.message, code: EXIT.failed };
  if (err instanceof MigrationNotFoundError) return { message: err.message, code: EXIT.notFound };
  if (err instanceof ConfigError) return { message: err.message, code: EXIT.usage };
  if (err instanceof StackError || err instanceof BinaryUnavailableError || err instanceof TemporalUnreachableError) return { message: err.message, code: EXIT.unavailable };
  if (err instanceof WorkflowFailedError) {
    // The cause chain ends at what went wrong (an abort, a reconcile mismatch, a bad plan).
    let cause: unknown = err.cause;
    while (cause instanceof Error && cause.cause instanceof Error) cause = cause.cause;
    const c = cause as { type?: string; message?: string } | undefined;
    return { message: `workflow failed${c?.type ? ` (${c.type})` : ''}: ${c?.message ?? err.message}`, code: EXIT.failed };
  }
  const e = err as { code?: string; message?: string; name?: string };
  if (e?.name === 'TransportError' || /Failed to connect|ECONNREFUSED|UNAVAILABLE/.test(e?.message ?? '')) {
    return { message: `cannot reach a dependency: ${(e.message ?? '').split('\n')[0]} (run \`cutover doctor\`)`, code: EXIT.unavailable };
  }
  if ((e as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return { message: e.message ?? 'bad option', code: EXIT.usage };
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
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    console.error(`cutover: unknown command ${JSON.stringify(name)}\n\n${help()}`);
    return EXIT.usage;
  }
  if (wantsHelp(args)) {
    console.log(`${command.summary}\n\n${command.usage}`);
    return EXIT.ok;
  }
  try {
    return await command.run(args);
  } catch (err) {
    const { message, code } = explain(err);
    console.error(`cutover ${name}: ${message}`);
    if (process.env.CUTOVER_DEBUG === '1') console.error(err);
    return code;
  }
}
