import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mae, mape, mapeNonzero, r2, residualQuantiles, rmse } from './regression.js';

/*
 * References from scikit-learn 1.2.1 / numpy (Debian, /usr/bin/python3):
 *   yr = np.array([3.0,-0.5,2.0,7.0,4.2,0.0,1.5,10.0]); pr = np.array([2.5,0.0,2.1,7.8,3.9,0.3,1.0,12.0])
 *   np.sqrt(M.mean_squared_error(yr,pr)) -> 0.8351646544245033;  M.mean_absolute_error(yr,pr) -> 0.625
 *   M.mean_absolute_percentage_error(yr,pr) -> 168884986026393.8   (|y| floored at float64 eps)
 *   M.r2_score(yr,pr) -> 0.9377648895828686
 *   np.quantile(yr-pr, [0,0.1,0.25,0.5,0.9,1]) -> [-2.0, -1.1599999999999997, -0.575, -0.20000000000000004, 0.5, 0.5]
 *   without the zero target: M.mean_absolute_percentage_error([3,-0.5,2,7,4.2,1.5,10],[2.5,0,2.1,7.8,3.9,1,12]) -> 0.27653061224489794
 *   M.r2_score([1,1,1],[1,1,1]) -> 1.0;  M.r2_score([1,1,1],[1,2,1]) -> 0.0
 */
const yr = new Float64Array([3.0, -0.5, 2.0, 7.0, 4.2, 0.0, 1.5, 10.0]);
const pr = new Float64Array([2.5, 0.0, 2.1, 7.8, 3.9, 0.3, 1.0, 12.0]);

function close(actual: number, expected: number, tol = 1e-12): void {
  assert.ok(Math.abs(actual - expected) <= tol * Math.max(1, Math.abs(expected)), `${actual} != ${expected}`);
}

describe('regression metrics', () => {
  it('rmse, mae and r2 match sklearn', () => {
    close(rmse(yr, pr), 0.8351646544245033);
    close(mae(yr, pr), 0.625);
    close(r2(yr, pr), 0.9377648895828686);
  });

  it('mape floors |y| at float64 epsilon, as sklearn', () => {
    close(mape(yr, pr), 168884986026393.8);
    const keep = [0, 1, 2, 3, 4, 6, 7];
    close(mape(keep.map((i) => yr[i]!), keep.map((i) => pr[i]!)), 0.27653061224489794);
  });

  it('mapeNonzero leaves out the zero targets (sklearn on the other rows)', () => {
    close(mapeNonzero(yr, pr), 0.27653061224489794);
    assert.ok(Number.isNaN(mapeNonzero([0, 0], [1, 2])));
  });

  it('r2 of a constant target is 1 if perfect and 0 otherwise', () => {
    assert.equal(r2([1, 1, 1], [1, 1, 1]), 1);
    assert.equal(r2([1, 1, 1], [1, 2, 1]), 0);
  });

  it('residualQuantiles match numpy.quantile of y - pred (linear)', () => {
    const expected = [-2.0, -1.1599999999999997, -0.575, -0.20000000000000004, 0.5, 0.5];
    const out = new Float64Array(6);
    const q = residualQuantiles(yr, pr, [0, 0.1, 0.25, 0.5, 0.9, 1], out);
    assert.equal(q, out);
    for (let i = 0; i < expected.length; i++) close(q[i]!, expected[i]!);
  });

  it('rejects bad shapes early', () => {
    assert.throws(() => rmse(yr, pr.subarray(1)), /different lengths/);
    assert.throws(() => mae([], []), /empty/);
    assert.throws(() => residualQuantiles(yr, pr, [1.5]), /\[0, 1\]/);
    assert.throws(() => residualQuantiles(yr, pr, [0.5], new Float64Array(2)), /out has length/);
  });
});
