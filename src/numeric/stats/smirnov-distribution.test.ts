import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { smirnovSf } from './smirnov-distribution.js';

/*
 * Reference values from SciPy 1.17.1:
 *   python3 -c "from scipy.special import smirnov
 *   for n, d in [(1, 0.3), (5, 0.1), (100, 0.05), (1000, 0.03), (50000, 0.01), (1000000, 0.001),
 *                (2000000, 0.001), (100, 0.5)]: print(n, d, repr(float(smirnov(n, d))))"
 * (2 000 000 exercises SciPy's approximation beyond n = 10^6.)
 */
const REFERENCE: [number, number, number][] = [
  [1, 0.3, 0.7],
  [5, 0.1, 0.85359],
  [100, 0.05, 0.5871453380805337],
  [1000, 0.03, 0.16203171395455085],
  [50000, 0.01, 4.509024405921801e-5],
  [1000000, 0.001, 0.1352450897649141],
  [2000000, 0.001, 0.018303432023617325],
  [100, 0.5, 6.065717185908929e-24],
];

describe('smirnovSf', () => {
  it('matches scipy.special.smirnov to 1e-9 relative', () => {
    for (const [n, d, expected] of REFERENCE) {
      const got = smirnovSf(n, d);
      assert.ok(Math.abs(got - expected) <= 1e-9 * expected, `n = ${n}, d = ${d}: ${got} vs ${expected}`);
    }
  });

  it('has the closed forms at the ends and NaN outside the domain', () => {
    assert.equal(smirnovSf(10, 0), 1);
    assert.equal(smirnovSf(10, 1), 0);
    assert.ok(Math.abs(smirnovSf(10, 0.95) - 0.05 ** 10) < 1e-25);
    assert.ok(Number.isNaN(smirnovSf(10, 1.5)));
    assert.ok(Number.isNaN(smirnovSf(0, 0.5)));
  });
});
