import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { kolmogorovSmirnovSf } from './kolmogorov-smirnov-distribution.js';

/*
 * Reference values from SciPy 1.17.1:
 *   python3 -c "from scipy.stats import kstwo
 *   for n, d in [(10, 0.07), (10, 0.95), (20, 0.55), (50, 0.1), (50, 0.2), (50, 0.35), (1000, 0.06),
 *                (5000, 0.005), (200000, 0.002), (1000, 0.7), (100, 0.5)]: print(n, d, repr(float(kstwo.sf(d, n))))"
 * One point per branch: Ruben–Gambino low and high ends, 2·smirnov for d ≥ 0.5, Durbin matrix
 * (n ≤ 140), Pomeranz, 2·smirnov (n ≤ 140, then n > 140), Durbin matrix (n > 140), Pelz–Good,
 * and the underflowing tail.
 */
const REFERENCE: [number, number, number][] = [
  [10, 0.07, 0.9999999619492741],
  [10, 0.95, 1.9531250000000172e-13],
  [20, 0.55, 3.2861970662280095e-6],
  [50, 0.1, 0.6623112704658186],
  [50, 0.2, 0.03143877776953241],
  [50, 0.35, 5.573523514803185e-6],
  [1000, 0.06, 0.001428597887952891],
  [5000, 0.005, 0.9995858441477996],
  [200000, 0.002, 0.39995085369038097],
  [1000, 0.7, 0],
  [100, 0.5, 1.2131434371817858e-23],
];

describe('kolmogorovSmirnovSf', () => {
  it('matches scipy.stats.kstwo.sf on every branch of the method selection', () => {
    for (const [n, d, expected] of REFERENCE) {
      const got = kolmogorovSmirnovSf(n, d);
      assert.ok(Math.abs(got - expected) <= 1e-9 * expected + 1e-300, `n = ${n}, d = ${d}: ${got} vs ${expected}`);
    }
  });

  it('is 1 at d ≤ 1/(2n), 0 at d ≥ 1, NaN for NaN, and checks n', () => {
    assert.equal(kolmogorovSmirnovSf(10, 0.05), 1);
    assert.equal(kolmogorovSmirnovSf(10, 0), 1);
    assert.equal(kolmogorovSmirnovSf(10, 1), 0);
    assert.ok(Number.isNaN(kolmogorovSmirnovSf(10, NaN)));
    assert.throws(() => kolmogorovSmirnovSf(2.5, 0.1), RangeError);
    assert.throws(() => kolmogorovSmirnovSf(0, 0.1), RangeError);
  });
});
