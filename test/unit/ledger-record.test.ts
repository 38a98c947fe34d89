import { randomBytes } from 'node:crypto';
import { changedKeysOf, firstWrites, insertedKeysOf, packLedgerRecord, preImagesOf } from '../../src/core/ledger-record';

const key = randomBytes(32);
const at = { migrationId: 'm1', table: 'app.people', runId: 'r1', batchId: '00007' };

describe('ledger records', () => {
  it('pack a batch into one record and give back its inserted keys and pre-images in order', () => {
    const inserted = Array.from({ length: 5000 }, (_, i) => `user-${i}`);
    const updated = [
      { businessKey: 'u2', preImage: { email: 'x', n: 1 } },
      { businessKey: '["a","1"]', preImage: { v: 2, row: { id: 3 } } },
    ];
    const record = packLedgerRecord({ inserted, updated }, key, at);
    expect(record).toMatchObject({ insertedCount: 5000, updatedCount: 2 });
    expect(insertedKeysOf(record)).toEqual(inserted);
    expect(changedKeysOf(record)).toEqual(['u2', '["a","1"]']);
    expect(preImagesOf(record, key, at)).toEqual(updated);
    // One record is much smaller than 5,000 ledger rows: the keys are packed and compressed.
    expect(record.inserted!.length).toBeLessThan(5000 * 4);
  });

  it('store nothing for what the batch did not do', () => {
    const record = packLedgerRecord({ inserted: [], updated: [] }, key, at);
    expect(record).toEqual({ insertedCount: 0, updatedCount: 0, inserted: null, changed: null, preImages: null });
    expect(insertedKeysOf(record)).toEqual([]);
    expect(preImagesOf(record, key, at)).toEqual([]);
  });

  it('seal the pre-images: no value in clear, bound to the record, tampering detected without naming a value', () => {
    const record = packLedgerRecord({ inserted: [], updated: [{ businessKey: 'k', preImage: { email: 'ada.lovelace@example.org' } }] }, key, at);
    expect(record.preImages!.toString('latin1')).not.toContain('lovelace');
    expect(() => preImagesOf(record, key, { ...at, batchId: '00008' })).toThrow(/integrity check failed: ledger pre-images of app\.people batch 00008/);
    expect(() => preImagesOf(record, randomBytes(32), at)).toThrow(/integrity check failed/);
    const tampered = Buffer.from(record.preImages!);
    tampered[tampered.length - 1]! ^= 1;
    let message = '';
    try {
      preImagesOf({ preImages: tampered }, key, at);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/integrity check failed/);
    expect(message).not.toContain('lovelace');
  });
});

describe('first writes', () => {
  it('give each key the oldest record that wrote it', () => {
    const first = firstWrites(
      [
        { seq: 1, inserted: ['a', 'b'], changed: ['x'] },
        { seq: 2, inserted: [], changed: ['a', 'x', 'y'] },
        { seq: 5, inserted: ['y2', 'b'], changed: ['y'] },
      ],
      new Map([['old', 0]]),
    );
    expect(Object.fromEntries(first)).toEqual({ old: 0, a: 1, b: 1, x: 1, y: 2, y2: 5 });
  });
});
