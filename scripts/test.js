#!/usr/bin/env node
// `npm test`: typecheck, lint, unit tests, then the real stack and the integration tests.
// Ends with one "N passed, N failed" line summing every jest run.
const { spawnSync } = require('node:child_process');
const { mkdirSync, readFileSync, existsSync } = require('node:fs');
const { join } = require('node:path');

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

let ok = true;
ok = step('typecheck', bin('tsc'), ['--noEmit', '-p', '.']) && ok;
ok = step('lint', bin('eslint'), ['.']) && ok;
ok = jest('unit tests', 'unit') && ok;
const stackUp = step('stack up', process.execPath, [join(root, 'bin', 'cutover.js'), 'stack', 'up']);
if (stackUp) ok = jest('integration tests', 'integration', ['--runInBand']) && ok;
else {
  ok = false;
  totals.failed += 1;
}

console.log(`\n${totals.passed} passed, ${totals.failed} failed${totals.skipped ? `, ${totals.skipped} skipped` : ''}`);
process.exit(ok && totals.failed === 0 ? 0 : 1);
