/**
 * Statistics of A/B tests between served models.
 *
 * - {@link sampleRatioMismatch}: did the arms get the traffic they were configured for? A
 *   chi-square goodness-of-fit test of the arms' request counts against their shares; a mismatch
 *   (conventionally p < 0.001) means the split itself is broken and no comparison can be trusted.
 * - {@link sequentialTest}: the mixture sequential probability ratio test (mSPRT) of Johari,
 *   Koomen, Pekelis and Walsh ("Always valid inference", 2017) for the difference of two arms'
 *   means, with a normal mixing distribution N(θ0, τ²). With θ̂ the difference of the sample means
 *   and V = s²_A/n_A + s²_B/n_B its variance,
 *
 *       Λ = √(V / (V + τ²)) · exp( τ² (θ̂ − θ0)² / (2 V (V + τ²)) )
 *
 *   is the likelihood ratio of "the difference is drawn from the mixture" against "it is θ0". Under
 *   the null Λ is a martingale, so P(Λ ever reaches 1/α) ≤ α (Ville): the p-value min(1, 1/Λ) and
 *   the confidence interval {θ0 : Λ(θ0) < 1/α} stay valid however often they are looked at, unlike
 *   a t-test's. Means may be of a Bernoulli metric (accuracy, error rate; variance p(1 − p)) or of a
 *   continuous one (squared error, latency; the sample variance), as in the paper's normal
 *   approximation. Below `minSamples` observations per arm (the paper's burn-in) the decision is
 *   `not yet` whatever the numbers.
 */
import { chiSquareSf } from './chi-square.js';

export interface SrmResult {
  observed: number[];
  /** The counts the shares imply for the observed total. */
  expected: number[];
  /** The shares as fractions (normalised to sum 1). */
  shares: number[];
  chiSquare: number;
  df: number;
  pValue: number;
  threshold: number;
  /** p < threshold: the split is not what it was configured to be. */
  mismatch: boolean;
  /** Some expected count is below 5, where the chi-square approximation is rough. */
  lowCounts: boolean;
}

export const SRM_THRESHOLD = 0.001;

/** Sample-ratio-mismatch check: chi-square goodness of fit of `counts` against `shares` (any positive scale). */
export function sampleRatioMismatch(counts: ArrayLike<number>, shares: ArrayLike<number>, threshold = SRM_THRESHOLD): SrmResult {
  if (counts.length !== shares.length) throw new RangeError(`${counts.length} counts but ${shares.length} shares: give one share per arm`);
  if (counts.length < 2) throw new RangeError('a sample-ratio check needs at least two arms');
  if (!(threshold > 0 && threshold < 1)) throw new RangeError(`threshold must be in (0, 1), got ${threshold}`);
  let total = 0;
  let shareTotal = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i]!;
    if (!(Number.isInteger(c) && c >= 0)) throw new RangeError(`counts[${i}] = ${c}; counts must be whole numbers ≥ 0`);
    const s = shares[i]!;
    if (!(s > 0 && s < Infinity)) throw new RangeError(`shares[${i}] = ${s}; shares must be positive and finite`);
    total += c;
    shareTotal += s;
  }
  if (total === 0) throw new RangeError('no requests: every count is zero');
  const observed = Array.from(counts);
  const fractions = Array.from(shares, (s) => s / shareTotal);
  const expected = fractions.map((f) => f * total);
  let chiSquare = 0;
  for (let i = 0; i < observed.length; i++) chiSquare += (observed[i]! - expected[i]!) ** 2 / expected[i]!;
  const pValue = chiSquareSf(chiSquare, observed.length - 1);
  return {
    observed, expected, shares: fractions, chiSquare, df: observed.length - 1, pValue, threshold,
    mismatch: pValue < threshold, lowCounts: expected.some((e) => e < 5),
  };
}

/** What the test needs of an arm: how many observations, their mean and variance. */
export interface ArmSummary {
  n: number;
  mean: number;
  variance: number;
}

/** An arm of a 0/1 metric: `successes` of `n`, variance p(1 − p). */
export function bernoulliSummary(successes: number, n: number): ArmSummary {
  if (!(Number.isInteger(n) && n >= 0)) throw new RangeError(`n = ${n}; it must be a whole number ≥ 0`);
  if (!(Number.isInteger(successes) && successes >= 0 && successes <= n)) throw new RangeError(`successes = ${successes}; it must be a whole number from 0 to n = ${n}`);
  const p = n === 0 ? 0 : successes / n;
  return { n, mean: p, variance: p * (1 - p) };
}

/** An arm of a continuous metric: mean and sample variance (n − 1) of `values`. */
export function summarize(values: ArrayLike<number>): ArmSummary {
  const n = values.length;
  let mean = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v)) throw new RangeError(`values[${i}] = ${v}; values must be finite`);
    mean += (v - mean) / (i + 1);
  }
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (values[i]! - mean) ** 2;
  return { n, mean: n === 0 ? 0 : mean, variance: n > 1 ? ss / (n - 1) : 0 };
}

export interface SequentialTestOptions {
  /** The level: significant when the always-valid p-value is at most this (default 0.05). */
  alpha?: number;
  /**
   * The mixing distribution's standard deviation, in the metric's units: the size of difference
   * the test is most eager to find. Default: a tenth of the pooled standard deviation.
   */
  tau?: number;
  /** The difference under the null (default 0). */
  theta0?: number;
  /** Observations each arm needs before a decision (default 30). */
  minSamples?: number;
}

export interface SequentialTestResult {
  decision: 'significant' | 'not yet';
  /** Why it is `not yet` when the numbers alone would not say (too few observations). */
  reason?: string;
  /** treatment mean − control mean. */
  difference: number;
  /** Always-valid p-value min(1, 1/Λ). */
  pValue: number;
  /** Always-valid (1 − alpha) interval for the difference; null with fewer than two observations in an arm. */
  ci: { lower: number; upper: number } | null;
  /** ln Λ, the mixture likelihood ratio. */
  logLikelihoodRatio: number;
  /** V, the variance of the difference. */
  variance: number;
  alpha: number;
  tau: number;
  theta0: number;
  minSamples: number;
  control: ArmSummary;
  treatment: ArmSummary;
}

function checkArm(name: string, a: ArmSummary): void {
  if (!(Number.isInteger(a.n) && a.n >= 0)) throw new RangeError(`${name}.n = ${a.n}; it must be a whole number ≥ 0`);
  if (!Number.isFinite(a.mean)) throw new RangeError(`${name}.mean = ${a.mean}; it must be finite`);
  if (!(a.variance >= 0 && a.variance < Infinity)) throw new RangeError(`${name}.variance = ${a.variance}; it must be finite and ≥ 0`);
}

/** mSPRT of treatment − control at the current look (see the file comment). */
export function sequentialTest(control: ArmSummary, treatment: ArmSummary, options: SequentialTestOptions = {}): SequentialTestResult {
  const alpha = options.alpha ?? 0.05;
  const theta0 = options.theta0 ?? 0;
  const minSamples = options.minSamples ?? 30;
  if (!(alpha > 0 && alpha < 1)) throw new RangeError(`alpha must be in (0, 1), got ${alpha}`);
  if (!Number.isFinite(theta0)) throw new RangeError(`theta0 must be finite, got ${theta0}`);
  if (!(Number.isInteger(minSamples) && minSamples >= 2)) throw new RangeError(`minSamples must be a whole number ≥ 2, got ${minSamples}`);
  checkArm('control', control);
  checkArm('treatment', treatment);
  const pooled = control.n + treatment.n > 0 ? (control.n * control.variance + treatment.n * treatment.variance) / (control.n + treatment.n) : 0;
  const tau = options.tau ?? 0.1 * Math.sqrt(pooled);
  if (options.tau !== undefined && !(tau > 0 && tau < Infinity)) throw new RangeError(`tau must be positive and finite, got ${options.tau}`);
  const difference = treatment.mean - control.mean;
  if (control.n < 2 || treatment.n < 2) {
    return {
      decision: 'not yet', reason: `an arm has fewer than 2 observations (${control.n} and ${treatment.n})`, difference, pValue: 1, ci: null,
      logLikelihoodRatio: 0, variance: Number.NaN, alpha, tau, theta0, minSamples, control, treatment,
    };
  }
  const v = control.variance / control.n + treatment.variance / treatment.n;
  const gap = difference - theta0;
  let logLr: number;
  let half: number;
  if (v === 0 || tau === 0) {
    // No spread (both arms constant) or no mixture width: the difference is known exactly.
    logLr = gap === 0 ? 0 : Infinity;
    half = 0;
  } else {
    const t2 = tau * tau;
    logLr = 0.5 * Math.log(v / (v + t2)) + (t2 * gap * gap) / (2 * v * (v + t2));
    half = Math.sqrt(((2 * v * (v + t2)) / t2) * (Math.log(1 / alpha) + 0.5 * Math.log((v + t2) / v)));
  }
  const pValue = Math.min(1, Math.exp(-logLr));
  const enough = control.n >= minSamples && treatment.n >= minSamples;
  const result: SequentialTestResult = {
    decision: pValue <= alpha && enough ? 'significant' : 'not yet', difference, pValue, ci: { lower: difference - half, upper: difference + half },
    logLikelihoodRatio: logLr, variance: v, alpha, tau, theta0, minSamples, control, treatment,
  };
  if (!enough) result.reason = `fewer than ${minSamples} observations in an arm (${control.n} and ${treatment.n})`;
  return result;
}
