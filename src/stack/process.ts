import { spawn } from 'node:child_process';
import { existsSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { writeFileAtomic } from './state';

/** What `up` records about a process it started, so `down` stops only that. */
export interface PidRecord {
  pid: number;
  binary: string;
  startedAt: string;
  /** What the process's command line must contain to be ours; the binary's name when absent (`node` alone says little). */
  marker?: string;
}

export function pidFile(pidsDir: string, service: string): string {
  return join(pidsDir, `${service}.json`);
}

export function readPid(pidsDir: string, service: string): PidRecord | undefined {
  const file = pidFile(pidsDir, service);
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as PidRecord;
  } catch {
    return undefined;
  }
}

/** True when the pid is alive and still runs the binary we started (pids get reused). */
export function isOurProcess(record: PidRecord): boolean {
  try {
    process.kill(record.pid, 0);
  } catch {
    return false;
  }
  try {
    const cmdline = readFileSync(`/proc/${record.pid}/cmdline`, 'utf8');
    return cmdline.includes(record.marker ?? basename(record.binary));
  } catch {
    return true; // no /proc: trust the signal check
  }
}

export interface StartOptions {
  service: string;
  binary: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  logFile: string;
  pidsDir: string;
  /** See PidRecord.marker. */
  marker?: string;
}

/** Starts a service detached from this process, output appended to its log file. */
export function startDetached(o: StartOptions): PidRecord {
  const fd = openSync(o.logFile, 'a');
  try {
    const child = spawn(o.binary, o.args, { cwd: o.cwd, env: o.env, detached: true, stdio: ['ignore', fd, fd] });
    if (child.pid === undefined) throw new Error(`${o.service}: could not start ${o.binary}`);
    child.unref();
    const record: PidRecord = { pid: child.pid, binary: o.binary, startedAt: new Date().toISOString(), ...(o.marker ? { marker: o.marker } : {}) };
    writeFileAtomic(pidFile(o.pidsDir, o.service), JSON.stringify(record), 0o644);
    return record;
  } finally {
    closeSync(fd);
  }
}

/** `first` (SIGTERM: a graceful stop; SIGKILL: a crash), then SIGKILL after `graceMs`; removes the pid file. */
export async function stopProcess(pidsDir: string, service: string, graceMs = 15_000, first: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<'stopped' | 'not-running'> {
  const record = readPid(pidsDir, service);
  if (!record || !isOurProcess(record)) {
    rmSync(pidFile(pidsDir, service), { force: true });
    return 'not-running';
  }
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-record.pid, signal); // the whole group: the dev server may fork
    } catch {
      try {
        process.kill(record.pid, signal);
      } catch {
        /* already gone */
      }
    }
  };
  signalGroup(first);
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && isOurProcess(record)) await sleep(100);
  if (isOurProcess(record)) signalGroup('SIGKILL');
  // A process that is exiting has lost its command line (its memory goes first) but may still hold
  // its files and ports (they go next): a start right after would find its port taken. Wait until
  // it has let go of them (a zombie, or gone).
  const released = Date.now() + 10_000;
  while (Date.now() < released && stillExiting(record.pid)) await sleep(50);
  rmSync(pidFile(pidsDir, service), { force: true });
  return 'stopped';
}

/** The process is past its command line but not yet a zombie: its files and sockets may still be open. */
export function stillExiting(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false; // gone (or no /proc)
  }
  // pid (comm) state …: the state follows the last ')' (comm may hold anything).
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  if (state === 'Z' || state === 'X') return false;
  try {
    // A process with a command line is running: another one that took the pid, not ours.
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').length === 0;
  } catch {
    return false;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
