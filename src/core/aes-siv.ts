import { createCipheriv, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';

/**
 * AES-SIV (RFC 5297): deterministic authenticated encryption. Equal plaintexts under equal
 * associated data give equal sealed bytes (so a sealed column can still be joined and looked
 * up), and any change to the sealed bytes is detected. Sealed layout: SIV (16) | ciphertext.
 *
 * Node has neither SIV nor CMAC, so both are built here from AES block calls. Each call into
 * Node's crypto costs a few microseconds whatever its size, so the work is done a batch at a
 * time: block j of every value's CMAC chain goes into one ECB call, and every counter block of
 * every value into one more. A batch of thousands of short values takes a handful of calls,
 * not several per value.
 */

const BLOCK = 16;

/** RFC 5297 allows at most 126 associated-data components before the plaintext. */
const MAX_AD_COMPONENTS = 126;

/**
 * Finishing a chain on its own (one CBC cipher: created, then one update) costs about three
 * shared ECB levels (an update on a cipher kept open).
 */
const CBC_COST_IN_LEVELS = 3;

/** Encrypts whole 16-byte blocks, each on its own (ECB), in one call. */
type BlockEncryptor = (blocks: Buffer) => Buffer;

/**
 * A key made ready by `sivKey`: a handle only. The AES halves and the subkeys stay in this
 * module, so logging or serializing the handle shows no key material.
 */
export interface SivKey {
  readonly bits: 128 | 192 | 256;
}

/** What a handle stands for: its two AES halves, and the CMAC values that depend only on the key. */
interface PreparedKey {
  readonly bits: 128 | 192 | 256;
  /** The first half of the key (S2V's CMAC). */
  readonly macKey: KeyObject;
  readonly macBlocks: BlockEncryptor;
  /** The second half (CTR). */
  readonly ctrBlocks: BlockEncryptor;
  /** CMAC's subkeys (RFC 4493 §2.3): XORed into a complete, or a padded, last block. */
  readonly subkey1: Buffer;
  readonly subkey2: Buffer;
  /** CMAC of the zero block: where S2V starts for every value. */
  readonly zeroMac: Buffer;
}

const preparedKeys = new WeakMap<SivKey, PreparedKey>();

function prepared(key: SivKey): PreparedKey {
  const k = preparedKeys.get(key);
  if (!k) throw new Error('AES-SIV: not a key made by sivKey');
  return k;
}

/**
 * An ECB cipher kept open for the key's lifetime: ECB has no state between blocks, and an
 * update on an open cipher costs a third of creating one. Inputs are whole blocks, so each
 * update returns exactly as many bytes as it was given; anything else is a bug, not a value.
 */
function ecbEncryptor(bits: number, key: KeyObject): BlockEncryptor {
  const cipher = createCipheriv(`aes-${bits}-ecb`, key, null).setAutoPadding(false);
  return (blocks) => {
    const out = cipher.update(blocks);
    if (out.length !== blocks.length) throw new Error(`AES-SIV: ECB returned ${out.length} bytes for ${blocks.length}`);
    return out;
  };
}

/** Multiplication by x in GF(2^128) (RFC 5297's dbl), without a branch on the secret top bit. */
function dbl(block: Uint8Array): Buffer {
  const out = Buffer.alloc(BLOCK);
  for (let i = 0; i < BLOCK - 1; i++) out[i] = (block[i]! << 1) | (block[i + 1]! >>> 7);
  out[BLOCK - 1] = (block[BLOCK - 1]! << 1) ^ (0x87 & -(block[0]! >>> 7));
  return out;
}

function xorBlocks(a: Uint8Array, b: Uint8Array): Buffer {
  const out = Buffer.alloc(BLOCK);
  for (let i = 0; i < BLOCK; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

/**
 * A key of 32, 48 or 64 bytes (AES-SIV-256, -384, -512: two AES-128, -192 or -256 keys), as
 * RFC 5297 splits it: the first half for S2V, the second for CTR. Make it once and reuse it:
 * the subkeys and the zero block's CMAC are computed here, not per batch.
 */
export function sivKey(key: Uint8Array): SivKey {
  if (key.length !== 32 && key.length !== 48 && key.length !== 64) throw new Error(`AES-SIV key: expected 32, 48 or 64 bytes, got ${key.length}`);
  const half = key.length / 2;
  const bits = (half * 8) as 128 | 192 | 256;
  const macKey = createSecretKey(key.subarray(0, half));
  const macBlocks = ecbEncryptor(bits, macKey);
  const ctrBlocks = ecbEncryptor(bits, createSecretKey(key.subarray(half)));
  const subkey1 = dbl(macBlocks(Buffer.alloc(BLOCK)));
  const subkey2 = dbl(subkey1);
  // The zero block is one complete block: CMAC is AES of it XOR subkey1, that is of subkey1.
  const zeroMac = macBlocks(subkey1);
  const handle: SivKey = Object.freeze({ bits });
  preparedKeys.set(handle, { bits, macKey, macBlocks, ctrBlocks, subkey1, subkey2, zeroMac });
  return handle;
}

/**
 * Many byte strings as ranges of one buffer: a batch is walked with offsets, not with a Buffer
 * object (and its allocation) per value.
 */
interface Ranges {
  readonly data: Uint8Array;
  readonly starts: Int32Array;
  readonly lengths: Int32Array;
}

function rangesOf(parts: readonly Uint8Array[]): Ranges {
  const starts = new Int32Array(parts.length);
  const lengths = new Int32Array(parts.length);
  let at = 0;
  parts.forEach((p, i) => {
    starts[i] = at;
    lengths[i] = p.length;
    at += p.length;
  });
  return { data: Buffer.concat(parts, at), starts, lengths };
}

/** A short copy byte by byte: cheaper than the view a typed-array copy needs (a Buffer object). */
function copyBytes(from: Uint8Array, start: number, length: number, to: Uint8Array, at: number): void {
  if (length > 64) to.set(from.subarray(start, start + length), at);
  else for (let i = 0; i < length; i++) to[at + i] = from[start + i]!;
}

function blockCount(length: number): number {
  return length === 0 ? 1 : Math.ceil(length / BLOCK);
}

/**
 * Writes CMAC's input block `index` of the message at `data[start]` (`length` bytes) to
 * `target[at]`: the message's bytes, except the last block, which is XORed with subkey1 when
 * complete, or padded (10*) and XORed with subkey2 when not (an empty message is one padded block).
 */
function writeMacBlock(key: PreparedKey, data: Uint8Array, start: number, length: number, index: number, target: Uint8Array, at: number): void {
  const from = start + index * BLOCK;
  const rest = length - index * BLOCK;
  if (rest > BLOCK) {
    for (let i = 0; i < BLOCK; i++) target[at + i] = data[from + i]!;
  } else if (rest === BLOCK) {
    for (let i = 0; i < BLOCK; i++) target[at + i] = data[from + i]! ^ key.subkey1[i]!;
  } else {
    for (let i = 0; i < BLOCK; i++) target[at + i] = (i < rest ? data[from + i]! : i === rest ? 0x80 : 0) ^ key.subkey2[i]!;
  }
}

/** The rest of one message's CMAC chain in one CBC call, the chain so far as its IV; writes the tag over the chain. */
function finishChainAlone(key: PreparedKey, messages: Ranges, m: number, fromBlock: number, chains: Buffer): void {
  const start = messages.starts[m]!;
  const length = messages.lengths[m]!;
  const blocks = blockCount(length) - fromBlock;
  const input = Buffer.alloc(blocks * BLOCK);
  for (let b = 0; b < blocks; b++) writeMacBlock(key, messages.data, start, length, fromBlock + b, input, b * BLOCK);
  const iv = chains.subarray(m * BLOCK, m * BLOCK + BLOCK);
  const out = createCipheriv(`aes-${key.bits}-cbc`, key.macKey, iv).setAutoPadding(false).update(input);
  chains.set(out.subarray(out.length - BLOCK), m * BLOCK);
}

/**
 * How many levels to share before the chains still going finish alone: the cheapest of
 * `levels + CBC_COST_IN_LEVELS * chains longer than levels`, tried where a group of chains ends
 * (in between, a level costs one more call and ends none). Thousands of short chains share every
 * level; one long value among them shares the short ones' levels, then finishes alone.
 */
function levelsToShare(blockCounts: Int32Array): number {
  const ascending = blockCounts.slice().sort();
  let best = 0;
  let bestCost = CBC_COST_IN_LEVELS * ascending.length;
  for (let i = 0; i < ascending.length; i++) {
    const levels = ascending[i]!;
    if (ascending[i + 1] === levels) continue;
    const cost = levels + CBC_COST_IN_LEVELS * (ascending.length - i - 1);
    if (cost <= bestCost) [best, bestCost] = [levels, cost];
  }
  return best;
}

/**
 * CMAC (RFC 4493) of every message, level by level: one ECB call encrypts block j of every
 * chain that has a block j. Messages still chaining at a level are kept at the front of
 * `active`, in order, so each level costs its own chains and no more. Returns the tags, 16
 * bytes per message, in the messages' order.
 */
function cmacEach(key: PreparedKey, messages: Ranges): Buffer {
  const count = messages.lengths.length;
  const chains = Buffer.alloc(count * BLOCK);
  const blockCounts = messages.lengths.map(blockCount);
  const active = new Int32Array(count);
  for (let m = 0; m < count; m++) active[m] = m;
  let activeCount = count;
  const shared = levelsToShare(blockCounts);
  const input = Buffer.alloc(count * BLOCK);
  for (let level = 0; activeCount > 0; level++) {
    if (level === shared) {
      for (let a = 0; a < activeCount; a++) finishChainAlone(key, messages, active[a]!, level, chains);
      break;
    }
    for (let a = 0; a < activeCount; a++) {
      const m = active[a]!;
      writeMacBlock(key, messages.data, messages.starts[m]!, messages.lengths[m]!, level, input, a * BLOCK);
      for (let i = 0; i < BLOCK; i++) input[a * BLOCK + i] = input[a * BLOCK + i]! ^ chains[m * BLOCK + i]!;
    }
    const out = key.macBlocks(input.subarray(0, activeCount * BLOCK));
    let stillChaining = 0;
    for (let a = 0; a < activeCount; a++) {
      const m = active[a]!;
      for (let i = 0; i < BLOCK; i++) chains[m * BLOCK + i] = out[a * BLOCK + i]!;
      if (blockCounts[m]! > level + 1) active[stillChaining++] = m;
    }
    activeCount = stillChaining;
  }
  return chains;
}

/**
 * S2V (RFC 5297 §2.4) of every plaintext after the shared associated data, 16 bytes each.
 * The associated data's part is the same for the whole batch, so it is computed once.
 */
function s2vEach(key: PreparedKey, ad: readonly Uint8Array[], plaintexts: Ranges): Buffer {
  let d: Buffer = key.zeroMac;
  if (ad.length > 0) {
    const adMacs = cmacEach(key, rangesOf(ad));
    for (let c = 0; c < ad.length; c++) d = xorBlocks(dbl(d), adMacs.subarray(c * BLOCK, c * BLOCK + BLOCK));
  }
  const doubled = dbl(d);
  // The last component: XORed with D at its end when it has a block's worth of bytes,
  // otherwise padded to one block and XORed with dbl(D).
  const count = plaintexts.lengths.length;
  const lengths = plaintexts.lengths.map((n) => Math.max(n, BLOCK));
  const starts = new Int32Array(count);
  let total = 0;
  for (let v = 0; v < count; v++) {
    starts[v] = total;
    total += lengths[v]!;
  }
  const data = Buffer.alloc(total);
  for (let v = 0; v < count; v++) {
    const from = plaintexts.starts[v]!;
    const length = plaintexts.lengths[v]!;
    const at = starts[v]!;
    if (length >= BLOCK) {
      copyBytes(plaintexts.data, from, length, data, at);
      const end = at + length - BLOCK;
      for (let i = 0; i < BLOCK; i++) data[end + i] = data[end + i]! ^ d[i]!;
    } else {
      for (let i = 0; i < BLOCK; i++) data[at + i] = (i < length ? plaintexts.data[from + i]! : i === length ? 0x80 : 0) ^ doubled[i]!;
    }
  }
  return cmacEach(key, { data, starts, lengths });
}

/**
 * CTR (RFC 5297 §2.5, 2.6) for every value at once, in place: each range is XORed with its
 * keystream, whose counter starts at the value's SIV with bits 63 and 31 cleared. With bit 31
 * clear, adding a block index below 2^31 to the low 32 bits never carries further.
 */
function ctrEach(key: PreparedKey, sivs: Uint8Array, values: Ranges): void {
  let blocks = 0;
  for (const n of values.lengths) blocks += Math.ceil(n / BLOCK);
  if (blocks === 0) return;
  const counters = Buffer.alloc(blocks * BLOCK);
  let at = 0;
  for (let v = 0; v < values.lengths.length; v++) {
    const n = Math.ceil(values.lengths[v]! / BLOCK);
    if (n === 0) continue;
    for (let i = 0; i < BLOCK; i++) counters[at + i] = sivs[v * BLOCK + i]!;
    counters[at + 8] = counters[at + 8]! & 0x7f;
    counters[at + 12] = counters[at + 12]! & 0x7f;
    const low = counters.readUInt32BE(at + 12);
    for (let k = 1; k < n; k++) {
      const next = at + k * BLOCK;
      for (let i = 0; i < 12; i++) counters[next + i] = counters[at + i]!;
      counters.writeUInt32BE(low + k, next + 12);
    }
    at += n * BLOCK;
  }
  const keystream = key.ctrBlocks(counters);
  at = 0;
  const data = values.data;
  for (let v = 0; v < values.lengths.length; v++) {
    const start = values.starts[v]!;
    const length = values.lengths[v]!;
    for (let i = 0; i < length; i++) data[start + i] = data[start + i]! ^ keystream[at + i]!;
    at += Math.ceil(length / BLOCK) * BLOCK;
  }
}

function checkAd(ad: readonly Uint8Array[]): void {
  if (ad.length > MAX_AD_COMPONENTS) throw new Error(`AES-SIV: at most ${MAX_AD_COMPONENTS} associated-data components, got ${ad.length}`);
}

/**
 * Seals every plaintext under the same associated data (e.g. a column's label): SIV |
 * ciphertext for each, in order. The results are views of one buffer, allocated for the batch.
 */
export function sivSealBatch(handle: SivKey, ad: readonly Uint8Array[], plaintexts: readonly Uint8Array[]): Buffer[] {
  const key = prepared(handle);
  checkAd(ad);
  if (plaintexts.length === 0) return [];
  // Each plaintext is copied where its ciphertext goes, S2V reads it there, CTR turns it over.
  const count = plaintexts.length;
  const starts = new Int32Array(count);
  const lengths = new Int32Array(count);
  let total = 0;
  for (let v = 0; v < count; v++) {
    starts[v] = total + BLOCK;
    lengths[v] = plaintexts[v]!.length;
    total += BLOCK + lengths[v]!;
  }
  const arena = Buffer.alloc(total);
  for (let v = 0; v < count; v++) arena.set(plaintexts[v]!, starts[v]!);
  const bodies = { data: arena, starts, lengths };
  const sivs = s2vEach(key, ad, bodies);
  ctrEach(key, sivs, bodies);
  const sealed: Buffer[] = [];
  for (let v = 0; v < count; v++) {
    const at = starts[v]! - BLOCK;
    for (let i = 0; i < BLOCK; i++) arena[at + i] = sivs[v * BLOCK + i]!;
    sealed.push(arena.subarray(at, starts[v]! + lengths[v]!));
  }
  return sealed;
}

/**
 * Opens every sealed value under the same associated data. A value that does not verify
 * (altered, too short, another key or other associated data) gives undefined in its place; the
 * others open. Its would-be plaintext is zeroed, never returned.
 */
export function sivOpenBatch(handle: SivKey, ad: readonly Uint8Array[], sealed: readonly Uint8Array[]): (Buffer | undefined)[] {
  const key = prepared(handle);
  checkAd(ad);
  const results: (Buffer | undefined)[] = new Array<Buffer | undefined>(sealed.length).fill(undefined);
  const wellFormed = sealed.flatMap((s, v) => (s.length >= BLOCK ? [v] : []));
  if (wellFormed.length === 0) return results;
  const count = wellFormed.length;
  const sivs = Buffer.alloc(count * BLOCK);
  const starts = new Int32Array(count);
  const lengths = new Int32Array(count);
  let total = 0;
  for (let w = 0; w < count; w++) {
    starts[w] = total;
    lengths[w] = sealed[wellFormed[w]!]!.length - BLOCK;
    total += lengths[w]!;
  }
  const arena = Buffer.alloc(total);
  for (let w = 0; w < count; w++) {
    const s = sealed[wellFormed[w]!]!;
    for (let i = 0; i < BLOCK; i++) sivs[w * BLOCK + i] = s[i]!;
    arena.set(s.subarray(BLOCK), starts[w]!);
  }
  const plaintexts = { data: arena, starts, lengths };
  ctrEach(key, sivs, plaintexts);
  const expected = s2vEach(key, ad, plaintexts);
  for (let w = 0; w < count; w++) {
    const plaintext = arena.subarray(starts[w]!, starts[w]! + lengths[w]!);
    const siv = [w * BLOCK, w * BLOCK + BLOCK] as const;
    if (timingSafeEqual(expected.subarray(...siv), sivs.subarray(...siv))) results[wellFormed[w]!] = plaintext;
    else plaintext.fill(0);
  }
  return results;
}

/** One value: the batch of one (a few calls; seal many at once where you can). */
export function sivSeal(key: SivKey, ad: readonly Uint8Array[], plaintext: Uint8Array): Buffer {
  return sivSealBatch(key, ad, [plaintext])[0]!;
}

export function sivOpen(key: SivKey, ad: readonly Uint8Array[], sealed: Uint8Array): Buffer | undefined {
  return sivOpenBatch(key, ad, [sealed])[0];
}
