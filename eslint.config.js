const js = require('@eslint/js');
const tseslint = require('typescript-eslint');
const importX = require('eslint-plugin-import-x');
const { builtinModules } = require('node:module');

// Workflow code runs in Temporal's deterministic sandbox: no I/O, no clock, no randomness.
// Keep every module that does I/O out of it, so a mistake fails lint instead of a replay.
const forbiddenInWorkflows = [
  ...builtinModules,
  ...builtinModules.map((m) => `node:${m}`),
  'knex',
  'pg',
  'yaml',
];

// src/core is pure: rows, tokens, digests, diffs, decisions. The clients that do I/O (databases,
// AWS, Temporal's activity and client sides, the file system) stay in the layers around it.
const forbiddenInCore = ['knex', 'pg', '@temporalio/activity', '@temporalio/client', '@temporalio/worker', 'fs', 'node:fs', 'fs/promises', 'node:fs/promises'];

module.exports = tseslint.config(
  { ignores: ['node_modules/**', '.cutover/**', 'dist/**', 'coverage/**', 'test-output/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', require: 'readonly', module: 'writable', __dirname: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', URL: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-require-imports': 'off',
    },
  },
  {
    files: ['src/workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: forbiddenInWorkflows.map((name) => ({
            name,
            message: 'Workflow code must stay deterministic: do I/O in an activity.',
          })),
          patterns: [
            { group: ['@aws-sdk/*', '@aws-crypto/*'], message: 'AWS clients belong in activities, not workflows.' },
            { group: ['**/activities', '**/activities/**'], allowTypeImports: true, message: 'Import activity types only: `import type * as activities`.' },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'Date', message: 'Use workflow time from @temporalio/workflow, not the clock.' },
        { name: 'setTimeout', message: 'Use sleep() from @temporalio/workflow.' },
      ],
      'no-restricted-properties': [
        'error',
        { object: 'Math', property: 'random', message: 'Workflows must be deterministic; use uuid4() from @temporalio/workflow if needed.' },
      ],
    },
  },
  {
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: forbiddenInCore.map((name) => ({ name, message: 'src/core is pure: do I/O in an activity (or the store it uses) and pass the core plain values.' })),
          patterns: [{ group: ['@aws-sdk/*', '@aws-crypto/*'], message: 'src/core is pure: AWS clients belong at the edge, not in the core.' }],
        },
      ],
    },
  },
  {
    // A promise nobody awaits loses its error (an unhandled rejection) and its ordering. Typed
    // linting, so only where it pays: the service's own code.
    files: ['src/**/*.ts'],
    languageOptions: {
      parserOptions: {
        // lint-probe.ts: the files test/unit/*lint.test.ts lint as text; they never exist on disk.
        projectService: { allowDefaultProject: ['src/*/lint-probe.ts'], defaultProject: 'tsconfig.json' },
        tsconfigRootDir: __dirname,
      },
    },
    rules: { '@typescript-eslint/no-floating-promises': 'error' },
  },
  {
    // Import cycles make module initialisation order matter and the layers unreadable.
    // Type-only imports are not cycles at run time and are ignored.
    files: ['src/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      'import-x/extensions': ['.ts', '.js'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/resolver-next': [importX.createNodeResolver({ extensions: ['.ts', '.js', '.json'] })],
    },
    rules: { 'import-x/no-cycle': 'error' },
  },
);
