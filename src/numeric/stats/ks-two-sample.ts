import { kolmogorovSmirnovSf } from './kolmogorov-smirnov-distribution.js';

/**
 * Two-sample Kolmogorov–Smirnov test (two-sided): D = sup_x |F1(x) − F2(x)| of the two empirical
 * CDFs, and its p-value, as scipy.stats.ks_2samp(x, y, method=…).
 *
 * - 'exact': the exact null distribution of D by counting lattice paths (Hodges, 1958), in SciPy's
 *   forms — a Horner-like alternating sum when n1 = n2, otherwise the "inside" recursion for 1 − p
 *   of Viehmann (2021, arXiv:2102.08037). O(n1·n2/gcd) at worst.
 * - 'asymp': P(D_en ≥ D) for the one-sample two-sided distribution at the effective size
 *   en = round(n1·n2/(n1 + n2)) — SciPy's choice, which for moderate en is closer to the exact
 *   value than Kolmogorov's limiting law.
 * - 'auto' (default): exact when both samples have at most 10 000 values, as SciPy.
 * Exact falls back to asymp if the path counts overflow, again as SciPy.
 *
 * NaNs are rejected. Inputs are copied and sorted unless `sorted: true` says they already are.
 */
export type KsMethod = 'auto' | 'exact' | 'asymp';

export interface KsTwoSampleResult {
  statistic: number;
  pvalue: number;
  /** The method actually used ('auto' resolved, exact fallen back to asymp). */
  method: 'exact' | 'asymp';
}

export interface KsTwoSampleOptions {
  method?: KsMethod;
  /** Both inputs are already sorted ascending; skips the copies and sorts. */
  sorted?: boolean;
}

const MAX_AUTO_N = 10000;
const INT32_MAX = 2147483647;

export function ksTwoSample(x: ArrayLike<number>, y: ArrayLike<number>, options: KsTwoSampleOptions = {}): KsTwoSampleResult {
  const method = options.method ?? 'auto';
  if (method !== 'auto' && method !== 'exact' && method !== 'asymp') throw new RangeError(`unknown method '${String(method)}'`);
  const a = prepare(x, 'x', options.sorted === true);
  const b = prepare(y, 'y', options.sorted === true);
  const statistic = ksStatistic(a, b);
  const n1 = a.length;
  const n2 = b.length;
  let mode: 'exact' | 'asymp' = method === 'auto' ? (Math.max(n1, n2) <= MAX_AUTO_N ? 'exact' : 'asymp') : method;
  const g = gcd(n1, n2);
  if (mode === 'exact' && n1 / g >= INT32_MAX / (n2 / g)) mode = 'asymp';
  if (mode === 'exact') {
    // As SciPy, the exact path reports D as the lattice value h/lcm(n1, n2) it actually used.
    const lcm = (n1 / g) * n2;
    const h = Math.round(statistic * lcm);
    const p = exactPValue(n1, n2, g, h);
    if (p !== null) return { statistic: h / lcm, pvalue: p, method: 'exact' };
    mode = 'asymp';
  }
  const m = Math.max(n1, n2);
  const n = Math.min(n1, n2);
  const en = roundHalfEven((m * n) / (m + n));
  const pvalue = en > 0 ? kolmogorovSmirnovSf(en, statistic) : NaN;
  return { statistic, pvalue, method: mode };
}

/** sup |F1 − F2| over the pooled values of two ascending samples. */
export function ksStatistic(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n1 = a.length;
  const n2 = b.length;
  if (n1 === 0 || n2 === 0) throw new RangeError('both samples must be non-empty');
  let i = 0;
  let j = 0;
  let max = 0;
  let min = 0;
  while (i < n1 && j < n2) {
    const v = a[i]! <= b[j]! ? a[i]! : b[j]!;
    while (i < n1 && a[i]! <= v) i++;
    while (j < n2 && b[j]! <= v) j++;
    const diff = i / n1 - j / n2;
    if (diff > max) max = diff;
    if (diff < min) min = diff;
  }
  return Math.max(max, -min);
}

function prepare(values: ArrayLike<number>, name: string, sorted: boolean): ArrayLike<number> {
  if (values.length === 0) throw new RangeError(`${name} is empty`);
  for (let i = 0; i < values.length; i++) {
    if (Number.isNaN(values[i])) throw new RangeError(`${name}[${i}] is NaN`);
    if (sorted && i > 0 && values[i - 1]! > values[i]!) throw new RangeError(`${name} is not sorted at index ${i}`);
  }
  return sorted ? values : Float64Array.from(values).sort();
}

/** The exact two-sided p-value, or null when the computation overflows. */
function exactPValue(n1: number, n2: number, g: number, h: number): number | null {
  if (h === 0) return 1;
  const p = n1 === n2 ? probabilityOutsideSquare(n1, h) : probabilityOutsideInside(n1, n2, g, h);
  return Number.isFinite(p) && p >= 0 && p <= 1 ? p : null;
}

/**
 * P(D_{n,n} ≥ h/n) = 2 Σ_k (−1)^(k+1) C(2n, n − kh) / C(2n, n), evaluated as
 * 2·A0(1 − A1(1 − A2(…))) with each ratio a product of h simple factors.
 */
function probabilityOutsideSquare(n: number, h: number): number {
  let P = 0;
  for (let k = Math.floor(n / h); k >= 0; k--) {
    let p1 = 1;
    for (let j = 0; j < h; j++) p1 = ((n - k * h - j) * p1) / (n + k * h + j + 1);
    P = p1 * (1 - P);
  }
  return 2 * P;
}

/**
 * 1 − (paths from (0,0) to (m,n) staying strictly inside |x/m − y/n| < h/lcm) / C(m+n, n),
 * with the recursion arranged to produce the complement directly (Viehmann 2021), one sliding
 * column at a time.
 */
function probabilityOutsideInside(m0: number, n0: number, g: number, h: number): number {
  const m = Math.max(m0, n0);
  const n = Math.min(m0, n0);
  const mg = m / g;
  const ng = n / g;
  let minj = 0;
  let maxj = Math.min(Math.ceil(h / mg), n + 1);
  let curlen = maxj - minj;
  const lenA = Math.min(2 * maxj + 2, n + 1);
  const A = new Float64Array(lenA).fill(1);
  A.fill(0, minj, maxj);
  for (let i = 1; i <= m; i++) {
    const lastminj = minj;
    const lastlen = curlen;
    minj = Math.min(Math.max(Math.floor((ng * i - h) / mg) + 1, 0), n);
    maxj = Math.min(Math.ceil((ng * i + h) / mg), n + 1);
    if (maxj <= minj) return 1;
    let val = minj === 0 ? 0 : 1;
    for (let jj = 0; jj < maxj - minj; jj++) {
      const j = jj + minj;
      val = (A[jj + minj - lastminj]! * i + val * j) / (i + j);
      A[jj] = val;
    }
    curlen = maxj - minj;
    if (lastlen > curlen) A.fill(1, maxj - minj, maxj - minj + (lastlen - curlen));
  }
  return A[maxj - minj - 1]!;
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** numpy.round: halves go to the even neighbour. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x - Math.trunc(x)) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
