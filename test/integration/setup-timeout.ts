// Integration tests drive real services (and the CLI in child processes): give them room.
jest.setTimeout(300_000);
