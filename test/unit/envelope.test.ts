import { randomBytes } from 'node:crypto';
import { deterministicBytes, IntegrityError, open, seal, sha256Hex } from '../../src/core/envelope';

describe('envelope sealing (AES-256-GCM)', () => {
  const key = randomBytes(32);
  const plaintext = Buffer.from('probe payload that must round-trip');

  it('opens what it sealed, and the sealed bytes do not contain the plaintext', () => {
    const sealed = seal(plaintext, key, 'ctx');
    expect(sealed.includes(plaintext)).toBe(false);
    expect(open(sealed, key, 'ctx')).toEqual(plaintext);
  });

  it('detects a single changed byte anywhere in the blob', () => {
    const sealed = seal(plaintext, key, 'ctx');
    for (const index of [1, 14, 30, sealed.length - 1]) {
      const tampered = Buffer.from(sealed);
      tampered[index] = tampered[index]! ^ 0x01;
      expect(() => open(tampered, key, 'ctx', 'staged/x.bin')).toThrow(IntegrityError);
    }
  });

  it('refuses the right bytes under the wrong context or key', () => {
    const sealed = seal(plaintext, key, 'migration=a');
    expect(() => open(sealed, key, 'migration=b')).toThrow(/authentication tag does not match/);
    expect(() => open(sealed, randomBytes(32), 'migration=a')).toThrow(IntegrityError);
  });

  it('names the object in the error and rejects short or foreign blobs', () => {
    expect(() => open(Buffer.from([9, 9, 9]), key, 'ctx', 'staged/b.bin')).toThrow('integrity check failed: staged/b.bin: not a sealed blob of version 1');
  });

  it('rejects a data key of the wrong size', () => {
    expect(() => seal(plaintext, randomBytes(16), 'ctx')).toThrow('data key: expected 32 bytes, got 16');
  });
});

describe('deterministic bytes', () => {
  it('gives the same bytes for the same seed, different for another', () => {
    expect(deterministicBytes('a', 100)).toEqual(deterministicBytes('a', 100));
    expect(deterministicBytes('a', 100)).not.toEqual(deterministicBytes('b', 100));
    expect(deterministicBytes('a', 4096)).toHaveLength(4096);
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});
