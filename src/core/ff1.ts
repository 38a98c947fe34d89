import { createCipheriv, createSecretKey, type KeyObject } from 'node:crypto';

/**
 * FF1 format-preserving encryption (NIST SP 800-38G), with the minimum domain of the Rev. 1
 * draft (radix^length ≥ 1,000,000): a value of digits becomes other digits of the same length,
 * reversibly under the key, so a column that must keep a value's shape can hold its token
 * without a vault.
 *
 * Built for batches. In Node every crypto call costs ~5–7 µs whatever its size, and FF1 per value
 * is 10 rounds of a CBC-MAC: ~10+ calls per value. Here a batch goes round by round and, within a
 * round, block by block: the n-th CBC-MAC block of every value goes through one AES-ECB call, and
 * the chaining XOR is done in JS. The blocks before the round number (P, and tweak-only blocks of
 * Q) are the same for every value of a length, so they are encrypted once per batch. A batch of
 * thousands of phone numbers costs ~11 AES calls in all.
 */

const ROUNDS = 10;
const BLOCK = 16;
/** SP 800-38G Rev. 1 (draft): radix^minlen ≥ 1,000,000, so small domains cannot be tabulated. */
const MIN_DOMAIN = 1_000_000;
/** SP 800-38G: maxlen < 2^32 (n is written in 4 bytes of P). */
const MAX_LENGTH = 2 ** 32 - 1;
const MAX_TWEAK_BYTES = 2 ** 32 - 1;
/** The digits of JavaScript's own radix conversions (parseInt, toString): hence radix ≤ 36. */
const CANONICAL_DIGITS = '0123456789abcdefghijklmnopqrstuvwxyz';
/**
 * Up to this modulus a round's arithmetic is exact in doubles (reducing S byte by byte keeps
 * acc * 256 + 255 < 2^53): phone-sized halves never need BigInt.
 */
const NUMBER_MODULUS_LIMIT = 2n ** 45n;

/** AES-ECB over whole blocks: one call encrypts every block it is given. */
export type BlockEncrypter = (blocks: Buffer) => Buffer;
/** Opens an encrypter for one batch (tests wrap it to count the calls). */
export type EcbOpener = (aesKey: KeyObject) => BlockEncrypter;

/** ECB without padding holds nothing back between calls, so one cipher serves a whole batch. */
export const openAesEcb: EcbOpener = (aesKey) => {
  const cipher = createCipheriv(`aes-${(aesKey.symmetricKeySize ?? 0) * 8}-ecb`, aesKey, null);
  cipher.setAutoPadding(false);
  return (blocks) => cipher.update(blocks);
};

export interface Ff1Key {
  readonly alphabet: string;
  readonly radix: number;
  /** The shortest value accepted: radix^minLength ≥ 1,000,000. */
  readonly minLength: number;
  readonly aesKey: KeyObject;
  readonly openEcb: EcbOpener;
  /** Each alphabet character's digit, by UTF-16 code unit; -1 outside the alphabet. */
  readonly digitOf: Int8Array;
  /** The alphabet is a prefix of 0-9a-z: values need no translation to and from JS digits. */
  readonly canonical: boolean;
}

/** An AES key (16, 24 or 32 bytes; 32 for tokens) and the characters of the values, in digit order. */
export function ff1Key(key: Uint8Array, alphabet: string, openEcb: EcbOpener = openAesEcb): Ff1Key {
  if (![16, 24, 32].includes(key.length)) throw new Error(`FF1: an AES key is 16, 24 or 32 bytes, got ${key.length}`);
  const radix = alphabet.length;
  if (radix < 2 || radix > CANONICAL_DIGITS.length) throw new Error(`FF1: an alphabet of 2 to ${CANONICAL_DIGITS.length} characters, got ${radix}`);
  let maxCode = 0;
  for (let i = 0; i < radix; i++) maxCode = Math.max(maxCode, alphabet.charCodeAt(i));
  const digitOf = new Int8Array(maxCode + 1).fill(-1);
  for (let i = 0; i < radix; i++) {
    const code = alphabet.charCodeAt(i);
    if (digitOf[code] !== -1) throw new Error(`FF1: the alphabet repeats a character (position ${i})`);
    digitOf[code] = i;
  }
  let minLength = 1;
  while (radix ** minLength < MIN_DOMAIN) minLength++;
  return {
    alphabet,
    radix,
    minLength: Math.max(2, minLength),
    aesKey: createSecretKey(key),
    openEcb,
    digitOf,
    canonical: alphabet === CANONICAL_DIGITS.slice(0, radix),
  };
}

export function ff1EncryptBatch(key: Ff1Key, tweak: Uint8Array, values: readonly string[]): string[] {
  return ff1Batch(key, tweak, values, false);
}

export function ff1DecryptBatch(key: Ff1Key, tweak: Uint8Array, values: readonly string[]): string[] {
  return ff1Batch(key, tweak, values, true);
}

export function ff1Encrypt(key: Ff1Key, tweak: Uint8Array, value: string): string {
  return ff1Batch(key, tweak, [value], false)[0]!;
}

export function ff1Decrypt(key: Ff1Key, tweak: Uint8Array, value: string): string {
  return ff1Batch(key, tweak, [value], true)[0]!;
}

/**
 * Everything about a value length that does not depend on the value: FF1's u, v, b, d, the
 * CBC-MAC blocks of P || Q, and where in them the round number and the numeral go.
 */
interface Layout {
  readonly u: number;
  readonly v: number;
  readonly b: number;
  readonly d: number;
  /** radix^u and radix^v: the moduli of the even and odd rounds. */
  readonly modU: bigint;
  readonly modV: bigint;
  /** Both moduli are ≤ 2^45: the rounds run on doubles. */
  readonly small: boolean;
  /** Blocks of P || Q before the one holding the round number: shared by every value of the length. */
  readonly prefix: Buffer;
  /** The blocks from the round number's on, with the round number and the numeral left zero. */
  readonly tail: Buffer;
  readonly roundByteAt: number;
  readonly tailBlocks: number;
  /** S's blocks beyond R's (d > 16): CIPH(R xor [j]) for j = 1 .. extraBlocks. */
  readonly extraBlocks: number;
}

function layoutOf(radix: number, n: number, tweak: Uint8Array): Layout {
  const u = n >> 1;
  const v = n - u;
  const modU = BigInt(radix) ** BigInt(u);
  const modV = BigInt(radix) ** BigInt(v);
  // ceil(v·log2(radix)) exactly: the bit length of radix^v − 1 (no floating-point logarithm).
  const b = Math.ceil((modV - 1n).toString(2).length / 8);
  const d = 4 * Math.ceil(b / 4) + 4;
  const t = tweak.length;
  const padding = (((-t - b - 1) % BLOCK) + BLOCK) % BLOCK;
  const pq = Buffer.alloc(BLOCK + t + padding + 1 + b);
  pq.set([1, 2, 1, (radix >> 16) & 0xff, (radix >> 8) & 0xff, radix & 0xff, 10, u & 0xff], 0);
  pq.writeUInt32BE(n, 8);
  pq.writeUInt32BE(t, 12);
  pq.set(tweak, BLOCK);
  const roundByte = BLOCK + t + padding;
  const split = Math.floor(roundByte / BLOCK) * BLOCK;
  return {
    u,
    v,
    b,
    d,
    modU,
    modV,
    small: modV <= NUMBER_MODULUS_LIMIT,
    prefix: pq.subarray(0, split),
    tail: pq.subarray(split),
    roundByteAt: roundByte - split,
    tailBlocks: (pq.length - split) / BLOCK,
    extraBlocks: Math.ceil(d / BLOCK) - 1,
  };
}

/**
 * The values of one length, in their order in the batch, holding FF1's two halves between rounds:
 * `feed` goes into the round's PRF (B when encrypting, A when decrypting), `other` is combined
 * with the PRF's output. Halves are doubles when the layout is small, BigInts otherwise.
 */
interface Group {
  readonly layout: Layout;
  readonly indexes: number[];
  /** The group's first slot in the batch's block buffers. */
  start: number;
  /** The CBC-MAC state after the prefix blocks. */
  prefixState: Buffer;
  feed: Float64Array | bigint[];
  other: Float64Array | bigint[];
}

function ff1Batch(key: Ff1Key, tweak: Uint8Array, values: readonly string[], decrypt: boolean): string[] {
  if (tweak.length > MAX_TWEAK_BYTES) throw new Error(`FF1: a tweak of ${tweak.length} bytes is above the maximum of ${MAX_TWEAK_BYTES}`);
  const groups = groupByLength(key, tweak, values);
  if (groups.length === 0) return [];
  // Values needing more CBC-MAC blocks per round come first, so that block k of a round is one
  // contiguous run of slots: step k's buffer is simply shorter than step k-1's.
  groups.sort((x, y) => y.layout.tailBlocks - x.layout.tailBlocks);
  let slots = 0;
  for (const g of groups) {
    g.start = slots;
    slots += g.indexes.length;
  }
  const encryptBlocks = key.openEcb(key.aesKey);
  encryptPrefixes(groups, encryptBlocks);
  for (const g of groups) splitHalves(key, g, values, decrypt);

  const maxTailBlocks = groups[0]!.layout.tailBlocks;
  const slotsUpToBlock = Array.from({ length: maxTailBlocks }, (_, k) => groups.filter((g) => g.layout.tailBlocks > k).reduce((sum, g) => sum + g.indexes.length, 0));
  for (let r = 0; r < ROUNDS; r++) {
    const round = decrypt ? ROUNDS - 1 - r : r;
    const outputs: Buffer[] = [];
    for (let k = 0; k < maxTailBlocks; k++) {
      const input = Buffer.allocUnsafe(slotsUpToBlock[k]! * BLOCK);
      for (const g of groups) if (g.layout.tailBlocks > k) fillBlock(g, k, round, input);
      if (k > 0) xorInto(input, outputs[k - 1]!, input.length);
      outputs.push(encryptBlocks(input));
    }
    const extra = extraBlocksOf(groups, outputs, encryptBlocks);
    for (const g of groups) combine(g, round % 2 === 0, decrypt, outputs[g.layout.tailBlocks - 1]!, extra);
  }

  const out = new Array<string>(values.length);
  for (const g of groups) {
    const { u, v } = g.layout;
    const [first, second] = decrypt ? [g.feed, g.other] : [g.other, g.feed];
    g.indexes.forEach((index, j) => {
      out[index] = toAlphabet(key, numeralString(first[j]!, key.radix, u) + numeralString(second[j]!, key.radix, v));
    });
  }
  return out;
}

/** Checks every value before any crypto; an error names the index and the rule, never the value. */
function groupByLength(key: Ff1Key, tweak: Uint8Array, values: readonly string[]): Group[] {
  const byLength = new Map<number, Group>();
  values.forEach((value, index) => {
    const n = value.length;
    if (n < key.minLength) {
      throw new Error(
        `FF1: value at index ${index} has ${n} characters: radix ${key.radix}^${n} is below the minimum domain of 1,000,000 ` +
          `(SP 800-38G Rev. 1: radix^length ≥ 1,000,000, so at least ${key.minLength} characters)`,
      );
    }
    if (n > MAX_LENGTH) throw new Error(`FF1: value at index ${index} has ${n} characters, above the maximum of ${MAX_LENGTH} (SP 800-38G: length < 2^32)`);
    for (let p = 0; p < n; p++) {
      const code = value.charCodeAt(p);
      if (code >= key.digitOf.length || key.digitOf[code] === -1) {
        throw new Error(`FF1: value at index ${index} has a character outside the alphabet (radix ${key.radix}) at position ${p}`);
      }
    }
    let group = byLength.get(n);
    if (!group) {
      group = { layout: layoutOf(key.radix, n, tweak), indexes: [], start: 0, prefixState: Buffer.alloc(0), feed: [], other: [] };
      byLength.set(n, group);
    }
    group.indexes.push(index);
  });
  return [...byLength.values()];
}

/** CBC-MAC over each length's shared prefix, block k of every length in one call. */
function encryptPrefixes(groups: readonly Group[], encryptBlocks: BlockEncrypter): void {
  const states: Buffer[] = groups.map(() => Buffer.alloc(BLOCK));
  const maxBlocks = Math.max(...groups.map((g) => g.layout.prefix.length / BLOCK));
  for (let k = 0; k < maxBlocks; k++) {
    const pending = groups.flatMap((g, i) => (g.layout.prefix.length > k * BLOCK ? [i] : []));
    const input = Buffer.allocUnsafe(pending.length * BLOCK);
    pending.forEach((i, slot) => {
      const block = groups[i]!.layout.prefix.subarray(k * BLOCK, (k + 1) * BLOCK);
      for (let x = 0; x < BLOCK; x++) input[slot * BLOCK + x] = block[x]! ^ states[i]![x]!;
    });
    const output = encryptBlocks(input);
    pending.forEach((i, slot) => {
      states[i] = output.subarray(slot * BLOCK, (slot + 1) * BLOCK);
    });
  }
  groups.forEach((g, i) => {
    g.prefixState = states[i]!;
  });
}

/** A = X[1..u], B = X[u+1..n]; encryption feeds B to the PRF, decryption feeds A. */
function splitHalves(key: Ff1Key, g: Group, values: readonly string[], decrypt: boolean): void {
  const { u } = g.layout;
  const count = g.indexes.length;
  const a: Float64Array | bigint[] = g.layout.small ? new Float64Array(count) : new Array<bigint>(count);
  const b: Float64Array | bigint[] = g.layout.small ? new Float64Array(count) : new Array<bigint>(count);
  g.indexes.forEach((index, j) => {
    const digits = fromAlphabet(key, values[index]!);
    if (a instanceof Float64Array && b instanceof Float64Array) {
      a[j] = parseInt(digits.slice(0, u), key.radix);
      b[j] = parseInt(digits.slice(u), key.radix);
    } else {
      (a as bigint[])[j] = bigNumeral(digits.slice(0, u), key.radix);
      (b as bigint[])[j] = bigNumeral(digits.slice(u), key.radix);
    }
  });
  [g.feed, g.other] = decrypt ? [a, b] : [b, a];
}

/**
 * Writes block k of the round's P || Q tail for each value of the group into its slot. Block 0
 * already carries the prefix's CBC-MAC state; later blocks are chained by the caller.
 */
function fillBlock(g: Group, k: number, round: number, input: Buffer): void {
  const { tail, roundByteAt, b } = g.layout;
  const template = Buffer.from(tail.subarray(k * BLOCK, (k + 1) * BLOCK));
  if (roundByteAt >= k * BLOCK && roundByteAt < (k + 1) * BLOCK) template[roundByteAt - k * BLOCK] = round;
  if (k === 0) xorInto(template, g.prefixState, BLOCK);
  const from = g.start * BLOCK;
  const count = g.indexes.length;
  input.fill(template, from, from + count * BLOCK);
  // The numeral [NUM(feed)]^b is the tail's last b bytes: which of them fall in block k.
  const numeralAt = tail.length - b;
  const first = Math.max(numeralAt, k * BLOCK);
  const end = (k + 1) * BLOCK;
  if (first >= end) return;
  const { feed } = g;
  if (feed instanceof Float64Array) {
    // Small layouts: b ≤ 6, the whole numeral in the last block.
    for (let j = 0; j < count; j++) {
      let x = feed[j]!;
      for (let p = from + j * BLOCK + BLOCK - 1; x > 0; p--) {
        input[p] = input[p]! ^ x % 256;
        x = Math.floor(x / 256);
      }
    }
    return;
  }
  for (let j = 0; j < count; j++) {
    const numeral = Buffer.from(feed[j]!.toString(16).padStart(2 * b, '0'), 'hex');
    const slot = from + j * BLOCK - k * BLOCK;
    for (let p = first; p < end; p++) input[slot + p] = input[slot + p]! ^ numeral[p - numeralAt]!;
  }
}

/** S's blocks beyond R (only when d > 16), for every value that needs them, in one call. */
function extraBlocksOf(groups: readonly Group[], outputs: readonly Buffer[], encryptBlocks: BlockEncrypter): Map<Group, Buffer> {
  const needing = groups.filter((g) => g.layout.extraBlocks > 0);
  const extra = new Map<Group, Buffer>();
  if (needing.length === 0) return extra;
  const total = needing.reduce((sum, g) => sum + g.indexes.length * g.layout.extraBlocks, 0);
  const input = Buffer.alloc(total * BLOCK);
  let at = 0;
  for (const g of needing) {
    const r = outputs[g.layout.tailBlocks - 1]!;
    for (let j = 0; j < g.indexes.length; j++) {
      const rAt = (g.start + j) * BLOCK;
      for (let e = 1; e <= g.layout.extraBlocks; e++, at += BLOCK) {
        r.copy(input, at, rAt, rAt + BLOCK);
        input.writeUInt32BE((input.readUInt32BE(at + 12) ^ e) >>> 0, at + 12);
      }
    }
  }
  const output = encryptBlocks(input);
  at = 0;
  for (const g of needing) {
    const size = g.indexes.length * g.layout.extraBlocks * BLOCK;
    extra.set(g, output.subarray(at, at + size));
    at += size;
  }
  return extra;
}

/** y = NUM(S); the new feed is (other ± y) mod radix^m, and the old feed becomes the other half. */
function combine(g: Group, even: boolean, decrypt: boolean, r: Buffer, extra: Map<Group, Buffer>): void {
  const { d, modU, modV, extraBlocks } = g.layout;
  const count = g.indexes.length;
  const { feed, other } = g;
  if (other instanceof Float64Array) {
    const mod = Number(even ? modU : modV);
    for (let j = 0; j < count; j++) {
      const at = (g.start + j) * BLOCK;
      let y = 0;
      for (let p = 0; p < d; p++) y = (y * 256 + r[at + p]!) % mod;
      const c = decrypt ? other[j]! - y : other[j]! + y;
      other[j] = c < 0 ? c + mod : c >= mod ? c - mod : c;
    }
  } else {
    const mod = even ? modU : modV;
    const more = extra.get(g);
    const others = other as bigint[];
    for (let j = 0; j < count; j++) {
      const at = (g.start + j) * BLOCK;
      let hex = r.toString('hex', at, at + BLOCK);
      if (more) hex += more.toString('hex', j * extraBlocks * BLOCK, (j + 1) * extraBlocks * BLOCK);
      const y = BigInt(`0x${hex.slice(0, 2 * d)}`) % mod;
      const c = (decrypt ? others[j]! - y : others[j]! + y) % mod;
      others[j] = c < 0n ? c + mod : c;
    }
  }
  g.feed = other;
  g.other = feed;
}

function xorInto(target: Buffer, source: Buffer, length: number): void {
  for (let i = 0; i < length; i++) target[i] = target[i]! ^ source[i]!;
}

/** NUM_radix of a string of JS digits too long for a double: parsed in chunks that are exact. */
function bigNumeral(digits: string, radix: number): bigint {
  if (radix === 10) return BigInt(digits);
  const chunk = Math.floor(52 / Math.log2(radix));
  let x = 0n;
  for (let i = 0; i < digits.length; i += chunk) {
    const part = digits.slice(i, i + chunk);
    x = x * BigInt(radix) ** BigInt(part.length) + BigInt(parseInt(part, radix));
  }
  return x;
}

/** STR^m_radix: m JS digits, most significant first. */
function numeralString(x: number | bigint, radix: number, m: number): string {
  return x.toString(radix).padStart(m, '0');
}

function fromAlphabet(key: Ff1Key, value: string): string {
  if (key.canonical) return value;
  let digits = '';
  for (let p = 0; p < value.length; p++) digits += CANONICAL_DIGITS[key.digitOf[value.charCodeAt(p)]!];
  return digits;
}

function toAlphabet(key: Ff1Key, digits: string): string {
  if (key.canonical) return digits;
  let value = '';
  for (let p = 0; p < digits.length; p++) value += key.alphabet[parseInt(digits[p]!, 36)];
  return value;
}
