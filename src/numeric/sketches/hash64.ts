/**
 * A fast, non-cryptographic 64-bit hash of strings and doubles for the cardinality sketches.
 *
 * Two 32-bit MurmurHash3 lanes (the block mix and finaliser of Appleby's MurmurHash3_x86_128,
 * constants included) run over the same 32-bit blocks and are cross-coupled, as in x86_128, so the
 * 64 bits are jointly mixed. Strings are read as UTF-16 code units, two per block, straight from
 * `charCodeAt` — no UTF-8 encoding and no intermediate buffer. Doubles are hashed by their IEEE-754
 * bits (little-endian word order on every platform), with -0 folded into 0.
 *
 * The result is written as [high word, low word] (unsigned) into `out`, so hashing allocates
 * nothing when the caller reuses its buffer. The hash is stable: serialised HyperLogLog sketches
 * depend on it, so changing it means a new `hash` tag in their JSON.
 */
const C1 = 0x239b961b;
const C2 = 0xab0e9789;
const C3 = 0x38b34ae5;

const F64 = new Float64Array(1);
const U32 = new Uint32Array(F64.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const LO = LITTLE_ENDIAN ? 0 : 1;
const HI = LITTLE_ENDIAN ? 1 : 0;

/** Tag stored in serialised sketches that depend on this hash. */
export const HASH64_NAME = 'murmur3x2-utf16-v1';

export function hashString64(s: string, out: Uint32Array = new Uint32Array(2), seed = 0): Uint32Array {
  if (out.length < 2) throw new RangeError(`output buffer has length ${out.length}, need 2`);
  let h1 = seed | 0;
  let h2 = (seed ^ 0x9e3779b9) | 0;
  const n = s.length;
  const blocks = n & ~1;
  // The block mix is written out here and in hashFloat64Words rather than shared: a helper would
  // take int32 arguments beyond ±2^30, which V8 boxes on the heap whenever it does not inline it.
  for (let i = 0; i < blocks; i += 2) {
    const k = s.charCodeAt(i) | (s.charCodeAt(i + 1) << 16);
    let k1 = Math.imul(k, C1);
    k1 = (k1 << 15) | (k1 >>> 17);
    h1 ^= Math.imul(k1, C2);
    h1 = (h1 << 19) | (h1 >>> 13);
    h1 = (h1 + h2) | 0;
    h1 = (Math.imul(h1, 5) + 0x561ccd1b) | 0;
    let k2 = Math.imul(k, C2);
    k2 = (k2 << 16) | (k2 >>> 16);
    h2 ^= Math.imul(k2, C3);
    h2 = (h2 << 17) | (h2 >>> 15);
    h2 = (h2 + h1) | 0;
    h2 = (Math.imul(h2, 5) + 0x0bcaa747) | 0;
  }
  if (n & 1) {
    const k = s.charCodeAt(n - 1);
    let k1 = Math.imul(k, C1);
    k1 = (k1 << 15) | (k1 >>> 17);
    h1 ^= Math.imul(k1, C2);
    let k2 = Math.imul(k, C2);
    k2 = (k2 << 16) | (k2 >>> 16);
    h2 ^= Math.imul(k2, C3);
  }
  out[0] = h1;
  out[1] = h2;
  return finishInPlace(out, n * 2);
}

/** Hashes a double by its bits; -0 and 0 hash alike. NaN is the caller's to exclude. */
export function hashNumber64(x: number, out: Uint32Array = new Uint32Array(2), seed = 0): Uint32Array {
  // x + 0 turns -0 into +0 and leaves every other double as it is.
  F64[0] = x + 0;
  return hashFloat64Words(U32, out, seed);
}

/**
 * hashNumber64 of the double whose bytes `words` (a Uint32Array view of a Float64Array, as in
 * `new Uint32Array(f64.buffer)`) holds — the same value, for callers on a hot path that keep their
 * own view and write the double into it themselves: a double passed as an argument to a call that
 * V8 does not inline is boxed on the heap, once per value. Normalising -0 is then the caller's.
 */
export function hashFloat64Words(words: Uint32Array, out: Uint32Array = new Uint32Array(2), seed = 0): Uint32Array {
  if (words.length < 2 || out.length < 2) throw new RangeError('hashFloat64Words needs two input words and room for two output words');
  let h1 = seed | 0;
  let h2 = (seed ^ 0x9e3779b9) | 0;
  for (let w = 0; w < 2; w++) {
    const k = words[w === 0 ? LO : HI]!;
    let k1 = Math.imul(k, C1);
    k1 = (k1 << 15) | (k1 >>> 17);
    h1 ^= Math.imul(k1, C2);
    h1 = (h1 << 19) | (h1 >>> 13);
    h1 = (h1 + h2) | 0;
    h1 = (Math.imul(h1, 5) + 0x561ccd1b) | 0;
    let k2 = Math.imul(k, C2);
    k2 = (k2 << 16) | (k2 >>> 16);
    h2 ^= Math.imul(k2, C3);
    h2 = (h2 << 17) | (h2 >>> 15);
    h2 = (h2 + h1) | 0;
    h2 = (Math.imul(h2, 5) + 0x0bcaa747) | 0;
  }
  out[0] = h1;
  out[1] = h2;
  return finishInPlace(out, 8);
}

/**
 * MurmurHash3_x86_128's finalisation of two lanes held in `out`. The lanes travel in the typed
 * array, and fmix32 is written out twice, because an int32 beyond ±2^30 passed as an argument to a
 * call that V8 does not inline is boxed on the heap — once per hash.
 */
function finishInPlace(out: Uint32Array, byteLength: number): Uint32Array {
  let h1 = out[0]! ^ byteLength;
  let h2 = out[1]! ^ byteLength;
  h1 = (h1 + h2) | 0;
  h2 = (h2 + h1) | 0;
  h1 ^= h1 >>> 16;
  h1 = Math.imul(h1, 0x85ebca6b);
  h1 ^= h1 >>> 13;
  h1 = Math.imul(h1, 0xc2b2ae35);
  h1 ^= h1 >>> 16;
  h2 ^= h2 >>> 16;
  h2 = Math.imul(h2, 0x85ebca6b);
  h2 ^= h2 >>> 13;
  h2 = Math.imul(h2, 0xc2b2ae35);
  h2 ^= h2 >>> 16;
  h1 = (h1 + h2) | 0;
  h2 = (h2 + h1) | 0;
  out[0] = h1;
  out[1] = h2;
  return out;
}
