import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PSI_DEFAULT_EPSILON, psi } from './psi.js';

/*
 * PSI is not in SciPy; references from its definition in numpy 2.x:
 *   python3 -c "import numpy as np
 *   def psi(e, a, eps=1e-4):
 *       e = np.asarray(e, float); a = np.asarray(a, float); pe = e/e.sum(); pa = a/a.sum()
 *       pe = np.where(pe > 0, pe, eps); pa = np.where(pa > 0, pa, eps)
 *       return float(np.sum((pa - pe) * np.log(pa / pe)))
 *   print(repr(psi([10,20,30,40],[12,18,33,37]))); print(repr(psi([100,0,50,50],[90,10,50,0])))"
 */
describe('psi', () => {
  it('matches the numpy reference, with empty bins floored at epsilon = 1e-4', () => {
    assert.equal(PSI_DEFAULT_EPSILON, 1e-4);
    assert.ok(Math.abs(psi([10, 20, 30, 40], [12, 18, 33, 37]) - 0.010951793087256731) < 1e-15);
    assert.ok(Math.abs(psi([100, 0, 50, 50], [90, 10, 50, 0]) - 2.430270542204542) < 1e-13);
  });

  it('is 0 for the same shape, symmetric, and grows as epsilon shrinks', () => {
    assert.equal(psi([1, 2, 3], [2, 4, 6]), 0);
    assert.equal(psi([1, 0, 3], [3, 0, 1]), psi([3, 0, 1], [1, 0, 3]));
    assert.ok(psi([1, 1], [1, 0], { epsilon: 1e-6 }) > psi([1, 1], [1, 0]));
  });

  it('rejects mismatched bins, bad counts and a bad epsilon', () => {
    assert.throws(() => psi([1], [1, 2]), /different numbers of bins/);
    assert.throws(() => psi([NaN], [1]), /finite and non-negative/);
    assert.throws(() => psi([0, 0], [1, 2]), /expected has no mass/);
    assert.throws(() => psi([1], [1], { epsilon: 0 }), /epsilon/);
  });
});
