import { smirnovSf } from './smirnov-distribution.js';

/**
 * Survival function of the two-sided one-sample Kolmogorov–Smirnov statistic D_n:
 * P(D_n ≥ d) for a sample of size n, scipy.stats.kstwo.sf(d, n).
 *
 * Follows the method selection of Simard & L'Ecuyer (2011, "Computing the two-sided
 * Kolmogorov–Smirnov distribution", J. Stat. Softw. 39(11)) as SciPy's stats/_ksstats.py does:
 * Ruben–Gambino closed forms at the ends of the support; twice the one-sided tail (exact for
 * d ≥ 0.5, and the tail approximation elsewhere in the upper tail); the Durbin matrix algorithm
 * in the Marsaglia–Tsang–Wang form; Pomeranz's recursion; and the Pelz–Good asymptotic series.
 */
export function kolmogorovSmirnovSf(n: number, d: number): number {
  if (!Number.isInteger(n) || n <= 0) throw new RangeError(`sample size n must be a positive integer, got ${n}`);
  if (Number.isNaN(d)) return NaN;
  if (d >= 1) return 0;
  if (d <= 0) return 1;
  const t = n * d;
  if (t <= 1) {
    // Ruben–Gambino: P(D_n < d) = n!/n^n (2t − 1)^n for 1/(2n) ≤ d ≤ 1/n.
    if (t <= 0.5) return 1;
    let cdf: number;
    if (n <= 140) {
      cdf = 1;
      for (let i = 1; i <= n; i++) cdf *= i * (1 / n) * (2 * t - 1);
    } else {
      cdf = Math.exp(logFactorialOverPower(n) + n * Math.log(2 * t - 1));
    }
    return clip(1 - cdf);
  }
  if (t >= n - 1) return clip(2 * Math.pow(1 - d, n));
  if (d >= 0.5) return clip(2 * smirnovSf(n, d));
  const nxSquared = t * d;
  if (n <= 140) {
    if (nxSquared <= 0.754693) return clip(1 - durbinMatrixCdf(n, d));
    if (nxSquared <= 4) return clip(1 - pomeranzCdf(n, d));
    return clip(2 * smirnovSf(n, d));
  }
  if (nxSquared >= 370) return 0;
  if (nxSquared >= 2.2) return clip(2 * smirnovSf(n, d));
  const cdf = n <= 100000 && n * Math.pow(d, 1.5) <= 1.4 ? durbinMatrixCdf(n, d) : pelzGoodCdf(n, d);
  return clip(1 - cdf);
}

const E128 = 2 ** 128;
const EM128 = 2 ** -128;
const LOG_2PI = Math.log(2 * Math.PI);
const SQRT_2PI = Math.sqrt(2 * Math.PI);
const PI2 = Math.PI ** 2;
const PI4 = Math.PI ** 4;
const PI6 = Math.PI ** 6;
/** B_2j / (2j (2j − 1)) for j = 8 … 1, highest power first. */
const STIRLING = [-3617 / 122400, 1 / 156, -691 / 360360, 1 / 1188, -1 / 1680, 1 / 1260, -1 / 360, 1 / 12];

function clip(p: number): number {
  return p < 0 ? 0 : p > 1 ? 1 : p;
}

/** log(n! / n^n) by Stirling's series, with n log n cancelled analytically. */
function logFactorialOverPower(n: number): number {
  const rn = 1 / n;
  const x = rn / n;
  let poly = 0;
  for (const c of STIRLING) poly = poly * x + c;
  return Math.log(n) / 2 - n + LOG_2PI / 2 + rn * poly;
}

function ldexp(x: number, e: number): number {
  while (e > 1000) {
    x *= 2 ** 1000;
    e -= 1000;
  }
  while (e < -1000) {
    x *= 2 ** -1000;
    e += 1000;
  }
  return x * 2 ** e;
}

/**
 * P(D_n ≤ d) by Durbin's matrix (1968) in the form of Marsaglia, Tsang & Wang (2003): the
 * (k, k) entry of H^n · n!/n^n for an m×m matrix H, m = 2k − 1, k = ⌈nd⌉, with rescaling by 2^128
 * to stay in range. O(m³ log n).
 */
function durbinMatrixCdf(n: number, d: number): number {
  if (d >= 1) return 1;
  const nd = n * d;
  if (nd <= 0.5) return 0;
  const k = Math.ceil(nd);
  const h = k - nd;
  const m = 2 * k - 1;
  const v = new Float64Array(m);
  const w = new Float64Array(m);
  let fac = 1;
  for (let j = 1; j <= m; j++) {
    v[j - 1] = 1 - Math.pow(h, j);
    w[j - 1] = fac;
    fac /= j;
    v[j - 1]! *= fac;
  }
  const tt = Math.pow(Math.max(2 * h - 1, 0), m) - 2 * Math.pow(h, m);
  v[m - 1] = (1 + tt) * fac;
  let H = new Float64Array(m * m);
  for (let i = 1; i < m; i++) for (let r = i - 1; r < m; r++) H[r * m + i] = w[r - (i - 1)]!;
  for (let r = 0; r < m; r++) H[r * m] = v[r]!;
  for (let c = 0; c < m; c++) H[(m - 1) * m + c] = v[m - 1 - c]!;

  let power = new Float64Array(m * m);
  for (let i = 0; i < m; i++) power[i * m + i] = 1;
  let scratch = new Float64Array(m * m);
  let nn = n;
  let exponent = 0;
  let hExponent = 0;
  while (nn > 0) {
    if (nn % 2) {
      multiply(power, H, scratch, m);
      [power, scratch] = [scratch, power];
      exponent += hExponent;
    }
    multiply(H, H, scratch, m);
    [H, scratch] = [scratch, H];
    hExponent *= 2;
    if (Math.abs(H[(k - 1) * m + (k - 1)]!) > E128) {
      for (let i = 0; i < H.length; i++) H[i]! /= E128;
      hExponent += 128;
    }
    nn = Math.floor(nn / 2);
  }
  let p = power[(k - 1) * m + (k - 1)]!;
  for (let i = 1; i <= n; i++) {
    p = (i * p) / n;
    if (Math.abs(p) < EM128) {
      p *= E128;
      exponent -= 128;
    }
  }
  return clip(exponent !== 0 ? ldexp(p, exponent) : p);
}

/** out = a · b for m×m row-major matrices. */
function multiply(a: Float64Array, b: Float64Array, out: Float64Array, m: number): void {
  out.fill(0);
  for (let i = 0; i < m; i++) {
    const row = i * m;
    for (let l = 0; l < m; l++) {
      const x = a[row + l]!;
      if (x === 0) continue;
      const bRow = l * m;
      for (let j = 0; j < m; j++) out[row + j]! += x * b[bRow + j]!;
    }
  }
}

/** P(D_n ≤ d) by Pomeranz's recursion (1974, CACM Algorithm 487), SciPy's banded form. */
function pomeranzCdf(n: number, x: number): number {
  const t = n * x;
  const ll = Math.floor(t);
  const f = t - ll;
  const g = Math.min(f, 1 - f);
  const ceilf = f > 0 ? 1 : 0;
  const roundf = f > 0.5 ? 1 : 0;
  const npwrs = 2 * (ll + 1);
  const gpower = new Float64Array(npwrs);
  const twogpower = new Float64Array(npwrs);
  const onem2gpower = new Float64Array(npwrs);
  gpower[0] = 1;
  twogpower[0] = 1;
  onem2gpower[0] = 1;
  const gOverN = g / n;
  const twoGOverN = (2 * g) / n;
  const oneMinusTwoGOverN = (1 - 2 * g) / n;
  for (let m = 1; m < npwrs; m++) {
    gpower[m] = (gpower[m - 1]! * gOverN) / m;
    twogpower[m] = (twogpower[m - 1]! * twoGOverN) / m;
    onem2gpower[m] = (onem2gpower[m - 1]! * oneMinusTwoGOverN) / m;
  }
  let V0 = new Float64Array(npwrs);
  let V1 = new Float64Array(npwrs);
  V1[0] = 1;
  let V0s = 0;
  let V1s = 0;
  let exponent = 0;
  let j1 = pomeranzBand(0, n, ll, ceilf, roundf)[0];
  let j2: number;
  for (let i = 1; i < 2 * n + 2; i++) {
    const k1 = j1;
    [V0, V1] = [V1, V0];
    [V0s, V1s] = [V1s, V0s];
    V1.fill(0);
    [j1, j2] = pomeranzBand(i, n, ll, ceilf, roundf);
    const pwrs = i === 1 || i === 2 * n + 1 ? gpower : i % 2 ? twogpower : onem2gpower;
    const ln2 = j2 - k1 + 1;
    if (ln2 > 0) {
      // V1[c] = (V0[k1 − V0s …] ∗ pwrs)[j1 − k1 + c] for c < j2 − j1 + 1.
      const base = k1 - V0s;
      const convStart = j1 - k1;
      const convLen = j2 - j1 + 1;
      let max = 0;
      for (let c = 0; c < convLen; c++) {
        const idx = convStart + c;
        let s = 0;
        for (let a = Math.max(0, idx - ln2 + 1); a <= Math.min(idx, ln2 - 1); a++) {
          const va = base + a;
          if (va >= 0 && va < npwrs && idx - a < npwrs) s += V0[va]! * pwrs[idx - a]!;
        }
        V1[c] = s;
        if (s > max) max = s;
      }
      if (max > 0 && max < EM128) {
        for (let c = 0; c < npwrs; c++) V1[c]! *= E128;
        exponent -= 128;
      }
      V1s = V0s + j1 - k1;
    }
  }
  let ans = V1[n - V1s]!;
  for (let m = 1; m <= n; m++) {
    if (Math.abs(ans) > E128) {
      ans *= EM128;
      exponent += 128;
    }
    ans *= m;
  }
  return clip(exponent !== 0 ? ldexp(ans, exponent) : ans);
}

function pomeranzBand(i: number, n: number, ll: number, ceilf: number, roundf: number): [number, number] {
  let j1: number;
  let j2: number;
  if (i === 0) {
    j1 = -ll - ceilf - 1;
    j2 = ll + ceilf - 1;
  } else {
    const half = Math.floor((i + 1) / 2);
    if ((i + 1) % 2 === 0) {
      if (half === n + 1) {
        j1 = n - ll - ceilf - 1;
        j2 = n + ll + ceilf - 1;
      } else {
        j1 = half - 1 - ll - roundf - 1;
        j2 = half + ll - 1 + ceilf - 1;
      }
    } else {
      j1 = half - 1 - ll - 1;
      j2 = half + ll + roundf - 1;
    }
  }
  return [Math.max(j1 + 2, 0), Math.min(j2, n)];
}

/**
 * P(D_n ≤ d) by the Pelz–Good (1976) approximation: the Li-Chien/Korolyuk expansion
 * K0(z) + K1(z)/√n + K2(z)/n + K3(z)/n^1.5, z = d√n, in its Jacobi-theta form for small z.
 */
function pelzGoodCdf(n: number, x: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const z = Math.sqrt(n) * x;
  const z2 = z * z;
  const z3 = z2 * z;
  const z4 = z2 * z2;
  const z6 = z4 * z2;
  const qlog = -PI2 / 8 / z2;
  if (qlog < -708) return 0;
  let q = Math.exp(qlog);
  const k1a = -z2;
  const k1b = PI2 / 4;
  const k2a = 6 * z6 + 2 * z4;
  const k2b = ((2 * z4 - 5 * z2) * PI2) / 4;
  const k2c = (PI4 * (1 - 2 * z2)) / 16;
  const k3d = (PI6 * (5 - 30 * z2)) / 64;
  const k3c = (PI4 * (-60 * z2 + 212 * z4)) / 16;
  const k3b = (PI2 * (135 * z4 - 96 * z6)) / 4;
  const k3a = -30 * z6 - 90 * z ** 8;
  let K0 = 0;
  let K1 = 0;
  let K2 = 0;
  let K3 = 0;
  const maxk = Math.ceil((16 * z) / Math.PI);
  for (let k = maxk; k > 0; k--) {
    const m = 2 * k - 1;
    const m2 = m * m;
    const m4 = m2 * m2;
    const m6 = m4 * m2;
    const qpower = Math.pow(q, 8 * k);
    K0 = K0 * qpower + 1;
    K1 = K1 * qpower + (k1a + k1b * m2);
    K2 = K2 * qpower + (k2a + k2b * m2 + k2c * m4);
    K3 = K3 * qpower + (k3a + k3b * m2 + k3c * m4 + k3d * m6);
  }
  K0 = (K0 * q * SQRT_2PI) / z;
  K1 = (K1 * q * SQRT_2PI) / (6 * z4);
  K2 = (K2 * q * SQRT_2PI) / (72 * z ** 7);
  K3 = (K3 * q * SQRT_2PI) / (6480 * z ** 10);
  q = Math.exp(-PI2 / 2 / z2);
  const sqrt3z = Math.sqrt(3) * z;
  let k2extra = 0;
  let k3extra = 0;
  for (let k = maxk; k > 0; k--) {
    const k2 = k * k;
    const qk = Math.pow(q, k2);
    const kpi = Math.PI * k;
    k2extra += k2 * qk;
    k3extra += (sqrt3z + kpi) * (sqrt3z - kpi) * k2 * qk;
  }
  K2 += (k2extra * PI2 * SQRT_2PI) / (-36 * z3);
  K3 += (k3extra * PI2 * SQRT_2PI) / (216 * z6);
  return K0 + K1 / Math.sqrt(n) + K2 / n + K3 / Math.pow(n, 1.5);
}
