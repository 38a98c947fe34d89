const js = require('@eslint/js');
const tseslint = require('typescript-eslint');
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
);
