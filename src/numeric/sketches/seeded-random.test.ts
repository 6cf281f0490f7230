import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SeededRandom } from './seeded-random.js';

describe('SeededRandom', () => {
  it('is reproducible from a seed and from a saved state', () => {
    const a = new SeededRandom(42);
    const b = new SeededRandom(42);
    const first = Array.from({ length: 5 }, () => a.nextUint32());
    assert.deepEqual(Array.from({ length: 5 }, () => b.nextUint32()), first);
    assert.notDeepEqual(Array.from({ length: 5 }, () => new SeededRandom(43).nextUint32()), first);
    const resumed = SeededRandom.fromState(a.state());
    assert.equal(resumed.nextUint32(), a.nextUint32());
    assert.throws(() => SeededRandom.fromState([0, 0, 0, 0]), /all-zero/);
    assert.throws(() => SeededRandom.fromState([1, 2, 3]), RangeError);
  });

  it('gives uniforms on [0, 1) and standard normals with the right first two moments', () => {
    const r = new SeededRandom(7);
    const n = 200_000;
    let su = 0;
    let sn = 0;
    let sn2 = 0;
    for (let i = 0; i < n; i++) {
      const u = r.next();
      assert.ok(u >= 0 && u < 1);
      su += u;
      const z = r.normal();
      sn += z;
      sn2 += z * z;
    }
    assert.ok(Math.abs(su / n - 0.5) < 5 * Math.sqrt(1 / 12 / n));
    assert.ok(Math.abs(sn / n) < 5 / Math.sqrt(n));
    assert.ok(Math.abs(sn2 / n - 1) < 5 * Math.sqrt(2 / n));
  });
});
