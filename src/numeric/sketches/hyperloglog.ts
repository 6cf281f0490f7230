import { decodeBase64, encodeBase64 } from './base64.js';
import { HASH64_NAME, hashFloat64Words, hashString64 } from './hash64.js';

/**
 * HyperLogLog distinct-count sketch (Flajolet, Fusy, Gandouet & Meunier, 2007) over 64-bit hashes.
 *
 * m = 2^p one-byte registers; relative standard error ≈ 1.04/√m (0.81% at the default p = 14,
 * 16 KiB). The top p bits of the hash pick a register, which keeps the largest "rank" (position of
 * the first 1-bit) seen in the remaining 64 − p bits.
 *
 * Estimation, in two regimes:
 * - small range: linear counting, m·ln(m/V) with V empty registers, while it stays below the
 *   empirical crossover thresholds of HLL++ (Heule, Nunkesser & Hall, 2013, Appendix) — near-exact
 *   for tiny sets;
 * - otherwise Ertl's improved raw estimator (Ertl, 2017, "New cardinality estimation algorithms
 *   for HyperLogLog sketches", arXiv:1702.01284), which folds the small- and large-range
 *   corrections into the estimator itself. It avoids the bias of the classic raw estimate in the
 *   range just above the linear-counting switch — which HLL++ corrects with empirical bias
 *   tables — and with 64-bit hashes the classic 2^32 large-range correction never applies.
 *
 * The hashes of `addNumber` and `addString` come from `hash64.ts`; sketches merge only with
 * sketches of the same precision and hash.
 */
export interface HyperLogLogJSON {
  type: 'hyperloglog';
  p: number;
  hash: string;
  /** m one-byte registers, base64. */
  registers: string;
}

export const HYPERLOGLOG_MIN_P = 4;
export const HYPERLOGLOG_MAX_P = 18;

/** HLL++ linear-counting crossover thresholds for p = 4…18 (Heule et al. 2013, Appendix). */
const LINEAR_COUNTING_THRESHOLD = [10, 20, 40, 80, 220, 400, 900, 1800, 3100, 6500, 11500, 20000, 50000, 120000, 350000];

/** α∞ = 1 / (2 ln 2). */
const ALPHA_INF = 0.7213475204444817;

export class HyperLogLog {
  // `declare`: set once in the constructor, so V8 sees each field's final type from the start (a plain
  // ES2022 field would first be defined as undefined, widening the field's representation).
  declare readonly p: number;
  declare readonly m: number;
  private declare readonly registers: Uint8Array;
  private readonly hash = new Uint32Array(2);
  private readonly float = new Float64Array(1);
  private readonly floatWords = new Uint32Array(this.float.buffer);

  constructor(p = 14) {
    if (!Number.isInteger(p) || p < HYPERLOGLOG_MIN_P || p > HYPERLOGLOG_MAX_P) {
      throw new RangeError(`HyperLogLog precision p must be an integer in [${HYPERLOGLOG_MIN_P}, ${HYPERLOGLOG_MAX_P}], got ${p}`);
    }
    this.p = p;
    this.m = 1 << p;
    this.registers = new Uint8Array(this.m);
  }

  /** Adds a 64-bit hash given as its unsigned high and low 32-bit words. */
  add(hashHigh: number, hashLow: number): void {
    this.hash[0] = hashHigh;
    this.hash[1] = hashLow;
    this.insertHash();
  }

  /** Adds a double by its bits; -0 counts as 0 and NaN is ignored. */
  addNumber(x: number): void {
    if (Number.isNaN(x)) return;
    // Same hash as hashNumber64(x); x goes no further down the call chain, so it is never boxed.
    this.float[0] = x + 0;
    hashFloat64Words(this.floatWords, this.hash);
    this.insertHash();
  }

  /**
   * addNumber over a column. Prefer it on hot paths: the doubles stay in the array instead of
   * crossing a call, where V8 boxes a double whenever it does not inline the callee.
   */
  addNumbers(values: ArrayLike<number>): void {
    for (let i = 0; i < values.length; i++) {
      const x = values[i]!;
      if (Number.isNaN(x)) continue;
      this.float[0] = x + 0;
      hashFloat64Words(this.floatWords, this.hash);
      this.insertHash();
    }
  }

  addStrings(values: ArrayLike<string>): void {
    for (let i = 0; i < values.length; i++) {
      hashString64(values[i]!, this.hash);
      this.insertHash();
    }
  }

  addString(s: string): void {
    hashString64(s, this.hash);
    this.insertHash();
  }

  /**
   * Applies the hash in `this.hash`. The words travel through the typed array rather than as
   * arguments because a uint32 above 2^30 passed to a call V8 does not inline is boxed on the heap.
   */
  private insertHash(): void {
    const p = this.p;
    const high = this.hash[0]!;
    const index = high >>> (32 - p);
    const rest = (high << p) >>> 0;
    // rank = 1 + leading zeros of the 64 − p bits after the index (at most 65 − p). Written without
    // a branch: the low word matters once in 2^(32−p) hashes, and a branch that rare would reach
    // V8's optimiser without type feedback and deoptimise the caller's loop when first taken.
    const zeros = Math.clz32(rest);
    const rank = Math.min(zeros, 32 - p) + 1 + (zeros >>> 5) * Math.clz32(this.hash[1]!);
    if (rank > this.registers[index]!) this.registers[index] = rank;
  }

  estimate(): number {
    const m = this.m;
    const q = 64 - this.p;
    const histogram = new Float64Array(q + 2);
    for (let i = 0; i < m; i++) histogram[this.registers[i]!]!++;
    const empty = histogram[0]!;
    if (empty === m) return 0;
    if (empty > 0) {
      const linear = m * Math.log(m / empty);
      if (linear <= LINEAR_COUNTING_THRESHOLD[this.p - HYPERLOGLOG_MIN_P]!) return linear;
    }
    let z = m * tau(1 - histogram[q + 1]! / m);
    for (let k = q; k >= 1; k--) z = 0.5 * (z + histogram[k]!);
    z += m * sigma(empty / m);
    return (ALPHA_INF * m * m) / z;
  }

  /** Folds `other` into this sketch (register-wise maximum); both must share p. */
  merge(other: HyperLogLog): this {
    if (other.p !== this.p) throw new RangeError(`cannot merge HyperLogLog sketches of precision ${this.p} and ${other.p}`);
    const a = this.registers;
    const b = other.registers;
    for (let i = 0; i < a.length; i++) if (b[i]! > a[i]!) a[i] = b[i]!;
    return this;
  }

  clone(): HyperLogLog {
    const copy = new HyperLogLog(this.p);
    copy.registers.set(this.registers);
    return copy;
  }

  toJSON(): HyperLogLogJSON {
    return { type: 'hyperloglog', p: this.p, hash: HASH64_NAME, registers: encodeBase64(this.registers) };
  }

  static fromJSON(json: HyperLogLogJSON): HyperLogLog {
    if (json.type !== 'hyperloglog') throw new RangeError(`expected a hyperloglog sketch, got '${String(json.type)}'`);
    if (json.hash !== HASH64_NAME) throw new RangeError(`sketch was built with hash '${json.hash}', this build uses '${HASH64_NAME}'`);
    const sketch = new HyperLogLog(json.p);
    const registers = decodeBase64(json.registers);
    if (registers.length !== sketch.m) throw new RangeError(`expected ${sketch.m} registers for p = ${json.p}, got ${registers.length}`);
    const maxRank = 65 - json.p;
    for (let i = 0; i < registers.length; i++) {
      if (registers[i]! > maxRank) throw new RangeError(`register ${i} holds ${registers[i]}, above the largest rank ${maxRank}`);
    }
    sketch.registers.set(registers);
    return sketch;
  }
}

/** σ(x) = x + Σ_{k≥1} x^(2^k) 2^(k−1) (Ertl 2017). */
function sigma(x: number): number {
  if (x === 1) return Infinity;
  let y = 1;
  let z = x;
  for (;;) {
    x *= x;
    const previous = z;
    z += x * y;
    y += y;
    if (z === previous) return z;
  }
}

/** τ(x) = (1 − x − Σ_{k≥1} (1 − x^(2^−k))² 2^−k) / 3 (Ertl 2017). */
function tau(x: number): number {
  if (x === 0 || x === 1) return 0;
  let y = 1;
  let z = 1 - x;
  for (;;) {
    x = Math.sqrt(x);
    const previous = z;
    y *= 0.5;
    z -= (1 - x) * (1 - x) * y;
    if (z === previous) return z / 3;
  }
}
