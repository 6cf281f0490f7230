/**
 * Exact SHAP values of a linear model when features are taken as independent (interventional
 * Shapley values over a background set): for output o, φ_oj = w_oj · (x_j − E[x_j]) and the
 * expected value is w_o · E[x] + b_o, where E is the mean over the background rows. They add up:
 * expected_o + Σ_j φ_oj = w_o · x + b_o.
 */

export interface LinearShapResult {
  /** n × outputs × features, row-major: `values[(i * outputs + o) * features + j]`. */
  values: Float64Array;
  /** Per output: the model's mean output over the background. */
  expected: Float64Array;
  outputs: number;
  features: number;
}

/** Column means of a row-major n × p matrix. */
export function columnMeans(x: ArrayLike<number>, n: number, p: number): Float64Array {
  if (x.length !== n * p) throw new RangeError(`the background has ${x.length} entries, expected ${n} × ${p}`);
  if (n === 0) throw new RangeError('the background has no rows');
  const mean = new Float64Array(p);
  for (let i = 0; i < n; i++) for (let j = 0; j < p; j++) mean[j]! += x[i * p + j]!;
  for (let j = 0; j < p; j++) mean[j] = mean[j]! / n;
  return mean;
}

/**
 * SHAP values of the linear model `weights` (outputs × p, row-major) and `intercepts` (outputs)
 * for the rows of `x` (n × p, row-major), against the background's feature means `mean` (p).
 */
export function linearShap(weights: ArrayLike<number>, intercepts: ArrayLike<number>, x: ArrayLike<number>, n: number, mean: ArrayLike<number>): LinearShapResult {
  const k = intercepts.length;
  const p = mean.length;
  if (k === 0) throw new RangeError('the model has no outputs');
  if (weights.length !== k * p) throw new RangeError(`weights has ${weights.length} entries, expected ${k} × ${p}`);
  if (x.length !== n * p) throw new RangeError(`x has ${x.length} entries, expected ${n} × ${p}`);
  const expected = new Float64Array(k);
  for (let o = 0; o < k; o++) {
    let s = intercepts[o]!;
    for (let j = 0; j < p; j++) s += weights[o * p + j]! * mean[j]!;
    expected[o] = s;
  }
  const values = new Float64Array(n * k * p);
  for (let i = 0; i < n; i++) {
    for (let o = 0; o < k; o++) {
      const at = (i * k + o) * p;
      for (let j = 0; j < p; j++) values[at + j] = weights[o * p + j]! * (x[i * p + j]! - mean[j]!);
    }
  }
  return { values, expected, outputs: k, features: p };
}
