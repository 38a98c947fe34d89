import { reconcileDigests, UNKNOWN_SOURCE_KEY, verificationOutcome } from '../../src/core/reconcile';
import { verifiedLine } from '../../src/shared/progress';

describe('which rows a batch reconcile verified', () => {
  const staged: [string, string, string?][] = [
    ['bk1', 'd1', 's1'],
    ['bk2', 'd2', 's2'],
    ['bk3', 'd3', 's3'],
    ['bk4', 'd4', 's4'],
  ];

  it('verifies what matched, and keeps missing, different and duplicated rows unverified by source key', () => {
    const expected = new Map(staged.map(([bk, d]) => [bk, d] as const));
    const result = reconcileDigests(expected, [
      ['bk1', 'd1'],
      ['bk2', 'changed'],
      ['bk4', 'd4'],
      ['bk4', 'd4'],
    ]);
    const out = verificationOutcome({ staged, result, refused: new Set() });
    expect(out.failed).toEqual([
      { sourceKey: 's3', businessKey: 'bk3', reason: 'missing' },
      { sourceKey: 's2', businessKey: 'bk2', reason: 'mismatched' },
      { sourceKey: 's4', businessKey: 'bk4', reason: 'duplicated' },
    ]);
    expect(out.verified).toEqual(['s1']);
  });

  it('takes refused rows and deletes the target carried out off the list, and keeps deletes it did not', () => {
    const expected = new Map([['bk1', 'd1']]);
    const out = verificationOutcome({
      staged: staged.slice(0, 1),
      result: reconcileDigests(expected, [['bk1', 'd1']]),
      refused: new Set(['s9']),
      deleted: ['s7', 's8'],
      stillPresent: [{ sourceKey: 's8', businessKey: 'bk8' }],
    });
    expect(out.verified.sort()).toEqual(['s1', 's7', 's9']);
    expect(out.failed).toEqual([{ sourceKey: 's8', businessKey: 'bk8', reason: 'still present' }]);
  });

  it('marks a row staged before manifests carried source keys, so the cutover verifies its entity whole', () => {
    const out = verificationOutcome({ staged: [['bk1', 'd1']], result: reconcileDigests(new Map([['bk1', 'd1']]), []), refused: new Set() });
    expect(out.failed).toEqual([{ sourceKey: `${UNKNOWN_SOURCE_KEY}bk1`, businessKey: 'bk1', reason: 'missing' }]);
    expect(out.verified).toEqual([]);
  });
});

describe('the verified line of status and the Web UI', () => {
  it('says how many rows are verified, up to where, and which are not', () => {
    expect(verifiedLine({ upTo: 'LSN 0/16B3748', entities: [{ entity: 'users', loaded: 1200, unverified: 0 }, { entity: 'courses', loaded: 10, unverified: 0 }] })).toBe('- verified: 1,210 of 1,210 rows, up to LSN 0/16B3748');
    expect(verifiedLine({ entities: [{ entity: 'users', loaded: 1200, unverified: 2 }] })).toBe('- verified: 1,198 of 1,200 rows · **not verified: users 2** (verified again when they change, and at the cutover)');
    expect(verifiedLine(undefined)).toBeUndefined();
  });
});
