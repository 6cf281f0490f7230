import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Moments } from './moments.js';
import { SeededRandom } from './seeded-random.js';

/** Compensated (Kahan–Babuška) sum, for the two-pass reference. */
function accurateSum(values: Float64Array, f: (x: number) => number = (x) => x): number {
  let sum = 0;
  let carry = 0;
  for (const v of values) {
    const x = f(v);
    const t = sum + x;
    carry += Math.abs(sum) >= Math.abs(x) ? sum - t + x : x - t + sum;
    sum = t;
  }
  return sum + carry;
}

function twoPass(values: Float64Array): { mean: number; variance: number; sum: number } {
  const sum = accurateSum(values);
  const mean = sum / values.length;
  const variance = accurateSum(values, (x) => (x - mean) ** 2) / values.length;
  return { mean, variance, sum };
}

function closeTo(actual: number, expected: number, rtol: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= rtol * Math.abs(expected), `${what}: ${actual} vs ${expected} (rel ${Math.abs(actual - expected) / Math.abs(expected)})`);
}

function data(n: number): Float64Array {
  // Prices-like: lognormal around 1000 with spread — a mean large against the deviation.
  const r = new SeededRandom(21);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = 1000 * Math.exp(0.3 * r.normal());
  return out;
}

describe('Moments', () => {
  it('equals the two-pass mean, variance and sum to 1e-12 relative on 1e6 values', () => {
    const values = data(1_000_000);
    const m = new Moments();
    for (const v of values) m.add(v);
    const ref = twoPass(values);
    closeTo(m.mean, ref.mean, 1e-12, 'mean');
    closeTo(m.variance(), ref.variance, 1e-12, 'variance');
    closeTo(m.variance(1), (ref.variance * 1e6) / (1e6 - 1), 1e-12, 'sample variance');
    closeTo(m.sum, ref.sum, 1e-12, 'sum');
    assert.equal(m.min, values.reduce((a, b) => Math.min(a, b)));
    assert.equal(m.max, values.reduce((a, b) => Math.max(a, b)));
    assert.equal(m.count, 1_000_000);
    assert.equal(m.finiteCount, 1_000_000);
  });

  it('merges 3 uneven partitions into the statistics of the whole', () => {
    const values = data(300_001);
    const whole = new Moments();
    for (const v of values) whole.add(v);
    const cuts = [0, 7, 250_000, values.length];
    const parts = [0, 1, 2].map((p) => {
      const m = new Moments();
      for (let i = cuts[p]!; i < cuts[p + 1]!; i++) m.add(values[i]!);
      return m;
    });
    const merged = new Moments().merge(parts[0]!).merge(parts[1]!).merge(parts[2]!);
    closeTo(merged.mean, whole.mean, 1e-12, 'mean');
    closeTo(merged.variance(), whole.variance(), 1e-12, 'variance');
    closeTo(merged.sum, whole.sum, 1e-12, 'sum');
    assert.equal(merged.min, whole.min);
    assert.equal(merged.max, whole.max);
    assert.equal(merged.count, whole.count);
    const ref = twoPass(values);
    closeTo(merged.variance(), ref.variance, 1e-12, 'variance vs two-pass');
  });

  it('counts missing, zeros and infinities, and keeps infinities out of the finite statistics', () => {
    const m = new Moments();
    for (const x of [1, 2, 3, NaN, 0, -0, Infinity, -Infinity, Infinity, NaN]) m.add(x);
    assert.equal(m.count, 8);
    assert.equal(m.missing, 2);
    assert.equal(m.zeros, 2);
    assert.equal(m.positiveInfinity, 2);
    assert.equal(m.negativeInfinity, 1);
    assert.equal(m.finiteCount, 5);
    assert.equal(m.sum, 6);
    assert.equal(m.mean, 1.2);
    // numpy: np.var([1, 2, 3, 0, 0]) = 1.3599999999999999; np.var(..., ddof=1) = 1.7
    closeTo(m.variance(), 1.36, 1e-15, 'variance');
    closeTo(m.variance(1), 1.7, 1e-15, 'sample variance');
    assert.equal(m.min, 0);
    assert.equal(m.max, 3);
  });

  it('gives the same statistics from addAll as from value-by-value adds', () => {
    const values = Float64Array.from([1, NaN, -0, Infinity, 2.5, -7, 1e-300]);
    const one = new Moments();
    for (const v of values) one.add(v);
    const column = new Moments();
    column.addAll(values);
    assert.deepEqual(column.toJSON(), one.toJSON());
  });

  it('handles the empty and single-value cases', () => {
    const empty = new Moments();
    assert.ok(Number.isNaN(empty.mean));
    assert.ok(Number.isNaN(empty.min));
    assert.ok(Number.isNaN(empty.variance()));
    assert.equal(empty.sum, 0);
    const one = new Moments();
    one.add(5);
    assert.equal(one.variance(), 0);
    assert.ok(Number.isNaN(one.variance(1)));
    assert.equal(new Moments().merge(empty).count, 0);
    assert.equal(new Moments().merge(one).mean, 5);
  });

  it('round-trips through JSON, empty or not', () => {
    const m = new Moments();
    for (const x of [1.5, -2, Infinity, NaN, 0]) m.add(x);
    const back = Moments.fromJSON(JSON.parse(JSON.stringify(m.toJSON())));
    assert.deepEqual(back.toJSON(), m.toJSON());
    assert.equal(back.variance(), m.variance());
    assert.deepEqual(Moments.fromJSON(JSON.parse(JSON.stringify(new Moments()))).toJSON(), new Moments().toJSON());
    assert.throws(() => Moments.fromJSON({ ...m.toJSON(), min: null }), /null exactly when/);
  });
});
