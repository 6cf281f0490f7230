/**
 * Exact path-dependent TreeSHAP (Lundberg, Erion & Lee 2018, "Consistent individualized feature
 * attribution for tree ensembles", Algorithm 2): Shapley values of each feature for one row in
 * O(leaves · depth²) per tree, where the value of a feature subset S is the tree's expectation
 * given x_S, taken along the training covers (a split on a feature outside S averages both
 * children, weighted by the share of the cover each received).
 *
 * Trees follow numeric/trees/tree.ts: numeric `x <= threshold`, categorical set splits, NaN routed
 * by `missingLeft`, scalar leaves for `tree.output` or vector leaves when `output === -1`. A child's
 * share is its cover over the sum of both children's covers (so a tree whose parent cover differs
 * slightly from its children's still gives values that add up exactly); a node whose children both
 * have zero cover splits evenly.
 */
import { treeDepth, type Ensemble, type Tree } from '../trees/tree.js';

export interface TreeShapResult {
  /** n × outputs × features, row-major: `values[(i * outputs + o) * features + j]`. */
  values: Float64Array;
  /** Per output: the model's output when no feature is known (the base of the additive sum). */
  expected: Float64Array;
  outputs: number;
  features: number;
}

/**
 * Scratch space for one tree's recursion: the EXTEND/UNWIND path of every depth, laid out one
 * after another (each level copies its parent's path and extends it by one element).
 */
class PathArena {
  feature: Int32Array;
  zero: Float64Array;
  one: Float64Array;
  weight: Float64Array;

  constructor(depth: number) {
    const d = depth + 2;
    const size = (d * (d + 1)) / 2 + d;
    this.feature = new Int32Array(size);
    this.zero = new Float64Array(size);
    this.one = new Float64Array(size);
    this.weight = new Float64Array(size);
  }
}

/** Adds a feature to the path with the shares of subsets without it (zero) and with it (one). */
function extend(a: PathArena, at: number, depth: number, zero: number, one: number, feature: number): void {
  const { weight: w } = a;
  a.feature[at + depth] = feature;
  a.zero[at + depth] = zero;
  a.one[at + depth] = one;
  w[at + depth] = depth === 0 ? 1 : 0;
  for (let i = depth - 1; i >= 0; i--) {
    w[at + i + 1]! += (one * w[at + i]! * (i + 1)) / (depth + 1);
    w[at + i] = (zero * w[at + i]! * (depth - i)) / (depth + 1);
  }
}

/** Removes element `k` from the path, undoing its EXTEND. */
function unwind(a: PathArena, at: number, depth: number, k: number): void {
  const { weight: w, feature, zero: z, one: o } = a;
  const one = o[at + k]!;
  const zero = z[at + k]!;
  let next = w[at + depth]!;
  for (let i = depth - 1; i >= 0; i--) {
    if (one !== 0) {
      const tmp = w[at + i]!;
      w[at + i] = (next * (depth + 1)) / ((i + 1) * one);
      next = tmp - (w[at + i]! * zero * (depth - i)) / (depth + 1);
    } else {
      w[at + i] = (w[at + i]! * (depth + 1)) / (zero * (depth - i));
    }
  }
  for (let i = k; i < depth; i++) {
    feature[at + i] = feature[at + i + 1]!;
    z[at + i] = z[at + i + 1]!;
    o[at + i] = o[at + i + 1]!;
  }
}

/** The total weight of the path with element `k` unwound, without changing the path. */
function unwoundSum(a: PathArena, at: number, depth: number, k: number): number {
  const { weight: w } = a;
  const one = a.one[at + k]!;
  const zero = a.zero[at + k]!;
  let next = w[at + depth]!;
  let total = 0;
  const d1 = depth + 1;
  if (one !== 0) {
    const a1 = d1 / one;
    const b1 = zero / d1;
    for (let i = depth - 1; i >= 0; i--) {
      const tmp = (next * a1) / (i + 1);
      total += tmp;
      next = w[at + i]! - tmp * b1 * (depth - i);
    }
  } else if (zero !== 0) {
    const a0 = d1 / zero;
    for (let i = depth - 1; i >= 0; i--) total += (w[at + i]! * a0) / (depth - i);
  }
  return total;
}

/** Whether a row goes to the left child of internal node `n`. */
function goesLeft(t: Tree, n: number, x: ArrayLike<number>, off: number): boolean {
  const v = x[off + t.feature[n]!]!;
  if (Number.isNaN(v)) return t.missingLeft[n] === 1;
  const set = t.categories?.[n];
  return set ? set.includes(v) : v <= t.threshold[n]!;
}

interface Walk {
  t: Tree;
  a: PathArena;
  x: ArrayLike<number>;
  off: number;
  /** The row's values start at `phiAt` in `phi`, output after output, `p` apart. */
  phi: Float64Array;
  phiAt: number;
  p: number;
  scale: number;
}

function recurse(s: Walk, node: number, parentAt: number, depth: number, zero: number, one: number, feature: number): void {
  const { t, a } = s;
  // Copy the parent's path into this level's slot and extend it with the split that led here.
  const at = parentAt + depth;
  const { feature: pf, zero: pz, one: po, weight: pw } = a;
  for (let i = 0; i < depth; i++) {
    pf[at + i] = pf[parentAt + i]!;
    pz[at + i] = pz[parentAt + i]!;
    po[at + i] = po[parentAt + i]!;
    pw[at + i] = pw[parentAt + i]!;
  }
  extend(a, at, depth, zero, one, feature);
  const f = t.feature[node]!;
  if (f < 0) {
    const width = t.width;
    for (let i = 1; i <= depth; i++) {
      const el = at + i;
      const w = unwoundSum(a, at, depth, i) * (a.one[el]! - a.zero[el]!) * s.scale;
      if (w === 0) continue;
      const j = a.feature[el]!;
      if (t.output >= 0) s.phi[s.phiAt + t.output * s.p + j]! += w * t.value[node]!;
      else for (let o = 0; o < width; o++) s.phi[s.phiAt + o * s.p + j]! += w * t.value[node * width + o]!;
    }
    return;
  }
  const l = t.left[node]!;
  const r = t.right[node]!;
  const hot = goesLeft(t, node, s.x, s.off) ? l : r;
  const cold = hot === l ? r : l;
  const cl = t.cover[l]!;
  const cr = t.cover[r]!;
  const total = cl + cr;
  const hotShare = total > 0 ? t.cover[hot]! / total : 0.5;
  const coldShare = total > 0 ? t.cover[cold]! / total : 0.5;
  // A feature split on again: undo its earlier element so that this split replaces it.
  let inZero = 1;
  let inOne = 1;
  let k = 1;
  while (k <= depth && a.feature[at + k] !== f) k++;
  if (k <= depth) {
    inZero = a.zero[at + k]!;
    inOne = a.one[at + k]!;
    unwind(a, at, depth, k);
    depth--;
  }
  // A branch no subset reaches (zero cover, and not the row's way on this feature) adds nothing.
  if (hotShare * inZero !== 0 || inOne !== 0) recurse(s, hot, at, depth + 1, hotShare * inZero, inOne, f);
  if (coldShare * inZero !== 0) recurse(s, cold, at, depth + 1, coldShare * inZero, 0, f);
}

/**
 * Adds one tree's SHAP values for row `i` of `x` (row-major, `p` columns) into `phi` at
 * `phiAt` (outputs × p), each multiplied by `scale`.
 */
function treeShapRow(t: Tree, a: PathArena, x: ArrayLike<number>, off: number, p: number, phi: Float64Array, phiAt: number, scale: number): void {
  if (t.feature[0]! < 0) return;
  recurse({ t, a, x, off, phi, phiAt, p, scale }, 0, 0, 0, 1, 1, -1);
}

/** The cover-weighted mean of a tree's leaves: per output (`width` numbers). */
export function treeExpectation(t: Tree): Float64Array {
  const width = t.width;
  const out = new Float64Array(width);
  // Probability of reaching each node, walked from the root (children always follow parents).
  const reach = new Float64Array(t.feature.length);
  reach[0] = 1;
  const stack = [0];
  while (stack.length) {
    const n = stack.pop()!;
    if (t.feature[n]! < 0) {
      for (let o = 0; o < width; o++) out[o]! += reach[n]! * t.value[n * width + o]!;
      continue;
    }
    const l = t.left[n]!;
    const r = t.right[n]!;
    const total = t.cover[l]! + t.cover[r]!;
    reach[l] = reach[n]! * (total > 0 ? t.cover[l]! / total : 0.5);
    reach[r] = reach[n]! * (total > 0 ? t.cover[r]! / total : 0.5);
    stack.push(l, r);
  }
  return out;
}

/**
 * SHAP values of one tree for the rows of `x` (n × p, row-major): n × width × p, plus the tree's
 * expected value per leaf component. For a scalar tree `width` is 1.
 */
export function treeShap(t: Tree, x: ArrayLike<number>, n: number, p: number): { values: Float64Array; expected: Float64Array } {
  checkMatrix(x, n, p);
  const width = t.width;
  const values = new Float64Array(n * width * p);
  const single: Tree = t.output >= 0 ? { ...t, output: 0 } : t;
  const a = new PathArena(treeDepth(t));
  for (let i = 0; i < n; i++) treeShapRow(single, a, x, i * p, p, values, i * width * p, 1);
  return { values, expected: treeExpectation(t) };
}

function checkMatrix(x: ArrayLike<number>, n: number, p: number): void {
  if (!(Number.isInteger(n) && n >= 0 && Number.isInteger(p) && p >= 0)) throw new RangeError(`n and p must be non-negative integers, got ${n} and ${p}`);
  if (x.length !== n * p) throw new RangeError(`x has ${x.length} entries, expected ${n} × ${p}`);
}

/**
 * SHAP values of an ensemble for the rows of `x` (n × p, row-major), in the ensemble's raw output
 * space (before any link function). For every row and output,
 * `expected[o] + Σ_j values[(i·outputs + o)·p + j]` equals the ensemble's raw output.
 */
export function ensembleShap(e: Ensemble, x: ArrayLike<number>, n: number, p: number): TreeShapResult {
  checkMatrix(x, n, p);
  const k = e.outputs;
  if (e.trees.length === 0) throw new RangeError('the ensemble has no trees');
  const scale = e.aggregation === 'mean' ? 1 / e.trees.length : 1;
  const expected = new Float64Array(k);
  for (const t of e.trees) {
    if (t.output >= k || (t.output < 0 && t.width !== k)) throw new RangeError(`a tree writes to output ${t.output} (width ${t.width}); the ensemble has ${k}`);
    const ev = treeExpectation(t);
    if (t.output >= 0) expected[t.output]! += ev[0]!;
    else for (let o = 0; o < k; o++) expected[o]! += ev[o]!;
  }
  for (let o = 0; o < k; o++) expected[o] = expected[o]! * scale + e.baseScore[o]!;
  const values = new Float64Array(n * k * p);
  const arenas = e.trees.map((t) => new PathArena(treeDepth(t)));
  // Tree by tree over all rows: one tree's arrays stay in cache while the rows stream past.
  e.trees.forEach((t, ti) => {
    const a = arenas[ti]!;
    for (let i = 0; i < n; i++) treeShapRow(t, a, x, i * p, p, values, i * k * p, scale);
  });
  return { values, expected, outputs: k, features: p };
}
