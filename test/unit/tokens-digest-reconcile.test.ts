import { randomBytes } from 'node:crypto';
import { quarantineAbortReason } from '../../src/core/abort';
import { normalizeValue, rowDigest } from '../../src/core/digest';
import { isClean, reconcileDigests } from '../../src/core/reconcile';
import { looksLikeToken, tokenFor } from '../../src/core/tokens';

describe('tokens', () => {
  // A fixed key: with a random one, a hex token now and then contains a short value by chance
  // ('Tok7adad…' holds 'ada', about 1 run in 400), a flaky failure that proves nothing.
  const key = Buffer.from('5f1c0de7a11ce5b0b0c0ffee0ddba11cafef00d5eed5a1ad0badc0de0ff1ce00', 'hex');

  it('are deterministic per key, different under another key', () => {
    expect(tokenFor('email', 'ada@example.com', key)).toBe(tokenFor('email', 'ada@example.com', key));
    expect(tokenFor('email', 'ada@example.com', key)).not.toBe(tokenFor('email', 'ada@example.com', randomBytes(32)));
    expect(tokenFor('email', 'ada@example.com', key)).not.toBe(tokenFor('email', 'bob@example.com', key));
    // The same value under another kind is another token (no cross-column linking).
    expect(tokenFor('text', 'ada', key)).not.toBe(tokenFor('name', 'ada', key).toLowerCase());
  });

  it.each([
    ['email', 'ada@example.com', /^u[0-9a-f]{24}@token\.invalid$/],
    ['phone', '+1-555-0100', /^\+999\d{10}$/],
    ['name', 'Ada', /^Tok[0-9a-f]{12}$/],
    ['text', 'ada.l', /^tok_[0-9a-f]{32}$/],
  ] as const)('keep a %s column valid and never contain the value', (kind, value, shape) => {
    const token = tokenFor(kind, value, key);
    expect(token).toMatch(shape);
    expect(looksLikeToken(kind, token)).toBe(true);
    expect(token.toLowerCase()).not.toContain(value.toLowerCase());
  });
});

describe('digests', () => {
  const key = randomBytes(32);

  it('see a staged value and its read-back the same, across types', () => {
    expect(normalizeValue(new Date('2023-11-14T22:13:20.000Z'))).toBe(normalizeValue('2023-11-14T22:13:20Z'));
    expect(normalizeValue(42)).toBe(normalizeValue('42'));
    expect(normalizeValue(true)).toBe('true');
    expect(rowDigest(key, ['a', 'b'], [1, new Date(0)])).toBe(rowDigest(key, ['a', 'b'], ['1', '1970-01-01T00:00:00.000Z']));
  });

  it('differ when a value, a null or the key differs', () => {
    const d = rowDigest(key, ['a', 'b'], ['x', null]);
    expect(rowDigest(key, ['a', 'b'], ['x', ''])).not.toBe(d);
    expect(rowDigest(key, ['a', 'b'], ['x', 'null'])).not.toBe(d);
    expect(rowDigest(key, ['a', 'b'], ['y', null])).not.toBe(d);
    expect(rowDigest(randomBytes(32), ['a', 'b'], ['x', null])).not.toBe(d);
  });
});

describe('reconcile', () => {
  const expected = new Map([
    ['1', 'd1'],
    ['2', 'd2'],
    ['3', 'd3'],
  ]);

  it('is clean when every key is found once with its digest', () => {
    const r = reconcileDigests(expected, [['1', 'd1'], ['2', 'd2'], ['3', 'd3']]);
    expect(isClean(r)).toBe(true);
  });

  it('names missing, mismatched and duplicated business keys', () => {
    const r = reconcileDigests(expected, [['1', 'd1'], ['2', 'other'], ['1', 'd1']]);
    expect(r).toEqual({ expected: 3, found: 3, missing: ['3'], mismatched: ['2'], duplicated: ['1'] });
    expect(isClean(r)).toBe(false);
  });
});

describe('abort threshold', () => {
  it('names the entity, the count and the threshold once past it', () => {
    expect(quarantineAbortReason({ entity: 'users', processed: 1000, quarantined: 20 }, 0.02)).toBeUndefined();
    expect(quarantineAbortReason({ entity: 'users', processed: 1000, quarantined: 21 }, 0.02)).toBe(
      'users: 21 of 1000 rows quarantined (2.1 %), above the abort threshold of 2.0 %',
    );
    expect(quarantineAbortReason({ entity: 'users', processed: 10, quarantined: 1 }, 0)).toMatch(/above the abort threshold of 0.00 %$/);
  });

  it('while the entity runs, aborts only once its whole is sure to pass the threshold, whatever order its batches came in', () => {
    // 4 bad rows in the first 7 of 18: 57 % so far, but the whole may still end within 50 %.
    expect(quarantineAbortReason({ entity: 'enrolments', processed: 7, quarantined: 4, atMost: 18 }, 0.5)).toBeUndefined();
    // 9 of 18 in the end is within it; 10 of at most 18 is past it before the last batch.
    expect(quarantineAbortReason({ entity: 'enrolments', processed: 18, quarantined: 9 }, 0.5)).toBeUndefined();
    expect(quarantineAbortReason({ entity: 'enrolments', processed: 14, quarantined: 10, atMost: 18 }, 0.5)).toBe(
      'enrolments: 10 of 14 rows quarantined so far (71.4 %), so at least 10 of at most 18 (55.56 %) whatever the rest holds: above the abort threshold of 50.0 %',
    );
    // The same rows in any order of batches: the decision is the same at the end.
    const batches = [3, 0, 2, 0, 3, 1]; // bad rows in each batch of 3 rows: 9 of 18
    const decide = (order: number[]) => {
      let processed = 0;
      let quarantined = 0;
      for (const bad of order) {
        processed += 3;
        quarantined += bad;
        const reason = quarantineAbortReason({ entity: 'e', processed, quarantined, atMost: 18 }, 0.5);
        if (reason) return 'abort';
      }
      return quarantineAbortReason({ entity: 'e', processed, quarantined }, 0.5) ? 'abort' : 'complete';
    };
    expect(decide(batches)).toBe('complete');
    expect(decide([...batches].reverse())).toBe('complete');
    expect(decide([3, 3, 3, 0, 0, 0])).toBe('complete'); // a batch-by-batch share would have aborted after the first
    expect(decide([3, 3, 3, 1, 0, 0])).toBe('abort'); // 10 of 18: sure once the tenth is quarantined
    expect(decide([0, 0, 1, 3, 3, 3])).toBe('abort');
    // A source that grew past its count: never a share above 1, the rows read so far are the floor.
    expect(quarantineAbortReason({ entity: 'e', processed: 30, quarantined: 3, atMost: 18 }, 0.2)).toBeUndefined();
  });
});
