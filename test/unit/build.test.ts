import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const TAGLINE = 'durable, secure data migration on Temporal';

// bin/cutover.js runs the build in dist/ only when it was made from src/ as it is now: in a copy
// of the checkout, a build whose help text was altered shows while src/ is unchanged, and the
// sources run (through tsx) as soon as src/ is edited.
describe('bin/cutover.js and the build of src/ (scripts/build.js)', () => {
  let dir: string;
  const cli = (...args: string[]) => spawnSync(process.execPath, [join(dir, 'bin', 'cutover.js'), ...args], { cwd: dir, encoding: 'utf8' });
  const edit = (file: string, from: string, to: string) => writeFileSync(file, readFileSync(file, 'utf8').replace(from, to));

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'cutover-build-'));
    for (const part of ['src', 'bin', 'package.json']) cpSync(join(ROOT, part), join(dir, part), { recursive: true });
    mkdirSync(join(dir, 'scripts'));
    cpSync(join(ROOT, 'scripts', 'build.js'), join(dir, 'scripts', 'build.js'));
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  });

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('runs a build that matches src/, and never one that does not', () => {
    expect(cli('--help').stdout).toContain(TAGLINE);

    const built = spawnSync(process.execPath, [join(dir, 'scripts', 'build.js')], { cwd: dir, encoding: 'utf8' });
    expect(built.stdout).toMatch(/^build: built dist\/[0-9a-f]{16} /);
    const [fingerprint] = readdirSync(join(dir, 'dist'));
    edit(join(dir, 'dist', fingerprint!, 'src', 'cli', 'main.js'), TAGLINE, 'FROM THE BUILD');
    expect(cli('--help').stdout).toContain('FROM THE BUILD');

    const main = join(dir, 'src', 'cli', 'main.ts');
    edit(main, TAGLINE, 'EDITED IN SRC');
    const edited = cli('--help');
    expect(edited.stdout).toContain('EDITED IN SRC');
    expect(edited.stderr).toBe('');

    edit(main, 'EDITED IN SRC', TAGLINE);
    expect(cli('--help').stdout).toContain('FROM THE BUILD');
  });

  it('finds the project root from the build as from the sources (.cutover/, bin/cutover.js)', () => {
    const [fingerprint] = readdirSync(join(dir, 'dist'));
    const rootOf = (file: string) => spawnSync(process.execPath, ['-r', 'tsx/cjs', '-p', `require(${JSON.stringify(file)}).PROJECT_ROOT`], { cwd: dir, encoding: 'utf8' }).stdout.trim();
    expect(rootOf(join(dir, 'dist', fingerprint!, 'src', 'stack', 'state.js'))).toBe(dir);
    expect(rootOf(join(dir, 'src', 'stack', 'state.ts'))).toBe(dir);
  });
});
