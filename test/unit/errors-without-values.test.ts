import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { describeError, SafeError, sanitizeDbErrors, withoutValues } from '../../src/stores/errors';
import { IntegrityError } from '../../src/core/envelope';

const EMAIL = 'ada.lovelace@example.com';

/** What crosses the activity boundary: the failure, its cause chain, its stack, its details. */
function everythingIn(failure: unknown): string {
  const f = failure as { message?: string; stack?: string; cause?: unknown; details?: unknown };
  return [f.message, f.stack, JSON.stringify(f.details ?? null), f.cause ? everythingIn(f.cause) : ''].join('\n');
}

async function thrownBy(fn: () => Promise<unknown>): Promise<unknown> {
  return fn().then(
    () => {
      throw new Error('expected a failure');
    },
    (e: unknown) => e,
  );
}

describe('errors that are not database errors, leaving an activity', () => {
  const cases: [string, () => unknown][] = [
    ['JSON.parse quotes its input', () => JSON.parse(`{"email": ${EMAIL}}`)],
    ['BigInt() echoes its input', () => BigInt(EMAIL)],
    ['a library Error with the value in its message and cause', () => {
      throw new Error(`cannot map row (${EMAIL})`, { cause: new Error(`inner: ${EMAIL}`) });
    }],
    ['a thrown string', () => {
      throw `bad value ${EMAIL}`;
    }],
    ['an AWS-style error', () => {
      throw Object.assign(new Error(`The specified key does not exist: certificates/${EMAIL}.pdf`), { name: 'NoSuchKey', Code: 'NoSuchKey', $metadata: { httpStatusCode: 404 } });
    }],
    ['a Node errno error', () => {
      throw Object.assign(new Error(`connect ECONNREFUSED for ${EMAIL}`), { code: 'ECONNREFUSED' });
    }],
  ];

  it.each(cases)('%s: crosses with its class, code and context, and without the value', async (_name, fail) => {
    const wrapped = sanitizeDbErrors({
      async loadBatch() {
        return fail();
      },
    });
    const failure = await thrownBy(() => wrapped.loadBatch());
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect((failure as ApplicationFailure).message).toMatch(/^loadBatch: [A-Za-z]+( \([^)]*\))? \(message withheld: it may carry values\)$/);
    expect(everythingIn(failure)).not.toContain(EMAIL);
    expect(everythingIn(failure)).not.toContain('ada.lovelace');
  });

  it('names the class, the code and the HTTP status', () => {
    expect(describeError(Object.assign(new Error('x'), { name: 'NoSuchKey', Code: 'NoSuchKey', $metadata: { httpStatusCode: 404 } }))).toBe('NoSuchKey (HTTP 404)');
    expect(describeError(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }))).toBe('Error (ECONNREFUSED)');
    expect(describeError(new SyntaxError('x'))).toBe('SyntaxError');
    // A SQLSTATE of digits only is a code too (a unique violation), and a longer number-like string is not.
    expect(describeError(Object.assign(new Error('x'), { name: 'error', code: '23505' }))).toBe('error (23505)');
    expect(describeError(Object.assign(new Error('x'), { code: '2350512345' }))).toBe('Error');
    expect(describeError('a string')).toBe('string');
    // A name or code that is not an identifier could be data: left out.
    expect(describeError(Object.assign(new Error('x'), { name: EMAIL, code: `E ${EMAIL}` }))).toBe('Error');
  });

  it('keeps the type, so the retry policy still stops on IntegrityError, and other errors stay retryable', async () => {
    const integrity = await thrownBy(async () => withoutValues('load users batch b1', new IntegrityError('migrations/m/users/b1/rows.json.gz.enc: 3 rows, the manifest says 4')));
    expect(integrity).toMatchObject({ type: 'IntegrityError', message: 'load users batch b1: integrity check failed: migrations/m/users/b1/rows.json.gz.enc: 3 rows, the manifest says 4' });
    const plain = await thrownBy(async () => withoutValues('stage users', new TypeError(`Cannot convert ${EMAIL}`)));
    expect(plain).toMatchObject({ type: 'TypeError', nonRetryable: false, message: 'stage users: TypeError (message withheld: it may carry values)' });
  });

  it("keeps the message of Cutover's own value-free errors and passes Temporal failures as they are", async () => {
    const safe = await thrownBy(async () => withoutValues('prepareMigration', new SafeError("the plan's source connection LEGACY_URL is not set in the worker's environment")));
    expect(safe).toMatchObject({ type: 'SafeError', message: "prepareMigration: the plan's source connection LEGACY_URL is not set in the worker's environment" });
    const ours = ApplicationFailure.nonRetryable('users: 5 of 100 rows quarantined', 'AbortThresholdExceeded');
    expect(await thrownBy(async () => withoutValues('x', ours))).toBe(ours);
    const cancelled = new CancelledFailure('cancelled');
    expect(await thrownBy(async () => withoutValues('x', cancelled))).toBe(cancelled);
  });

  it('does not take a Node errno that looks like a SQLSTATE (EPIPE) for a database error', async () => {
    const failure = await thrownBy(async () => withoutValues('load', Object.assign(new Error(`write EPIPE ${EMAIL}`), { code: 'EPIPE' })));
    expect(failure).toMatchObject({ type: 'Error', message: 'load: Error (EPIPE) (message withheld: it may carry values)' });
  });
});

describe('cutover assess: a database error without the value PostgreSQL quotes in it', () => {
  it('keeps the SQLSTATE reason, table and column, never the message', () => {
    const { withoutRowValues } = require('../../src/cli/commands/assess') as typeof import('../../src/cli/commands/assess');
    const pg = Object.assign(new Error(`invalid input syntax for type integer: "${EMAIL}"`), { code: '22P02', table: 'people', column: 'age' });
    let thrown: unknown;
    try {
      withoutRowValues(pg);
    } catch (e) {
      thrown = e;
    }
    expect(everythingIn(thrown)).not.toContain(EMAIL);
    expect((thrown as Error).message).toBe('the assessment stopped on a database error: invalid_text_representation, table people, column age, SQLSTATE 22P02');
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    expect(() => withoutRowValues(refused)).toThrow(refused);
  });
});
