import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ksStatistic, ksTwoSample, type KsMethod } from './ks-two-sample.js';

/** Same deterministic sequence as the Python reference: ((i·a) mod m)/m·scale + shift. */
function seq(n: number, a: number, mod: number, scale = 1, shift = 0): Float64Array {
  return Float64Array.from({ length: n }, (_, i) => (((i * a) % mod) / mod) * scale + shift);
}

/*
 * Reference values from SciPy 1.17.1, scipy.stats.ks_2samp(x, y, method=m) for m in exact / asymp / auto,
 * with the samples built identically in Python:
 *   import numpy as np; from scipy.stats import ks_2samp
 *   seq = lambda n, a, m, s=1.0, t=0.0: np.array([((i*a) % m)/m*s + t for i in range(n)])
 *   r = ks_2samp(x, y, method=m); print(repr(float(r.statistic)), repr(float(r.pvalue)))
 * Between them the cases reach every branch of the p-value: the two exact path counts (n1 = n2 and
 * not), and, for 'asymp', the Durbin matrix (en = 100), Pomeranz (en = 72), Pelz–Good (en = 12000,
 * p = 0.75), twice the one-sided Smirnov tail (p ≈ 1e-4) and the Ruben–Gambino end (p = 1).
 */
const SAMPLES: Record<string, () => [ArrayLike<number>, ArrayLike<number>]> = {
  small: () => [
    [0.61, 0.29, 0.06, 0.59, -1.73, -0.74, 0.51, -0.56],
    [0.39, 1.64, 0.05, -0.06, 0.64, -0.82, 0.37],
  ],
  equalNTies: () => [
    [1, 2, 2, 3, 4, 5, 5, 6, 7, 8],
    [2, 3, 3, 4, 6, 7, 8, 9, 9, 10],
  ],
  exact300x200: () => [seq(300, 7919, 10007), seq(200, 104729, 10009, 1.1, 0.05)],
  n1000x1500: () => [seq(1000, 7919, 10007), seq(1500, 104729, 10009, 1.02)],
  close20000x30000: () => [seq(20000, 7919, 100003), seq(30000, 104729, 100019)],
  far20000x30000: () => [seq(20000, 7919, 100003), seq(30000, 104729, 100019, 1, 0.02)],
  mid20000x30000: () => [seq(20000, 7919, 100003), seq(30000, 104729, 100019, 1, 0.006)],
  dmtw200x200: () => [seq(200, 7919, 10007), seq(200, 104729, 10009, 1, 0.03)],
  pomeranz150x140: () => [seq(150, 7919, 10007), seq(140, 104729, 10009, 1.3, -0.1)],
};

const REFERENCE: [string, KsMethod, number, number][] = [
  ['small', 'exact', 0.2857142857142857, 0.8466200466200466],
  ['small', 'asymp', 0.2857142857142857, 0.8136713869221158],
  ['small', 'auto', 0.2857142857142857, 0.8466200466200466],
  ['equalNTies', 'exact', 0.3, 0.7869297884777761],
  ['equalNTies', 'asymp', 0.30000000000000004, 0.6639999999999998],
  ['exact300x200', 'exact', 0.14166666666666666, 0.015044391703177697],
  ['exact300x200', 'asymp', 0.14166666666666672, 0.014535458550566144],
  ['n1000x1500', 'exact', 0.022333333333333334, 0.9211315264642486],
  ['n1000x1500', 'asymp', 0.022333333333333316, 0.9190904676277442],
  ['close20000x30000', 'auto', 0.00023333333333330764, 1.0],
  ['far20000x30000', 'auto', 0.020166666666666666, 0.00011373184832548488],
  ['mid20000x30000', 'asymp', 0.0061500000000001, 0.7520028356846212],
  ['dmtw200x200', 'exact', 0.04, 0.9973277498238406],
  ['dmtw200x200', 'asymp', 0.03999999999999998, 0.995307510717411],
  ['pomeranz150x140', 'exact', 0.15142857142857144, 0.06343050042452769],
  ['pomeranz150x140', 'asymp', 0.15142857142857136, 0.0660646896503138],
];

describe('ksTwoSample', () => {
  for (const [name, method, statistic, pvalue] of REFERENCE) {
    it(`matches scipy.stats.ks_2samp on ${name} (method='${method}')`, () => {
      const [x, y] = SAMPLES[name]!();
      const r = ksTwoSample(x, y, { method });
      assert.ok(Math.abs(r.statistic - statistic) <= 1e-13, `D ${r.statistic} vs ${statistic}`);
      assert.ok(Math.abs(r.pvalue - pvalue) <= 1e-9 * pvalue + 1e-15, `p ${r.pvalue} vs ${pvalue}`);
      if (method !== 'auto') assert.equal(r.method, method);
    });
  }

  it("resolves 'auto' like SciPy: exact up to 10 000 values per sample", () => {
    assert.equal(ksTwoSample(seq(10000, 7919, 100003), seq(50, 7, 101)).method, 'exact');
    assert.equal(ksTwoSample(seq(10001, 7919, 100003), seq(50, 7, 101)).method, 'asymp');
  });

  it('computes D from presorted samples without copying and rejects bad input', () => {
    const x = Float64Array.from([1, 2, 3, 4]);
    const y = Float64Array.from([2.5, 3.5, 10]);
    assert.equal(ksTwoSample(x, y, { sorted: true }).statistic, ksStatistic(x, y));
    assert.throws(() => ksTwoSample([2, 1], [1], { sorted: true }), /not sorted/);
    assert.throws(() => ksTwoSample([], [1]), /x is empty/);
    assert.throws(() => ksTwoSample([1, NaN], [1]), /NaN/);
    assert.throws(() => ksTwoSample([1], [1], { method: 'fast' as KsMethod }), /unknown method/);
  });

  it('gives D = 0 and p = 1 for identical samples, D = 1 for disjoint ones', () => {
    const r = ksTwoSample([1, 2, 3], [3, 2, 1]);
    assert.deepEqual(r, { statistic: 0, pvalue: 1, method: 'exact' });
    assert.equal(ksTwoSample([1, 2], [3, 4, 5]).statistic, 1);
  });
});
