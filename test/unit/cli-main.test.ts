import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure, RetryState } from '@temporalio/common';
import { Command, EXIT, UsageError } from '../../src/cli/command';
import { COMMANDS, explain, help } from '../../src/cli/main';
import { TemporalUnreachableError } from '../../src/clients/temporal';
import { ConfigError } from '../../src/config';
import { MigrationAlreadyRunningError, MigrationNotFoundError, RefusedError } from '../../src/migration-client';
import { PlanError } from '../../src/plan/validate';
import { BinaryUnavailableError } from '../../src/stack/binaries';
import { StackError } from '../../src/stack/stack';

const ROOT = join(__dirname, '..', '..');

describe('the command table', () => {
  it('lists each command once, and help() shows each with its summary', () => {
    const names = COMMANDS.map((c) => c.name);
    expect(new Set(names).size).toBe(names.length);
    const text = help();
    for (const c of COMMANDS) expect(text).toMatch(new RegExp(`^  ${c.name} +${c.summary.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
  });

  it('loads a command for each entry, and every command of src/cli/commands is in it', () => {
    const loaded = COMMANDS.map((c) => c.load());
    for (const command of loaded) {
      expect(typeof command.usage).toBe('string');
      expect(typeof command.run).toBe('function');
    }
    const dir = join(ROOT, 'src', 'cli', 'commands');
    const exported = readdirSync(dir)
      .filter((f) => f.endsWith('.ts'))
      .flatMap((f) => Object.entries(require(join(dir, f)) as Record<string, unknown>).map(([name, value]) => ({ name: `${f}: ${name}`, value })))
      .filter(({ value }) => typeof (value as Command)?.usage === 'string' && typeof (value as Command)?.run === 'function');
    expect(exported.length).toBeGreaterThan(0);
    expect(exported.filter(({ value }) => !loaded.includes(value as Command)).map(({ name }) => name)).toEqual([]);
  });
});

describe('explain (the one line and exit code of a failure)', () => {
  it.each<[string, Error, number]>([
    ['UsageError', new UsageError('bad'), EXIT.usage],
    ['PlanError', new PlanError([{ path: 'name', message: 'required' }], 'p.yaml'), EXIT.usage],
    ['ConfigError', new ConfigError('no control database'), EXIT.usage],
    ['MigrationAlreadyRunningError', new MigrationAlreadyRunningError('cutover-lms-0123456789ab'), EXIT.failed],
    ['RefusedError', new RefusedError('not paused'), EXIT.failed],
    ['MigrationNotFoundError', new MigrationNotFoundError('cutover-nope', 'default'), EXIT.notFound],
    ['StackError', new StackError('minio', 'not healthy'), EXIT.unavailable],
    ['BinaryUnavailableError', new BinaryUnavailableError('temporal', 'install Go'), EXIT.unavailable],
    ['TemporalUnreachableError', new TemporalUnreachableError('127.0.0.1:7233', 'default', new Error('Failed to connect')), EXIT.unavailable],
  ])('%s: its message, and its exit code, recognised by name', (_name, err, code) => {
    expect(explain(err)).toEqual({ message: err.message, code });
  });

  it('names the cause at the end of a failed workflow', () => {
    const cause = ApplicationFailure.create({ type: 'ReconcileMismatch', message: '3 rows differ' });
    const err = new WorkflowFailedError('Workflow execution failed', new Error('activity failed', { cause }), RetryState.NON_RETRYABLE_FAILURE);
    expect(explain(err)).toEqual({ message: 'workflow failed (ReconcileMismatch): 3 rows differ', code: EXIT.failed });
  });

  it('says which dependency cannot be reached, and otherwise gives the first line', () => {
    expect(explain(new Error('14 UNAVAILABLE: No connection established'))).toEqual({ message: 'cannot reach a dependency: 14 UNAVAILABLE: No connection established (run `cutover doctor`)', code: EXIT.unavailable });
    expect(explain(new Error('\nsomething broke\nat depth'))).toEqual({ message: 'something broke', code: EXIT.failed });
    expect(explain(undefined)).toEqual({ message: 'undefined', code: EXIT.failed });
  });
});

describe('what a command loads', () => {
  // In a Node of its own (jest has its own module registry): the packages each command pulled
  // from node_modules, tsx's own aside.
  it('--help loads no package, plan validate only the plan code (yaml, zod)', () => {
    const script = `
      require('tsx/cjs/api').register();
      const { main } = require('./src/cli/main.ts');
      const packages = () => [...new Set(Object.keys(require.cache).flatMap((f) => /\\/node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(f)?.[1] ?? []))].filter((p) => p !== 'tsx' && p !== 'esbuild').sort();
      const seen = {};
      console.log = () => {};
      (async () => {
        await main(['--help']);
        seen.help = packages();
        seen.planExit = await main(['plan', 'validate', 'examples/lms.plan.yaml']);
        seen.plan = packages();
        process.stdout.write(JSON.stringify(seen));
      })();`;
    const r = spawnSync(process.execPath, ['-e', script], { cwd: ROOT, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ help: [], planExit: EXIT.ok, plan: ['yaml', 'zod'] });
  });
});
