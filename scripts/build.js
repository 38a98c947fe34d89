#!/usr/bin/env node
// Compiles src/ to plain JavaScript in dist/<fingerprint>/src/ with swc (the compiler jest
// uses), so the CLI starts without compiling TypeScript. The fingerprint hashes every file of
// src/ and this script: bin/cutover.js runs a build only when its fingerprint is that of src/
// as it is now, and otherwise runs the sources through tsx, so an edit to src/ is always what
// runs (slower, until the next build). Built by `npm ci` / `npm install` (the prepare script),
// by scripts/ensure-install.js (npm test, npm run demo) and by `npm run build`.
//
// A build is written to dist/.tmp-<pid> and renamed into place, so a directory
// dist/<fingerprint> is always complete; the builds of other fingerprints are then removed.
// Plain Node; without @swc/core (a dev dependency) it builds nothing and says so.
const { createHash } = require('node:crypto');
const { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } = require('node:fs');
const { basename, dirname, join, relative } = require('node:path');

const root = join(__dirname, '..');
const distDir = join(root, 'dist');

/** Every file under src/, as sorted paths relative to the root ('src/cli/main.ts'). */
function sourceFiles(dir = 'src') {
  const files = [];
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    const rel = `${dir}/${entry.name}`;
    if (entry.isDirectory()) files.push(...sourceFiles(rel));
    else if (entry.isFile()) files.push(rel);
  }
  return files.sort();
}

/** The sources' bytes as read once, and their fingerprint: what a build compiles is what it is named after. */
function snapshot() {
  const hash = createHash('sha256');
  const files = [];
  for (const rel of [...sourceFiles(), 'scripts/build.js']) {
    const bytes = readFileSync(join(root, rel));
    hash.update(`${rel}\0${bytes.length}\0`).update(bytes);
    if (rel.startsWith('src/')) files.push({ rel, bytes });
  }
  return { fingerprint: hash.digest('hex').slice(0, 16), files };
}

/** The entry point of the build of src/ as it is now (dist/<fingerprint>/src/cli/main.js), or undefined. */
function currentBuild() {
  const main = join(distDir, snapshot().fingerprint, 'src', 'cli', 'main.js');
  return existsSync(main) ? main : undefined;
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

/**
 * Builds dist/<fingerprint> unless it is there: 'fresh' (nothing to do), 'built', or 'skipped'
 * (no @swc/core), with one line saying so. Throws when swc cannot compile a file.
 */
function build() {
  const { fingerprint, files } = snapshot();
  const target = join(distDir, fingerprint);
  if (existsSync(target)) return { status: 'fresh', line: `dist/${fingerprint} is up to date` };
  let swc;
  try {
    swc = require('@swc/core');
  } catch {
    return { status: 'skipped', line: 'not built: @swc/core (a dev dependency) is not installed; the CLI runs the sources through tsx' };
  }
  const started = Date.now();
  const tmp = join(distDir, `.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  for (const { rel, bytes } of files) {
    const out = join(tmp, rel);
    mkdirSync(dirname(out), { recursive: true });
    if (!rel.endsWith('.ts') || rel.endsWith('.d.ts')) {
      writeFileSync(out, bytes);
      continue;
    }
    const js = out.replace(/\.ts$/, '.js');
    const { code, map } = swc.transformSync(bytes.toString('utf8'), {
      filename: join(root, rel),
      sourceFileName: relative(dirname(js), join(root, rel)),
      sourceMaps: true,
      inlineSourcesContent: false,
      swcrc: false,
      configFile: false,
      jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
      module: { type: 'commonjs' },
    });
    writeFileSync(js, `${code}\n//# sourceMappingURL=${basename(js)}.map\n`);
    writeFileSync(`${js}.map`, map);
  }
  try {
    renameSync(tmp, target);
  } catch (err) {
    // Another build of the same sources got there first: theirs is as good.
    rmSync(tmp, { recursive: true, force: true });
    if (!existsSync(target)) throw err;
  }
  for (const name of readdirSync(distDir)) {
    const tmpPid = /^\.tmp-(\d+)$/.exec(name)?.[1];
    if ((/^[0-9a-f]{16}$/.test(name) && name !== fingerprint) || (tmpPid && !alive(Number(tmpPid)))) rmSync(join(distDir, name), { recursive: true, force: true });
  }
  return { status: 'built', line: `built dist/${fingerprint} (src/ compiled by swc, ${files.length} files) in ${((Date.now() - started) / 1000).toFixed(1)}s` };
}

module.exports = { build, currentBuild, snapshot };

// `--optional` (the prepare script): a failed build is reported and does not fail the install.
if (require.main === module) {
  try {
    console.log(`build: ${build().line}`);
  } catch (err) {
    console.error(`build: failed, the CLI runs the sources through tsx: ${String(err.message ?? err).trim()}`);
    if (!process.argv.includes('--optional')) process.exit(1);
  }
}
