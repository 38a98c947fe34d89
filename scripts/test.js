#!/usr/bin/env node
// `npm test`: typecheck, lint, unit tests, then Chromium, the real stack and the integration
// tests. Installs what it can (dependencies in ensure-install.js; Chromium through apt-get when
// missing and root), says what to do where it cannot. Ends with one "N passed, N failed" line
// summing every jest run, and the time the whole run took.
const { spawnSync } = require('node:child_process');
const { mkdirSync, readFileSync, existsSync } = require('node:fs');
const { join } = require('node:path');
const { ensureChromium } = require('./ensure-install');

const root = join(__dirname, '..');
const out = join(root, 'test-output');
mkdirSync(out, { recursive: true });
const env = { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
const bin = (name) => join(root, 'node_modules', '.bin', name);

function step(title, cmd, args) {
  console.log(`\n=== ${title}`);
  const started = Date.now();
  const result = spawnSync(cmd, args, { cwd: root, env, stdio: 'inherit' });
  console.log(`=== ${title}: ${result.status === 0 ? 'ok' : `FAILED (exit ${result.status})`} in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  return result.status === 0;
}

const totals = { passed: 0, failed: 0, skipped: 0 };
function jest(title, project, extra = []) {
  const report = join(out, `jest-${project}.json`);
  const ok = step(title, bin('jest'), ['--selectProjects', project, '--json', `--outputFile=${report}`, ...extra]);
  if (existsSync(report)) {
    const r = JSON.parse(readFileSync(report, 'utf8'));
    totals.passed += r.numPassedTests;
    totals.failed += r.numFailedTests + (r.numRuntimeErrorTestSuites ?? 0);
    totals.skipped += r.numPendingTests + (r.numTodoTests ?? 0);
  } else if (!ok) totals.failed += 1;
  return ok;
}

const began = Date.now();
let ok = true;
ok = step('typecheck', bin('tsc'), ['--noEmit', '-p', '.']) && ok;
ok = step('lint', bin('eslint'), ['.']) && ok;
ok = jest('unit tests', 'unit') && ok;
console.log('\n=== browser (Chromium for the Web UI tests)');
const chromiumStarted = Date.now();
const chromium = ensureChromium(env);
console.log(`=== browser: ${chromium ? 'ok' : 'MISSING (the Web UI tests will fail; see the line above)'} in ${((Date.now() - chromiumStarted) / 1000).toFixed(1)}s`);
const stackUp = step('stack up', process.execPath, [join(root, 'bin', 'cutover.js'), 'stack', 'up']);
if (stackUp) ok = jest('integration tests', 'integration', ['--runInBand']) && ok;
else {
  ok = false;
  totals.failed += 1;
}

const minutes = ((Date.now() - began) / 60_000).toFixed(1);
console.log(`\n${totals.passed} passed, ${totals.failed} failed${totals.skipped ? `, ${totals.skipped} skipped` : ''} in ${minutes} min`);
process.exit(ok && totals.failed === 0 ? 0 : 1);
