/**
 * Limited-memory BFGS (Nocedal & Wright, Numerical Optimization, 2nd ed., Alg. 7.4 and 7.5) with
 * a line search that enforces the strong Wolfe conditions (Alg. 3.5 bracketing, Alg. 3.6 zoom with
 * safeguarded cubic interpolation). Deterministic: no randomness, no I/O.
 *
 * `f(x, grad)` must return f(x) and write ∇f(x) into `grad` (every entry: grad is not zeroed).
 * `x` must not be kept or modified by `f`.
 *
 * Near a minimum f changes by less than its rounding error long before the gradient is small, so
 * the sufficient-decrease test also accepts Hager & Zhang's approximate Wolfe condition
 * (SIAM J. Optim. 16(1), 2005): f(t) ≤ f(0) + 1e-10·|f(0)| and φ'(t) ≤ (2c1 − 1)·φ'(0), which
 * judges progress by the directional derivative instead. That relies on `grad` being the true
 * gradient of f; a wrong gradient can then be followed by steps that raise f by up to 1e-10·|f|.
 *
 * Stops, converged, when ‖∇f‖∞ ≤ tol · max(1, |f|). Stops unconverged after `maxIter`
 * iterations or when the line search can find no acceptable step.
 */
export interface LbfgsOptions {
  /** Number of correction pairs kept (memory). Default 10. */
  m?: number;
  /** Maximum number of iterations (line searches). Default 500. */
  maxIter?: number;
  /** Gradient tolerance (see above). Default 1e-8. */
  tol?: number;
}

export interface LbfgsResult {
  x: Float64Array;
  value: number;
  iterations: number;
  converged: boolean;
}

export type Objective = (x: Float64Array, grad: Float64Array) => number;

const C1 = 1e-4;
const C2 = 0.9;
const MAX_LINE_SEARCH = 40;

export function lbfgs(f: Objective, x0: Float64Array, options: LbfgsOptions = {}): LbfgsResult {
  const m = options.m ?? 10;
  const maxIter = options.maxIter ?? 500;
  const tol = options.tol ?? 1e-8;
  if (!(Number.isInteger(m) && m >= 1)) throw new RangeError(`m must be a positive integer, got ${m}`);
  if (!(Number.isInteger(maxIter) && maxIter >= 0)) throw new RangeError(`maxIter must be a non-negative integer, got ${maxIter}`);
  if (!(tol > 0)) throw new RangeError(`tol must be positive, got ${tol}`);
  const n = x0.length;
  if (n === 0) throw new RangeError('x0 is empty');

  let x = Float64Array.from(x0);
  let g = new Float64Array(n);
  let fx = f(x, g);
  if (!Number.isFinite(fx)) throw new RangeError(`objective is not finite at x0 (${fx})`);

  const s: Float64Array[] = [];
  const yv: Float64Array[] = [];
  const rho: number[] = [];
  const alpha = new Float64Array(m);
  const d = new Float64Array(n);
  let xNew = new Float64Array(n);
  let gNew = new Float64Array(n);

  let iterations = 0;
  let converged = infNorm(g) <= tol * Math.max(1, Math.abs(fx));
  while (!converged && iterations < maxIter) {
    // Two-loop recursion: d = −H·g.
    for (let i = 0; i < n; i++) d[i] = -g[i]!;
    const k = s.length;
    for (let j = k - 1; j >= 0; j--) {
      alpha[j] = rho[j]! * dot(s[j]!, d);
      axpy(-alpha[j]!, yv[j]!, d);
    }
    if (k > 0) {
      const gamma = dot(s[k - 1]!, yv[k - 1]!) / dot(yv[k - 1]!, yv[k - 1]!);
      for (let i = 0; i < n; i++) d[i]! *= gamma;
    }
    for (let j = 0; j < k; j++) {
      const beta = rho[j]! * dot(yv[j]!, d);
      axpy(alpha[j]! - beta, s[j]!, d);
    }
    let dg = dot(d, g);
    if (!(dg < 0)) {
      // Not a descent direction (curvature information gone stale): restart from steepest descent.
      s.length = 0;
      yv.length = 0;
      rho.length = 0;
      for (let i = 0; i < n; i++) d[i] = -g[i]!;
      dg = dot(d, g);
    }
    const step0 = k === 0 ? Math.min(1, 1 / infNorm(g)) : 1;
    const ls = strongWolfe(f, x, fx, g, d, dg, step0, xNew, gNew);
    iterations++;
    if (!ls.ok) break;

    const sk = new Float64Array(n);
    const yk = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      sk[i] = xNew[i]! - x[i]!;
      yk[i] = gNew[i]! - g[i]!;
    }
    const sy = dot(sk, yk);
    if (sy > 1e-12 * dot(yk, yk)) {
      if (s.length === m) {
        s.shift();
        yv.shift();
        rho.shift();
      }
      s.push(sk);
      yv.push(yk);
      rho.push(1 / sy);
    }
    [x, xNew] = [xNew, x];
    [g, gNew] = [gNew, g];
    fx = ls.value;
    converged = infNorm(g) <= tol * Math.max(1, Math.abs(fx));
  }
  return { x, value: fx, iterations, converged };
}

interface LineSearchResult {
  ok: boolean;
  /** f at the accepted point (meaningless when !ok). */
  value: number;
}

/**
 * Finds t with f(x + t·d) ≤ f(x) + c1·t·∇f·d and |∇f(x + t·d)·d| ≤ c2·|∇f·d|. On success the point
 * and its gradient are left in `xOut` and `gOut`.
 */
function strongWolfe(
  f: Objective,
  x: Float64Array,
  f0: number,
  g0: Float64Array,
  d: Float64Array,
  dg0: number,
  t0: number,
  xOut: Float64Array,
  gOut: Float64Array,
): LineSearchResult {
  const n = x.length;
  const phi = (t: number): { v: number; dv: number } => {
    for (let i = 0; i < n; i++) xOut[i] = x[i]! + t * d[i]!;
    const v = f(xOut, gOut);
    return { v, dv: dot(gOut, d) };
  };
  const epsF = 1e-10 * Math.abs(f0);
  const decreases = (t: number, v: number, dv: number): boolean =>
    v <= f0 + C1 * t * dg0 || (v <= f0 + epsF && dv <= (2 * C1 - 1) * dg0);
  let tPrev = 0;
  let fPrev = f0;
  let dPrev = dg0;
  let t = t0;
  for (let i = 0; i < MAX_LINE_SEARCH; i++) {
    const { v, dv } = phi(t);
    if (!Number.isFinite(v) || !decreases(t, v, dv) || (i > 0 && (v > fPrev + epsF || (v >= fPrev && dv >= 0)))) {
      return zoom(phi, decreases, epsF, dg0, tPrev, fPrev, dPrev, t, v, dv);
    }
    if (Math.abs(dv) <= -C2 * dg0) return { ok: true, value: v };
    if (dv >= 0) return zoom(phi, decreases, epsF, dg0, t, v, dv, tPrev, fPrev, dPrev);
    tPrev = t;
    fPrev = v;
    dPrev = dv;
    t *= 2;
  }
  return { ok: false, value: f0 };
}

function zoom(
  phi: (t: number) => { v: number; dv: number },
  decreases: (t: number, v: number, dv: number) => boolean,
  epsF: number,
  dg0: number,
  tLo: number,
  fLo: number,
  dLo: number,
  tHi: number,
  fHi: number,
  dHi: number,
): LineSearchResult {
  for (let i = 0; i < MAX_LINE_SEARCH; i++) {
    let t = Number.isFinite(fHi) ? cubicMin(tLo, fLo, dLo, tHi, fHi, dHi) : NaN;
    const lo = Math.min(tLo, tHi);
    const hi = Math.max(tLo, tHi);
    const margin = 0.1 * (hi - lo);
    if (!(t >= lo + margin && t <= hi - margin)) t = 0.5 * (tLo + tHi);
    const { v, dv } = phi(t);
    if (!Number.isFinite(v) || !decreases(t, v, dv) || v > fLo + epsF || (v >= fLo && dv >= 0)) {
      tHi = t;
      fHi = v;
      dHi = dv;
    } else {
      if (Math.abs(dv) <= -C2 * dg0) return { ok: true, value: v };
      if (dv * (tHi - tLo) >= 0) {
        tHi = tLo;
        fHi = fLo;
        dHi = dLo;
      }
      tLo = t;
      fLo = v;
      dLo = dv;
    }
    if (Math.abs(tHi - tLo) <= 1e-16 * Math.max(1, Math.abs(tLo))) break;
  }
  // Interval collapsed: accept the best point found if it satisfies the decrease condition alone.
  if (tLo > 0 && decreases(tLo, fLo, dLo)) {
    const { v } = phi(tLo);
    return { ok: true, value: v };
  }
  return { ok: false, value: Number.NaN };
}

/** Minimiser of the cubic interpolating φ and φ' at a and b (NaN when it does not exist). */
function cubicMin(a: number, fa: number, da: number, b: number, fb: number, db: number): number {
  const d1 = da + db - 3 * ((fa - fb) / (a - b));
  const disc = d1 * d1 - da * db;
  if (!(disc >= 0)) return NaN;
  const d2 = Math.sign(b - a) * Math.sqrt(disc);
  return b - (b - a) * ((db + d2 - d1) / (db - da + 2 * d2));
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

function axpy(a: number, x: Float64Array, y: Float64Array): void {
  for (let i = 0; i < x.length; i++) y[i]! += a * x[i]!;
}

function infNorm(a: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}
