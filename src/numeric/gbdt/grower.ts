/**
 * Grows one tree on binned data, best leaf first (the leaf whose best split gains most is split
 * next), with histogram subtraction: only the smaller child's histogram is built, the larger one
 * is the parent's minus it. Splits: numeric thresholds on bins with missing values tried on both
 * sides; categorical sets found by ordering categories by gradient ratio (Fisher's grouping, as
 * LightGBM does); second-order gain with L2. Gradients may have several channels (a random forest
 * grows one tree over every class at once, with a unit hessian).
 */
import type { Binning } from './binning.js';
import type { HistogramPool } from './pool.js';
import { kernelFor, slotSize } from './histogram.js';
import type { Tree } from '../trees/tree.js';
import type { SeededRandom } from '../sketches/seeded-random.js';

export interface GrowParams {
  maxLeaves: number;
  /** 0: unlimited. */
  maxDepth: number;
  minSamplesLeaf: number;
  l2: number;
  /** Multiplies leaf values (the learning rate). */
  shrinkage: number;
  /** Features tried at each split, as a count (≤ the active features); for forests. */
  featuresPerSplit?: number;
  minHessian: number;
}

/** The grower's working memory: the pool's shared buffers plus per-row gradients. */
export interface GrowContext {
  pool: HistogramPool;
  binning: Binning;
  p: number;
  /** Per row and channel: `g[row * channels + c]`. */
  g: Float32Array;
  /** Per row (ignored with a unit hessian). */
  h: Float32Array;
  unitHessian: boolean;
  /** Scratch for partitioning, as long as `idx`. */
  scratch: Uint32Array;
  rng?: SeededRandom;
}

interface Split {
  gain: number;
  feature: number;
  /** Bin codes sent left (a lookup over all codes). */
  left: Uint8Array;
  threshold: number;
  categories?: number[];
  missingLeft: boolean;
  /** Left child's count, hessian, gradients. */
  nl: number;
  hl: number;
  gl: Float64Array;
}

interface Leaf {
  node: number;
  start: number;
  count: number;
  slot: number;
  depth: number;
  hsum: number;
  gsum: Float64Array;
  split: Split | null;
}

/** A grown tree with its splits in bin space, to update scores of rows by their bins. */
export interface GrownTree {
  tree: Tree;
  /** Per node: bin codes sent left (internal nodes only). */
  binLeft: (Uint8Array | undefined)[];
  /** Leaf node → its rows in `idx` (start, count), for updating training scores. */
  leaves: { node: number; start: number; count: number }[];
}

function leafValue(g: number, h: number, l2: number, shrinkage: number): number {
  const v = -g / (h + l2);
  return Number.isFinite(v) ? v * shrinkage : 0;
}

export function growTree(ctx: GrowContext, count: number, gp: GrowParams, output: number): GrownTree {
  const { pool, binning, p, g, h, unitHessian } = ctx;
  const d = pool.data;
  const channels = d.channels;
  const codes = binning.codes;
  const stride = 2 + channels;
  const slotLen = slotSize(p, codes, channels);
  const hist = d.hist;
  const slots = Math.floor(hist.length / slotLen);
  const freeSlots: number[] = [];
  for (let s = slots - 1; s >= 0; s--) freeSlots.push(s);
  const activeCount = pool.featureCount;
  const featureList = d.features;

  // Tree arrays, grown as plain arrays.
  const feature: number[] = [-1];
  const threshold: number[] = [0];
  const left: number[] = [-1];
  const right: number[] = [-1];
  const missingLeft: number[] = [0];
  const cover: number[] = [count];
  const categories: (Int32Array | undefined)[] = [undefined];
  const binLeft: (Uint8Array | undefined)[] = [undefined];

  // The WebAssembly kernel gathers and partitions when the per-row gradients live in its memory.
  const w = d.wasm;
  const k = w && channels === 1 && g.buffer === w.memory.buffer && g.byteOffset === w.rowGrad && (unitHessian || h.byteOffset === w.rowHess) ? kernelFor(w.memory) : undefined;
  const table8 = w ? new Uint8Array(w.memory.buffer, w.table, 256) : undefined;
  const scanResult = w ? new Float64Array(w.memory.buffer, w.result, 6) : undefined;
  const scanKernel = k;
  const gather = (start: number, n: number) => {
    const idx = d.idx;
    const end = start + n;
    if (k && w) {
      k.gather(w.idx + 4 * start, n, w.rowGrad, unitHessian ? 0 : w.rowHess, w.grad + 4 * start, w.hess + 4 * start);
      return;
    }
    if (channels === 1) {
      for (let i = start; i < end; i++) d.grad[i] = g[idx[i]!]!;
    } else {
      for (let i = start; i < end; i++) {
        const r = idx[i]! * channels;
        const o = i * channels;
        for (let c = 0; c < channels; c++) d.grad[o + c] = g[r + c]!;
      }
    }
    if (!unitHessian) for (let i = start; i < end; i++) d.hess[i] = h[idx[i]!]!;
  };

  const score = (gs: ArrayLike<number>, hs: number): number => {
    let s = 0;
    for (let c = 0; c < channels; c++) s += (gs[c]! * gs[c]!) / (hs + gp.l2);
    return s;
  };

  const allCandidates = Array.from({ length: activeCount }, (_, i) => i);
  const ratios = new Float64Array(codes);
  const gl = new Float64Array(channels);
  const gm = new Float64Array(channels);
  const used = d.used;
  const findSplit = (leaf: Leaf): Split | null => {
    if (gp.maxDepth > 0 && leaf.depth >= gp.maxDepth) return null;
    if (leaf.count < 2 * gp.minSamplesLeaf) return null;
    const base = leaf.slot * slotLen;
    const parentScore = score(leaf.gsum, leaf.hsum);
    let candidates: number[];
    if (gp.featuresPerSplit && gp.featuresPerSplit < activeCount && ctx.rng) {
      const all = Array.from({ length: activeCount }, (_, i) => i);
      for (let i = 0; i < gp.featuresPerSplit; i++) {
        const j = i + Math.floor(ctx.rng.next() * (activeCount - i));
        [all[i], all[j]] = [all[j]!, all[i]!];
      }
      candidates = all.slice(0, gp.featuresPerSplit);
    } else candidates = allCandidates;
    gl.fill(0);
    gm.fill(0);
    const bestGl = new Float64Array(channels);
    let bestGain = 1e-12;
    let bestFeature = -1;
    let bestT = 0;
    let bestMissingLeft = false;
    let bestNl = 0;
    let bestHl = 0;
    let bestCats: number[] | null = null;
    const minLeaf = gp.minSamplesLeaf;
    const minH = gp.minHessian;
    const l2 = gp.l2;
    const total = leaf.count;
    const hTotal = leaf.hsum;
    const gsum = leaf.gsum;
    const g0 = gsum[0]!;
    /** Gain of sending (nl, hl, gl) left, or -Infinity when a child would be too small. */
    const gainOf = (nl: number, hl: number): number => {
      if (nl < minLeaf || total - nl < minLeaf) return Number.NEGATIVE_INFINITY;
      const hr = hTotal - hl;
      if (hl < minH || hr < minH) return Number.NEGATIVE_INFINITY;
      if (channels === 1) {
        const x = gl[0]!;
        const y = g0 - x;
        return (x * x) / (hl + l2) + (y * y) / (hr + l2) - parentScore;
      }
      let sl = 0;
      let sr = 0;
      for (let c = 0; c < channels; c++) {
        const x = gl[c]!;
        const y = gsum[c]! - x;
        sl += x * x;
        sr += y * y;
      }
      return sl / (hl + l2) + sr / (hr + l2) - parentScore;
    };
    const addMissing = (sign: number) => { for (let c = 0; c < channels; c++) gl[c]! += sign * gm[c]!; };
    for (const k of candidates) {
      const f = featureList[k]!;
      const fb = base + f * codes * stride;
      const mb = fb + binning.missingBin * stride;
      const nm = hist[mb]!;
      const hm = unitHessian ? nm : hist[mb + 1]!;
      for (let c = 0; c < channels; c++) gm[c] = hist[mb + 2 + c]!;
      const nb = binning.bins[f]!;
      if (channels === 1 && !binning.categorical[f] && scanKernel && w && scanResult) {
        // The common case, in WebAssembly: one gradient channel, numeric bins, missing both ways.
        if (scanKernel.scan(w.hist + 8 * fb, nb, w.hist + 8 * mb, total, hTotal, g0, parentScore, minLeaf, minH, l2, unitHessian ? 1 : 0, bestGain, w.result)) {
          bestGain = scanResult[0]!;
          bestFeature = f;
          bestT = scanResult[1]!;
          bestMissingLeft = scanResult[2] === 1;
          bestNl = scanResult[3]!;
          bestHl = scanResult[4]!;
          bestGl[0] = scanResult[5]!;
          bestCats = null;
        }
        continue;
      }
      if (channels === 1 && !binning.categorical[f]) {
        // The same without WebAssembly, and without closures.
        const gm0 = gm[0]!;
        let gL = 0;
        let nl = 0;
        let hl = 0;
        for (let t = 0; t < nb - 1; t++) {
          const o = fb + t * stride;
          const cnt = hist[o]!;
          if (cnt === 0) continue;
          nl += cnt;
          hl += unitHessian ? cnt : hist[o + 1]!;
          gL += hist[o + 2]!;
          if (nl >= minLeaf && total - nl >= minLeaf) {
            const hr = hTotal - hl;
            if (hl >= minH && hr >= minH) {
              const gR = g0 - gL;
              const gain = (gL * gL) / (hl + l2) + (gR * gR) / (hr + l2) - parentScore;
              if (gain > bestGain) { bestGain = gain; bestFeature = f; bestT = t; bestMissingLeft = false; bestNl = nl; bestHl = hl; bestGl[0] = gL; bestCats = null; }
            }
          }
          if (nm > 0) {
            const nl2 = nl + nm;
            const hl2 = hl + hm;
            const gL2 = gL + gm0;
            if (nl2 >= minLeaf && total - nl2 >= minLeaf) {
              const hr = hTotal - hl2;
              if (hl2 >= minH && hr >= minH) {
                const gR = g0 - gL2;
                const gain = (gL2 * gL2) / (hl2 + l2) + (gR * gR) / (hr + l2) - parentScore;
                if (gain > bestGain) { bestGain = gain; bestFeature = f; bestT = t; bestMissingLeft = true; bestNl = nl2; bestHl = hl2; bestGl[0] = gL2; bestCats = null; }
              }
            }
          }
        }
        continue;
      }
      if (!binning.categorical[f]) {
        gl.fill(0);
        let nl = 0;
        let hl = 0;
        for (let t = 0; t < nb - 1; t++) {
          const o = fb + t * stride;
          const cnt = hist[o]!;
          if (cnt === 0) continue;
          nl += cnt;
          hl += unitHessian ? cnt : hist[o + 1]!;
          for (let c = 0; c < channels; c++) gl[c]! += hist[o + 2 + c]!;
          let gain = gainOf(nl, hl);
          if (gain > bestGain) { bestGain = gain; bestFeature = f; bestT = t; bestMissingLeft = false; bestNl = nl; bestHl = hl; bestGl.set(gl); bestCats = null; }
          if (nm > 0) {
            addMissing(1);
            gain = gainOf(nl + nm, hl + hm);
            if (gain > bestGain) { bestGain = gain; bestFeature = f; bestT = t; bestMissingLeft = true; bestNl = nl + nm; bestHl = hl + hm; bestGl.set(gl); bestCats = null; }
            addMissing(-1);
          }
        }
      } else {
        // Categories present in this node, ordered by their gradient ratio (channel 0).
        const cats: number[] = [];
        for (let t = 0; t < nb; t++) if (hist[fb + t * stride]! > 0) cats.push(t);
        if (cats.length < 2 && nm === 0) continue;
        for (const t of cats) {
          const o = fb + t * stride;
          ratios[t] = hist[o + 2]! / ((unitHessian ? hist[o]! : hist[o + 1]!) + 10);
        }
        cats.sort((x, y) => ratios[x]! - ratios[y]! || x - y);
        gl.fill(0);
        let nl = 0;
        let hl = 0;
        for (let j = 0; j < cats.length - (nm > 0 ? 0 : 1); j++) {
          const o = fb + cats[j]! * stride;
          nl += hist[o]!;
          hl += unitHessian ? hist[o]! : hist[o + 1]!;
          for (let c = 0; c < channels; c++) gl[c]! += hist[o + 2 + c]!;
          let gain = gainOf(nl, hl);
          if (gain > bestGain) { bestGain = gain; bestFeature = f; bestMissingLeft = false; bestNl = nl; bestHl = hl; bestGl.set(gl); bestCats = cats.slice(0, j + 1); }
          if (nm > 0 && j < cats.length - 1) {
            addMissing(1);
            gain = gainOf(nl + nm, hl + hm);
            if (gain > bestGain) { bestGain = gain; bestFeature = f; bestMissingLeft = true; bestNl = nl + nm; bestHl = hl + hm; bestGl.set(gl); bestCats = cats.slice(0, j + 1); }
            addMissing(-1);
          }
        }
      }
    }
    if (bestFeature < 0) return null;
    const table = new Uint8Array(codes);
    if (bestCats) for (const c of bestCats) table[c] = 1;
    else for (let t = 0; t <= bestT; t++) table[t] = 1;
    if (bestMissingLeft) table[binning.missingBin] = 1;
    const best: Split = {
      gain: bestGain, feature: bestFeature, left: table, threshold: bestT, missingLeft: bestMissingLeft, nl: bestNl, hl: bestHl, gl: bestGl,
      ...(bestCats ? { categories: bestCats.sort((x, y) => x - y) } : {}),
    };
    return best;
  };

  // The root.
  freeSlots.pop();
  gather(0, count);
  pool.build(0, count, 0, unitHessian);
  // The root's totals, from the histogram of one feature (every row falls in one of its bins).
  const rootSums = { gsum: new Float64Array(channels), hsum: 0 };
  {
    const f0 = featureList[0]!;
    const fb = f0 * codes * stride;
    for (let b = 0; b < codes; b++) {
      if (b >= used[f0]! && b !== codes - 1) continue;
      const o = fb + b * stride;
      rootSums.hsum += unitHessian ? hist[o]! : hist[o + 1]!;
      for (let c = 0; c < channels; c++) rootSums.gsum[c]! += hist[o + 2 + c]!;
    }
  }
  const root: Leaf = { node: 0, start: 0, count, slot: 0, depth: 0, hsum: rootSums.hsum, gsum: rootSums.gsum, split: null };
  root.split = findSplit(root);
  const open: Leaf[] = [root];
  const done: Leaf[] = [];
  let leaves = 1;
  const maxLeaves = gp.maxLeaves > 0 ? gp.maxLeaves : Number.POSITIVE_INFINITY;

  while (open.length && leaves < maxLeaves) {
    let bi = -1;
    // Best first while the number of leaves is bounded; depth first (the last opened) otherwise,
    // which grows the same tree while holding few histograms at once.
    if (!Number.isFinite(maxLeaves)) bi = open.length - 1;
    else for (let i = 0; i < open.length; i++) if (bi < 0 || open[i]!.split!.gain > open[bi]!.split!.gain) bi = i;
    if (bi < 0) break;
    const leaf = open.splice(bi, 1)[0]!;
    const s = leaf.split!;
    // Partition the leaf's rows: left ones first, order kept.
    const idx = d.idx;
    const col = d.bins.subarray(s.feature * d.rows, (s.feature + 1) * d.rows);
    let nl = 0;
    let nr = 0;
    const table = s.left;
    if (k && w && table8) {
      table8.set(table.subarray(0, 256));
      nl = k.partition(w.idx, leaf.start, leaf.count, w.bins + s.feature * d.rows, w.table, w.partScratch);
      nr = leaf.count - nl;
    } else {
      const scratch = ctx.scratch;
      for (let i = leaf.start; i < leaf.start + leaf.count; i++) {
        const r = idx[i]!;
        if (table[col[r]!]) idx[leaf.start + nl++] = r;
        else scratch[nr++] = r;
      }
      idx.set(scratch.subarray(0, nr), leaf.start + nl);
    }
    // Tree nodes.
    const ln = feature.length;
    const rn = ln + 1;
    feature[leaf.node] = s.feature;
    threshold[leaf.node] = binning.categorical[s.feature] ? 0 : binning.edges[s.feature]![s.threshold]!;
    left[leaf.node] = ln;
    right[leaf.node] = rn;
    const missingSeen = s.missingLeft || (leaf.slot >= 0 ? hasMissingRight(s, leaf, hist, slotLen, codes, stride, binning) : anyMissing(col, idx, leaf.start + nl, nr, binning.missingBin));
    missingLeft[leaf.node] = s.missingLeft ? 1 : missingSeen ? 0 : nl >= nr ? 1 : 0;
    categories[leaf.node] = s.categories ? Int32Array.from(s.categories) : undefined;
    binLeft[leaf.node] = s.left;
    if (!missingSeen && missingLeft[leaf.node]) binLeft[leaf.node] = withMissing(s.left, binning.missingBin);
    for (const _ of [0, 1]) { feature.push(-1); threshold.push(0); left.push(-1); right.push(-1); missingLeft.push(0); categories.push(undefined); binLeft.push(undefined); }
    cover[ln] = nl;
    cover[rn] = nr;
    // Children: the smaller one is built, the larger one is parent minus smaller.
    const hr = leaf.hsum - s.hl;
    const grv = Float64Array.from(leaf.gsum, (v, c) => v - s.gl[c]!);
    const l: Leaf = { node: ln, start: leaf.start, count: nl, slot: -1, depth: leaf.depth + 1, hsum: s.hl, gsum: s.gl, split: null };
    const r: Leaf = { node: rn, start: leaf.start + nl, count: nr, slot: -1, depth: leaf.depth + 1, hsum: hr, gsum: grv, split: null };
    const canSplit = (x: Leaf) => x.count >= 2 * gp.minSamplesLeaf && !(gp.maxDepth > 0 && x.depth >= gp.maxDepth);
    leaves++;
    if ((canSplit(l) || canSplit(r)) && leaves < maxLeaves) {
      if (leaf.slot < 0) {
        // The parent's histogram was released: build both children.
        for (const x of [l, r]) {
          x.slot = freeSlots.pop()!;
          gather(x.start, x.count);
          pool.build(x.start, x.count, x.slot, unitHessian);
        }
      } else {
        const small = nl <= nr ? l : r;
        const large = small === l ? r : l;
        small.slot = freeSlots.pop()!;
        gather(small.start, small.count);
        pool.build(small.start, small.count, small.slot, unitHessian);
        large.slot = leaf.slot;
        const lb = large.slot * slotLen;
        const sb = small.slot * slotLen;
        for (let j = 0; j < activeCount; j++) {
          const f = featureList[j]!;
          const o = f * codes * stride;
          const usedEnd = used[f]! * stride;
          const m = o + (codes - 1) * stride;
          if (k && w) {
            k.subtract(w.hist + 8 * (lb + o), w.hist + 8 * (sb + o), usedEnd);
            k.subtract(w.hist + 8 * (lb + m), w.hist + 8 * (sb + m), stride);
          } else {
            for (let q = 0; q < usedEnd; q++) hist[lb + o + q]! -= hist[sb + o + q]!;
            for (let q = 0; q < stride; q++) hist[lb + m + q]! -= hist[sb + m + q]!;
          }
        }
      }
      for (const x of [l, r]) {
        x.split = canSplit(x) ? findSplit(x) : null;
        if (x.split) {
          open.push(x);
          // Keep room to build two children: release this histogram (it will be rebuilt) when slots run low.
          if (freeSlots.length < 3) { freeSlots.push(x.slot); x.slot = -1; }
        } else { done.push(x); freeSlots.push(x.slot); }
      }
    } else {
      if (leaf.slot >= 0) freeSlots.push(leaf.slot);
      done.push(l, r);
    }
  }
  for (const x of open) done.push(x);
  // Leaf values, then internal values as cover-weighted means of their children.
  const width = channels;
  const n = feature.length;
  const val = new Float64Array(n * width);
  for (const x of done) for (let c = 0; c < width; c++) val[x.node * width + c] = leafValue(x.gsum[c]!, x.hsum, gp.l2, gp.shrinkage);
  for (let i = n - 1; i >= 0; i--) {
    if (feature[i]! < 0) continue;
    const a = left[i]!;
    const b = right[i]!;
    const ca = cover[a]!;
    const cb = cover[b]!;
    for (let c = 0; c < width; c++) val[i * width + c] = ca + cb > 0 ? (ca * val[a * width + c]! + cb * val[b * width + c]!) / (ca + cb) : 0;
  }
  const tree: Tree = {
    output, width, feature: Int32Array.from(feature), threshold: Float64Array.from(threshold), left: Int32Array.from(left), right: Int32Array.from(right),
    missingLeft: Uint8Array.from(missingLeft), value: val, cover: Float64Array.from(cover),
  };
  if (categories.some((c) => c)) tree.categories = categories;
  return { tree, binLeft, leaves: done.map((x) => ({ node: x.node, start: x.start, count: x.count })) };
}

function withMissing(t: Uint8Array, missingBin: number): Uint8Array {
  const out = Uint8Array.from(t);
  out[missingBin] = 1;
  return out;
}

/** Whether the node's rows had missing values on the split feature (they went right). */
function hasMissingRight(s: Split, leaf: Leaf, hist: Float64Array, slotLen: number, codes: number, stride: number, binning: Binning): boolean {
  return hist[leaf.slot * slotLen + (s.feature * codes + binning.missingBin) * stride]! > 0;
}

function anyMissing(col: Uint8Array, idx: Uint32Array, start: number, n: number, missingBin: number): boolean {
  for (let i = start; i < start + n; i++) if (col[idx[i]!] === missingBin) return true;
  return false;
}

/** The leaf a row reaches, reading its bins. */
export function binnedLeaf(t: GrownTree, bins: Uint8Array, rows: number, row: number): number {
  const { feature, left, right } = t.tree;
  let n = 0;
  for (;;) {
    const f = feature[n]!;
    if (f < 0) return n;
    n = t.binLeft[n]![bins[f * rows + row]!] ? left[n]! : right[n]! ;
  }
}
