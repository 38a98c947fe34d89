#!/usr/bin/env node
// Installs dependencies exactly as locked, once: when node_modules is missing or was installed
// from another package-lock.json; then builds src/ for the CLI when it changed (ensureBuild).
// Plain Node, so it runs before any install. With --chromium it also makes sure of the Chromium
// the browser tests need (ensureChromium below).
//
// `npm ci`: it installs what package-lock.json says and never writes the lock, so a fresh
// clone stays clean after its first command. The committed lock holds every platform's
// optional binaries (@swc/core-*, @unrs/resolver-binding-*, ...); a lock missing them is what
// made `npm install` rewrite it (npm/cli#4828, #8320) and `npm ci` refuse it. Regenerate it
// with `npm install` from a lock that has them, and check that `git diff package-lock.json`
// removes no other platform's entries before committing it.
const { createHash } = require('node:crypto');
const { accessSync, constants, existsSync, mkdirSync, readFileSync, writeFileSync } = require('node:fs');
const { spawnSync } = require('node:child_process');
const { delimiter, join } = require('node:path');

const root = join(__dirname, '..');

/** `npm ci` when node_modules was not installed from this package-lock.json. */
function ensureDependencies() {
  const lock = join(root, 'package-lock.json');
  const stamp = join(root, 'node_modules', '.cutover-lock-sha256');
  const hash = () => createHash('sha256').update(readFileSync(lock)).digest('hex');
  const want = hash();
  const have = existsSync(stamp) ? readFileSync(stamp, 'utf8').trim() : '';
  if (have === want) return;
  console.log('installing dependencies (npm ci, exactly as locked)...');
  const result = spawnSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    console.error('npm ci failed (see above). If it says package.json and package-lock.json are out of sync, run `npm install` and commit package-lock.json.');
    process.exit(result.status ?? 1);
  }
  if (hash() !== want) console.error('warning: installing changed package-lock.json; commit it so the next clone installs it unchanged');
  writeFileSync(stamp, `${hash()}\n`);
}

/** The Chromium the browser tests drive (test/integration/browser.ts reads the same). */
const chromiumPath = (env = process.env) => env.CUTOVER_CHROMIUM || '/usr/bin/chromium';

function onPath(name, env = process.env) {
  for (const dir of (env.PATH || '').split(delimiter)) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * Chromium for the Web UI tests (Debian's; test tools cannot download browsers here). Installs
 * it with apt-get when it is missing and we are root; otherwise prints one line saying what to
 * do. Returns whether it is there; never exits (the browser tests then fail, saying the same).
 */
function ensureChromium(env = process.env) {
  const path = chromiumPath(env);
  if (existsSync(path)) {
    console.log(`Chromium: ${path}`);
    return true;
  }
  if (env.CUTOVER_CHROMIUM) {
    console.error(`Chromium: CUTOVER_CHROMIUM=${path} does not exist: point it at a Chromium binary, or unset it to use Debian's /usr/bin/chromium (installed by npm test when root)`);
    return false;
  }
  const aptGet = onPath('apt-get', env);
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!aptGet || !isRoot) {
    const how = aptGet ? 'run `sudo apt-get update && sudo apt-get install -y chromium`' : 'install Chromium with your package manager';
    console.error(`Chromium: missing at ${path}, the Web UI tests will fail: ${how} (not done here: ${aptGet ? 'not root' : 'no apt-get'}), or set CUTOVER_CHROMIUM to a Chromium binary`);
    return false;
  }
  const out = join(root, 'test-output');
  mkdirSync(out, { recursive: true });
  const log = join(out, 'apt-get-chromium.log');
  console.log(`Chromium: missing at ${path}: installing Debian's (apt-get update, apt-get install -y chromium; log: ${log})...`);
  const aptEnv = { ...env, DEBIAN_FRONTEND: 'noninteractive' };
  // Wait for another apt/dpkg run to finish instead of failing on its lock.
  const lockWait = ['-o', 'DPkg::Lock::Timeout=600'];
  let output = '';
  for (const args of [[...lockWait, 'update'], [...lockWait, 'install', '-y', 'chromium']]) {
    const r = spawnSync(aptGet, args, { env: aptEnv, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
    output += `$ apt-get ${args.join(' ')}\n${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? `${r.error}\n` : ''}`;
    writeFileSync(log, output);
    if (r.status !== 0) {
      const tail = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-5).join('\n  ');
      console.error(`Chromium: \`apt-get ${args.filter((a) => !lockWait.includes(a)).join(' ')}\` failed (exit ${r.status}), the Web UI tests will fail; see ${log}:\n  ${tail}`);
      return false;
    }
  }
  if (!existsSync(path)) {
    console.error(`Chromium: apt-get installed chromium but there is no ${path}; set CUTOVER_CHROMIUM to its binary (see ${log})`);
    return false;
  }
  const version = spawnSync(path, ['--version'], { encoding: 'utf8' }).stdout?.trim();
  console.log(`Chromium: installed ${version || path}`);
  return true;
}

/**
 * The build of src/ the CLI starts from (scripts/build.js); `npm ci` made it (prepare) unless
 * src/ changed since. Never fails: without a build the CLI runs the sources through tsx.
 */
function ensureBuild() {
  try {
    const { status, line } = require('./build').build();
    if (status !== 'fresh') console.log(`build: ${line}`);
  } catch (err) {
    console.error(`build: failed, the CLI runs the sources through tsx: ${String(err.message ?? err).trim()}`);
  }
}

module.exports = { ensureDependencies, ensureBuild, ensureChromium, chromiumPath };

if (require.main === module) {
  ensureDependencies();
  ensureBuild();
  if (process.argv.includes('--chromium')) ensureChromium();
}
