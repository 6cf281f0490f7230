import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SeededRandom } from '../sketches/seeded-random.js';
import { checkTree, ensembleRaw, ensembleRawJs, leafIndex, type Ensemble, type Tree } from './tree.js';
import { enableParallelPrediction } from './predict-pool.js';

/** A random tree over p features: numeric and categorical splits, NaN sent either way. */
function randomTree(rng: SeededRandom, p: number, depth: number, width: number, output: number): Tree {
  const feature: number[] = [];
  const threshold: number[] = [];
  const left: number[] = [];
  const right: number[] = [];
  const missingLeft: number[] = [];
  const value: number[] = [];
  const cover: number[] = [];
  const categories: (Int32Array | undefined)[] = [];
  const grow = (d: number): number => {
    const id = feature.length;
    feature.push(-1); threshold.push(0); left.push(-1); right.push(-1); missingLeft.push(0); cover.push(1); categories.push(undefined);
    for (let c = 0; c < width; c++) value.push(rng.next() * 2 - 1);
    if (d === 0 || rng.next() < 0.15) return id;
    const f = Math.floor(rng.next() * p);
    feature[id] = f;
    missingLeft[id] = rng.next() < 0.5 ? 1 : 0;
    if (f % 3 === 2) categories[id] = Int32Array.from(new Set(Array.from({ length: 1 + Math.floor(rng.next() * 4) }, () => Math.floor(rng.next() * 40))));
    else threshold[id] = rng.next() * 2 - 1;
    left[id] = grow(d - 1);
    right[id] = grow(d - 1);
    return id;
  };
  grow(depth);
  return {
    output, width, feature: Int32Array.from(feature), threshold: Float64Array.from(threshold), left: Int32Array.from(left), right: Int32Array.from(right),
    missingLeft: Uint8Array.from(missingLeft), value: Float64Array.from(value), cover: Float64Array.from(cover), categories,
  };
}

describe('tree ensembles', () => {
  it('walk the same in WebAssembly and in JavaScript, and as leafIndex says, with NaN, categories and vector leaves', () => {
    const rng = new SeededRandom(17);
    const p = 9;
    for (const [k, vector, aggregation, numericOnly] of [[1, false, 'sum', true], [1, false, 'sum', false], [3, false, 'sum', false], [3, true, 'mean', false]] as const) {
      const trees = Array.from({ length: 25 }, (_, t) => randomTree(rng, numericOnly ? 2 : p, 2 + (t % 6), vector ? k : 1, vector ? -1 : t % k));
      for (const t of trees) assert.equal(checkTree(t, p), null);
      const e: Ensemble = { outputs: k, aggregation, baseScore: Float64Array.from({ length: k }, (_, i) => i / 10), trees };
      const n = 9000;
      const x = Float64Array.from({ length: n * p }, (_, i) => {
        const f = i % p;
        const r = rng.next();
        if (r < 0.1) return Number.NaN;
        return f % 3 === 2 ? Math.floor(rng.next() * 45) - 2 : rng.next() * 2.2 - 1.1;
      });
      const a = ensembleRaw(e, x, n, p);
      const b = ensembleRawJs(e, x, n, p);
      assert.deepEqual(Array.from(a), Array.from(b));
      // And by leafIndex, tree by tree, for a few rows.
      for (let i = 0; i < 50; i++) {
        const sums = new Float64Array(k);
        for (const t of trees) {
          const leaf = leafIndex(t, x, i * p);
          if (t.output >= 0) sums[t.output]! += t.value[leaf]!;
          else for (let j = 0; j < k; j++) sums[j]! += t.value[leaf * k + j]!;
        }
        for (let j = 0; j < k; j++) {
          const want = sums[j]! * (aggregation === 'mean' ? 1 / trees.length : 1) + e.baseScore[j]!;
          assert.ok(Math.abs(a[i * k + j]! - want) < 1e-12, `row ${i} output ${j}`);
        }
      }
    }
  });

  it('share large batches with a worker thread and give the same outputs', () => {
    enableParallelPrediction();
    const rng = new SeededRandom(5);
    const p = 6;
    const trees = Array.from({ length: 30 }, (_, t) => randomTree(rng, p, 3 + (t % 5), 2, -1));
    const e: Ensemble = { outputs: 2, aggregation: 'sum', baseScore: Float64Array.of(0.5, -0.5), trees };
    const n = 60_000;
    const x = Float64Array.from({ length: n * p }, (_, i) => (i % p) % 3 === 2 ? Math.floor(rng.next() * 45) : rng.next() < 0.05 ? Number.NaN : rng.next() * 2 - 1);
    const a = ensembleRaw(e, x, n, p);
    assert.ok(a.buffer instanceof SharedArrayBuffer, 'a large batch is walked in shared memory');
    assert.deepEqual(Array.from(a), Array.from(ensembleRawJs(e, x, n, p)));
    // Again with the ensemble already sent, on a matrix in shared memory.
    const xs = new Float64Array(new SharedArrayBuffer(8 * n * p));
    xs.set(x);
    xs[7] = 0.123;
    assert.deepEqual(Array.from(ensembleRaw(e, xs, n, p)), Array.from(ensembleRawJs(e, xs, n, p)));
  });
});
