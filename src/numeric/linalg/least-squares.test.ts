import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { choleskySolve, leastSquares } from './least-squares.js';

describe('leastSquares', () => {
  it('recovers exact coefficients from noiseless data', () => {
    const beta = [2, -3, 0.5];
    const n = 50;
    const x = new Float64Array(n * 3);
    const y = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      x[i * 3] = 1;
      x[i * 3 + 1] = Math.sin(i);
      x[i * 3 + 2] = i / 7;
      y[i] = beta[0]! + beta[1]! * Math.sin(i) + beta[2]! * (i / 7);
    }
    const got = leastSquares(x, n, 3, y);
    got.forEach((g, j) => assert.ok(Math.abs(g - beta[j]!) < 1e-9, `beta[${j}] = ${g}`));
  });

  it('matches the closed form of simple regression on the classic Anscombe set I', () => {
    // Anscombe (1973), set I: slope 0.5001, intercept 3.0001 (published to 4 decimals).
    const xs = [10, 8, 13, 9, 11, 14, 6, 4, 12, 7, 5];
    const ys = [8.04, 6.95, 7.58, 8.81, 8.33, 9.96, 7.24, 4.26, 10.84, 4.82, 5.68];
    const x = new Float64Array(xs.flatMap((v) => [1, v]));
    const [b0, b1] = leastSquares(x, xs.length, 2, new Float64Array(ys));
    assert.ok(Math.abs(b0! - 3.0001) < 1e-3);
    assert.ok(Math.abs(b1! - 0.5001) < 1e-3);
  });

  it('shrinks towards zero with a ridge penalty and rejects collinear columns', () => {
    const x = new Float64Array([1, 1, 1, 2, 1, 3, 1, 4]);
    const y = new Float64Array([2, 4, 6, 8]);
    const plain = leastSquares(x, 4, 2, y);
    const ridge = leastSquares(x, 4, 2, y, { ridge: 10 });
    assert.ok(Math.abs(ridge[1]!) < Math.abs(plain[1]!));
    assert.throws(() => leastSquares(new Float64Array([1, 2, 1, 2, 1, 2]), 3, 2, new Float64Array([1, 2, 3])), /collinear/);
    assert.throws(() => choleskySolve(new Float64Array([1, 2, 2, 1]), 2, new Float64Array([1, 1])), /positive definite/);
    assert.throws(() => leastSquares(new Float64Array(3), 2, 2, new Float64Array(2)), RangeError);
  });
});
