/**
 * AES-SIV against RFC 5297's vectors (and OpenSSL's and Wycheproof's for the other key sizes and
 * the edge cases), against a one-block-at-a-time reference written from the RFC, and a count of
 * the AES calls a batch makes. Every cipher the module creates is counted, and every update on it.
 */
const mockAesCalls = { created: 0, updates: 0 };
jest.mock('node:crypto', () => {
  const actual = jest.requireActual<typeof import('node:crypto')>('node:crypto');
  return {
    ...actual,
    createCipheriv: (...args: Parameters<typeof actual.createCipheriv>) => {
      mockAesCalls.created++;
      const cipher = actual.createCipheriv(...args);
      const update = cipher.update.bind(cipher) as (data: Buffer) => Buffer;
      cipher.update = ((data: Buffer) => {
        mockAesCalls.updates++;
        return update(data);
      }) as typeof cipher.update;
      return cipher;
    },
  };
});

import { createCipheriv, randomBytes, randomInt } from 'node:crypto';
import { inspect } from 'node:util';
import { sivKey, sivOpen, sivOpenBatch, sivSeal, sivSealBatch, type SivKey } from '../../src/core/aes-siv';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// --- A reference written straight from RFC 5297 / RFC 4493: one AES call per block. ---

const ZERO = Buffer.alloc(16);
function aesBlock(key: Buffer, block: Buffer): Buffer {
  return createCipheriv(`aes-${key.length * 8}-ecb`, key, null).setAutoPadding(false).update(block);
}
function xor(a: Buffer, b: Buffer): Buffer {
  return Buffer.from(a.map((x, i) => x ^ b[i]!));
}
function double(b: Buffer): Buffer {
  const n = ((BigInt(`0x${b.toString('hex')}`) << 1n) & ((1n << 128n) - 1n)) ^ (b[0]! & 0x80 ? 0x87n : 0n);
  return hex(n.toString(16).padStart(32, '0'));
}
function pad(partial: Buffer): Buffer {
  return Buffer.concat([partial, Buffer.from([0x80]), Buffer.alloc(15 - partial.length)]);
}
function referenceCmac(key: Buffer, m: Buffer): Buffer {
  const k1 = double(aesBlock(key, ZERO));
  const k2 = double(k1);
  const n = Math.max(1, Math.ceil(m.length / 16));
  const lastBytes = m.subarray(16 * (n - 1));
  const last = m.length > 0 && m.length % 16 === 0 ? xor(lastBytes, k1) : xor(pad(lastBytes), k2);
  let x: Buffer = ZERO;
  for (let i = 0; i < n - 1; i++) x = aesBlock(key, xor(x, m.subarray(16 * i, 16 * i + 16)));
  return aesBlock(key, xor(x, last));
}
function referenceS2v(key: Buffer, strings: Buffer[]): Buffer {
  let d = referenceCmac(key, ZERO);
  for (const s of strings.slice(0, -1)) d = xor(double(d), referenceCmac(key, s));
  const last = strings[strings.length - 1]!;
  const t = last.length >= 16 ? Buffer.concat([last.subarray(0, last.length - 16), xor(last.subarray(last.length - 16), d)]) : xor(double(d), pad(last));
  return referenceCmac(key, t);
}
function referenceSeal(key: Buffer, ad: Buffer[], plaintext: Buffer): Buffer {
  const half = key.length / 2;
  const v = referenceS2v(key.subarray(0, half), [...ad, plaintext]);
  const q = BigInt(`0x${v.toString('hex')}`) & ~((1n << 63n) | (1n << 31n));
  const stream: Buffer[] = [];
  for (let i = 0; i < Math.ceil(plaintext.length / 16); i++) {
    stream.push(aesBlock(key.subarray(half), hex(((q + BigInt(i)) % (1n << 128n)).toString(16).padStart(32, '0'))));
  }
  return Buffer.concat([v, xor(plaintext, Buffer.concat(stream))]);
}

/** Hex of each: jest compares strings far faster than Buffers byte by byte. */
function hexes(buffers: readonly (Buffer | undefined)[]): (string | undefined)[] {
  return buffers.map((b) => b?.toString('hex'));
}

function randomValues(count: number, maxLength: number): Buffer[] {
  return Array.from({ length: count }, () => randomBytes(randomInt(0, maxLength + 1)));
}

// --- Vectors. ---

interface Vector {
  name: string;
  key: string;
  ad: string[];
  plaintext: string;
  sealed: string;
}
const vectors: Vector[] = [
  {
    name: 'RFC 5297 A.1, deterministic authenticated encryption (AES-SIV-256)',
    key: 'fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0 f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff',
    ad: ['101112131415161718191a1b1c1d1e1f2021222324252627'],
    plaintext: '112233445566778899aabbccddee',
    sealed: '85632d07c6e8f37f950acd320a2ecc93 40c02b9690c4dc04daef7f6afe5c',
  },
  {
    name: 'RFC 5297 A.2, nonce-based: three associated-data components',
    key: '7f7e7d7c7b7a79787776757473727170 404142434445464748494a4b4c4d4e4f',
    ad: ['00112233445566778899aabbccddeeffdeaddadadeaddadaffeeddccbbaa99887766554433221100', '102030405060708090a0', '09f911029d74e35bd84156c5635688c0'],
    plaintext: '7468697320697320736f6d6520706c61696e7465787420746f20656e6372797074207573696e67205349562d414553',
    sealed:
      '7bdb6e3b432667eb06f4d14bff2fbd0f cb900f2fddbe404326601965c889bf17dba77ceb094fa663b7a3f748ba8af829ea64ad544a272e9c485b62a3fd5c0d',
  },
  // OpenSSL's test/recipes/30-test_evp_data/evpciph_aes_siv.txt: A.1's inputs with no, or one empty, component.
  {
    name: 'A.1 without associated data (OpenSSL)',
    key: 'fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff',
    ad: [],
    plaintext: '112233445566778899aabbccddee',
    sealed: 'f1c5fdeac1f15a26779c1501f9fb7588 27e946c669088ab06da58c5c831c',
  },
  {
    name: 'A.1 with one empty associated-data component (OpenSSL)',
    key: 'fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff',
    ad: [''],
    plaintext: '112233445566778899aabbccddee',
    sealed: 'd1022f5b3664e5a4dfaf90f85be6f28a b66cff6b8eca0b79f083b39a0901',
  },
  {
    name: 'AES-SIV-384 (OpenSSL aes-192-siv)',
    key: 'fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0f0f1f2f3f4f5f6f7f8f9fafbfcfdfefffffefdfcfbfaf9f8f7f6f5f4f3f2f1f0',
    ad: ['101112131415161718191a1b1c1d1e1f2021222324252627'],
    plaintext: '112233445566778899aabbccddee',
    sealed: '89e869b93256785154f0963962fe0740 eff356e42dec1f4febded36642f2',
  },
  {
    name: 'AES-SIV-512, the 64-byte key (OpenSSL aes-256-siv)',
    key: 'fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0f0f1f2f3f4f5f6f7f8f9fafbfcfdfefff0f1f2f3f4f5f6f7f8f9fafbfcfdfefffffefdfcfbfaf9f8f7f6f5f4f3f2f1f0',
    ad: ['101112131415161718191a1b1c1d1e1f2021222324252627'],
    plaintext: '112233445566778899aabbccddee',
    sealed: '724dfb2eaf94dbb19b0ba3a299a0801e f3b05a55498ec2552690b89810e4',
  },
  // Wycheproof aes_siv_cmac_test.json, as OpenSSL carries them: the empty message, a block multiple.
  {
    name: 'empty plaintext, empty associated data (Wycheproof)',
    key: '2b27e429fb6c02678e589ccc4437c5adfb44b331ab6d21ea321727e6ec03d354',
    ad: [''],
    plaintext: '',
    sealed: 'b2b2354e3724dcdaa85ecf029b49a90c',
  },
  {
    name: 'plaintext of exactly two blocks (Wycheproof)',
    key: '96e1e4896fb2cd05f133a6a100bc5609a7ac3ca6d81721e922dadd69ad07a892',
    ad: ['8ee21f1a5e2b3f8b8f2064e5cecac81d'],
    plaintext: '91a17e4dfcc3166a1add26ff0e7c12056e8a654f28a6de24f4ba739ceb5b5b18',
    sealed: '849195031e8927a1af4f64cbdd804846 1c03598bfba441312776a4e8ac959bee44c521801287a2fd95e2329b1c694441',
  },
];

describe('AES-SIV against published vectors', () => {
  it.each(vectors)('$name: seals to the published bytes and opens them', ({ key, ad, plaintext, sealed }) => {
    const k = sivKey(hex(key));
    const adBytes = ad.map(hex);
    expect(sivSeal(k, adBytes, hex(plaintext)).toString('hex')).toBe(hex(sealed).toString('hex'));
    expect(sivOpen(k, adBytes, hex(sealed))?.toString('hex')).toBe(hex(plaintext).toString('hex'));
    expect(referenceSeal(hex(key), adBytes, hex(plaintext)).toString('hex')).toBe(hex(sealed).toString('hex'));
  });

  it('a vector inside a batch, beside an empty value and its own repeat, seals and opens as alone', () => {
    const [first] = vectors;
    const k = sivKey(hex(first!.key));
    const ad = first!.ad.map(hex);
    const plaintexts = [hex(first!.plaintext), Buffer.alloc(0), hex(first!.plaintext)];
    const sealed = sivSealBatch(k, ad, plaintexts);
    expect(sealed[0]!.toString('hex')).toBe(hex(first!.sealed).toString('hex'));
    expect(sealed[2]).toEqual(sealed[0]);
    expect(sivOpenBatch(k, ad, sealed)).toEqual(plaintexts);
  });
});

describe('AES-SIV batches', () => {
  const rawKey = randomBytes(64);
  const key = sivKey(rawKey);
  const label = [Buffer.from('customers.email')];

  it('a batch of 3,000 values of 0..80 bytes seals as each value alone, as the reference, and opens back', () => {
    const values = randomValues(3000, 80);
    const sealed = sivSealBatch(key, label, values);
    expect(sealed.map((s) => s.length)).toEqual(values.map((v) => v.length + 16));
    expect(hexes(sealed)).toEqual(hexes(values.map((v) => sivSeal(key, label, v))));
    const sample = values.filter((_, i) => i % 10 === 0);
    expect(hexes(sealed.filter((_, i) => i % 10 === 0))).toEqual(hexes(sample.map((v) => referenceSeal(rawKey, label, v))));
    expect(hexes(sivOpenBatch(key, label, sealed))).toEqual(hexes(values));
  });

  it('block-boundary lengths and long values mixed with short ones match the reference', () => {
    const lengths = [0, 1, 15, 16, 17, 31, 32, 33, 47, 48, 64, 255, 256, 4096 + 5, 70_000];
    const values = [...lengths.map((n) => randomBytes(n)), ...randomValues(200, 40)];
    const ad = [Buffer.from('kind=text'), Buffer.alloc(0), randomBytes(100)];
    const sealed = sivSealBatch(key, ad, values);
    expect(hexes(sealed)).toEqual(hexes(values.map((v) => referenceSeal(rawKey, ad, v))));
    expect(hexes(sivOpenBatch(key, ad, sealed))).toEqual(hexes(values));
  });

  it('is deterministic, and the associated data (its bytes, order and split) changes the output', () => {
    const v = Buffer.from('ada.lovelace@example.com');
    expect(sivSeal(key, label, v)).toEqual(sivSeal(key, label, Buffer.from(v)));
    expect(sivSealBatch(key, label, [v, v, v]).map((s) => s.toString('hex'))).toEqual(Array(3).fill(sivSeal(key, label, v).toString('hex')));
    const outputs = [
      sivSeal(key, label, v),
      sivSeal(key, [Buffer.from('customers.phone')], v),
      sivSeal(key, [], v),
      sivSeal(key, [Buffer.alloc(0)], v),
      sivSeal(key, [Buffer.from('a'), Buffer.from('b')], v),
      sivSeal(key, [Buffer.from('b'), Buffer.from('a')], v),
      sivSeal(key, [Buffer.from('ab')], v),
      sivSeal(sivKey(randomBytes(64)), label, v),
    ].map((s) => s.toString('hex'));
    expect(new Set(outputs).size).toBe(outputs.length);
    expect(sivOpen(key, [Buffer.from('customers.phone')], sivSeal(key, label, v))).toBeUndefined();
    expect(sivOpen(sivKey(randomBytes(64)), label, sivSeal(key, label, v))).toBeUndefined();
  });

  it('a flipped bit anywhere in a sealed value fails that value only; the rest of the batch opens', () => {
    const values = [Buffer.alloc(0), randomBytes(15), randomBytes(16), randomBytes(33), ...randomValues(20, 80)];
    const sealed = sivSealBatch(key, label, values);
    const expected = hexes(values);
    for (const target of [0, 1, 2, 3]) {
      for (let bit = 0; bit < sealed[target]!.length * 8; bit++) {
        const batch = sealed.map((s) => Buffer.from(s));
        batch[target]![bit >> 3] = batch[target]![bit >> 3]! ^ (1 << (bit & 7));
        const opened = hexes(sivOpenBatch(key, label, batch));
        expect(opened[target]).toBeUndefined();
        opened[target] = values[target]!.toString('hex');
        expect(opened).toEqual(expected);
      }
    }
  });

  it('a value shorter than its SIV, or cut short, fails alone', () => {
    const values = [randomBytes(20), randomBytes(5)];
    const sealed = sivSealBatch(key, label, values);
    const opened = sivOpenBatch(key, label, [sealed[0]!.subarray(0, 15), sealed[1]!, sealed[0]!.subarray(0, 35), Buffer.alloc(0)]);
    expect(opened).toEqual([undefined, values[1], undefined, undefined]);
  });

  it('refuses keys of other sizes and more than 126 associated-data components, naming counts only', () => {
    expect(() => sivKey(randomBytes(16))).toThrow('AES-SIV key: expected 32, 48 or 64 bytes, got 16');
    expect(() => sivSeal(key, Array(127).fill(Buffer.from('x')), Buffer.from('secret'))).toThrow('AES-SIV: at most 126 associated-data components, got 127');
    expect(() => sivSeal({ bits: 256 }, label, Buffer.from('secret'))).toThrow('AES-SIV: not a key made by sivKey');
  });

  it('the key handle shows no key material when logged or serialized', () => {
    const raw = randomBytes(64);
    const handle = sivKey(raw);
    const shown = `${JSON.stringify(handle)} ${inspect(handle, { showHidden: true, depth: 10 })}`;
    expect(shown).toContain('256');
    expect(shown).not.toMatch(/[0-9a-f]{2}( [0-9a-f]{2}){7}/); // no Buffer's bytes
    expect(shown).not.toContain(raw.subarray(0, 8).toString('hex'));
  });
});

describe('AES-SIV batching: AES calls per batch, not per value', () => {
  let key: SivKey;
  const label = [Buffer.from('customers.email')]; // 15 bytes: one CMAC block
  beforeAll(() => {
    mockAesCalls.created = 0;
    key = sivKey(randomBytes(64));
    // The count is wired: the key's two ECB ciphers were created through the counted factory.
    expect(mockAesCalls.created).toBe(2);
  });

  /** Every call into AES the module makes while running `fn`: ciphers created, and updates. */
  function aesCallsOf(fn: () => void): number {
    mockAesCalls.created = 0;
    mockAesCalls.updates = 0;
    fn();
    return mockAesCalls.created + mockAesCalls.updates;
  }

  it.each([1_000, 10_000])('%d one-block values: 3 calls to seal (label, S2V, CTR) and 3 to open', (count) => {
    const values = Array.from({ length: count }, () => randomBytes(randomInt(1, 16)));
    let sealed: Buffer[] = [];
    expect(aesCallsOf(() => (sealed = sivSealBatch(key, label, values)))).toBe(3);
    let opened: (Buffer | undefined)[] = [];
    expect(aesCallsOf(() => (opened = sivOpenBatch(key, label, sealed)))).toBe(3);
    expect(hexes(opened)).toEqual(hexes(values));
  });

  it('an empty batch is empty, and calls nothing', () => {
    expect(aesCallsOf(() => expect(sivSealBatch(key, label, [])).toEqual([]))).toBe(0);
    expect(aesCallsOf(() => expect(sivOpenBatch(key, label, [])).toEqual([]))).toBe(0);
  });

  it('values of up to 5 blocks take one call per level of the longest, plus the label and CTR', () => {
    const values = randomValues(1_000, 80);
    values.push(randomBytes(80));
    expect(aesCallsOf(() => sivSealBatch(key, label, values))).toBe(1 + 5 + 1);
  });

  it('one long value does not cost a call per block: it finishes its chain in one CBC call', () => {
    const values = [...randomValues(1_000, 16), randomBytes(64 * 1024)];
    // label, level 0 of every chain, then the long value alone (a CBC cipher and its update), CTR.
    expect(aesCallsOf(() => sivSealBatch(key, label, values))).toBe(1 + 1 + 2 + 1);
  });
});
