import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { lbfgs } from './lbfgs.js';

function rosenbrock(x: Float64Array, g: Float64Array): number {
  const [a, b] = [x[0]!, x[1]!];
  g[0] = -2 * (1 - a) - 400 * a * (b - a * a);
  g[1] = 200 * (b - a * a);
  return (1 - a) ** 2 + 100 * (b - a * a) ** 2;
}

describe('lbfgs', () => {
  it('finds the minimum of the Rosenbrock function at (1, 1) from the classic start (-1.2, 1)', () => {
    const r = lbfgs(rosenbrock, new Float64Array([-1.2, 1]));
    assert.ok(r.converged);
    assert.ok(Math.abs(r.x[0]! - 1) < 1e-6 && Math.abs(r.x[1]! - 1) < 1e-6, `x = ${r.x.join(', ')}`);
    assert.ok(r.value < 1e-12);
    assert.ok(r.iterations < 100, `iterations = ${r.iterations}`);
  });

  it('solves an ill-conditioned quadratic ½xᵀAx − bᵀx exactly (A·x* = b)', () => {
    // A = diag(1, 10, 100, 1000, 10000) plus a rank-one coupling 0.5·11ᵀ; x* solved independently below.
    const p = 5;
    const a = new Float64Array(p * p);
    for (let i = 0; i < p; i++) for (let j = 0; j < p; j++) a[i * p + j] = (i === j ? 10 ** i : 0) + 0.5;
    const b = new Float64Array([1, -2, 3, -4, 5]);
    const f = (x: Float64Array, g: Float64Array): number => {
      let v = 0;
      for (let i = 0; i < p; i++) {
        let ax = 0;
        for (let j = 0; j < p; j++) ax += a[i * p + j]! * x[j]!;
        g[i] = ax - b[i]!;
        v += 0.5 * x[i]! * ax - b[i]! * x[i]!;
      }
      return v;
    };
    const r = lbfgs(f, new Float64Array(p), { tol: 1e-12 });
    assert.ok(r.converged);
    // residual A·x − b must vanish
    const g = new Float64Array(p);
    f(r.x, g);
    for (let i = 0; i < p; i++) assert.ok(Math.abs(g[i]!) < 1e-9, `residual[${i}] = ${g[i]}`);
  });

  it('stops unconverged, without throwing, when the line search finds no acceptable step', () => {
    // finite only at the start point: every trial step is rejected
    const wrong = (x: Float64Array, g: Float64Array): number => {
      g[0] = 1;
      return x[0] === 1 ? 1 : Number.NaN;
    };
    const r = lbfgs(wrong, new Float64Array([1]));
    assert.equal(r.converged, false);
    assert.equal(r.iterations, 1);
    assert.deepEqual([...r.x], [1]);
    assert.equal(r.value, 1);
  });

  it('steps back from points where f is not finite (log barrier −log x + x, minimum at x = 1)', () => {
    const barrier = (x: Float64Array, g: Float64Array): number => {
      g[0] = -1 / x[0]! + 1;
      return -Math.log(x[0]!) + x[0]!;
    };
    const r = lbfgs(barrier, new Float64Array([0.01]));
    assert.ok(r.converged);
    assert.ok(Math.abs(r.x[0]! - 1) < 1e-8, `x = ${r.x[0]}`);
  });

  it('keeps x0 untouched, returns immediately at a stationary point, and checks its options', () => {
    const x0 = new Float64Array([1, 1]);
    const r = lbfgs(rosenbrock, x0);
    assert.equal(r.iterations, 0);
    assert.ok(r.converged);
    const start = new Float64Array([3, 3]);
    lbfgs(rosenbrock, start, { maxIter: 3 });
    assert.deepEqual([...start], [3, 3]);
    const capped = lbfgs(rosenbrock, new Float64Array([-1.2, 1]), { maxIter: 2 });
    assert.equal(capped.iterations, 2);
    assert.equal(capped.converged, false);
    assert.throws(() => lbfgs(rosenbrock, new Float64Array(0)), RangeError);
    assert.throws(() => lbfgs(rosenbrock, x0, { m: 0 }), RangeError);
    assert.throws(() => lbfgs(rosenbrock, x0, { tol: 0 }), RangeError);
  });
});
