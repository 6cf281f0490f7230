/**
 * Tree ensembles on a numeric matrix: histogram gradient boosting (squared error, binary log loss,
 * softmax) with row and column subsampling and early stopping, and random forests (bootstrap
 * samples, features drawn per split, one tree over every class). Deterministic for a seed: the
 * random draws happen on the main thread only, and workers build histograms of disjoint features.
 */
import { SeededRandom } from '../sketches/seeded-random.js';
import type { Ensemble, Tree } from '../trees/tree.js';
import { checkpoints } from '../checkpoint.js';
import { applyBinning, checkCategories, checkMaxBins, fitBinning, sampleRows, type Binning } from './binning.js';
import type { BinningJob } from './parallel-binning.js';
import { binnedLeaf, growTree, type GrowContext, type GrownTree } from './grower.js';
import { allocateHistogramData, kernelFor, type HistogramData } from './histogram.js';
import { HistogramPool } from './pool.js';
import type { Objective } from './objective.js';

export type { Objective } from './objective.js';

export interface Matrix {
  /** Row-major n × p. */
  x: Float64Array;
  n: number;
  p: number;
  /** Regression: values; classifiers: class index. */
  y: Float64Array;
}

export interface BoostParams {
  objective: Objective;
  classes: number;
  trees: number;
  learningRate: number;
  maxLeaves: number;
  maxDepth: number;
  minSamplesLeaf: number;
  l2: number;
  maxBins: number;
  subsample: number;
  colsample: number;
  /** Rounds without improvement on the validation set before stopping; 0: never. */
  earlyStopping: number;
  threads: number;
  seed: number;
  /** Feature → number of categories. */
  categorical?: Map<number, number>;
  /** Compute the training loss every this many rounds (and on the last); NaN in `trainLoss` between. Default 1. */
  lossEvery?: number;
  /** Use the WebAssembly kernels (default); false runs the JavaScript loops, which give the same trees. */
  wasm?: boolean;
}

export interface BoostResult {
  ensemble: Ensemble;
  /** Trees per output kept (the best iteration with early stopping). */
  iterations: number;
  /** Loss per round on the training rows (NaN where not computed, see `lossEvery`) and, when given, the validation rows. */
  trainLoss: number[];
  validLoss: number[];
  threads: number;
}

export type TreeProgress = (done: number, total: number, info: { trainLoss: number; validLoss?: number }) => void;


/** Mean loss of raw scores (n × k) against y. */
export function meanLoss(objective: Objective, raw: Float64Array, y: Float64Array, k: number): number {
  const n = y.length;
  let s = 0;
  if (objective === 'regression') for (let i = 0; i < n; i++) s += (raw[i]! - y[i]!) ** 2;
  else if (objective === 'binary') {
    for (let i = 0; i < n; i++) {
      const z = raw[i]!;
      // log(1 + e^z) - y z, stable.
      s += (z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z))) - y[i]! * z;
    }
  } else {
    for (let i = 0; i < n; i++) {
      let max = -Infinity;
      for (let c = 0; c < k; c++) max = Math.max(max, raw[i * k + c]!);
      let sum = 0;
      for (let c = 0; c < k; c++) sum += Math.exp(raw[i * k + c]! - max);
      s += max + Math.log(sum) - raw[i * k + y[i]!]!;
    }
  }
  return s / n;
}

interface Prepared {
  binning: Binning;
  bins: Uint8Array;
  pool: HistogramPool;
  data: HistogramData;
}

async function prepareData(m: Matrix, maxBins: number, categorical: Map<number, number>, seed: number, threads: number, channels: number, slots: number, idxLength: number, wasm = true): Promise<Prepared> {
  const t = Math.max(1, Math.floor(threads));
  // Every feature's codes fit in maxBins + 1 (the last one for missing values), known before binning.
  const data = allocateHistogramData(m.n, m.p, idxLength, channels, maxBins + 1, slots, t, wasm);
  // The workers start while this thread samples for the bins.
  const poolReady = HistogramPool.create(data, m.p, t);
  let binning: Binning;
  let bins: Uint8Array;
  let pool: HistogramPool;
  try {
    checkMaxBins(maxBins);
    for (const [f, k] of categorical) checkCategories(f, k, maxBins);
    if (t > 1 && data.wasm && m.x.buffer instanceof SharedArrayBuffer && m.n * m.p >= 1_000_000) {
      // Large matrices: every thread fits and bins its share of the features.
      const rows = sampleRows(m.n, seed);
      const shared = <T extends Int32Array | Uint32Array | Float64Array>(a: T): T => {
        const c = new (a.constructor as new (b: SharedArrayBuffer) => T)(new SharedArrayBuffer(a.byteLength));
        c.set(a);
        return c;
      };
      const job: BinningJob = {
        x: m.x, n: m.n, p: m.p, maxBins, rows: shared(rows),
        categories: shared(Int32Array.from({ length: m.p }, (_, f) => categorical.get(f) ?? -1)),
        edges: new Float64Array(new SharedArrayBuffer(8 * 256 * m.p)), edgeCounts: new Int32Array(new SharedArrayBuffer(4 * m.p)),
      };
      pool = await poolReady;
      pool.bin(job);
      binning = {
        bins: Array.from({ length: m.p }, (_, f) => categorical.get(f) ?? job.edgeCounts[f]! + 1),
        edges: Array.from({ length: m.p }, (_, f) => (categorical.has(f) ? new Float64Array(0) : job.edges.slice(256 * f, 256 * f + job.edgeCounts[f]!))),
        categorical: Array.from({ length: m.p }, (_, f) => categorical.has(f)),
        missingBin: maxBins, codes: maxBins + 1,
      };
      bins = data.bins;
    } else {
      binning = fitBinning(m.x, m.n, m.p, maxBins, categorical, seed);
      const w = data.wasm;
      const fast = w ? {
        values: new Float64Array(w.memory.buffer, w.values, m.n), edges: new Float64Array(w.memory.buffer, w.edges, 256), outBase: w.bins,
        bin: (n: number, out: number, missing: number) => kernelFor(w.memory).bin(w.values, n, w.edges, out, missing),
      } : undefined;
      bins = applyBinning(binning, m.x, m.n, m.p, data.bins, fast);
      pool = await poolReady;
    }
    for (let f = 0; f < m.p; f++) data.used[f] = binning.bins[f]!;
  } catch (e) {
    await poolReady.then((p) => p.close(), () => undefined);
    throw e;
  }
  return { binning, bins, pool, data };
}

function shuffle(rng: SeededRandom, a: Int32Array | Uint32Array | number[]): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    const t = a[i]!;
    a[i] = a[j]!;
    a[j] = t;
  }
}

/** Sets `count` active features: all, or a seeded subset (kept in increasing order). */
function chooseFeatures(features: Int32Array, p: number, share: number, rng: SeededRandom): number {
  const all = Array.from({ length: p }, (_, i) => i);
  const k = share >= 1 ? p : Math.max(1, Math.round(share * p));
  if (k < p) shuffle(rng, all);
  const chosen = all.slice(0, k).sort((a, b) => a - b);
  features.set(chosen);
  return k;
}

/** `signal` stops it between trees (with the signal's reason), having given the event loop a turn now and then to notice it. */
export async function boost(train: Matrix, params: BoostParams, valid?: Matrix, onTree?: TreeProgress, signal?: AbortSignal): Promise<BoostResult> {
  const checkpoint = checkpoints(signal);
  const { objective } = params;
  const k = objective === 'multiclass' ? params.classes : 1;
  const { n, p, y } = train;
  const rng = new SeededRandom(params.seed);
  const prep = await prepareData(train, params.maxBins, params.categorical ?? new Map<number, number>(), params.seed, params.threads, 1, Math.max(2, params.maxLeaves) + 2, n, params.wasm ?? true);
  const { binning, pool, data } = prep;
  try {
    // Base scores: the constant model minimising the loss.
    const base = new Float64Array(k);
    if (objective === 'regression') base[0] = y.reduce((a, b) => a + b, 0) / n;
    else if (objective === 'binary') {
      const m = Math.min(1 - 1e-12, Math.max(1e-12, y.reduce((a, b) => a + b, 0) / n));
      base[0] = Math.log(m / (1 - m));
    } else {
      const counts = new Float64Array(k);
      for (let i = 0; i < n; i++) counts[y[i]!]!++;
      for (let c = 0; c < k; c++) base[c] = Math.log(Math.max(counts[c]!, 1e-12) / n);
    }
    const raw = new Float64Array(new SharedArrayBuffer(8 * n * k));
    for (let i = 0; i < n; i++) for (let c = 0; c < k; c++) raw[i * k + c] = base[c]!;
    const ys = new Float64Array(new SharedArrayBuffer(8 * n));
    ys.set(y);
    let vbins: Uint8Array | undefined;
    let vraw: Float64Array | undefined;
    if (valid && valid.n > 0) {
      vbins = applyBinning(binning, valid.x, valid.n, valid.p);
      vraw = new Float64Array(valid.n * k);
      for (let i = 0; i < valid.n; i++) for (let c = 0; c < k; c++) vraw[i * k + c] = base[c]!;
    }
    // One output's gradients live where the kernel can gather them (WebAssembly memory when used).
    const w = data.wasm;
    const gk = w ? new Float32Array(w.memory.buffer, w.rowGrad, n) : new Float32Array(n);
    const hk = w ? new Float32Array(w.memory.buffer, w.rowHess, n) : new Float32Array(n);
    const g = k === 1 ? gk : new Float32Array(new SharedArrayBuffer(4 * n * k));
    const h = k === 1 ? hk : new Float32Array(new SharedArrayBuffer(4 * n * k));
    pool.setGradients({ objective, k, raw, y: ys, g, h });
    const ctx: GrowContext = { pool, binning, p, g: gk, h: hk, unitHessian: objective === 'regression', scratch: new Uint32Array(n), rng };
    const grow = { maxLeaves: params.maxLeaves, maxDepth: params.maxDepth, minSamplesLeaf: params.minSamplesLeaf, l2: params.l2, shrinkage: params.learningRate, minHessian: 1e-3 };
    const trees: Tree[] = [];
    const trainLoss: number[] = [];
    const validLoss: number[] = [];
    let best = Number.POSITIVE_INFINITY;
    let bestIter = 0;
    const sampleSize = params.subsample >= 1 ? n : Math.max(1, Math.round(params.subsample * n));
    const order = new Uint32Array(n);
    for (let iter = 0; iter < params.trees; iter++) {
      await checkpoint();
      pool.gradients(n);
      // Rows for this iteration: all, or a sample without replacement (kept in row order).
      if (sampleSize === n) for (let i = 0; i < n; i++) data.idx[i] = i;
      const activeCount = chooseFeatures(data.features, p, params.colsample, rng);
      pool.setFeatureCount(activeCount);
      if (sampleSize < n) {
        for (let i = 0; i < n; i++) order[i] = i;
        for (let i = 0; i < sampleSize; i++) {
          const j = i + Math.floor(rng.next() * (n - i));
          const t = order[i]!; order[i] = order[j]!; order[j] = t;
        }
        data.idx.set(order.subarray(0, sampleSize).sort());
      }
      for (let c = 0; c < k; c++) {
        if (k > 1) for (let i = 0; i < n; i++) { gk[i] = g[i * k + c]!; hk[i] = h[i * k + c]!; }
        if (sampleSize < n && c > 0) data.idx.set(order.subarray(0, sampleSize).sort());
        else if (c > 0) for (let i = 0; i < n; i++) data.idx[i] = i;
        const grown = growTree(ctx, sampleSize, grow, k === 1 ? 0 : c);
        trees.push(grown.tree);
        updateScores(grown, raw, k, c, data.idx, sampleSize === n ? undefined : prep.bins, n);
        if (vbins && vraw) for (let i = 0; i < valid!.n; i++) vraw[i * k + c]! += grown.tree.value[binnedLeaf(grown, vbins, valid!.n, i)]!;
      }
      const every = Math.max(1, params.lossEvery ?? 1);
      const tl = (iter + 1) % every === 0 || iter + 1 === params.trees ? meanLoss(objective, raw, y, k) : Number.NaN;
      trainLoss.push(tl);
      let vl: number | undefined;
      if (vraw) {
        vl = meanLoss(objective, vraw, valid!.y, k);
        validLoss.push(vl);
        if (vl < best - 1e-10) { best = vl; bestIter = iter + 1; }
      }
      onTree?.(iter + 1, params.trees, { trainLoss: tl, validLoss: vl });
      if (vraw && params.earlyStopping > 0 && iter + 1 - bestIter >= params.earlyStopping) break;
    }
    const iterations = vraw && params.earlyStopping > 0 ? Math.max(1, bestIter) : trees.length / k;
    return {
      ensemble: { outputs: k, aggregation: 'sum', baseScore: base, trees: trees.slice(0, iterations * k) },
      iterations, trainLoss, validLoss, threads: pool.threads,
    };
  } finally {
    await pool.close();
  }
}

/** Adds a new tree's leaf values to the training scores: by leaf ranges, or by bins when rows were sampled. */
function updateScores(t: GrownTree, raw: Float64Array, k: number, c: number, idx: Uint32Array, bins: Uint8Array | undefined, n: number): void {
  const v = t.tree.value;
  if (!bins) {
    for (const leaf of t.leaves) {
      const val = v[leaf.node]!;
      for (let i = leaf.start; i < leaf.start + leaf.count; i++) raw[idx[i]! * k + c]! += val;
    }
    return;
  }
  for (let i = 0; i < n; i++) raw[i * k + c]! += v[binnedLeaf(t, bins, n, i)]!;
}

export interface ForestParams {
  objective: Objective;
  classes: number;
  trees: number;
  maxDepth: number;
  minSamplesLeaf: number;
  /** Features tried per split, as a share of all; 0: √p for classifiers, p/3 for regression. */
  maxFeatures: number;
  /** Bootstrap size as a share of the rows. */
  subsample: number;
  maxBins: number;
  threads: number;
  seed: number;
  categorical?: Map<number, number>;
}

export type ForestProgress = (done: number, total: number) => void;

/**
 * A random forest: each tree on a bootstrap sample, grown until leaves are pure or reach the
 * minimum size, over features drawn at each split. Classifier leaves hold class shares (one tree
 * for every class at once); the forest averages them.
 */
export async function forest(train: Matrix, params: ForestParams, onTree?: ForestProgress, signal?: AbortSignal): Promise<{ ensemble: Ensemble; threads: number }> {
  const checkpoint = checkpoints(signal);
  const { objective } = params;
  const k = objective === 'multiclass' ? params.classes : 1;
  const { n, p, y } = train;
  const rng = new SeededRandom(params.seed);
  const sample = Math.max(1, Math.round(params.subsample * n));
  const prep = await prepareData(train, params.maxBins, params.categorical ?? new Map<number, number>(), params.seed, params.threads, k, 64, sample);
  const { binning, pool, data } = prep;
  try {
    // Gradient -y per class (unit hessian): leaf values are then the class shares (or the mean).
    const g = new Float32Array(n * k);
    for (let i = 0; i < n; i++) {
      if (objective === 'multiclass') g[i * k + y[i]!] = -1;
      else g[i] = -y[i]!;
    }
    const share = params.maxFeatures > 0 ? params.maxFeatures : objective === 'regression' ? 1 / 3 : Math.sqrt(p) / p;
    const perSplit = Math.max(1, Math.min(p, Math.round(share * p)));
    for (let f = 0; f < p; f++) data.features[f] = f;
    pool.setFeatureCount(p);
    const ctx: GrowContext = { pool, binning, p, g, h: new Float32Array(0), unitHessian: true, scratch: new Uint32Array(sample), rng };
    const grow = { maxLeaves: 0, maxDepth: params.maxDepth, minSamplesLeaf: params.minSamplesLeaf, l2: 0, shrinkage: 1, featuresPerSplit: perSplit, minHessian: 0 };
    const trees: Tree[] = [];
    const draw = new Uint32Array(sample);
    for (let t = 0; t < params.trees; t++) {
      await checkpoint();
      for (let i = 0; i < sample; i++) draw[i] = Math.floor(rng.next() * n);
      draw.sort();
      data.idx.set(draw);
      const grown = growTree(ctx, sample, grow, k === 1 ? 0 : -1);
      trees.push(grown.tree);
      onTree?.(t + 1, params.trees);
    }
    return { ensemble: { outputs: k, aggregation: 'mean', baseScore: new Float64Array(k), trees }, threads: pool.threads };
  } finally {
    await pool.close();
  }
}
