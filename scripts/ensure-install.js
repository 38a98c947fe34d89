#!/usr/bin/env node
// Installs dependencies exactly as locked, once: when node_modules is missing or was installed
// from another package-lock.json. Plain Node, so it runs before any install.
//
// `npm ci`: it installs what package-lock.json says and never writes the lock, so a fresh
// clone stays clean after its first command. The committed lock holds every platform's
// optional binaries (@swc/core-*, @unrs/resolver-binding-*, ...); a lock missing them is what
// made `npm install` rewrite it (npm/cli#4828, #8320) and `npm ci` refuse it. Regenerate it
// with `npm install` from a lock that has them, and check that `git diff package-lock.json`
// removes no other platform's entries before committing it.
const { createHash } = require('node:crypto');
const { existsSync, readFileSync, writeFileSync } = require('node:fs');
const { spawnSync } = require('node:child_process');
const { join } = require('node:path');

const root = join(__dirname, '..');
const lock = join(root, 'package-lock.json');
const stamp = join(root, 'node_modules', '.cutover-lock-sha256');
const hash = () => createHash('sha256').update(readFileSync(lock)).digest('hex');
const want = hash();
const have = existsSync(stamp) ? readFileSync(stamp, 'utf8').trim() : '';

if (have !== want) {
  console.log('installing dependencies (npm ci, exactly as locked)...');
  const result = spawnSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    console.error('npm ci failed (see above). If it says package.json and package-lock.json are out of sync, run `npm install` and commit package-lock.json.');
    process.exit(result.status ?? 1);
  }
  if (hash() !== want) console.error('warning: installing changed package-lock.json; commit it so the next clone installs it unchanged');
  writeFileSync(stamp, `${hash()}\n`);
}
