import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { jensenShannonDistance } from './jensen-shannon.js';

/*
 * Reference values from SciPy 1.17.1:
 *   python3 -c "from scipy.spatial.distance import jensenshannon as js; import numpy as np
 *   for p, q, b in [([1,0,0],[0,1,0],2), ([10,20,30,40],[40,30,20,10],2), ([10,20,30,40],[40,30,20,10],np.e),
 *                   ([1,2,3,0,0],[0,2,3,4,0],2), ([0.1,0.2,0.7],[3,3,4],10)]: print(repr(float(js(p, q, base=b))))"
 */
const CASES: [number[], number[], number, number][] = [
  [[1, 0, 0], [0, 1, 0], 2, 1.0],
  [[10, 20, 30, 40], [40, 30, 20, 10], 2, 0.3918681606471551],
  [[10, 20, 30, 40], [40, 30, 20, 10], Math.E, 0.32625164411267443],
  [[1, 2, 3, 0, 0], [0, 2, 3, 4, 0], 2, 0.5707265140598644],
  [[0.1, 0.2, 0.7], [3, 3, 4], 10, 0.15015061681604716],
];

describe('jensenShannonDistance', () => {
  it('matches scipy.spatial.distance.jensenshannon', () => {
    for (const [p, q, base, expected] of CASES) {
      const got = jensenShannonDistance(p, q, base);
      assert.ok(Math.abs(got - expected) <= 1e-14, `${JSON.stringify([p, q, base])}: ${got} vs ${expected}`);
    }
  });

  it('is 0 for identical shapes whatever the totals, symmetric, and takes typed arrays', () => {
    assert.equal(jensenShannonDistance([1, 2, 3], [10, 20, 30]), 0);
    const p = new Float64Array([5, 1, 0, 7]);
    const q = new Float64Array([2, 2, 9, 0]);
    assert.equal(jensenShannonDistance(p, q), jensenShannonDistance(q, p));
    assert.ok(jensenShannonDistance(p, q) <= 1);
  });

  it('rejects mismatched, empty, negative and massless histograms', () => {
    assert.throws(() => jensenShannonDistance([1, 2], [1, 2, 3]), /different numbers of bins/);
    assert.throws(() => jensenShannonDistance([], []), /no bins/);
    assert.throws(() => jensenShannonDistance([1, -1], [1, 1]), /non-negative/);
    assert.throws(() => jensenShannonDistance([0, 0], [1, 1]), /no mass/);
    assert.throws(() => jensenShannonDistance([1, 1], [1, 1], 1), /log base/);
  });
});
