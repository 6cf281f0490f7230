import { lbfgs } from '../optim/lbfgs.js';

/**
 * Regularised logistic regression, binary or multinomial (softmax): L2 by L-BFGS, L1 (and elastic
 * net) by accelerated proximal gradient (FISTA with backtracking and adaptive restart).
 *
 * Minimises scikit-learn's `LogisticRegression(C, solver='lbfgs')` objective
 *
 *     Σᵢ sᵢ · logloss(yᵢ, xᵢ·W + b)  +  ½ · l2 · ‖W‖²  +  l1 · ‖W‖₁
 *
 * (with l1 > 0 and l2 = 0, scikit-learn's `penalty='l1', solver='saga'` with C = 1/l1)
 * with sᵢ the sample weights (default 1) and the intercept b not penalised. `l2` is scikit-learn's
 * 1/C: `l2 = 1` is sklearn's default `C = 1`, `l2 = 0` is unregularised (beware separable data).
 * As in scikit-learn, two classes fit one coefficient vector (the log-odds of class 1) and k ≥ 3
 * classes fit k vectors of the full, over-parameterised softmax (identifiable through the penalty).
 *
 * X is row-major n×p (n = y.length); y holds class indices 0..k−1, k = `classes` or max(y)+1.
 */
export interface LogisticRegressionOptions {
  /** L2 penalty strength, scikit-learn's 1/C. Default 1. */
  l2?: number;
  /** L1 penalty strength (sparse coefficients). Default 0. */
  l1?: number;
  fitIntercept?: boolean;
  /** Number of classes k (default max(y) + 1, at least 2). */
  classes?: number;
  /** Non-negative weight per sample (default all 1). */
  sampleWeight?: Float64Array;
  /** Gradient tolerance passed to L-BFGS, relative to max(1, objective); default 1e-10. With l1, the largest move of an iteration relative to max(1, ‖w‖∞); default 1e-8. */
  tol?: number;
  maxIter?: number;
}

export interface LogisticRegressionModel {
  /** Row-major: 1×p for two classes, k×p for k ≥ 3 (sklearn's `coef_`). */
  coef: Float64Array;
  /** Length 1 for two classes, k for k ≥ 3 (zeros when fitIntercept is false). */
  intercept: Float64Array;
  classes: number;
  nFeatures: number;
  iterations: number;
  converged: boolean;
}

export function fitLogisticRegression(x: Float64Array, y: ArrayLike<number>, options: LogisticRegressionOptions = {}): LogisticRegressionModel {
  const n = y.length;
  if (n === 0) throw new RangeError('y is empty');
  if (x.length % n !== 0) throw new RangeError(`X has ${x.length} values, not a multiple of n = ${n}`);
  const p = x.length / n;
  const l2 = options.l2 ?? 1;
  if (!(l2 >= 0)) throw new RangeError(`l2 must be non-negative, got ${l2}`);
  const l1 = options.l1 ?? 0;
  if (!(l1 >= 0)) throw new RangeError(`l1 must be non-negative, got ${l1}`);
  const fitIntercept = options.fitIntercept ?? true;
  let maxY = 0;
  for (let i = 0; i < n; i++) {
    const c = y[i]!;
    if (!(Number.isInteger(c) && c >= 0)) throw new RangeError(`y[${i}] = ${c} is not a class index`);
    maxY = Math.max(maxY, c);
  }
  const k = options.classes ?? Math.max(2, maxY + 1);
  if (!(Number.isInteger(k) && k >= 2)) throw new RangeError(`classes must be an integer ≥ 2, got ${k}`);
  if (maxY >= k) throw new RangeError(`y holds class ${maxY} but classes = ${k}`);
  const sw = options.sampleWeight;
  if (sw !== undefined) {
    if (sw.length !== n) throw new RangeError(`sampleWeight has ${sw.length} values, expected n = ${n}`);
    for (let i = 0; i < n; i++) if (!(sw[i]! >= 0)) throw new RangeError(`sampleWeight[${i}] = ${sw[i]} is not a non-negative number`);
  }

  const rows = k === 2 ? 1 : k;
  const stride = p + (fitIntercept ? 1 : 0);
  const objective = k === 2
    ? binaryObjective(x, n, p, y, sw, l2, fitIntercept)
    : softmaxObjective(x, n, p, k, y, sw, l2, fitIntercept);
  const r = l1 > 0
    ? fista(objective, rows * stride, l1, (j) => !fitIntercept || j % stride !== p, options.tol ?? 1e-8, options.maxIter ?? 50_000)
    : lbfgs(objective, new Float64Array(rows * stride), { tol: options.tol ?? 1e-10, maxIter: options.maxIter ?? 1000 });

  const coef = new Float64Array(rows * p);
  const intercept = new Float64Array(rows);
  for (let c = 0; c < rows; c++) {
    for (let j = 0; j < p; j++) coef[c * p + j] = r.x[c * stride + j]!;
    if (fitIntercept) intercept[c] = r.x[c * stride + p]!;
  }
  return { coef, intercept, classes: k, nFeatures: p, iterations: r.iterations, converged: r.converged };
}

/**
 * Minimises f(w) + l1 · Σ_{penalised j} |w_j| for a smooth f, by FISTA: a gradient step, soft
 * thresholding, Nesterov momentum (restarted when the objective rises), and a step size found by
 * backtracking. Stops when an iteration moves no coefficient by more than tol · max(1, ‖w‖∞), or the
 * gradient mapping (zero at a minimiser) is below tol · max(1, objective).
 */
function fista(f: Objective, m: number, l1: number, penalised: (j: number) => boolean, tol: number, maxIter: number): { x: Float64Array; iterations: number; converged: boolean } {
  const pen = Uint8Array.from({ length: m }, (_, j) => (penalised(j) ? 1 : 0));
  let x = new Float64Array(m);
  let y = new Float64Array(m);
  const gy = new Float64Array(m);
  const gz = new Float64Array(m);
  let z = new Float64Array(m);
  let t = 1;
  let lip = 1;
  const full = (w: Float64Array, fw: number) => {
    let s = fw;
    for (let j = 0; j < m; j++) if (pen[j]) s += l1 * Math.abs(w[j]!);
    return s;
  };
  let fx = full(x, f(x, gz));
  let restarted = false;
  for (let iter = 1; iter <= maxIter; iter++) {
    const fy = f(y, gy);
    let fz: number;
    let mapping: number;
    for (;;) {
      for (let j = 0; j < m; j++) {
        const v = y[j]! - gy[j]! / lip;
        z[j] = !pen[j] ? v : Math.abs(v) <= l1 / lip ? 0 : v > 0 ? v - l1 / lip : v + l1 / lip;
      }
      fz = f(z, gz);
      let lin = 0;
      let sq = 0;
      for (let j = 0; j < m; j++) {
        const d = z[j]! - y[j]!;
        lin += gy[j]! * d;
        sq += d * d;
      }
      if (fz <= fy + lin + (lip / 2) * sq + 1e-12 * Math.max(1, Math.abs(fy))) {
        // The norm of the gradient mapping: zero exactly at a minimiser.
        mapping = lip * Math.sqrt(sq);
        break;
      }
      lip *= 2;
    }
    const fzFull = full(z, fz);
    let move = 0;
    let size = 1;
    for (let j = 0; j < m; j++) {
      move = Math.max(move, Math.abs(z[j]! - x[j]!));
      size = Math.max(size, Math.abs(z[j]!));
    }
    const slack = 1e-12 * Math.max(1, Math.abs(fx));
    if ((move <= tol * size || mapping <= tol * Math.max(1, Math.abs(fy))) && fzFull <= fx + slack) return { x: z, iterations: iter, converged: true };
    if (fzFull > fx + slack) {
      // A step from the last iterate itself that does not decrease the objective: nothing is left to gain.
      if (restarted) return { x, iterations: iter, converged: true };
      // Momentum overshot: restart from the last iterate.
      t = 1;
      y = Float64Array.from(x);
      restarted = true;
      continue;
    }
    restarted = false;
    const tNext = (1 + Math.sqrt(1 + 4 * t * t)) / 2;
    const beta = (t - 1) / tNext;
    const next = new Float64Array(m);
    for (let j = 0; j < m; j++) next[j] = z[j]! + beta * (z[j]! - x[j]!);
    [x, z] = [z, x];
    y = next;
    t = tNext;
    fx = fzFull;
    lip = Math.max(lip / 1.5, 1e-12);
  }
  return { x, iterations: maxIter, converged: false };
}

/** Class probabilities, row-major n×k (two classes give [P(0), P(1)] per row, as sklearn does). */
export function predictProba(model: LogisticRegressionModel, x: Float64Array): Float64Array {
  const { coef, intercept, classes: k, nFeatures: p } = model;
  if (p === 0 ? x.length !== 0 : x.length % p !== 0) throw new RangeError(`X has ${x.length} values, not a multiple of p = ${p}`);
  const n = p === 0 ? 0 : x.length / p;
  const out = new Float64Array(n * k);
  const z = new Float64Array(k);
  for (let i = 0; i < n; i++) {
    if (k === 2) {
      const prob1 = sigmoid(intercept[0]! + rowDot(x, i * p, coef, 0, p));
      out[i * 2] = 1 - prob1;
      out[i * 2 + 1] = prob1;
      continue;
    }
    for (let c = 0; c < k; c++) z[c] = intercept[c]! + rowDot(x, i * p, coef, c * p, p);
    const lse = logSumExp(z);
    for (let c = 0; c < k; c++) out[i * k + c] = Math.exp(z[c]! - lse);
  }
  return out;
}

type Objective = (w: Float64Array, grad: Float64Array) => number;

function binaryObjective(
  x: Float64Array, n: number, p: number, y: ArrayLike<number>, sw: Float64Array | undefined, l2: number, fitIntercept: boolean,
): Objective {
  return (w, grad) => {
    grad.fill(0);
    const b = fitIntercept ? w[p]! : 0;
    let loss = 0;
    for (let i = 0; i < n; i++) {
      const s = sw === undefined ? 1 : sw[i]!;
      const z = b + rowDot(x, i * p, w, 0, p);
      // −log P(yᵢ) = softplus(z) − yᵢ·z;  d/dz = σ(z) − yᵢ
      loss += s * (softplus(z) - y[i]! * z);
      const r = s * (sigmoid(z) - y[i]!);
      for (let j = 0; j < p; j++) grad[j]! += r * x[i * p + j]!;
      if (fitIntercept) grad[p]! += r;
    }
    for (let j = 0; j < p; j++) {
      loss += 0.5 * l2 * w[j]! * w[j]!;
      grad[j]! += l2 * w[j]!;
    }
    return loss;
  };
}

function softmaxObjective(
  x: Float64Array, n: number, p: number, k: number, y: ArrayLike<number>, sw: Float64Array | undefined, l2: number, fitIntercept: boolean,
): Objective {
  const stride = p + (fitIntercept ? 1 : 0);
  const z = new Float64Array(k);
  return (w, grad) => {
    grad.fill(0);
    let loss = 0;
    for (let i = 0; i < n; i++) {
      const s = sw === undefined ? 1 : sw[i]!;
      for (let c = 0; c < k; c++) z[c] = (fitIntercept ? w[c * stride + p]! : 0) + rowDot(x, i * p, w, c * stride, p);
      const lse = logSumExp(z);
      loss += s * (lse - z[y[i]!]!);
      for (let c = 0; c < k; c++) {
        const r = s * (Math.exp(z[c]! - lse) - (c === y[i] ? 1 : 0));
        for (let j = 0; j < p; j++) grad[c * stride + j]! += r * x[i * p + j]!;
        if (fitIntercept) grad[c * stride + p]! += r;
      }
    }
    for (let c = 0; c < k; c++) {
      for (let j = 0; j < p; j++) {
        const wj = w[c * stride + j]!;
        loss += 0.5 * l2 * wj * wj;
        grad[c * stride + j]! += l2 * wj;
      }
    }
    return loss;
  };
}

function rowDot(x: Float64Array, xOffset: number, w: Float64Array, wOffset: number, p: number): number {
  let s = 0;
  for (let j = 0; j < p; j++) s += x[xOffset + j]! * w[wOffset + j]!;
  return s;
}

function sigmoid(z: number): number {
  if (z >= 0) return 1 / (1 + Math.exp(-z));
  const e = Math.exp(z);
  return e / (1 + e);
}

/** log(1 + eᶻ) without overflow. */
function softplus(z: number): number {
  return z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z));
}

function logSumExp(z: Float64Array): number {
  let m = -Infinity;
  for (let c = 0; c < z.length; c++) m = Math.max(m, z[c]!);
  let s = 0;
  for (let c = 0; c < z.length; c++) s += Math.exp(z[c]! - m);
  return m + Math.log(s);
}
