import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { countTotal } from './count-total.js';

describe('countTotal', () => {
  it('sums valid counts and names the offending entry otherwise', () => {
    assert.equal(countTotal([1, 2.5, 0], 'p'), 3.5);
    assert.equal(countTotal(new Float64Array([4]), 'p'), 4);
    assert.throws(() => countTotal([1, Infinity], 'q'), /q\[1\] = Infinity/);
    assert.throws(() => countTotal([0, 0], 'q'), /q has no mass/);
  });
});
