import { choleskySolve } from '../linalg/least-squares.js';

/**
 * Penalised linear least squares: ridge, lasso and elastic net under one objective,
 *
 *     (1/(2n))·‖y − Xw − b‖²  +  l1·‖w‖₁  +  (l2/(2n))·‖w‖²,
 *
 * chosen so that each option keeps scikit-learn's own scale:
 * - l1 = 0: `Ridge(alpha=l2)` (which minimises ‖y − Xw − b‖² + alpha·‖w‖²), solved exactly through
 *   the normal equations and a Cholesky factorisation;
 * - l2 = 0: `Lasso(alpha=l1)`;
 * - both: `ElasticNet(alpha = l1 + l2/n, l1_ratio = l1/alpha)`;
 * the last two by cyclic coordinate descent (Friedman, Hastie & Tibshirani 2010) from w = 0.
 * The intercept b is never penalised; with `fitIntercept` X and y are centred first and
 * b = ȳ − x̄·w. X is row-major n×p with n = y.length.
 */
export interface LinearRegressionOptions {
  l2?: number;
  l1?: number;
  fitIntercept?: boolean;
  /** Coordinate descent stops when no coefficient moves more than tol·max(1, max|w|) in a sweep. Default 1e-12. */
  tol?: number;
  /** Maximum coordinate-descent sweeps. Default 10000. */
  maxIter?: number;
}

export interface LinearRegressionModel {
  coef: Float64Array;
  intercept: number;
  /** Coordinate-descent sweeps (0 for the closed-form ridge solution). */
  iterations: number;
  converged: boolean;
}

export function fitLinearRegression(x: Float64Array, y: Float64Array, options: LinearRegressionOptions = {}): LinearRegressionModel {
  const n = y.length;
  if (n === 0) throw new RangeError('y is empty');
  if (x.length % n !== 0) throw new RangeError(`X has ${x.length} values, not a multiple of n = ${n}`);
  const p = x.length / n;
  const l2 = options.l2 ?? 0;
  const l1 = options.l1 ?? 0;
  if (!(l2 >= 0)) throw new RangeError(`l2 must be non-negative, got ${l2}`);
  if (!(l1 >= 0)) throw new RangeError(`l1 must be non-negative, got ${l1}`);
  const fitIntercept = options.fitIntercept ?? true;

  const xMean = new Float64Array(p);
  let yMean = 0;
  if (fitIntercept) {
    for (let i = 0; i < n; i++) {
      yMean += y[i]!;
      for (let j = 0; j < p; j++) xMean[j]! += x[i * p + j]!;
    }
    yMean /= n;
    for (let j = 0; j < p; j++) xMean[j]! /= n;
  }
  const xc = new Float64Array(n * p);
  const yc = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    yc[i] = y[i]! - yMean;
    for (let j = 0; j < p; j++) xc[i * p + j] = x[i * p + j]! - xMean[j]!;
  }

  const fit = l1 === 0
    ? { coef: ridgeNormalEquations(xc, n, p, yc, l2), iterations: 0, converged: true }
    : elasticNetCoordinateDescent(xc, n, p, yc, n * l1, l2, options.tol ?? 1e-12, options.maxIter ?? 10000);
  let intercept = yMean;
  for (let j = 0; j < p; j++) intercept -= xMean[j]! * fit.coef[j]!;
  return { coef: fit.coef, intercept: fitIntercept ? intercept : 0, iterations: fit.iterations, converged: fit.converged };
}

/** Solves (XᵀX + λI)·w = Xᵀy. */
function ridgeNormalEquations(x: Float64Array, n: number, p: number, y: Float64Array, lambda: number): Float64Array {
  const a = new Float64Array(p * p);
  const b = new Float64Array(p);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < p; j++) {
      const xij = x[i * p + j]!;
      b[j]! += xij * y[i]!;
      for (let k = 0; k <= j; k++) a[j * p + k]! += xij * x[i * p + k]!;
    }
  }
  for (let j = 0; j < p; j++) {
    a[j * p + j]! += lambda;
    for (let k = 0; k < j; k++) a[k * p + j] = a[j * p + k]!;
  }
  return choleskySolve(a, p, b);
}

/** Minimises ½‖y − Xw‖² + λ1‖w‖₁ + ½λ2‖w‖² one coordinate at a time, keeping the residual current. */
function elasticNetCoordinateDescent(
  x: Float64Array, n: number, p: number, y: Float64Array, lambda1: number, lambda2: number, tol: number, maxIter: number,
): { coef: Float64Array; iterations: number; converged: boolean } {
  const w = new Float64Array(p);
  const r = Float64Array.from(y);
  const colSq = new Float64Array(p);
  for (let i = 0; i < n; i++) for (let j = 0; j < p; j++) colSq[j]! += x[i * p + j]! ** 2;
  for (let sweep = 1; sweep <= maxIter; sweep++) {
    let maxStep = 0;
    let maxW = 0;
    for (let j = 0; j < p; j++) {
      if (colSq[j] === 0) continue;
      const old = w[j]!;
      let rho = colSq[j]! * old;
      for (let i = 0; i < n; i++) rho += x[i * p + j]! * r[i]!;
      const next = Math.sign(rho) * Math.max(Math.abs(rho) - lambda1, 0) / (colSq[j]! + lambda2);
      if (next !== old) {
        const delta = next - old;
        for (let i = 0; i < n; i++) r[i]! -= delta * x[i * p + j]!;
        w[j] = next;
      }
      maxStep = Math.max(maxStep, Math.abs(next - old));
      maxW = Math.max(maxW, Math.abs(next));
    }
    if (maxStep <= tol * Math.max(1, maxW)) return { coef: w, iterations: sweep, converged: true };
  }
  return { coef: w, iterations: maxIter, converged: false };
}
