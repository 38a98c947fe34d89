import { killChildren } from './helpers';

// Integration tests drive real services (and the CLI in child processes): give them room.
// Size a test to finish well inside this on 2 cores with other work running; do not raise it.
jest.setTimeout(300_000);

// After each test file (the afterAll hooks of its describe blocks run first): a test that failed or timed out
// before stopping what it spawned must not leave a worker running, nor keep jest from exiting.
afterAll(async () => {
  const killed = await killChildren();
  if (killed.length) console.warn(`killed ${killed.length} child process(es) the test file left running: ${killed.join(', ')}`);
});
