import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SeededRandom } from '../sketches/seeded-random.js';
import { checkTree, ensembleRaw, ensembleRawJs, leafIndex, walkLayout, type Ensemble, type Tree } from './tree.js';
import { enableParallelPrediction, lastBatchWorkerRows, predictionWorkerReady } from './predict-pool.js';

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

  it('walk a tree whose nodes share a child in JavaScript, as leafIndex says', () => {
    // Node 3 is the right child of both 0 and 1: no tree the table or node layouts can hold.
    const shared: Tree = {
      output: 0, width: 1, feature: Int32Array.of(0, 1, -1, -1), threshold: Float64Array.of(0.5, 0.25, 0, 0), left: Int32Array.of(1, 2, 0, 0), right: Int32Array.of(3, 3, 0, 0),
      missingLeft: Uint8Array.of(1, 0, 0, 0), value: Float64Array.of(0, 0, 1.5, -2), cover: Float64Array.of(2, 1, 1, 1),
    };
    const e: Ensemble = { outputs: 1, aggregation: 'sum', baseScore: Float64Array.of(0.25), trees: [shared, shared] };
    assert.equal(walkLayout(e, 2), 'js');
    const x = Float64Array.of(0, 0, 0, 1, 1, 0, Number.NaN, Number.NaN, 0.5, 0.25);
    const want = Array.from({ length: 5 }, (_, i) => 2 * shared.value[leafIndex(shared, x, 2 * i)]! + 0.25);
    assert.deepEqual(Array.from(ensembleRaw(e, x, 5, 2)), want);
  });

  it('share large batches with a worker thread and give the same outputs', async () => {
    enableParallelPrediction();
    await predictionWorkerReady();
    const rng = new SeededRandom(5);
    const p = 6;
    const trees = Array.from({ length: 30 }, (_, t) => randomTree(rng, p, 3 + (t % 5), 2, -1));
    const e: Ensemble = { outputs: 2, aggregation: 'sum', baseScore: Float64Array.of(0.5, -0.5), trees };
    const n = 60_000;
    const x = Float64Array.from({ length: n * p }, (_, i) => (i % p) % 3 === 2 ? Math.floor(rng.next() * 45) : rng.next() < 0.05 ? Number.NaN : rng.next() * 2 - 1);
    const want = Array.from(ensembleRawJs(e, x, n, p));
    // The worker claims blocks as it gets to them: on a busy machine it may miss a batch.
    let shared = 0;
    for (let attempt = 0; attempt < 20 && !shared; attempt++) {
      const a = ensembleRaw(e, x, n, p);
      assert.ok(a.buffer instanceof SharedArrayBuffer, 'a large batch is walked in shared memory');
      assert.deepEqual(Array.from(a), want);
      shared = lastBatchWorkerRows();
    }
    assert.ok(shared > 0 && shared < n, `the worker walked ${shared} of ${n} rows`);
    // Again on a matrix in shared memory.
    const xs = new Float64Array(new SharedArrayBuffer(8 * n * p));
    xs.set(x);
    xs[7] = 0.123;
    assert.deepEqual(Array.from(ensembleRaw(e, xs, n, p)), Array.from(ensembleRawJs(e, xs, n, p)));
  });
});

/**
 * The reference: one row, one tree, one node at a time from the Tree arrays, with the documented
 * rules: missing goes where `missingLeft` says; a category split sends left the values whose integer
 * part is a code of its set (negative values and codes the set lacks, unseen ones included, go right);
 * a numeric split sends left the values at most its threshold. Leaf values summed in tree order,
 * then averaged and offset by the base score.
 */
function referenceRaw(e: Ensemble, x: Float64Array, n: number, p: number): Float64Array {
  const k = e.outputs;
  const out = new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    for (const t of e.trees) {
      let node = 0;
      while (t.feature[node]! >= 0) {
        const v = x[i * p + t.feature[node]!]!;
        const set = t.categories?.[node];
        let left: boolean;
        if (Number.isNaN(v)) left = t.missingLeft[node] === 1;
        else if (set) left = v >= 0 && set.includes(Math.trunc(v));
        else left = v <= t.threshold[node]!;
        node = left ? t.left[node]! : t.right[node]!;
      }
      for (let j = 0; j < t.width; j++) out[i * k + (t.output >= 0 ? t.output : j)]! += t.value[node * t.width + j]!;
    }
    for (let j = 0; j < k; j++) out[i * k + j] = out[i * k + j]! * (e.aggregation === 'mean' ? 1 / e.trees.length : 1) + e.baseScore[j]!;
  }
  return out;
}

/** A tree of depth up to `depth` whose splits are mostly category sets (codes 0…69, over three words). */
function categoricalTree(rng: SeededRandom, p: number, depth: number, thresholds: number[]): Tree {
  const t = randomTree(rng, p, depth, 1, 0);
  const categories: (Int32Array | undefined)[] = new Array(t.feature.length);
  for (let i = 0; i < t.feature.length; i++) {
    if (t.feature[i]! < 0) continue;
    if (rng.next() < 0.8) {
      t.feature[i] = Math.floor(rng.next() * (p - 1));
      const size = 1 + Math.floor(rng.next() * 12);
      categories[i] = Int32Array.from(new Set(Array.from({ length: size }, () => Math.floor(rng.next() * 70))));
    } else {
      // The numeric feature, split at one of a few shared thresholds (ties between nodes and with values).
      t.feature[i] = p - 1;
      t.threshold[i] = thresholds[Math.floor(rng.next() * thresholds.length)]!;
    }
  }
  t.categories = categories;
  return t;
}

describe('prediction on models dominated by category-set splits', () => {
  const rng = new SeededRandom(23);
  const p = 5;
  const thresholds = [-1.5, -0.25, 0, 0.5, 0.5000000000000001, 2];
  const trees = Array.from({ length: 60 }, (_, t) => categoricalTree(rng, p, 3 + (t % 8), thresholds));
  const e: Ensemble = { outputs: 1, aggregation: 'sum', baseScore: Float64Array.of(-0.3), trees };
  // Category codes in and out of the sets, unseen ones (70…99 are in no set), missing, negative,
  // fractional and huge; numeric values at, between and beyond the thresholds, -0 and ±Infinity.
  const odd = [Number.NaN, -1, -0.5, -0, 70, 99, 1e6, 2 ** 31 + 3, 2 ** 32 + 5, 3.7, Number.POSITIVE_INFINITY];
  const numeric = [...thresholds, Number.NaN, -0, Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY, -3, 0.75, 9];
  function rows(n: number): Float64Array {
    return Float64Array.from({ length: n * p }, (_, i) => {
      const r = rng.next();
      if (i % p === p - 1) return r < 0.5 ? numeric[Math.floor(rng.next() * numeric.length)]! : rng.next() * 6 - 3;
      return r < 0.15 ? odd[Math.floor(rng.next() * odd.length)]! : Math.floor(rng.next() * 70);
    });
  }

  it('gives, bit for bit, what the reference walk gives, one row at a time and in large batches', () => {
    for (const t of trees) assert.equal(checkTree(t, p), null);
    const cats = trees.reduce((s, t) => s + t.categories!.filter(Boolean).length, 0);
    const splits = trees.reduce((s, t) => s + t.feature.filter((f) => f >= 0).length, 0);
    assert.ok(cats > 0.7 * splits, `${cats} of ${splits} splits are category sets`);
    for (const n of [1, 7, 8, 9, 5000]) {
      const x = rows(n);
      const want = referenceRaw(e, x, n, p);
      assert.deepEqual(Array.from(ensembleRaw(e, x, n, p)), Array.from(want), `${n} rows`);
      assert.deepEqual(Array.from(ensembleRawJs(e, x, n, p)), Array.from(want), `${n} rows, JavaScript walk`);
    }
  });

  it('walks in JavaScript an ensemble whose bitsets would be too large, or whose trees share a node', () => {
    const huge = categoricalTree(new SeededRandom(3), p, 4, thresholds);
    const at = huge.feature.findIndex((f, i) => f >= 0 && huge.categories![i] !== undefined);
    huge.categories![at] = Int32Array.of(3, 140_000_000);
    const big: Ensemble = { outputs: 1, aggregation: 'sum', baseScore: Float64Array.of(0), trees: [huge, ...trees.slice(0, 5)] };
    const x = rows(300);
    x[huge.feature[at]!] = 140_000_000;
    x[p + huge.feature[at]!] = 140_000_001;
    assert.deepEqual(Array.from(ensembleRaw(big, x, 300, p)), Array.from(referenceRaw(big, x, 300, p)));
    // And one whose root sends both ways to the same node: not a tree checkTree accepts, still walked.
    const shared: Tree = {
      output: 0, width: 1, feature: Int32Array.of(1, -1), threshold: Float64Array.of(0.5, 0), left: Int32Array.of(1, -1), right: Int32Array.of(1, -1),
      missingLeft: Uint8Array.of(1, 0), value: Float64Array.of(0, 0.25), cover: Float64Array.of(2, 2),
    };
    const dag: Ensemble = { outputs: 1, aggregation: 'sum', baseScore: Float64Array.of(0), trees: [shared, ...trees.slice(0, 3)] };
    assert.deepEqual(Array.from(ensembleRaw(dag, x, 300, p)), Array.from(referenceRaw(dag, x, 300, p)));
  });

  it('gives the same on two threads, and with vector leaves and averaging', async () => {
    enableParallelPrediction();
    await predictionWorkerReady();
    const n = 40_000;
    const x = rows(n);
    assert.deepEqual(Array.from(ensembleRaw(e, x, n, p)), Array.from(referenceRaw(e, x, n, p)));
    const vector: Ensemble = {
      outputs: 3, aggregation: 'mean', baseScore: Float64Array.of(0.1, 0, -0.1),
      trees: trees.slice(0, 20).map((t) => ({ ...t, output: -1, width: 3, value: Float64Array.from({ length: 3 * t.feature.length }, () => rng.next() - 0.5) })),
    };
    assert.deepEqual(Array.from(ensembleRaw(vector, x, n, p)), Array.from(referenceRaw(vector, x, n, p)));
    const perOutput: Ensemble = { outputs: 3, aggregation: 'sum', baseScore: Float64Array.of(0, 1, 2), trees: trees.map((t, i) => ({ ...t, output: i % 3 })) };
    assert.deepEqual(Array.from(ensembleRaw(perOutput, x, 300, p)), Array.from(referenceRaw(perOutput, x, 300, p)));
  });
});
