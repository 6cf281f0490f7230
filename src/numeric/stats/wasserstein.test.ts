import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { wassersteinDistance } from './wasserstein.js';

/** Same deterministic sequence as the Python reference: ((i·a) mod m)/m·scale + shift. */
function seq(n: number, a: number, mod: number, scale = 1, shift = 0): Float64Array {
  return Float64Array.from({ length: n }, (_, i) => (((i * a) % mod) / mod) * scale + shift);
}

/*
 * Reference values from SciPy 1.17.1, scipy.stats.wasserstein_distance:
 *   wasserstein_distance([0, 1, 3], [5, 6, 8])                                  -> 5.0
 *   wasserstein_distance([0, 1], [0, 1], [3, 1], [2, 2])                        -> 0.25
 *   wasserstein_distance([3.4, 3.9, 7.5, 7.8], [4.5, 1.4], [1.4, 0.9, 3.1, 7.2], [3.2, 3.5]) -> 4.078133143804786
 *   seq = lambda n, a, m, s=1.0, t=0.0: np.array([((i*a) % m)/m*s + t for i in range(n)])
 *   wasserstein_distance(seq(1000, 7919, 10007), seq(1500, 104729, 10009, 1.1, 0.05)) -> 0.10082587887216757
 */
describe('wassersteinDistance', () => {
  it('matches scipy.stats.wasserstein_distance, unweighted and weighted', () => {
    assert.equal(wassersteinDistance([0, 1, 3], [5, 6, 8]), 5);
    assert.ok(Math.abs(wassersteinDistance([0, 1], [0, 1], [3, 1], [2, 2]) - 0.25) < 1e-15);
    assert.ok(Math.abs(wassersteinDistance([3.4, 3.9, 7.5, 7.8], [4.5, 1.4], [1.4, 0.9, 3.1, 7.2], [3.2, 3.5]) - 4.078133143804786) < 1e-14);
    const got = wassersteinDistance(seq(1000, 7919, 10007), seq(1500, 104729, 10009, 1.1, 0.05));
    assert.ok(Math.abs(got - 0.10082587887216757) < 1e-14, `${got}`);
  });

  it('is 0 between a sample and itself, symmetric, a shift for shifted samples, and leaves inputs alone', () => {
    const u = [3, 1, 2, 2];
    assert.equal(wassersteinDistance(u, [2, 3, 2, 1]), 0);
    assert.deepEqual(u, [3, 1, 2, 2]);
    assert.equal(wassersteinDistance([1, 5], [2]), wassersteinDistance([2], [1, 5]));
    assert.ok(Math.abs(wassersteinDistance([0, 1, 2], [10, 11, 12]) - 10) < 1e-12);
  });

  it('rejects empty samples, non-finite values and bad weights', () => {
    assert.throws(() => wassersteinDistance([], [1]), /u is empty/);
    assert.throws(() => wassersteinDistance([1, NaN], [1]), /finite/);
    assert.throws(() => wassersteinDistance([1, 2], [1], [1]), /2 values but 1 weights/);
    assert.throws(() => wassersteinDistance([1, 2], [1], [0, 0]), /sum to zero/);
    assert.throws(() => wassersteinDistance([1, 2], [1], [1, -1]), /non-negative/);
  });
});
