#!/usr/bin/env node
// Runs the build of src/ (plain JavaScript in dist/, made at install by scripts/build.js) when
// it was built from src/ exactly as it is now; otherwise the TypeScript sources through tsx, so a
// fresh clone needs no build step and an edit to src/ always runs (tsx compiles it at start).
// The pinned AWS SDK still supports Node 20; its notice about future releases is noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const { existsSync } = require('node:fs');
const { join } = require('node:path');

/**
 * `worker` and `demo` run a Temporal worker, which bundles src/workflows (webpack, seconds) from
 * the module's own directory: they run from the sources, so the workflow code a worker runs is
 * the TypeScript the replay tests check, never a compiled copy.
 */
const FROM_SOURCES = new Set(['worker', 'demo']);

function entry() {
  if (!FROM_SOURCES.has(process.argv[2]) && existsSync(join(__dirname, '..', 'dist'))) {
    const built = require('../scripts/build').currentBuild();
    if (built) {
      if (process.env.CUTOVER_DEBUG === '1') process.setSourceMapsEnabled(true);
      return built;
    }
  }
  require('tsx/cjs/api').register();
  return '../src/cli/main.ts';
}

const { main } = require(entry());

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
