/**
 * Ordinary (optionally ridge-regularised) least squares through the normal equations and a
 * Cholesky factorisation. X is row-major n×p; an intercept column is the caller's choice.
 * Adequate for the small, well-conditioned problems it serves (the quickstart's demand model);
 * the ML trainers bring proper solvers.
 */
export function leastSquares(x: Float64Array, n: number, p: number, y: Float64Array, opts: { ridge?: number } = {}): Float64Array {
  if (x.length !== n * p) throw new RangeError(`X has ${x.length} values, expected n*p = ${n * p}`);
  if (y.length !== n) throw new RangeError(`y has ${y.length} values, expected n = ${n}`);
  if (n < p) throw new RangeError(`need at least as many rows (${n}) as columns (${p})`);
  const ridge = opts.ridge ?? 0;
  const a = new Float64Array(p * p);
  const b = new Float64Array(p);
  for (let i = 0; i < n; i++) {
    const row = i * p;
    const yi = y[i]!;
    for (let j = 0; j < p; j++) {
      const xij = x[row + j]!;
      b[j]! += xij * yi;
      for (let k = 0; k <= j; k++) a[j * p + k]! += xij * x[row + k]!;
    }
  }
  for (let j = 0; j < p; j++) {
    a[j * p + j]! += ridge;
    for (let k = 0; k < j; k++) a[k * p + j] = a[j * p + k]!;
  }
  return choleskySolve(a, p, b);
}

/** Solves A·x = b for symmetric positive-definite A (row-major p×p). */
export function choleskySolve(a: Float64Array, p: number, b: Float64Array): Float64Array {
  const l = new Float64Array(p * p);
  for (let j = 0; j < p; j++) {
    let d = a[j * p + j]!;
    for (let k = 0; k < j; k++) d -= l[j * p + k]! ** 2;
    if (!(d > 1e-12)) throw new RangeError(`matrix is not positive definite (column ${j} is collinear with earlier columns)`);
    const ljj = Math.sqrt(d);
    l[j * p + j] = ljj;
    for (let i = j + 1; i < p; i++) {
      let s = a[i * p + j]!;
      for (let k = 0; k < j; k++) s -= l[i * p + k]! * l[j * p + k]!;
      l[i * p + j] = s / ljj;
    }
  }
  const z = new Float64Array(p);
  for (let i = 0; i < p; i++) {
    let s = b[i]!;
    for (let k = 0; k < i; k++) s -= l[i * p + k]! * z[k]!;
    z[i] = s / l[i * p + i]!;
  }
  const out = new Float64Array(p);
  for (let i = p - 1; i >= 0; i--) {
    let s = z[i]!;
    for (let k = i + 1; k < p; k++) s -= l[k * p + i]! * out[k]!;
    out[i] = s / l[i * p + i]!;
  }
  return out;
}
