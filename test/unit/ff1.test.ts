import { createCipheriv, randomBytes, randomInt } from 'node:crypto';
import { ff1Decrypt, ff1DecryptBatch, ff1Encrypt, ff1EncryptBatch, ff1Key, openAesEcb, type EcbOpener } from '../../src/core/ff1';

const hex = (s: string) => Buffer.from(s, 'hex');
const DIGITS = '0123456789';
const BASE36 = '0123456789abcdefghijklmnopqrstuvwxyz';
const KEY_128 = hex('2B7E151628AED2A6ABF7158809CF4F3C');
const KEY_192 = hex('2B7E151628AED2A6ABF7158809CF4F3CEF4359D8D580AA4F');
const KEY_256 = hex('2B7E151628AED2A6ABF7158809CF4F3CEF4359D8D580AA4F7F036D6F04FC6A94');
const NO_TWEAK = new Uint8Array(0);
const TWEAK_10 = hex('39383736353433323130');
const TWEAK_11 = hex('3737373770717273373737');

function randomDigits(length: number): string {
  let s = '';
  for (let i = 0; i < length; i++) s += DIGITS[randomInt(10)];
  return s;
}

/**
 * FF1 as SP 800-38G writes it, one value at a time, BigInt throughout, one CBC cipher per PRF:
 * the batched implementation must agree with it on every length, not only the samples' two.
 */
function referenceEncrypt(key: Buffer, radix: number, tweak: Uint8Array, digits: number[]): number[] {
  const n = digits.length;
  const u = Math.floor(n / 2);
  const v = n - u;
  const num = (xs: number[]) => xs.reduce((x, dgt) => x * BigInt(radix) + BigInt(dgt), 0n);
  const str = (x: bigint, m: number) => Array.from({ length: m }, (_, i) => Number((x / BigInt(radix) ** BigInt(m - 1 - i)) % BigInt(radix)));
  const b = Math.ceil(Math.ceil(v * Math.log2(radix)) / 8);
  const d = 4 * Math.ceil(b / 4) + 4;
  const p = Buffer.alloc(16);
  p.set([1, 2, 1, 0, radix >> 8, radix & 0xff, 10, u % 256]);
  p.writeUInt32BE(n, 8);
  p.writeUInt32BE(tweak.length, 12);
  let a = digits.slice(0, u);
  let bb = digits.slice(u);
  const bits = key.length * 8;
  for (let i = 0; i < 10; i++) {
    const pad = (((-tweak.length - b - 1) % 16) + 16) % 16;
    const q = Buffer.concat([tweak, Buffer.alloc(pad), Buffer.from([i]), Buffer.from(num(bb).toString(16).padStart(2 * b, '0'), 'hex')]);
    const cbc = createCipheriv(`aes-${bits}-cbc`, key, Buffer.alloc(16)).setAutoPadding(false);
    const r = cbc.update(Buffer.concat([p, q])).subarray(-16);
    const blocks = [r];
    for (let j = 1; j < Math.ceil(d / 16); j++) {
      const x = Buffer.from(r);
      x.writeUInt32BE((x.readUInt32BE(12) ^ j) >>> 0, 12);
      blocks.push(createCipheriv(`aes-${bits}-ecb`, key, null).setAutoPadding(false).update(x));
    }
    const y = BigInt(`0x${Buffer.concat(blocks).subarray(0, d).toString('hex')}`);
    const m = i % 2 === 0 ? u : v;
    const c = (num(a) + y) % BigInt(radix) ** BigInt(m);
    [a, bb] = [bb, str(c, m)];
  }
  return [...a, ...bb];
}

describe('FF1 (NIST SP 800-38G)', () => {
  describe('NIST FF1 samples', () => {
    it.each([
      ['1', KEY_128, NO_TWEAK, DIGITS, '0123456789', '2433477484'],
      ['2', KEY_128, TWEAK_10, DIGITS, '0123456789', '6124200773'],
      ['3', KEY_128, TWEAK_11, BASE36, '0123456789abcdefghi', 'a9tv40mll9kdu509eum'],
      ['4', KEY_192, NO_TWEAK, DIGITS, '0123456789', '2830668132'],
      ['5', KEY_192, TWEAK_10, DIGITS, '0123456789', '2496655549'],
      ['6', KEY_192, TWEAK_11, BASE36, '0123456789abcdefghi', 'xbj3kv35jrawxv32ysr'],
      ['7', KEY_256, NO_TWEAK, DIGITS, '0123456789', '6657667009'],
      ['8', KEY_256, TWEAK_10, DIGITS, '0123456789', '1001623463'],
      ['9', KEY_256, TWEAK_11, BASE36, '0123456789abcdefghi', 'xs8a0azh2avyalyzuwd'],
    ])('sample %s', (_sample, aes, tweak, alphabet, plaintext, ciphertext) => {
      const key = ff1Key(aes, alphabet);
      expect(ff1Encrypt(key, tweak, plaintext)).toBe(ciphertext);
      expect(ff1Decrypt(key, tweak, ciphertext)).toBe(plaintext);
    });
  });

  describe('batches', () => {
    const key = ff1Key(randomBytes(32), DIGITS);
    const tweak = Buffer.from('customers.phone');
    const values = Array.from({ length: 3000 }, () => randomDigits(randomInt(6, 21)));

    it('round-trips a batch of mixed lengths, and each value encrypts as it does alone', () => {
      const tokens = ff1EncryptBatch(key, tweak, values);
      expect(ff1DecryptBatch(key, tweak, tokens)).toEqual(values);
      for (let i = 0; i < values.length; i += 97) expect(ff1Encrypt(key, tweak, values[i]!)).toBe(tokens[i]);
    });

    it('agrees with a per-value reference on every length, through the double and the BigInt paths', () => {
      expect(referenceEncrypt(KEY_256, 36, TWEAK_11, [...'0123456789abcdefghi'].map((c) => parseInt(c, 36))).map((x) => x.toString(36)).join('')).toBe('xs8a0azh2avyalyzuwd');
      const raw = randomBytes(32);
      const batched = ff1Key(raw, DIGITS);
      const lengths = [6, 7, 10, 13, 19, 20, 26, 27, 31, 40, 41, 75];
      for (const t of [NO_TWEAK, TWEAK_11, randomBytes(40)]) {
        const inputs = lengths.flatMap((n) => [randomDigits(n), randomDigits(n)]);
        const expected = inputs.map((s) => referenceEncrypt(raw, 10, t, [...s].map(Number)).join(''));
        expect(ff1EncryptBatch(batched, t, inputs)).toEqual(expected);
        expect(ff1DecryptBatch(batched, t, expected)).toEqual(inputs);
      }
    });

    it('keeps the format, is deterministic, and depends on the tweak', () => {
      const sample = values.slice(0, 500);
      const tokens = ff1EncryptBatch(key, tweak, sample);
      tokens.forEach((token, i) => {
        expect(token).toHaveLength(sample[i]!.length);
        expect(token).toMatch(/^[0-9]+$/);
      });
      expect(ff1EncryptBatch(key, tweak, sample)).toEqual(tokens);
      const otherTweak = ff1EncryptBatch(key, Buffer.from('customers.fax'), sample);
      expect(otherTweak.filter((token, i) => token !== tokens[i]).length).toBeGreaterThan(490);
    });

    it('gives 20,000 distinct 7-digit values 20,000 distinct tokens', () => {
      const start = randomInt(0, 10_000_000 - 20_000);
      const inputs = Array.from({ length: 20_000 }, (_, i) => String(start + i).padStart(7, '0'));
      expect(new Set(ff1EncryptBatch(key, tweak, inputs)).size).toBe(20_000);
    });

    it('works over any alphabet of up to 36 characters', () => {
      const letters = ff1Key(randomBytes(32), 'abcdefghijklmnopqrstuvwxyz');
      expect(letters.minLength).toBe(5);
      const words = ['hello', 'format', 'preserving', 'encryptionofalongerwordwithmanyletters'];
      const tokens = ff1EncryptBatch(letters, NO_TWEAK, words);
      tokens.forEach((token, i) => expect(token).toMatch(new RegExp(`^[a-z]{${words[i]!.length}}$`)));
      expect(ff1DecryptBatch(letters, NO_TWEAK, tokens)).toEqual(words);
    });

    it('returns nothing for an empty batch', () => {
      expect(ff1EncryptBatch(key, tweak, [])).toEqual([]);
    });
  });

  describe('refusals, naming the rule and never the value', () => {
    const key = ff1Key(randomBytes(32), DIGITS);

    it('refuses a domain below 1,000,000 (5 decimal digits) and accepts 6 digits', () => {
      expect(() => ff1EncryptBatch(key, NO_TWEAK, ['123456', '98765'])).toThrow(
        'FF1: value at index 1 has 5 characters: radix 10^5 is below the minimum domain of 1,000,000 (SP 800-38G Rev. 1: radix^length ≥ 1,000,000, so at least 6 characters)',
      );
      expect(() => ff1Decrypt(key, NO_TWEAK, '98765')).toThrow(/minimum domain/);
      expect(ff1Decrypt(key, NO_TWEAK, ff1Encrypt(key, NO_TWEAK, '123456'))).toBe('123456');
    });

    it('refuses a character outside the alphabet, by position', () => {
      let message = '';
      try {
        ff1Encrypt(key, NO_TWEAK, '555-0199');
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toBe('FF1: value at index 0 has a character outside the alphabet (radix 10) at position 3');
      expect(message).not.toContain('0199');
    });

    it('refuses bad keys and alphabets', () => {
      expect(() => ff1Key(randomBytes(20), DIGITS)).toThrow('FF1: an AES key is 16, 24 or 32 bytes, got 20');
      expect(() => ff1Key(randomBytes(32), '0')).toThrow(/alphabet of 2 to 36/);
      expect(() => ff1Key(randomBytes(32), '01234567890')).toThrow(/repeats a character/);
    });
  });

  describe('batching', () => {
    /** Counts the batch's AES calls (and opened ciphers) through the same cipher. */
    const raw = randomBytes(32);
    function countingKey(): { key: ReturnType<typeof ff1Key>; calls: () => number } {
      let calls = 0;
      const counting: EcbOpener = (aesKey) => {
        calls++;
        const encrypt = openAesEcb(aesKey);
        return (blocks) => {
          calls++;
          return encrypt(blocks);
        };
      };
      return { key: ff1Key(raw, DIGITS, counting), calls: () => calls };
    }

    it('encrypts 1,000 ten-digit values with a dozen AES calls, as many as one value takes', () => {
      const one = countingKey();
      ff1Encrypt(one.key, NO_TWEAK, randomDigits(10));
      const many = countingKey();
      const values = Array.from({ length: 1000 }, () => randomDigits(10));
      const tokens = ff1EncryptBatch(many.key, NO_TWEAK, values);
      // One open, P once, one call per round.
      expect(many.calls()).toBe(12);
      expect(one.calls()).toBe(many.calls());
      const back = countingKey();
      expect(ff1DecryptBatch(back.key, NO_TWEAK, tokens)).toEqual(values);
      expect(back.calls()).toBe(12);
    });

    it('keeps the count flat for mixed lengths and a long tweak', () => {
      const { key, calls } = countingKey();
      ff1EncryptBatch(key, TWEAK_11, Array.from({ length: 2000 }, () => randomDigits(randomInt(6, 21))));
      expect(calls()).toBeGreaterThan(0);
      expect(calls()).toBeLessThanOrEqual(24);
    });
  });
});
