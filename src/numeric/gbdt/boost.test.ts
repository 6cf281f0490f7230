import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SeededRandom } from '../sketches/seeded-random.js';
import { ensembleRaw, leafIndex, treeDepth, type Tree } from '../trees/tree.js';
import { rocAuc } from '../metrics/classification.js';
import { applyBinning, fitBinning } from './binning.js';
import { boost, forest, meanLoss, type BoostParams, type Matrix } from './boost.js';

const BASE: BoostParams = {
  objective: 'binary', classes: 2, trees: 20, learningRate: 0.1, maxLeaves: 31, maxDepth: 0, minSamplesLeaf: 20, l2: 0, maxBins: 255,
  subsample: 1, colsample: 1, earlyStopping: 0, threads: 1, seed: 7,
};

function synthetic(n: number, p: number, seed: number, objective: 'binary' | 'regression' | 'multiclass' = 'binary'): Matrix {
  const rng = new SeededRandom(seed);
  const x = new Float64Array(n * p);
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < p; j++) {
      const v = rng.next() * 2 - 1;
      x[i * p + j] = v;
      if (j < 4) s += v * (j + 1);
    }
    s += 3 * x[i * p + 4]! * x[i * p + 5]!;
    if (objective === 'regression') y[i] = s + (rng.next() - 0.5) * 0.2;
    else if (objective === 'binary') y[i] = rng.next() < 1 / (1 + Math.exp(-2 * s)) ? 1 : 0;
    else y[i] = s < -1 ? 0 : s < 1 ? 1 : 2;
  }
  return { x, n, p, y };
}

const leaves = (t: Tree) => Array.from(t.feature).filter((f) => f < 0).length;

describe('binning', () => {
  it('puts x in bin t exactly when edges[t-1] < x <= edges[t], missing in the last code', () => {
    const rng = new SeededRandom(3);
    const n = 5000;
    const x = Float64Array.from({ length: n * 2 }, (_, i) => (i % 2 ? Math.round(rng.next() * 10) : rng.next() < 0.05 ? Number.NaN : rng.next() * 100));
    const b = fitBinning(x, n, 2, 32, new Map(), 1);
    assert.equal(b.codes, 33);
    assert.equal(b.bins[1], 11, 'few distinct values: one bin each');
    assert.ok(b.bins[0]! <= 32);
    const bins = applyBinning(b, x, n, 2);
    for (let f = 0; f < 2; f++) {
      const e = b.edges[f]!;
      for (let i = 0; i < n; i++) {
        const v = x[i * 2 + f]!;
        const bin = bins[f * n + i]!;
        if (Number.isNaN(v)) { assert.equal(bin, b.missingBin); continue; }
        for (let t = 0; t < e.length; t++) assert.equal(v <= e[t]!, bin <= t);
      }
    }
    // Quantile bins hold similar counts.
    const counts = new Map<number, number>();
    for (let i = 0; i < n; i++) counts.set(bins[i]!, (counts.get(bins[i]!) ?? 0) + 1);
    counts.delete(b.missingBin);
    const sizes = [...counts.values()];
    assert.ok(Math.max(...sizes) < 3 * (n / 32), `bin sizes ${Math.min(...sizes)}…${Math.max(...sizes)}`);
  });
});

describe('gradient boosting', () => {
  it('finds the best single split exactly (brute force over every threshold, both missing sides)', async () => {
    const rng = new SeededRandom(11);
    const n = 400;
    const p = 3;
    const x = new Float64Array(n * p);
    const y = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < p; j++) x[i * p + j] = rng.next() < 0.1 ? Number.NaN : Math.round(rng.next() * 50);
      y[i] = (x[i * p + 1]! > 30 || Number.isNaN(x[i * p + 1]!) ? 2 : 0) + x[i * p]! / 50 + rng.next();
      if (Number.isNaN(y[i]!)) y[i] = rng.next();
    }
    const r = await boost({ x, n, p, y }, { ...BASE, objective: 'regression', trees: 1, maxLeaves: 2, learningRate: 1, minSamplesLeaf: 5 });
    const t = r.ensemble.trees[0]!;
    // Brute force: every feature, every threshold between distinct values, missing left or right.
    const mean = y.reduce((a, b) => a + b, 0) / n;
    const g = Float64Array.from(y, (v) => mean - v);
    const G = g.reduce((a, b) => a + b, 0);
    let best = { gain: 0, f: -1, thr: 0, ml: false };
    for (let f = 0; f < p; f++) {
      const vals = [...new Set(Array.from({ length: n }, (_, i) => x[i * p + f]!).filter((v) => !Number.isNaN(v)))].sort((a, b) => a - b);
      for (let k = 0; k + 1 < vals.length; k++) {
        const thr = (vals[k]! + vals[k + 1]!) / 2;
        for (const ml of [false, true]) {
          let gl = 0;
          let nl = 0;
          for (let i = 0; i < n; i++) {
            const v = x[i * p + f]!;
            if (Number.isNaN(v) ? ml : v <= thr) { gl += g[i]!; nl++; }
          }
          if (nl < 5 || n - nl < 5) continue;
          const gain = (gl * gl) / nl + ((G - gl) ** 2) / (n - nl) - (G * G) / n;
          if (gain > best.gain + 1e-9) best = { gain, f, thr, ml };
        }
      }
    }
    assert.equal(t.feature[0], best.f);
    assert.ok(Math.abs(t.threshold[0]! - best.thr) < 1e-9, `threshold ${t.threshold[0]} vs ${best.thr}`);
    assert.equal(t.missingLeft[0] === 1, best.ml);
    // Leaf values are the mean residual of each side.
    for (const side of [t.left[0]!, t.right[0]!]) {
      let s = 0;
      let c = 0;
      for (let i = 0; i < n; i++) {
        if (leafIndex(t, x, i * p) === side) { s += y[i]! - mean; c++; }
      }
      assert.ok(Math.abs(t.value[side]! - s / c) < 1e-6);
      assert.equal(t.cover[side], c);
    }
  });

  it('learns a categorical set split in one node, and routes unseen and missing codes', async () => {
    const rng = new SeededRandom(5);
    const n = 3000;
    const x = new Float64Array(n);
    const y = new Float64Array(n);
    const high = new Set([1, 4, 6, 9]);
    for (let i = 0; i < n; i++) {
      x[i] = Math.floor(rng.next() * 10);
      y[i] = high.has(x[i]!) ? 1 : 0;
    }
    const r = await boost({ x, n, p: 1, y }, { ...BASE, trees: 1, maxLeaves: 2, learningRate: 1, categorical: new Map([[0, 10]]) });
    const t = r.ensemble.trees[0]!;
    assert.ok(t.categories?.[0], 'the root is a categorical split');
    const left = new Set(Array.from(t.categories[0]));
    const other = new Set([0, 2, 3, 5, 7, 8]);
    assert.ok([...left].every((c) => high.has(c)) || [...left].every((c) => other.has(c)), `left set ${[...left]}`);
    assert.equal(left.size === 4 || left.size === 6, true);
    const raw = ensembleRaw(r.ensemble, x, n, 1);
    assert.equal(rocAuc(y, raw), 1);
  });

  it('uses missing values as information and sends unseen missingness to the larger side', async () => {
    const rng = new SeededRandom(9);
    const n = 2000;
    const x = new Float64Array(n * 2);
    const y = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const miss = rng.next() < 0.3;
      x[i * 2] = miss ? Number.NaN : rng.next();
      x[i * 2 + 1] = rng.next();
      y[i] = miss ? 1 : 0;
    }
    const r = await boost({ x, n, p: 2, y }, { ...BASE, trees: 10, learningRate: 0.5 });
    assert.equal(rocAuc(y, ensembleRaw(r.ensemble, x, n, 2)), 1);
    // Feature 1 never is missing: a missing value there goes with the majority of its node.
    const t = r.ensemble.trees.find((tr) => Array.from(tr.feature).includes(1));
    if (t) {
      const node = Array.from(t.feature).indexOf(1);
      const l = t.cover[t.left[node]!]!;
      const rr = t.cover[t.right[node]!]!;
      assert.equal(t.missingLeft[node], l >= rr ? 1 : 0);
    }
  });

  it('respects maxLeaves, maxDepth and minSamplesLeaf, and is deterministic across thread counts', async () => {
    const m = synthetic(20_000, 8, 1);
    const a = await boost(m, { ...BASE, trees: 5, maxLeaves: 12, maxDepth: 3, minSamplesLeaf: 50, threads: 1 });
    const b = await boost(m, { ...BASE, trees: 5, maxLeaves: 12, maxDepth: 3, minSamplesLeaf: 50, threads: 2 });
    assert.equal(b.threads, 2);
    for (const t of a.ensemble.trees) {
      assert.ok(leaves(t) <= 8, 'depth 3 allows at most 8 leaves');
      assert.ok(treeDepth(t) <= 3);
      for (let i = 0; i < t.feature.length; i++) if (t.feature[i]! < 0) assert.ok(t.cover[i]! >= 50);
    }
    assert.deepEqual(a.ensemble.trees.map((t) => Array.from(t.value)), b.ensemble.trees.map((t) => Array.from(t.value)));
    const c = await boost(m, { ...BASE, trees: 5, maxLeaves: 12, threads: 2 });
    assert.ok(c.ensemble.trees.every((t) => leaves(t) <= 12) && c.ensemble.trees.some((t) => leaves(t) === 12));
  });

  it('grows the same trees with the WebAssembly kernels and with the JavaScript loops', async () => {
    for (const objective of ['regression', 'binary', 'multiclass'] as const) {
      const m = synthetic(6000, 7, 21, objective);
      m.x[5] = Number.NaN;
      m.x[70] = Number.NaN;
      const p = { ...BASE, objective, classes: objective === 'multiclass' ? 3 : 1, trees: 4, subsample: 0.8, threads: 2, categorical: new Map([[6, 3]]) };
      for (let i = 0; i < m.n; i++) m.x[i * m.p + 6] = i % 3;
      const a = await boost(m, { ...p, wasm: true });
      const b = await boost(m, { ...p, wasm: false });
      const sig = (r: typeof a) => r.ensemble.trees.map((t) => [Array.from(t.feature), Array.from(t.threshold), Array.from(t.cover), Array.from(t.value).map((v) => v.toPrecision(12))]);
      assert.deepEqual(sig(a), sig(b), objective);
    }
  });

  it('bins large shared matrices on every thread into the same bins and trees', async () => {
    const m = synthetic(140_000, 8, 31);
    for (let i = 0; i < m.n; i += 7) m.x[i * m.p + 2] = Number.NaN;
    for (let i = 0; i < m.n; i++) m.x[i * m.p + 7] = i % 5;
    const shared = new Float64Array(new SharedArrayBuffer(m.x.byteLength));
    shared.set(m.x);
    const p = { ...BASE, trees: 3, threads: 2, categorical: new Map([[7, 5]]) };
    const a = await boost(m, p);
    const b = await boost({ ...m, x: shared }, p);
    const sig = (r: typeof a) => r.ensemble.trees.map((t) => [Array.from(t.feature), Array.from(t.threshold), Array.from(t.cover), Array.from(t.value)]);
    assert.deepEqual(sig(b), sig(a));
  });

  it('lowers the loss every round for each objective, and the scores match the stored trees', async () => {
    for (const objective of ['regression', 'binary', 'multiclass'] as const) {
      const m = synthetic(5000, 6, 2, objective);
      const r = await boost(m, { ...BASE, objective, classes: objective === 'multiclass' ? 3 : 1, trees: 15 });
      for (let i = 1; i < r.trainLoss.length; i++) assert.ok(r.trainLoss[i]! < r.trainLoss[i - 1]!, `${objective} round ${i}`);
      const k = objective === 'multiclass' ? 3 : 1;
      assert.equal(r.ensemble.trees.length, 15 * k);
      const raw = ensembleRaw(r.ensemble, m.x, m.n, m.p);
      assert.ok(Math.abs(meanLoss(objective, raw, m.y, k) - r.trainLoss.at(-1)!) < 1e-9);
    }
  });

  it('stops early on the validation set and keeps the best iteration', async () => {
    const m = synthetic(3000, 6, 4);
    const v = synthetic(1000, 6, 5);
    // Pure noise labels: validation loss stops improving quickly.
    const noise = new SeededRandom(1);
    m.y = m.y.map(() => (noise.next() < 0.5 ? 1 : 0));
    v.y = v.y.map(() => (noise.next() < 0.5 ? 1 : 0));
    const r = await boost(m, { ...BASE, trees: 200, learningRate: 0.3, earlyStopping: 5 }, v);
    assert.ok(r.trainLoss.length < 200, `ran ${r.trainLoss.length} rounds`);
    assert.equal(r.ensemble.trees.length, r.iterations);
    const best = Math.min(...r.validLoss);
    assert.equal(r.validLoss[r.iterations - 1], best);
    assert.equal(r.trainLoss.length, r.iterations + 5);
  });

  it('subsamples rows and columns deterministically for a seed', async () => {
    const m = synthetic(5000, 10, 6);
    const p = { ...BASE, trees: 5, subsample: 0.5, colsample: 0.3 };
    const a = await boost(m, p);
    const b = await boost(m, p);
    const c = await boost(m, { ...p, seed: 8 });
    const sig = (r: typeof a) => JSON.stringify(r.ensemble.trees.map((t) => Array.from(t.value)));
    assert.equal(sig(a), sig(b));
    assert.notEqual(sig(a), sig(c));
    for (const t of a.ensemble.trees) {
      assert.ok(new Set(Array.from(t.feature).filter((f) => f >= 0)).size <= 3, 'at most 3 of 10 features per tree');
      assert.ok(t.cover[0]! === 2500);
    }
  });
});

describe('random forest', () => {
  it('averages class shares over bootstrap trees and predicts well out of sample', async () => {
    const train = synthetic(4000, 6, 10, 'multiclass');
    const test = synthetic(1000, 6, 11, 'multiclass');
    const r = await forest(train, { objective: 'multiclass', classes: 3, trees: 15, maxDepth: 0, minSamplesLeaf: 1, maxFeatures: 0, subsample: 1, maxBins: 255, threads: 2, seed: 1 });
    const proba = ensembleRaw(r.ensemble, test.x, test.n, test.p);
    let correct = 0;
    for (let i = 0; i < test.n; i++) {
      const row = Array.from(proba.subarray(i * 3, i * 3 + 3));
      assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-9);
      if (row.indexOf(Math.max(...row)) === test.y[i]) correct++;
    }
    assert.ok(correct / test.n > 0.8, `accuracy ${correct / test.n}`);
    // Fully grown trees fit their bootstrap sample: leaves are pure.
    const t = r.ensemble.trees[0]!;
    for (let i = 0; i < t.feature.length; i++) {
      if (t.feature[i]! >= 0) continue;
      const v = Array.from(t.value.subarray(i * 3, i * 3 + 3));
      assert.ok(v.some((q) => q === 1), `leaf ${i} holds ${v}`);
    }
    const again = await forest(train, { objective: 'multiclass', classes: 3, trees: 15, maxDepth: 0, minSamplesLeaf: 1, maxFeatures: 0, subsample: 1, maxBins: 255, threads: 1, seed: 1 });
    assert.deepEqual(Array.from(ensembleRaw(again.ensemble, test.x, test.n, test.p)), Array.from(proba));
  });

  it('regresses with depth and leaf-size limits', async () => {
    const train = synthetic(3000, 6, 12, 'regression');
    const r = await forest(train, { objective: 'regression', classes: 1, trees: 10, maxDepth: 6, minSamplesLeaf: 5, maxFeatures: 0.5, subsample: 0.8, maxBins: 64, threads: 1, seed: 2 });
    for (const t of r.ensemble.trees) {
      assert.ok(treeDepth(t) <= 6);
      assert.equal(t.cover[0], 2400);
      for (let i = 0; i < t.feature.length; i++) if (t.feature[i]! < 0) assert.ok(t.cover[i]! >= 5);
    }
    const test = synthetic(1000, 6, 13, 'regression');
    const pred = ensembleRaw(r.ensemble, test.x, test.n, test.p);
    const mean = test.y.reduce((a, b) => a + b, 0) / test.n;
    let ssr = 0;
    let sst = 0;
    for (let i = 0; i < test.n; i++) { ssr += (test.y[i]! - pred[i]!) ** 2; sst += (test.y[i]! - mean) ** 2; }
    assert.ok(1 - ssr / sst > 0.7, `R² ${1 - ssr / sst}`);
  });
});
