import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fitLinearRegression } from './linear-regression.js';

/*
 * Reference values from scikit-learn 1.2.1 (Debian python3-sklearn), computed once with:
 *
 *   import numpy as np
 *   from sklearn.linear_model import Ridge, Lasso, ElasticNet
 *   n, p = 30, 4
 *   i = np.arange(n)[:, None]; j = np.arange(p)[None, :]
 *   X = np.cos(0.9 * i * (j + 1) + 0.3 * j) + 0.1 * j * i / n
 *   y = 1.5 * X[:, 0] - 2 * X[:, 1] + 0.5 * X[:, 3] + 3 + 0.3 * np.sin(2.3 * np.arange(n))
 *   Ridge(alpha=1.0).fit(X, y)
 *   Ridge(alpha=2.5, fit_intercept=False).fit(X, y)
 *   kw = dict(tol=1e-14, max_iter=1000000)
 *   Lasso(alpha=0.1, **kw).fit(X, y)
 *   Lasso(alpha=0.05, fit_intercept=False, **kw).fit(X, y)
 *   a = 0.05 + 0.6 / n    # our l1 = 0.05, l2 = 0.6
 *   ElasticNet(alpha=a, l1_ratio=0.05 / a, **kw).fit(X, y)
 *   # .coef_, .intercept_ of each
 */
const n = 30;
const p = 4;
const x = new Float64Array(n * p);
const y = new Float64Array(n);
for (let i = 0; i < n; i++) {
  for (let j = 0; j < p; j++) x[i * p + j] = Math.cos(0.9 * i * (j + 1) + 0.3 * j) + (0.1 * j * i) / n;
  y[i] = 1.5 * x[i * p]! - 2 * x[i * p + 1]! + 0.5 * x[i * p + 3]! + 3 + 0.3 * Math.sin(2.3 * i);
}

function assertClose(got: ArrayLike<number>, want: number[], tol: number, what: string): void {
  assert.equal(got.length, want.length, `${what} length`);
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) <= tol, `${what}[${i}] = ${got[i]}, sklearn ${want[i]}`);
}

describe('fitLinearRegression', () => {
  it('matches sklearn Ridge(alpha=1) and Ridge(alpha=2.5, fit_intercept=False)', () => {
    const a = fitLinearRegression(x, y, { l2: 1 });
    assertClose(a.coef, [1.411677525056065, -1.8484753525544002, -0.012955497218522252, 0.42964656197894857], 1e-10, 'coef');
    assertClose([a.intercept], [3.0089063085426795], 1e-10, 'intercept');
    const b = fitLinearRegression(x, y, { l2: 2.5, fitIntercept: false });
    assertClose(b.coef, [1.502096058977788, -1.4625755560200802, 0.4773841195334402, 1.2516163523411141], 1e-10, 'coef');
    assert.equal(b.intercept, 0);
  });

  it('matches sklearn Lasso(alpha=0.1), zeroing the irrelevant feature, and Lasso(alpha=0.05) without intercept', () => {
    const a = fitLinearRegression(x, y, { l1: 0.1 });
    assert.ok(a.converged);
    assertClose(a.coef, [1.3104258550364132, -1.7647639145088194, 0, 0.2529474093134847], 1e-8, 'coef');
    assert.equal(a.coef[2], 0);
    assertClose([a.intercept], [3.0370223967359586], 1e-8, 'intercept');
    const b = fitLinearRegression(x, y, { l1: 0.05, fitIntercept: false });
    assertClose(b.coef, [1.650509636254041, -1.6153670885984388, 0.47733914823940876, 1.3586906928564895], 1e-8, 'coef');
  });

  it('matches sklearn ElasticNet when both penalties are set', () => {
    const m = fitLinearRegression(x, y, { l1: 0.05, l2: 0.6 });
    assertClose(m.coef, [1.353493529999882, -1.796773739244998, 0, 0.3428095820893182], 1e-8, 'coef');
    assertClose([m.intercept], [3.021941936285186], 1e-8, 'intercept');
  });

  it('recovers exact coefficients of noiseless data without a penalty', () => {
    const yy = new Float64Array(n);
    for (let i = 0; i < n; i++) yy[i] = -1 + 2 * x[i * p]! + 0.25 * x[i * p + 2]! - x[i * p + 3]!;
    const m = fitLinearRegression(x, yy);
    assertClose(m.coef, [2, 0, 0.25, -1], 1e-10, 'coef');
    assertClose([m.intercept], [-1], 1e-10, 'intercept');
  });

  it('rejects malformed input early', () => {
    assert.throws(() => fitLinearRegression(new Float64Array(7), y), RangeError);
    assert.throws(() => fitLinearRegression(x, new Float64Array(0)), RangeError);
    assert.throws(() => fitLinearRegression(x, y, { l1: -1 }), RangeError);
    assert.throws(() => fitLinearRegression(x, y, { l2: Number.NaN }), RangeError);
  });
});
