import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { lInfinityDistance } from './l-infinity.js';

describe('lInfinityDistance', () => {
  it('is the largest difference in share, over the union of categories', () => {
    // p shares: a 0.6, b 0.3, c 0.1; q shares: a 0.5, b 0.1, d 0.4 → |Δ| a 0.1, b 0.2, c 0.1, d 0.4.
    const r = lInfinityDistance(new Map([['a', 6], ['b', 3], ['c', 1]]), { a: 5, b: 1, d: 4 });
    assert.equal(r.category, 'd');
    assert.ok(Math.abs(r.distance - 0.4) < 1e-15);
  });

  it('breaks ties by first appearance, p’s categories before q’s', () => {
    // shares p: a .75, b .25; q: a .25, b .25, c .5 → a and c both differ by 0.5.
    assert.deepEqual(lInfinityDistance({ a: 3, b: 1 }, { a: 1, b: 1, c: 2 }), { distance: 0.5, category: 'a' });
  });

  it('takes count vectors and reports the index', () => {
    // shares .25 .25 .5 vs .25 .75 0: indices 1 and 2 tie at 0.5, the first wins.
    assert.deepEqual(lInfinityDistance([1, 1, 2], new Float64Array([1, 3, 0])), { distance: 0.5, category: 1 });
    assert.deepEqual(lInfinityDistance([2, 2], [20, 20]), { distance: 0, category: 0 });
  });

  it('rejects mixed inputs, mismatched vectors and empty or negative counts', () => {
    assert.throws(() => lInfinityDistance([1, 2], [1, 2, 3]), /different lengths/);
    assert.throws(() => lInfinityDistance({}, { a: 1 }), /no mass/);
    assert.throws(() => lInfinityDistance({ a: -1, b: 2 }, { a: 1 }), /p\[a\] = -1/);
    assert.throws(() => lInfinityDistance([1] as never, { a: 1 } as never), /vector with a count vector/);
  });
});
