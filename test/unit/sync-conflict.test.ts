import { decideChange, decideDelete } from '../../src/core/sync-conflict';
import { deletesOverLimit, sourceKeySetChanges } from '../../src/core/sync-keys';

describe('decideChange', () => {
  it('writes a row the target does not have', () => {
    expect(decideChange({ newDigest: 'n' })).toBe('write');
  });
  it('skips a source version already taken account of (a poll overlap reads it again)', () => {
    expect(decideChange({ newDigest: 'n', currentDigest: 'x', writtenDigest: 'w', sourceDigest: 'n' })).toBe('skip');
  });
  it('writes when the target still holds what Cutover wrote', () => {
    expect(decideChange({ newDigest: 'n', currentDigest: 'w', writtenDigest: 'w', sourceDigest: 'w' })).toBe('write');
  });
  it('is a conflict when both sides changed the row', () => {
    expect(decideChange({ newDigest: 'n', currentDigest: 'edited', writtenDigest: 'w', sourceDigest: 'w' })).toBe('conflict');
  });
  it('is no conflict when the target already holds the new version', () => {
    expect(decideChange({ newDigest: 'n', currentDigest: 'n', writtenDigest: 'w', sourceDigest: 'w' })).toBe('write');
  });
  it('writes rows loaded before digests were kept', () => {
    expect(decideChange({ newDigest: 'n', currentDigest: 'edited', writtenDigest: null, sourceDigest: null })).toBe('write');
  });
});

describe('decideDelete', () => {
  it('forgets a row the target no longer has, deletes one it holds as written, and flags an edited one', () => {
    expect(decideDelete({ writtenDigest: 'w' })).toBe('forget');
    expect(decideDelete({ currentDigest: 'w', writtenDigest: 'w' })).toBe('delete');
    expect(decideDelete({ currentDigest: 'e', writtenDigest: 'w' })).toBe('conflict');
  });
});

describe('sourceKeySetChanges', () => {
  it('finds rows gone from the source or now skipped, and rows never accounted for', () => {
    const source = new Map<string, string | null>([
      ['1', null],
      ['2', 'inactive'],
      ['4', null],
      ['5', null],
    ]);
    const r = sourceKeySetChanges(source, new Set(['1', '2', '3']), new Set(['5']));
    expect(r.deleted.sort()).toEqual(['2', '3']);
    expect(r.unseen).toEqual(['4']);
  });
});

describe('deletesOverLimit', () => {
  it('holds a round deleting more than the ratio of what was loaded, never one of a few rows', () => {
    expect(deletesOverLimit([{ entity: 'users', deletes: 500, loaded: 1000 }], 0.1)).toHaveLength(1);
    expect(deletesOverLimit([{ entity: 'users', deletes: 50, loaded: 1000 }], 0.1)).toHaveLength(0);
    expect(deletesOverLimit([{ entity: 'tiny', deletes: 3, loaded: 4 }], 0.1)).toHaveLength(0);
  });
});
