import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { KllSketch } from './kll.js';
import { SeededRandom } from './seeded-random.js';

const N = 1_000_000;
const TOLERANCE = 0.015;

function sample(kind: 'uniform' | 'normal' | 'lognormal', n: number, seed: number): Float64Array {
  const r = new SeededRandom(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = kind === 'uniform' ? r.next() : kind === 'normal' ? 50 + 10 * r.normal() : Math.exp(2.5 * r.normal());
  return out;
}

/** Fraction of the sorted data ≤ x. */
function trueRank(sorted: Float64Array, x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo / sorted.length;
}

/** Largest rank error of quantile(q) and of rank(true q-quantile) over q = 0.005 … 0.995. */
function worstRankError(sketch: KllSketch, sorted: Float64Array): number {
  let worst = 0;
  for (let i = 1; i < 200; i++) {
    const q = i / 200;
    worst = Math.max(worst, Math.abs(trueRank(sorted, sketch.quantile(q)) - q));
    const exact = sorted[Math.ceil(q * sorted.length) - 1]!;
    worst = Math.max(worst, Math.abs(sketch.rank(exact) - trueRank(sorted, exact)));
  }
  return worst;
}

describe('KllSketch', () => {
  for (const kind of ['uniform', 'normal', 'lognormal'] as const) {
    it(`keeps rank error ≤ 1.5% on 1e6 ${kind} values, alone and merged from partitions`, () => {
      const data = sample(kind, N, 42);
      const sorted = data.slice().sort();
      const sketch = new KllSketch();
      for (let i = 0; i < N; i++) sketch.update(data[i]!);
      assert.equal(sketch.count, N);
      assert.equal(sketch.min, sorted[0]);
      assert.equal(sketch.max, sorted[N - 1]);
      assert.ok(sketch.retained < 3.5 * sketch.k, `retained ${sketch.retained}`);
      const alone = worstRankError(sketch, sorted);
      assert.ok(alone <= TOLERANCE, `worst rank error ${alone}`);

      const cuts = [0, 1, 250_000, 250_100, 700_000, N];
      const merged = new KllSketch();
      for (let p = 0; p + 1 < cuts.length; p++) {
        const part = new KllSketch({ seed: 100 + p });
        for (let i = cuts[p]!; i < cuts[p + 1]!; i++) part.update(data[i]!);
        merged.merge(part);
      }
      assert.equal(merged.count, N);
      assert.equal(merged.min, sorted[0]);
      assert.equal(merged.max, sorted[N - 1]);
      const fromParts = worstRankError(merged, sorted);
      assert.ok(fromParts <= TOLERANCE, `worst rank error after merge ${fromParts}`);
    });
  }

  it('is exact while count ≤ k (inverted-CDF quantiles, ≤-ranks)', () => {
    const sketch = new KllSketch({ k: 200 });
    const values = sample('normal', 200, 7);
    for (const v of values) sketch.update(v);
    assert.equal(sketch.isEstimationMode, false);
    const sorted = values.slice().sort();
    for (let i = 0; i <= 100; i++) {
      const q = i / 100;
      const expected = q === 0 ? sorted[0] : sorted[Math.ceil(q * 200) - 1];
      assert.equal(sketch.quantile(q), expected, `q = ${q}`);
    }
    for (let i = 0; i < 200; i++) assert.equal(sketch.rank(sorted[i]!), (i + 1) / 200);
    assert.equal(sketch.rank(sorted[0]! - 1), 0);
    assert.deepEqual(Array.from(sketch.quantiles([0, 0.5, 1])), [sorted[0], sorted[99], sorted[199]]);
    assert.deepEqual(Array.from(sketch.cdf([sorted[9]!, sorted[199]!])), [0.05, 1]);
  });

  it('gives the same sketch from updateAll as from value-by-value updates', () => {
    const data = sample('normal', 20_000, 5);
    data[17] = NaN;
    const one = new KllSketch();
    for (const v of data) one.update(v);
    const column = new KllSketch();
    column.updateAll(data);
    assert.deepEqual(column.toJSON(), one.toJSON());
  });

  it('ignores NaN, answers NaN when empty, and checks q', () => {
    const sketch = new KllSketch();
    sketch.update(NaN);
    assert.equal(sketch.count, 0);
    assert.ok(Number.isNaN(sketch.quantile(0.5)));
    assert.ok(Number.isNaN(sketch.min));
    assert.ok(Number.isNaN(sketch.rank(1)));
    assert.throws(() => sketch.quantile(1.5), RangeError);
    assert.throws(() => sketch.quantile(NaN), RangeError);
    assert.throws(() => new KllSketch({ k: 4 }), RangeError);
    assert.throws(() => sketch.merge(new KllSketch({ k: 100 })), /k = 200 and k = 100/);
  });

  it('is deterministic for a seed and round-trips through JSON (including ±Infinity)', () => {
    const data = sample('lognormal', 50_000, 3);
    const a = new KllSketch({ seed: 9 });
    const b = new KllSketch({ seed: 9 });
    for (const v of data) {
      a.update(v);
      b.update(v);
    }
    a.update(Infinity);
    b.update(Infinity);
    a.update(-Infinity);
    b.update(-Infinity);
    assert.deepEqual(a.toJSON(), b.toJSON());
    const back = KllSketch.fromJSON(JSON.parse(JSON.stringify(a.toJSON())));
    assert.deepEqual(back.toJSON(), a.toJSON());
    assert.equal(back.max, Infinity);
    assert.equal(back.min, -Infinity);
    for (const q of [0.01, 0.5, 0.99]) assert.equal(back.quantile(q), a.quantile(q));
    // The PRNG state travels with the sketch: both continue identically.
    for (let i = 0; i < 10_000; i++) {
      a.update(i);
      back.update(i);
    }
    assert.deepEqual(back.toJSON(), a.toJSON());
    assert.throws(() => KllSketch.fromJSON({ ...a.toJSON(), count: 5 }), /levels weigh/);
  });

  it('merges an empty sketch, into an empty sketch, and itself', () => {
    const a = new KllSketch();
    for (let i = 0; i < 1000; i++) a.update(i);
    const before = a.toJSON();
    a.merge(new KllSketch());
    assert.deepEqual(a.toJSON(), before);
    const empty = new KllSketch().merge(a);
    assert.equal(empty.count, 1000);
    assert.equal(empty.quantile(0.5), a.quantile(0.5));
    a.merge(a);
    assert.equal(a.count, 2000);
    assert.ok(Math.abs(a.quantile(0.5) - 500) < 20);
  });
});
