/** Exit codes every command shares. */
export const EXIT = {
  ok: 0,
  /** The command ran and found a problem (unhealthy service, failed check). */
  failed: 1,
  /** Bad arguments. */
  usage: 2,
  /** A dependency is unavailable (stack not up, Temporal unreachable). */
  unavailable: 3,
  /** No such migration. */
  notFound: 4,
} as const;

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A command's usage and what it runs; its name and summary are in the table in main.ts. */
export interface Command {
  usage: string;
  run(args: string[]): Promise<number>;
}

export function wantsHelp(args: string[]): boolean {
  return args.includes('--help') || args.includes('-h');
}
