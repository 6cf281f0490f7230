/**
 * Regression metrics over typed arrays of targets `y` and predictions `pred`, matching scikit-learn 1.2.
 */

/** numpy.finfo(np.float64).eps, sklearn's floor on |y| in mean_absolute_percentage_error. */
const FLOAT64_EPSILON = 2.220446049250313e-16;

function checkPair(y: ArrayLike<number>, pred: ArrayLike<number>): void {
  if (y.length !== pred.length) throw new RangeError(`y and pred have different lengths: ${y.length} and ${pred.length}`);
  if (y.length === 0) throw new RangeError('y is empty');
}

/** Root mean squared error. */
export function rmse(y: ArrayLike<number>, pred: ArrayLike<number>): number {
  checkPair(y, pred);
  let sum = 0;
  for (let i = 0; i < y.length; i++) sum += (y[i]! - pred[i]!) ** 2;
  return Math.sqrt(sum / y.length);
}

/** Mean absolute error. */
export function mae(y: ArrayLike<number>, pred: ArrayLike<number>): number {
  checkPair(y, pred);
  let sum = 0;
  for (let i = 0; i < y.length; i++) sum += Math.abs(y[i]! - pred[i]!);
  return sum / y.length;
}

/**
 * Mean absolute percentage error as a fraction (not ×100): mean |y − pred| / max(|y|, ε), ε the float64
 * machine epsilon, as sklearn's mean_absolute_percentage_error — so a zero target gives a huge, finite term.
 */
export function mape(y: ArrayLike<number>, pred: ArrayLike<number>): number {
  checkPair(y, pred);
  let sum = 0;
  for (let i = 0; i < y.length; i++) sum += Math.abs(y[i]! - pred[i]!) / Math.max(Math.abs(y[i]!), FLOAT64_EPSILON);
  return sum / y.length;
}

/**
 * Mean absolute percentage error over the rows whose target is not zero, as a fraction: the mean of
 * |y − pred| / |y| for y ≠ 0 (sklearn's mean_absolute_percentage_error on those rows). Rows with
 * y = 0 have no percentage error and are left out; NaN when every target is zero.
 */
export function mapeNonzero(y: ArrayLike<number>, pred: ArrayLike<number>): number {
  checkPair(y, pred);
  let sum = 0, used = 0;
  for (let i = 0; i < y.length; i++) {
    if (y[i] === 0) continue;
    sum += Math.abs(y[i]! - pred[i]!) / Math.abs(y[i]!);
    used++;
  }
  return used === 0 ? Number.NaN : sum / used;
}

/**
 * Coefficient of determination 1 − SS_res / SS_tot. For a constant y (SS_tot = 0) it is 1 when the
 * predictions are perfect and 0 otherwise, as sklearn's r2_score with force_finite=True.
 */
export function r2(y: ArrayLike<number>, pred: ArrayLike<number>): number {
  checkPair(y, pred);
  let mean = 0;
  for (let i = 0; i < y.length; i++) mean += y[i]!;
  mean /= y.length;
  let ssRes = 0, ssTot = 0;
  for (let i = 0; i < y.length; i++) {
    ssRes += (y[i]! - pred[i]!) ** 2;
    ssTot += (y[i]! - mean) ** 2;
  }
  if (ssTot === 0) return ssRes === 0 ? 1 : 0;
  return 1 - ssRes / ssTot;
}

/**
 * Quantiles `qs` (each in [0, 1]) of the residuals y − pred, with numpy.quantile's default linear
 * interpolation between order statistics.
 */
export function residualQuantiles(y: ArrayLike<number>, pred: ArrayLike<number>, qs: ArrayLike<number>, out?: Float64Array): Float64Array {
  checkPair(y, pred);
  if (out && out.length !== qs.length) throw new RangeError(`out has length ${out.length}, expected ${qs.length}`);
  for (let j = 0; j < qs.length; j++) {
    if (!(qs[j]! >= 0 && qs[j]! <= 1)) throw new RangeError(`quantiles must be in [0, 1], got ${qs[j]} at ${j}`);
  }
  const residuals = new Float64Array(y.length);
  for (let i = 0; i < y.length; i++) residuals[i] = y[i]! - pred[i]!;
  residuals.sort();
  const result = out ?? new Float64Array(qs.length);
  for (let j = 0; j < qs.length; j++) result[j] = sortedQuantile(residuals, qs[j]!);
  return result;
}

/** Linear-interpolation quantile (Hyndman–Fan type 7, numpy's default) of an ascending array. */
export function sortedQuantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) throw new RangeError('cannot take a quantile of an empty array');
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  const a = sorted[lo]!;
  return a + (h - lo) * (sorted[hi]! - a);
}
