#!/usr/bin/env node
// Installs dependencies as locked, once: when node_modules is missing or was installed from
// another package-lock.json. Plain Node, so it runs before any install.
// `npm install`, not `npm ci`: npm leaves other platforms' optional binaries (@swc/core-*,
// @unrs/resolver-binding-*) out of a lock file made on Linux (npm/cli#4828, #8320), and
// `npm ci` then refuses the lock as out of sync. `npm install` keeps every locked version.
const { createHash } = require('node:crypto');
const { existsSync, readFileSync, writeFileSync } = require('node:fs');
const { spawnSync } = require('node:child_process');
const { join } = require('node:path');

const root = join(__dirname, '..');
const lock = join(root, 'package-lock.json');
const stamp = join(root, 'node_modules', '.cutover-lock-sha256');
const want = createHash('sha256').update(readFileSync(lock)).digest('hex');
const have = existsSync(stamp) ? readFileSync(stamp, 'utf8').trim() : '';

if (have !== want) {
  console.log('installing dependencies (npm install, locked versions)...');
  const result = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    console.error('npm install failed: see the output above');
    process.exit(result.status ?? 1);
  }
  // The lock may have gained the missing optional entries: stamp what is there now.
  writeFileSync(stamp, `${createHash('sha256').update(readFileSync(lock)).digest('hex')}\n`);
}
