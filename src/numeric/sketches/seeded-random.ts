/**
 * xoshiro128** (Blackman & Vigna, 2018), seeded through splitmix32: a small, fast PRNG whose whole
 * state is four 32-bit words, so a sketch that flips coins (KLL) can serialise it and a profile
 * computed twice from the same data comes out identical. Not for cryptography.
 *
 * The state lives in an Int32Array rather than four number fields: V8 keeps a number field beyond
 * ±2^30 in a heap box, and the words are updated on every draw.
 */
export class SeededRandom {
  private readonly s = new Int32Array(4);

  constructor(seed = 1) {
    let x = seed >>> 0;
    for (let i = 0; i < 4; i++) {
      // splitmix32
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      this.s[i] = z ^ (z >>> 16);
    }
  }

  /** Restores a generator from `state()`. */
  static fromState(state: readonly number[]): SeededRandom {
    if (state.length !== 4 || state.some((w) => !Number.isInteger(w) || w < 0 || w > 0xffffffff)) {
      throw new RangeError('a SeededRandom state is four uint32 words');
    }
    if (state.every((w) => w === 0)) throw new RangeError('the all-zero state is not a valid xoshiro128** state');
    const r = new SeededRandom(0);
    for (let i = 0; i < 4; i++) r.s[i] = state[i]!;
    return r;
  }

  /** The four state words, as unsigned integers. */
  state(): number[] {
    return Array.from(this.s, (w) => w >>> 0);
  }

  nextUint32(): number {
    const x = Math.imul(this.s[1]!, 5);
    const result = Math.imul((x << 7) | (x >>> 25), 9) >>> 0;
    this.step();
    return result;
  }

  /**
   * One fair coin flip, 0 or 1: the top bit of the next output. KLL flips one per compaction; a
   * small integer, unlike a uint32, never needs a heap box when the call is not inlined.
   */
  nextBit(): number {
    const x = Math.imul(this.s[1]!, 5);
    const bit = Math.imul((x << 7) | (x >>> 25), 9) >>> 31;
    this.step();
    return bit;
  }

  /** Uniform on [0, 1) with 53 random bits. */
  next(): number {
    const hi = this.nextUint32() >>> 5;
    const lo = this.nextUint32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Standard normal by Box–Muller (one of the pair; the other is discarded to keep no hidden state). */
  normal(): number {
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  private step(): void {
    const s = this.s;
    const t = s[1]! << 9;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = (s[3]! << 11) | (s[3]! >>> 21);
  }
}
