/** @type {import('jest').Config} */
const transform = { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] };

module.exports = {
  // A test that times out keeps running in the background (e.g. awaiting a workflow's result on
  // an open gRPC connection), which would keep jest alive for ever after the last file. Exit once
  // every file has run; the exit handler from test/integration/global-setup.ts then kills any
  // process a test spawned and left running (each file's afterAll kills its own first).
  forceExit: true,
  projects: [
    {
      displayName: 'unit',
      // The stack's state (.cutover: PostgreSQL's data with its logical-decoding .snap files, MinIO's objects) is not the project's.
      modulePathIgnorePatterns: ['<rootDir>/.cutover/'],
      testEnvironment: 'node',
      testMatch: ['<rootDir>/test/unit/**/*.test.ts'],
      transform,
    },
    {
      displayName: 'integration',
      modulePathIgnorePatterns: ['<rootDir>/.cutover/'],
      testEnvironment: 'node',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      transform,
      // The stack is shared: bring it up once, before any integration test.
      globalSetup: '<rootDir>/test/integration/global-setup.ts',
      setupFilesAfterEnv: ['<rootDir>/test/integration/setup-timeout.ts'],
    },
  ],
};
