import { ApplicationFailure } from '@temporalio/common';
import { activityLogAttributes, createLog, loggedError, TemporalLog } from '../../src/clients/log';

/** A log writing to memory: its lines, parsed. */
function memoryLog() {
  const lines: string[] = [];
  const log = createLog('DEBUG', { write: (s: string) => lines.push(s) } as never);
  return { log, lines: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('the JSON log', () => {
  it('writes one JSON object per line with level, time, message and the fields given', () => {
    const { log, lines } = memoryLog();
    new TemporalLog(log).info('Activity completed', { activityType: 'loadBatch', attempt: 2, migrationId: 'm-1', batchId: 'b-7', durationMs: 12 });
    expect(lines()).toEqual([expect.objectContaining({ level: 'info', message: 'Activity completed', activityType: 'loadBatch', attempt: 2, migrationId: 'm-1', batchId: 'b-7', service: 'cutover-worker', time: expect.any(String) })]);
  });

  it('redacts fields that carry values, at the top and one object down', () => {
    const { log, lines } = memoryLog();
    new TemporalLog(log).warn('x', { values: ['ada@example.org'], row: { email: 'ada@example.org' }, query: { sql: "select 'ada@example.org'", bindings: ['ada@example.org'] }, pg: { detail: 'Key (email)=(ada@example.org) exists' } });
    const text = JSON.stringify(lines());
    expect(text).not.toContain('ada@example.org');
    expect(lines()[0]).toMatchObject({ values: '[redacted]', row: '[redacted]', query: { sql: '[redacted]', bindings: '[redacted]' }, pg: { detail: '[redacted]' } });
  });

  it("keeps an error's class and code, and its message only when it is value-free by construction", () => {
    const pg = Object.assign(new Error('duplicate key value: Key (email)=(ada@example.org) already exists'), { code: '23505', detail: 'Key (email)=(ada@example.org)' });
    expect(loggedError(pg)).toEqual({ kind: 'Error (23505)', message: '(withheld: it may carry values)' });
    const failure = ApplicationFailure.create({ message: 'load users: DatabaseError, constraint people_email_key, SQLSTATE 23505', type: 'DatabaseError', nonRetryable: true });
    expect(loggedError(failure)).toEqual({ kind: 'ApplicationFailure', type: 'DatabaseError', nonRetryable: true, message: 'load users: DatabaseError, constraint people_email_key, SQLSTATE 23505' });
    const { log, lines } = memoryLog();
    new TemporalLog(log).warn('Activity failed', { error: pg });
    expect(JSON.stringify(lines())).not.toContain('ada@example.org');
  });

  it("takes an activity request's ids for its lines, and nothing else of it", () => {
    expect(activityLogAttributes({ migrationId: 'm-1', entity: 'users', batchId: 'b-1', round: 3, rows: [{ email: 'x' }], keys: ['1'] })).toEqual({ migrationId: 'm-1', entity: 'users', batchId: 'b-1', round: 3 });
    expect(activityLogAttributes('m-1')).toEqual({});
    expect(activityLogAttributes(undefined)).toEqual({});
  });
});
