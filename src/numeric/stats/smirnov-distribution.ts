/**
 * Survival function of the one-sided one-sample Kolmogorov–Smirnov statistic D+_n:
 * P(D+_n ≥ d), scipy.special.smirnov(n, d).
 *
 * Exact, by the Smirnov / Birnbaum–Tingey sum
 *   P(D+_n ≥ d) = d · Σ_{v=0}^{⌊n(1−d)⌋} C(n, v) (d + v/n)^(v−1) (1 − d − v/n)^(n−v),
 * summed in log space with a running scale (terms span hundreds of orders of magnitude) and
 * stopped once the remaining terms cannot matter, after van Mulbregt (2018, arXiv:1802.06966) as
 * in SciPy's cephes/kolmogorov.c. SciPy carries double-double intermediates; this carries doubles,
 * so for large n the result has about 9 significant digits instead of 15 — far below the
 * sensitivity of the value to the last bit of d. The special cases and the approximation
 * beyond n = 10^6 are SciPy's.
 */
const MIN_LOG = -708.3964185322641;
const SMIRNOV_MAX_COMPUTE_N = 1_000_000;

export function smirnovSf(n: number, d: number): number {
  if (!(Number.isInteger(n) && n > 0 && d >= 0 && d <= 1)) return NaN;
  if (n === 1) return 1 - d;
  if (d === 0) return 1;
  if (d === 1) return 0;
  const nx = n * d;
  const nxFloor = Math.floor(nx);
  const alpha = nx - nxFloor;
  if (nxFloor === 0 || (nxFloor === 1 && alpha === 0)) return 1 - d * Math.pow(1 + d, n - 1);
  if (-2 * n * d * d < MIN_LOG) return 0;
  if (nxFloor >= n - 1) return Math.pow(1 - d, n);
  if (n > SMIRNOV_MAX_COMPUTE_N) {
    const logp = -Math.pow(6 * n * d + 1, 2) / 18 / n;
    return logp < -Math.LN2 ? Math.exp(logp) : 1 + Math.expm1(logp);
  }
  // Terms v = 0 … ⌊n(1 − d)⌋, leaving out the one whose (1 − d − v/n) is exactly 0.
  const lastTerm = n - nxFloor - 1;
  let logBinomial = 0;
  let logBinomialCarry = 0;
  let maxLog = -Infinity;
  let scaledSum = 0;
  for (let v = 0; v <= lastTerm; v++) {
    const high = (n - v) / n - d;
    if (high > 0) {
      const logTerm = logBinomial + logBinomialCarry + (v - 1) * Math.log(d + v / n) + (n - v) * Math.log(high);
      if (logTerm > maxLog) {
        scaledSum = scaledSum * Math.exp(maxLog - logTerm) + 1;
        maxLog = logTerm;
      } else {
        const term = Math.exp(logTerm - maxLog);
        scaledSum += term;
        if (4 * (lastTerm - v + 1) * term < Number.EPSILON * scaledSum && v !== lastTerm) break;
      }
    }
    // log C(n, v+1) = log C(n, v) + log((n − v)/(v + 1)), compensated over up to 10^6 steps.
    const step = Math.log((n - v) / (v + 1));
    const t = logBinomial + step;
    logBinomialCarry += Math.abs(logBinomial) >= Math.abs(step) ? logBinomial - t + step : step - t + logBinomial;
    logBinomial = t;
  }
  const sf = d * Math.exp(maxLog) * scaledSum;
  return Math.min(1, Math.max(0, sf));
}
