import { randomBytes } from 'node:crypto';
import { defaultPayloadConverter } from '@temporalio/common';
import { EncryptionCodec } from '../../src/codec/payload-codec';
import { safeDbError, describeSafe, sanitizeDbErrors } from '../../src/stores/errors';
import { inLanes } from '../../src/core/lanes';

describe('payload codec', () => {
  const codec = new EncryptionCodec(randomBytes(32));
  const payload = defaultPayloadConverter.toPayload({ email: 'ada@example.com' });

  it('encrypts a payload so the value is not in its bytes, and decodes it back', async () => {
    const [encoded] = await codec.encode([payload]);
    expect(Buffer.from(encoded!.data!).includes(Buffer.from('ada@example.com'))).toBe(false);
    expect(new TextDecoder().decode(encoded!.metadata!.encoding)).toBe('binary/encrypted');
    const [decoded] = await codec.decode([encoded!]);
    expect(defaultPayloadConverter.fromPayload(decoded!)).toEqual({ email: 'ada@example.com' });
  });

  it('refuses a payload changed by one byte, or decoded with another key', async () => {
    const [encoded] = await codec.encode([payload]);
    const tampered = { ...encoded!, data: Buffer.from(encoded!.data!) };
    tampered.data[20] = tampered.data[20]! ^ 1;
    await expect(codec.decode([tampered])).rejects.toThrow(/integrity check failed/);
    await expect(new EncryptionCodec(randomBytes(32)).decode([encoded!])).rejects.toThrow(/integrity check failed/);
  });

  it('leaves payloads it did not encrypt alone', async () => {
    expect(await codec.decode([payload])).toEqual([payload]);
  });
});

describe('database errors without values', () => {
  it('keeps the code, column and constraint, never the message or detail', () => {
    const pgError = Object.assign(new Error('null value in column "email" of relation "people" violates not-null constraint'), {
      code: '23502',
      column: 'email',
      table: 'people',
      detail: 'Failing row contains (1, ada@example.com, Ada).',
    });
    const safe = safeDbError(pgError)!;
    expect(safe).toEqual({ reason: 'not_null_violation', sqlstate: '23502', column: 'email', table: 'people', constraint: undefined });
    expect(describeSafe(safe)).toBe('not_null_violation, table people, column email, SQLSTATE 23502');
    expect(JSON.stringify(safe)).not.toContain('ada@example.com');
    const syntax = Object.assign(new Error('invalid input syntax for type integer: "ada@example.com"'), { code: '22P02' });
    expect(describeSafe(safeDbError(syntax)!)).toBe('invalid_text_representation, SQLSTATE 22P02');
    expect(safeDbError(new Error('plain'))).toBeUndefined();
  });
});

describe('activities wrapped by sanitizeDbErrors', () => {
  it('rethrow a database error as a failure without its values, and other errors without their message', async () => {
    const wrapped = sanitizeDbErrors({
      async load() {
        throw Object.assign(new Error('insert into "people" ... duplicate key value: (email)=(ada@example.com)'), { code: '23505', constraint: 'people_email_key', table: 'people' });
      },
      async other() {
        throw new Error('not a database error');
      },
    });
    const failure = await wrapped.load().catch((e) => e);
    expect(failure).toMatchObject({ type: 'DatabaseError', message: 'load: unique_violation, table people, constraint people_email_key, SQLSTATE 23505' });
    expect(JSON.stringify(failure)).not.toContain('ada@example.com');
    // Other errors keep their class, not their message (test/unit/errors-without-values.test.ts).
    await expect(wrapped.other()).rejects.toMatchObject({ type: 'Error', message: 'other: Error (message withheld: it may carry values)' });
    expect(failure.nonRetryable).toBe(false); // a unique violation may pass once the data changes
    const missing = await sanitizeDbErrors({
      async load() {
        throw Object.assign(new Error('relation "cutover.batch_loads" does not exist'), { code: '42P01' });
      },
    })
      .load()
      .catch((e) => e);
    expect(missing).toMatchObject({ type: 'DatabaseError', nonRetryable: true, message: 'load: sqlstate_42P01, SQLSTATE 42P01' });
  });
});

describe('lanes', () => {
  it('never run more than the limit at once and run every item', async () => {
    let running = 0;
    let peak = 0;
    const done: number[] = [];
    await inLanes([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 5 * (n % 3)));
      done.push(n);
      running--;
    });
    expect(peak).toBe(3);
    expect(done.sort()).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it('fail only once the items in flight have finished, and start none after a failure', async () => {
    const finished: number[] = [];
    let running = 0;
    const failed = await inLanes([1, 2, 3, 4, 5, 6], 3, async (n) => {
      running++;
      await new Promise((r) => setTimeout(r, n === 1 ? 1 : 30));
      running--;
      if (n === 1) throw new Error('batch 1 failed');
      finished.push(n);
    }).catch((e: Error) => ({ message: e.message, runningWhenThrown: running }));
    expect(failed).toEqual({ message: 'batch 1 failed', runningWhenThrown: 0 });
    expect(finished.sort()).toEqual([2, 3]); // in flight when 1 failed: finished; 4..6: never started
  });
});
