import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SeededRandom } from '../sketches/seeded-random.js';
import { bootstrapCi, bootstrapCis } from './bootstrap.js';
import { rocAuc } from './classification.js';

function sample(n: number, seed: number): Float64Array {
  const r = new SeededRandom(seed);
  const x = new Float64Array(n);
  for (let i = 0; i < n; i++) x[i] = 10 + 2 * r.normal();
  return x;
}

const meanOf = (x: Float64Array) => (idx: Int32Array) => {
  let s = 0;
  for (let i = 0; i < idx.length; i++) s += x[idx[i]!]!;
  return s / idx.length;
};

describe('bootstrapCi', () => {
  it('gives the normal-theory interval of a mean, x̄ ± z·s/√n, within Monte Carlo error', () => {
    const n = 500;
    const x = sample(n, 7);
    let mean = 0;
    for (const v of x) mean += v;
    mean /= n;
    let ss = 0;
    for (const v of x) ss += (v - mean) ** 2;
    // z = scipy.stats.norm.ppf(0.975) = 1.959963984540054
    const half = (1.959963984540054 * Math.sqrt(ss / (n - 1))) / Math.sqrt(n);
    const ci = bootstrapCi(meanOf(x), n, { resamples: 4000, seed: 42 });
    assert.equal(ci.estimate, mean);
    assert.equal(ci.resamples, 4000);
    assert.ok(Math.abs(ci.lower - (mean - half)) < 0.1 * half, `lower ${ci.lower} vs ${mean - half}`);
    assert.ok(Math.abs(ci.upper - (mean + half)) < 0.1 * half, `upper ${ci.upper} vs ${mean + half}`);
  });

  it('narrows with lower confidence', () => {
    const x = sample(200, 3);
    const wide = bootstrapCi(meanOf(x), 200, { seed: 5 });
    const narrow = bootstrapCi(meanOf(x), 200, { seed: 5, confidence: 0.5 });
    assert.ok(narrow.upper - narrow.lower < wide.upper - wide.lower);
  });

  it('is reproducible with the seed and differs with another seed', () => {
    const x = sample(100, 11);
    const a = bootstrapCi(meanOf(x), 100, { resamples: 300, seed: 9 });
    const b = bootstrapCi(meanOf(x), 100, { resamples: 300, seed: 9 });
    const c = bootstrapCi(meanOf(x), 100, { resamples: 300, seed: 10 });
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
  });

  it('skips resamples where the metric is undefined', () => {
    // With 3 rows, about a quarter of resamples draw a single class; rocAuc is then wrapped to NaN.
    const y = new Float64Array([0, 1, 1]);
    const p = new Float64Array([0.2, 0.9, 0.6]);
    const auc = (idx: Int32Array) => {
      const ys = Float64Array.from(idx, (i) => y[i]!);
      const ps = Float64Array.from(idx, (i) => p[i]!);
      return ys.includes(0) && ys.includes(1) ? rocAuc(ys, ps) : NaN;
    };
    const ci = bootstrapCi(auc, 3, { resamples: 200, seed: 1 });
    assert.equal(ci.estimate, 1);
    assert.ok(ci.resamples < 200 && ci.resamples > 0);
    assert.equal(ci.lower, 1);
  });

  it('rejects bad arguments', () => {
    const m = () => 0;
    assert.throws(() => bootstrapCi(m, 0), /n must be/);
    assert.throws(() => bootstrapCi(m, 5, { resamples: 0 }), /resamples/);
    assert.throws(() => bootstrapCi(m, 5, { confidence: 1 }), /confidence/);
    assert.throws(() => bootstrapCi(() => NaN, 5, { resamples: 3 }), /not finite/);
  });

  it('bootstrapCis gives each metric the interval bootstrapCi gives it alone, from one set of draws', () => {
    const x = sample(150, 21);
    const sq = Float64Array.from(x, (v) => v * v);
    const both = bootstrapCis((idx) => [meanOf(x)(idx), meanOf(sq)(idx)], 150, { resamples: 300, seed: 4 });
    assert.deepEqual(both[0], bootstrapCi(meanOf(x), 150, { resamples: 300, seed: 4 }));
    assert.deepEqual(both[1], bootstrapCi(meanOf(sq), 150, { resamples: 300, seed: 4 }));
    const never = bootstrapCis(() => [1, NaN], 5, { resamples: 10 });
    assert.equal(never[0]!.lower, 1);
    assert.equal(never[1]!.resamples, 0);
    assert.ok(Number.isNaN(never[1]!.lower));
    let calls = 0;
    assert.throws(() => bootstrapCis(() => (calls++ ? [1] : [1, 2]), 5, { resamples: 2 }), /gave 1 values on a resample and 2/);
  });

  it('stratified resamples keep every stratum at its size and draw only within it', () => {
    const strata = Int32Array.from({ length: 60 }, (_, i) => (i < 50 ? 0 : 7));
    const seen: number[][] = [];
    bootstrapCis((idx) => {
      let inSmall = 0;
      for (let i = 0; i < idx.length; i++) {
        assert.equal(strata[idx[i]!], strata[i], 'row i is replaced by a row of its own stratum');
        if (strata[idx[i]!] === 7) inSmall++;
      }
      seen.push([inSmall, new Set(idx).size]);
      return [inSmall];
    }, 60, { resamples: 50, seed: 3, strata });
    assert.ok(seen.every(([small]) => small === 10));
    assert.ok(seen.slice(1).some(([, distinct]) => distinct! < 60), 'rows are drawn with replacement');
    assert.throws(() => bootstrapCis(() => [0], 3, { strata: [0, 1] }), /strata has 2 entries/);
    assert.throws(() => bootstrapCis(() => [0], 2, { strata: [0, 0.5] }), /integers/);
  });

  it('intervals narrow roughly as 1/√n', () => {
    const width = (n: number) => {
      const ci = bootstrapCi(meanOf(sample(n, 8)), n, { resamples: 500, seed: 2 });
      return ci.upper - ci.lower;
    };
    const w100 = width(100);
    const w1600 = width(1600);
    // 16× the rows: a quarter of the width, within Monte Carlo error.
    assert.ok(w1600 / w100 > 0.18 && w1600 / w100 < 0.32, `${w1600} / ${w100}`);
  });
});
