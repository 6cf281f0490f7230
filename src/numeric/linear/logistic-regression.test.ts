import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fitLogisticRegression, predictProba } from './logistic-regression.js';

/*
 * Reference values from scikit-learn 1.2.1 (Debian python3-sklearn), computed once with:
 *
 *   import numpy as np
 *   from sklearn.linear_model import LogisticRegression
 *   n, p = 40, 3
 *   i = np.arange(n)[:, None]; j = np.arange(p)[None, :]
 *   X = np.sin(0.7 * i * (j + 1) + j) * (1 + j)
 *   yb = (X[:, 0] + 0.5 * X[:, 1] - 0.3 * X[:, 2] + np.cos(3 * np.arange(n)) > 0).astype(int)
 *   s = np.stack([X[:, 0], X[:, 1] - X[:, 2], 0.8 * np.cos(5 * np.arange(n))], axis=1)
 *   ym = np.argmax(s + np.cos(np.arange(n)[:, None] * (j + 2)), axis=1)
 *   sw = 1 + (np.arange(n) % 3)
 *   kw = dict(solver='lbfgs', tol=1e-12, max_iter=10000)   # tight tol: sklearn's default 1e-4 stops early
 *   LogisticRegression(C=1.0, **kw).fit(X, yb)                                   # binary C=1
 *   LogisticRegression(C=0.5, fit_intercept=False, **kw).fit(X, yb)              # binary, no intercept
 *   LogisticRegression(C=2.0, **kw).fit(X, yb, sample_weight=sw)                 # binary, weighted
 *   m = LogisticRegression(C=1.0, multi_class='multinomial', **kw).fit(X, ym)    # 3 classes
 *   m.coef_, m.intercept_, m.predict_proba(X[:2])
 *
 * Even with tol=1e-12 scipy's L-BFGS-B stops on its ftol = 64ε test (sklearn passes it) with the
 * gradient still ~1e-5, so sklearn's own coefficients are only good to ~5e-6: we compare to 1e-5.
 * The exact optimum of the binary C=1 problem, by Newton's method on the same objective:
 *
 *   Xa = np.hstack([X, np.ones((n, 1))]); w = np.zeros(4); R = np.diag([1, 1, 1, 0.])
 *   for _ in range(50):
 *       pr = 1 / (1 + np.exp(-Xa @ w)); g = Xa.T @ (pr - yb) + R @ w
 *       w -= np.linalg.solve(Xa.T @ (Xa * (pr * (1 - pr))[:, None]) + R, g)
 *   # w = [1.8020570028996825, 0.8894618912706973, -0.4963191875455088, 0.005489355694354427], |g| < 1e-15
 *
 * and of the 3-class problem, by scipy L-BFGS-B with its ftol test switched off (|g| < 2e-7 at the end):
 *
 *   from scipy.optimize import minimize; from scipy.special import logsumexp
 *   k = 3; Y = np.eye(k)[ym]
 *   def f(w):
 *       W = w.reshape(k, p + 1); Z = X @ W[:, :p].T + W[:, p]; L = logsumexp(Z, axis=1)
 *       P = np.exp(Z - L[:, None]); G = np.hstack([(P - Y).T @ X, (P - Y).sum(0)[:, None]]); G[:, :p] += W[:, :p]
 *       return (L - Z[np.arange(n), ym]).sum() + 0.5 * (W[:, :p] ** 2).sum(), G.ravel()
 *   minimize(f, np.zeros(k * (p + 1)), jac=True, method='L-BFGS-B', options=dict(ftol=0, gtol=1e-13, maxiter=100000))
 */
const n = 40;
const p = 3;
const x = new Float64Array(n * p);
const yb = new Float64Array(n);
const ym = new Float64Array(n);
const sw = new Float64Array(n);
for (let i = 0; i < n; i++) {
  for (let j = 0; j < p; j++) x[i * p + j] = Math.sin(0.7 * i * (j + 1) + j) * (1 + j);
  const [x0, x1, x2] = [x[i * p]!, x[i * p + 1]!, x[i * p + 2]!];
  yb[i] = x0 + 0.5 * x1 - 0.3 * x2 + Math.cos(3 * i) > 0 ? 1 : 0;
  const scores = [x0, x1 - x2, 0.8 * Math.cos(5 * i)].map((s, j) => s + Math.cos(i * (j + 2)));
  ym[i] = scores.indexOf(Math.max(...scores));
  sw[i] = 1 + (i % 3);
}

function assertClose(got: ArrayLike<number>, want: number[], tol: number, what: string): void {
  assert.equal(got.length, want.length, `${what} length`);
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) <= tol, `${what}[${i}] = ${got[i]}, sklearn ${want[i]}`);
}

describe('fitLogisticRegression', () => {
  it('builds the same labels as the Python snippet', () => {
    assert.deepEqual([...yb], [1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 1, 1, 0, 1, 1, 0, 0, 0, 0, 1, 0, 1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 1, 1, 0, 0, 0, 1, 1, 1, 0]);
    assert.deepEqual([...ym], [2, 1, 0, 0, 1, 1, 2, 1, 2, 0, 1, 2, 0, 1, 1, 2, 2, 1, 0, 1, 2, 0, 1, 1, 2, 1, 0, 1, 1, 0, 2, 1, 1, 2, 1, 2, 2, 1, 0, 2]);
  });

  it('matches sklearn LogisticRegression(C=1) on a binary problem', () => {
    const m = fitLogisticRegression(x, yb, { l2: 1 });
    assert.ok(m.converged);
    assertClose(m.coef, [1.8020595716035104, 0.8894622423082357, -0.4963207045368293], 1e-5, 'coef');
    assertClose(m.intercept, [0.005492562536475952], 1e-5, 'intercept');
    // the exact (Newton) optimum, far tighter
    assertClose(m.coef, [1.8020570028996825, 0.8894618912706973, -0.4963191875455088], 1e-9, 'coef');
    assertClose(m.intercept, [0.005489355694354427], 1e-9, 'intercept');
  });

  it('matches sklearn without an intercept (C=0.5) and with sample weights (C=2)', () => {
    const a = fitLogisticRegression(x, yb, { l2: 1 / 0.5, fitIntercept: false });
    assertClose(a.coef, [1.3489038552911183, 0.7624254096287346, -0.42396671298098715], 1e-5, 'coef');
    assertClose(a.intercept, [0], 0, 'intercept');
    const b = fitLogisticRegression(x, yb, { l2: 1 / 2, sampleWeight: sw });
    assertClose(b.coef, [2.835761774757135, 1.156037091751493, -0.6013424918858713], 1e-5, 'coef');
    assertClose(b.intercept, [-0.12767959021158676], 1e-5, 'intercept');
  });

  it("matches sklearn's multinomial (softmax) fit and predict_proba on three classes", () => {
    const m = fitLogisticRegression(x, ym, { l2: 1 });
    assert.equal(m.classes, 3);
    assertClose(m.coef, [
      0.7925420501614152, -0.38901143630069523, 0.4670441425526751,
      -0.3846941073470121, 0.9171428842298788, -0.9369067056337084,
      -0.40784794281440323, -0.5281314479291834, 0.46986256308103475,
    ], 1e-4, 'coef');
    assertClose(m.intercept, [-0.4314225383626193, 0.341629370509605, 0.08979316785301543], 1e-4, 'intercept');
    // the tight scipy optimum
    assertClose(m.coef, [
      0.7925472172362599, -0.38901103630966594, 0.4670479957253047,
      -0.3846979638094197, 0.9171429083427586, -0.9369095734497083,
      -0.4078492534268411, -0.5281318720330925, 0.46986157772440496,
    ], 1e-7, 'coef');
    assertClose(m.intercept, [-0.43142658718228843, 0.3416231919948849, 0.08980339518739984], 1e-7, 'intercept');
    const proba = predictProba(m, x.subarray(0, 2 * p));
    assertClose(proba, [0.36145715073337137, 0.15317034306906416, 0.4853725061975645, 0.005329948883429551, 0.9912611661421521, 0.003408884974418244], 1e-5, 'proba');
  });

  it('gives binary probabilities as [P(0), P(1)] rows summing to one, and is deterministic', () => {
    const m = fitLogisticRegression(x, yb);
    const again = fitLogisticRegression(x, yb);
    assert.deepEqual([...m.coef], [...again.coef]);
    const proba = predictProba(m, x);
    assert.equal(proba.length, 2 * n);
    for (let i = 0; i < n; i++) assert.ok(Math.abs(proba[2 * i]! + proba[2 * i + 1]! - 1) < 1e-15);
  });

  it('rejects malformed input early', () => {
    assert.throws(() => fitLogisticRegression(new Float64Array(5), yb), RangeError);
    assert.throws(() => fitLogisticRegression(x, new Float64Array(0)), RangeError);
    assert.throws(() => fitLogisticRegression(x, yb.map((v) => v - 0.5)), /class index/);
    assert.throws(() => fitLogisticRegression(x, ym, { classes: 2 }), /classes = 2/);
    assert.throws(() => fitLogisticRegression(x, yb, { l2: -1 }), RangeError);
    assert.throws(() => fitLogisticRegression(x, yb, { sampleWeight: new Float64Array(3) }), RangeError);
    assert.throws(() => predictProba(fitLogisticRegression(x, yb), new Float64Array(4)), RangeError);
  });

  it('fits L1-penalised models as scikit-learn (penalty l1, saga) does, with exact zeros', () => {
    // X: sin(i), cos(2i), ((7i) mod 11)/11 − 0.5 for i < 60; s = x1 + 0.5·x2 − x3 + 0.3·sin(5i);
    // binary y = s > 0, three classes = s cut at −0.4 and 0.4. References from scikit-learn 1.2.1:
    // LogisticRegression(penalty='l1', C, solver='saga', tol=1e-12, max_iter=1e6).
    const n = 60;
    const x = new Float64Array(n * 3);
    const yb = new Int32Array(n);
    const y3 = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      x[i * 3] = Math.sin(i);
      x[i * 3 + 1] = Math.cos(2 * i);
      x[i * 3 + 2] = ((i * 7) % 11) / 11 - 0.5;
      const s = x[i * 3]! + 0.5 * x[i * 3 + 1]! - x[i * 3 + 2]! + 0.3 * Math.sin(5 * i);
      yb[i] = s > 0 ? 1 : 0;
      y3[i] = s < -0.4 ? 0 : s < 0.4 ? 1 : 2;
    }
    const close = (a: ArrayLike<number>, b: number[], tol: number, what: string) => b.forEach((v, j) => assert.ok(Math.abs(a[j]! - v) < tol, `${what}[${j}]: ${a[j]} vs ${v}`));
    const a = fitLogisticRegression(x, yb, { l2: 0, l1: 1 / 0.5 });
    assert.ok(a.converged);
    close(a.coef, [4.169856638, 0, 0], 1e-5, 'C=0.5 coef');
    close(a.intercept, [0.757702829], 1e-5, 'C=0.5 intercept');
    assert.equal(a.coef[1], 0, 'an exact zero, not a small number');
    const b = fitLogisticRegression(x, yb, { l2: 0, l1: 1 / 2 });
    close(b.coef, [7.3965474866, 0, -2.0381404606], 1e-5, 'C=2 coef');
    close(b.intercept, [1.3716156215], 1e-5, 'C=2 intercept');
    const m = fitLogisticRegression(x, y3, { l2: 0, l1: 1 });
    close(m.coef, [-3.507177232, -0.0974468569, 0, 0, 0, 0, 2.1746312098, 1.6138789057, -3.1226410026], 1e-4, 'multinomial coef');
    // Softmax intercepts are defined up to a common shift: compare them centred.
    const centre = (v: ArrayLike<number>) => { const mean = (v[0]! + v[1]! + v[2]!) / 3; return [v[0]! - mean, v[1]! - mean, v[2]! - mean]; };
    close(centre(m.intercept), centre([-0.2310419267, 0.33483196, -0.1037900333]), 1e-4, 'multinomial intercept');
  });
});
