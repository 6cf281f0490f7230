import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SeededRandom } from '../numeric/sketches/seeded-random.js';
import { ensembleRaw, walkLayout, type Ensemble } from '../numeric/trees/tree.js';
import { tableFromRows } from '../data/table.js';
import { applyFeatures } from './features.js';
import { ensembleOf, type TreeEstimator } from './model.js';
import { train } from './train.js';

const quiet = { onProgress: () => {} };

/** Raw outputs, one row and one tree at a time, straight from the trees' arrays. */
function referenceRaw(e: Ensemble, x: Float64Array, n: number, p: number): Float64Array {
  const k = e.outputs;
  const out = new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    const sums = new Float64Array(k);
    for (const t of e.trees) {
      let node = 0;
      while (t.feature[node]! >= 0) {
        const v = x[i * p + t.feature[node]!]!;
        const set = t.categories?.[node];
        let goLeft: boolean;
        if (Number.isNaN(v)) goLeft = t.missingLeft[node] === 1;
        // A category code is the value's integer part.
        else if (set) goLeft = v >= 0 && v < 2 ** 31 && set.includes(Math.trunc(v));
        else goLeft = v <= t.threshold[node]!;
        node = goLeft ? t.left[node]! : t.right[node]!;
      }
      if (t.output >= 0) sums[t.output]! += t.value[node]!;
      else for (let j = 0; j < k; j++) sums[j]! += t.value[node * k + j]!;
    }
    const scale = e.aggregation === 'mean' ? 1 / e.trees.length : 1;
    for (let j = 0; j < k; j++) out[i * k + j] = sums[j]! * scale + e.baseScore[j]!;
  }
  return out;
}

function leavesOf(e: Ensemble): number {
  let most = 0;
  for (const t of e.trees) most = Math.max(most, t.feature.filter((f) => f < 0).length);
  return most;
}

function assertSameBits(got: Float64Array, want: Float64Array, what: string): void {
  assert.equal(got.length, want.length, what);
  for (let i = 0; i < want.length; i++) {
    if (!Object.is(got[i], want[i])) assert.fail(`${what}: output ${i} is ${got[i]}, the reference walk gives ${want[i]}`);
  }
}

describe('tree-ensemble prediction', () => {
  const rng = new SeededRandom(11);
  const colors = ['red', 'green', 'blue', 'black', 'white', 'grey'];
  const shapes = Array.from({ length: 20 }, (_, i) => `s${i}`);
  const records = Array.from({ length: 3000 }, () => {
    const a = rng.next() * 10 - 5;
    const b = Math.floor(rng.next() * 40);
    const color = colors[Math.floor(rng.next() * colors.length)]!;
    const shape = shapes[Math.floor(rng.next() * shapes.length)]!;
    const score = a + (b % 7) - 3 + colors.indexOf(color) + (shapes.indexOf(shape) % 5) + rng.next() * 2;
    return {
      a: rng.next() < 0.1 ? null : a,
      b: rng.next() < 0.1 ? null : b,
      c: Math.round(rng.next() * 1000) / 10,
      color: rng.next() < 0.1 ? null : color,
      shape: rng.next() < 0.05 ? null : shape,
      y: score,
      yes: score > 4 ? 'yes' : 'no',
      cls: score > 6 ? 'high' : score > 2 ? 'mid' : 'low',
    };
  });
  const inputs = records.map(({ a, b, c, color, shape }) => ({ a, b, c, color, shape }));
  // Rows to predict: the training inputs, some with unseen categories or nothing at all.
  const rows = inputs.map((r, i) => (i % 37 === 0 ? { ...r, color: 'purple' } : i % 53 === 0 ? { a: null, b: null, c: null, color: null, shape: null } : r));

  const cases = [
    { name: 'GBDT regression', target: 'y', algo: 'gbdt', params: { trees: 30, min_samples_leaf: 5 }, layout: 'masks' },
    { name: 'GBDT binary, trees of up to 60 leaves', target: 'yes', algo: 'gbdt', params: { trees: 30, max_leaves: 60, min_samples_leaf: 3 }, layout: 'masks', over32: true },
    { name: 'GBDT multiclass', target: 'cls', algo: 'gbdt', params: { trees: 15, min_samples_leaf: 5 }, layout: 'masks' },
    { name: 'forest binary', target: 'yes', algo: 'forest', params: { trees: 10, max_depth: 5 }, layout: 'masks' },
    { name: 'forest multiclass, trees of up to 64 leaves', target: 'cls', algo: 'forest', params: { trees: 10, max_depth: 6 }, layout: 'masks', over32: true },
    { name: 'forest regression, unlimited depth', target: 'y', algo: 'forest', params: { trees: 5 }, layout: 'nodes' },
  ] as const;

  for (const c of cases) {
    it(`${c.name}: the same outputs to the bit as a plain walk, with missing values and categories`, async () => {
      const table = tableFromRows(records.map((r, i) => ({ ...inputs[i], [c.target]: r[c.target] })));
      const { model } = await train(table, c.target, c.algo, { ...c.params, test_size: 0 }, quiet);
      const e = ensembleOf(model.estimator as TreeEstimator);
      assert.ok(e.trees.some((t) => t.categories?.some(Boolean)), 'some splits are on categories');
      assert.ok(e.trees.some((t) => t.missingLeft.some((m, i) => m === 1 && t.feature[i]! >= 0)), 'some splits send missing values left');
      if ('over32' in c) assert.ok(leavesOf(e) > 32 && leavesOf(e) <= 64, `the largest tree has ${leavesOf(e)} leaves`);
      const p = model.features.outputs.length;
      assert.equal(walkLayout(e, p), c.layout);

      const x = applyFeatures(model.features, tableFromRows(rows, table.columns.filter((col) => col.name !== c.target).reduce((s, col) => ({ ...s, [col.name]: col.type }), {})));
      const n = rows.length;
      assertSameBits(ensembleRaw(e, x, n, p), referenceRaw(e, x, n, p), 'table rows');

      // Values no table holds: at and next to the thresholds, infinities, -0, codes out of range.
      const thresholds = e.trees.flatMap((t) => Array.from(t.threshold).filter((_, i) => t.feature[i]! >= 0 && !t.categories?.[i]));
      const odd = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0, 0, -1, -0.5, 1.5, 2.999, 1e9, 2 ** 31, 2 ** 32 + 1, -(2 ** 31)];
      const y = x.slice();
      for (let i = 0; i < y.length; i++) {
        const r = rng.next();
        if (r < 0.2) y[i] = odd[Math.floor(rng.next() * odd.length)]!;
        else if (r < 0.5 && thresholds.length) {
          const th = thresholds[Math.floor(rng.next() * thresholds.length)]!;
          y[i] = r < 0.3 ? th : r < 0.4 ? th + Math.abs(th) * Number.EPSILON + Number.MIN_VALUE : th - Math.abs(th) * Number.EPSILON - Number.MIN_VALUE;
        }
      }
      assertSameBits(ensembleRaw(e, y, n, p), referenceRaw(e, y, n, p), 'odd values');
      // One row at a time, as a server predicts.
      for (let i = 0; i < 40; i++) {
        const one = y.slice(i * p, (i + 1) * p);
        assertSameBits(ensembleRaw(e, one, 1, p), referenceRaw(e, one, 1, p), `row ${i} alone`);
      }
    });
  }
});
