import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Histogram, equalWidthFromSketch, histogramEdges } from './histogram.js';
import { KllSketch } from './kll.js';
import { SeededRandom } from './seeded-random.js';

describe('histogramEdges', () => {
  it('matches numpy.histogram_bin_edges for equal widths, including the degenerate range', () => {
    // numpy 2: np.histogram_bin_edges([0, 1], bins=5, range=(0, 1)) -> [0, 0.2, 0.4, 0.6000000000000001, 0.8, 1]
    assert.deepEqual(Array.from(histogramEdges(0, 1, 5)), [0, 0.2, 0.4, 0.6000000000000001, 0.8, 1]);
    // np.histogram_bin_edges([3, 3], bins=2) -> [2.5, 3, 3.5]
    assert.deepEqual(Array.from(histogramEdges(3, 3, 2)), [2.5, 3, 3.5]);
    const out = new Float64Array(4);
    assert.equal(histogramEdges(-1, 2, 3, out), out);
    assert.throws(() => histogramEdges(0, 1, 0), RangeError);
    assert.throws(() => histogramEdges(1, 0, 3), /inverted/);
    assert.throws(() => histogramEdges(0, Infinity, 3), /finite/);
    assert.throws(() => histogramEdges(0, 1, 3, new Float64Array(3)), /need bins \+ 1/);
  });
});

describe('Histogram', () => {
  it('bins like numpy.histogram: half-open bins, the last one closed, outliers and NaN apart', () => {
    // np.histogram([0, 0.5, 1, 1.5, 2, 2, 3, 3.5, 4], bins=4, range=(0, 4))[0] -> [2, 2, 2, 3]
    const h = new Histogram(histogramEdges(0, 4, 4));
    for (const x of [0, 0.5, 1, 1.5, 2, 2, 3, 3.5, 4, -0.1, 4.0000001, NaN]) h.add(x);
    assert.deepEqual(Array.from(h.counts), [2, 2, 2, 3]);
    assert.equal(h.underflow, 1);
    assert.equal(h.overflow, 1);
    assert.equal(h.missing, 1);
    assert.equal(h.total, 12);
  });

  it('puts values exactly on inner edges into the bin to their right, with uneven edges too', () => {
    // np.histogram(edges, bins=edges)[0] -> [1, 1, 1, 1, 2]
    const edges = [0, 0.1, 0.2, 0.30000000000000004, 0.7, 10];
    const h = new Histogram(edges);
    for (const e of edges) h.add(e);
    assert.deepEqual(Array.from(h.counts), [1, 1, 1, 1, 2]);
    const uniform = new Histogram(histogramEdges(0, 1, 10));
    for (const e of uniform.edges) uniform.add(e);
    assert.deepEqual(Array.from(uniform.counts), [1, 1, 1, 1, 1, 1, 1, 1, 1, 2]);
    assert.throws(() => new Histogram([0, 1, 1]), /increase strictly/);
    assert.throws(() => new Histogram([0]), /at least 2 edges/);
  });

  it('agrees with binary search on random data (the direct-index fast path)', () => {
    const r = new SeededRandom(5);
    const fast = new Histogram(histogramEdges(-3, 3, 37));
    for (let i = 0; i < 100_000; i++) {
      const x = -3.5 + 7 * r.next();
      if (x < -3 || x > 3) continue;
      const i0 = fast.binOf(x);
      assert.ok(fast.edges[i0]! <= x && (x < fast.edges[i0 + 1]! || i0 === 36), `${x} → bin ${i0}`);
    }
  });

  it('merges partitions into the histogram of the whole, and refuses different edges', () => {
    const edges = histogramEdges(0, 1, 8);
    const whole = new Histogram(edges);
    const parts = [new Histogram(edges), new Histogram(edges), new Histogram(edges)];
    const r = new SeededRandom(1);
    for (let i = 0; i < 10_000; i++) {
      const x = 1.2 * r.next() - 0.1;
      whole.add(x);
      parts[i % 3]!.add(x);
    }
    const merged = parts[0]!.merge(parts[1]!).merge(parts[2]!);
    assert.deepEqual(merged.toJSON(), whole.toJSON());
    assert.throws(() => whole.merge(new Histogram(histogramEdges(0, 1, 9))), /different edges \(8 bins over \[0, 1\] vs 9 bins over \[0, 1\]\)/);
    assert.throws(() => whole.merge(new Histogram(histogramEdges(0, 2, 8))), RangeError);
  });

  it('counts a column with addAll as value-by-value adds do', () => {
    const values = Float64Array.from([-1, 0, 0.5, 2, NaN, 9, 10, 11]);
    const one = new Histogram(histogramEdges(0, 10, 4));
    for (const v of values) one.add(v);
    const column = new Histogram(histogramEdges(0, 10, 4));
    column.addAll(values);
    assert.deepEqual(column.toJSON(), one.toJSON());
  });

  it('round-trips through JSON', () => {
    const h = new Histogram([0, 1, 5]);
    h.add(0.5, 2.5);
    h.add(7);
    const back = Histogram.fromJSON(JSON.parse(JSON.stringify(h.toJSON())));
    assert.deepEqual(back.toJSON(), h.toJSON());
    assert.throws(() => Histogram.fromJSON({ ...h.toJSON(), counts: [1] }), /expected 2 counts/);
  });
});

describe('equalWidthFromSketch', () => {
  it('spans min..max when the tails are ordinary (uniform, normal)', () => {
    const r = new SeededRandom(2);
    const uniform = new KllSketch();
    const normal = new KllSketch();
    for (let i = 0; i < 100_000; i++) {
      uniform.update(r.next());
      normal.update(r.normal());
    }
    const eu = equalWidthFromSketch(uniform, 10);
    assert.equal(eu[0], uniform.min);
    assert.equal(eu[10], uniform.max);
    const en = equalWidthFromSketch(normal, 10);
    assert.equal(en[0], normal.min);
    assert.equal(en[10], normal.max);
  });

  it('cuts an extreme tail at the 0.1% / 99.9% quantile', () => {
    const r = new SeededRandom(3);
    const sketch = new KllSketch();
    for (let i = 0; i < 100_000; i++) sketch.update(Math.exp(2 * r.normal()));
    sketch.update(1e12);
    const edges = equalWidthFromSketch(sketch, 20);
    assert.equal(edges[0], sketch.min, 'the lower tail of a lognormal is short');
    assert.equal(edges[20], sketch.quantile(0.999));
    const withInfinity = new KllSketch();
    for (let i = 0; i < 5000; i++) withInfinity.update(i);
    withInfinity.update(-Infinity);
    assert.equal(equalWidthFromSketch(withInfinity, 4)[0], withInfinity.quantile(0.001));
    assert.throws(() => equalWidthFromSketch(new KllSketch(), 4), /empty sketch/);
  });
});
