import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SeededRandom } from '../sketches/seeded-random.js';
import { ensembleRaw, leafIndex, type Ensemble, type Tree } from '../trees/tree.js';
import { xgboostFixture as fx } from './fixtures/xgboost-contribs.js';
import { ensembleShap, treeExpectation, treeShap } from './tree-shap.js';

/** A node of a tree written by hand: a split or a leaf (a number, or a vector). */
type Spec =
  | { f: number; t?: number; cats?: number[]; ml?: boolean; l: Spec; r: Spec }
  | { v: number | number[]; c?: number };

/** Flattens a hand-written tree; covers are the sum of the leaves' covers given in `c`. */
function build(spec: Spec, output: number, width: number): Tree {
  const nodes: { spec: Spec; cover: number; l: number; r: number }[] = [];
  const walk = (s: Spec): number => {
    const i = nodes.length;
    nodes.push({ spec: s, cover: 0, l: -1, r: -1 });
    if ('v' in s) nodes[i]!.cover = s.c ?? 1;
    else {
      const l = walk(s.l);
      const r = walk(s.r);
      nodes[i]!.l = l;
      nodes[i]!.r = r;
      nodes[i]!.cover = nodes[l]!.cover + nodes[r]!.cover;
    }
    return i;
  };
  walk(spec);
  const n = nodes.length;
  const t: Tree = {
    output, width, feature: new Int32Array(n), threshold: new Float64Array(n), left: new Int32Array(n), right: new Int32Array(n),
    missingLeft: new Uint8Array(n), value: new Float64Array(n * width), cover: new Float64Array(n), categories: new Array(n),
  };
  nodes.forEach((nd, i) => {
    t.cover[i] = nd.cover;
    t.left[i] = nd.l;
    t.right[i] = nd.r;
    const s = nd.spec;
    if ('v' in s) {
      t.feature[i] = -1;
      const v = typeof s.v === 'number' ? [s.v] : s.v;
      v.forEach((x, o) => (t.value[i * width + o] = x));
    } else {
      t.feature[i] = s.f;
      t.threshold[i] = s.t ?? 0;
      t.missingLeft[i] = s.ml ? 1 : 0;
      if (s.cats) t.categories![i] = Int32Array.from(s.cats);
    }
  });
  return t;
}

/** A random tree over `p` features: repeated features along paths, categorical and missing-value splits. */
function randomTree(rng: SeededRandom, p: number, depth: number, width: number, output: number, categorical: Set<number>): Tree {
  const grow = (d: number): Spec => {
    if (d === depth || (d >= 2 && rng.next() < 0.2)) {
      const v = Array.from({ length: width }, () => Math.round((rng.next() * 4 - 2) * 1000) / 1000);
      return { v: width === 1 ? v[0]! : v, c: 1 + Math.floor(rng.next() * 20) };
    }
    const f = Math.floor(rng.next() * p);
    const ml = rng.next() < 0.5;
    if (categorical.has(f)) return { f, cats: [0, 1, 2, 3, 4].filter(() => rng.next() < 0.5), ml, l: grow(d + 1), r: grow(d + 1) };
    return { f, t: Math.round((rng.next() * 2 - 1) * 100) / 100, ml, l: grow(d + 1), r: grow(d + 1) };
  };
  return build(grow(0), output, width);
}

/**
 * Shapley values by definition: every subset S of the other features, with v(S) the tree's
 * expectation given x_S along the covers (split followed when its feature is in S, otherwise both
 * children averaged by cover).
 */
function bruteForce(t: Tree, x: number[], p: number): { phi: number[][]; expected: number[] } {
  const goesLeft = (n: number) => leafIndex({ ...t, feature: Int32Array.of(t.feature[n]!, -1, -1), left: Int32Array.of(1, 1), right: Int32Array.of(2, 2), threshold: Float64Array.of(t.threshold[n]!), missingLeft: Uint8Array.of(t.missingLeft[n]!), categories: [t.categories?.[n]] }, x, 0) === 1;
  const v = (n: number, s: number): number[] => {
    if (t.feature[n]! < 0) return Array.from({ length: t.width }, (_, o) => t.value[n * t.width + o]!);
    const f = t.feature[n]!;
    const l = t.left[n]!;
    const r = t.right[n]!;
    if (s & (1 << f)) return v(goesLeft(n) ? l : r, s);
    const cl = t.cover[l]!;
    const cr = t.cover[r]!;
    const a = v(l, s);
    const b = v(r, s);
    return a.map((_, o) => (cl * a[o]! + cr * b[o]!) / (cl + cr));
  };
  const fact = (m: number): number => (m <= 1 ? 1 : m * fact(m - 1));
  const phi = Array.from({ length: t.width }, () => new Array<number>(p).fill(0));
  for (let j = 0; j < p; j++) {
    for (let s = 0; s < 1 << p; s++) {
      if (s & (1 << j)) continue;
      let size = 0;
      for (let b = 0; b < p; b++) if (s & (1 << b)) size++;
      const weight = (fact(size) * fact(p - size - 1)) / fact(p);
      const with_ = v(0, s | (1 << j));
      const without = v(0, s);
      for (let o = 0; o < t.width; o++) phi[o]![j]! += weight * (with_[o]! - without[o]!);
    }
  }
  return { phi, expected: v(0, 0) };
}

const close = (a: number, b: number, tol: number, what: string) => assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);

describe('treeShap', () => {
  it('matches brute-force Shapley values on a hand-built tree with numeric, categorical and missing-value splits', () => {
    // Depth 3 over 4 features; feature 0 is split twice on one path, feature 2 is categorical.
    const t = build({
      f: 0, t: 0.5, ml: true,
      l: { f: 1, t: 2, l: { f: 0, t: -1, l: { v: 1, c: 3 }, r: { v: 4, c: 5 } }, r: { f: 2, cats: [1, 3], l: { v: -2, c: 2 }, r: { v: 0.5, c: 6 } } },
      r: { f: 3, t: 0, l: { v: 7, c: 4 }, r: { f: 2, cats: [0], ml: true, l: { v: -3, c: 1 }, r: { v: 2, c: 9 } } },
    }, 0, 1);
    const rows = [[0, 1, 1, 0], [Number.NaN, 3, 3, -1], [2, 0, Number.NaN, 5], [-2, Number.NaN, 0, 0.5], [0.5, 2, 2, Number.NaN]];
    for (const row of rows) {
      const r = treeShap(t, row, 1, 4);
      const want = bruteForce(t, row, 4);
      close(r.expected[0]!, want.expected[0]!, 1e-12, 'expected');
      for (let j = 0; j < 4; j++) close(r.values[j]!, want.phi[0]![j]!, 1e-12, `row ${row} feature ${j}`);
      // Additivity: the values and the expectation add up to the leaf the row reaches.
      close(r.values.reduce((a, b) => a + b, 0) + r.expected[0]!, t.value[leafIndex(t, row, 0)]!, 1e-12, 'sum');
    }
  });

  it('matches brute force on random trees (depth 3–6, 5 features, vector leaves)', () => {
    const rng = new SeededRandom(11);
    const p = 5;
    let checked = 0;
    for (let trial = 0; trial < 40; trial++) {
      const width = trial % 2 ? 3 : 1;
      const t = randomTree(rng, p, 3 + (trial % 4), width, width === 1 ? 0 : -1, new Set([1, 4]));
      const rows = Array.from({ length: 4 }, () => Array.from({ length: p }, (_, j) => (rng.next() < 0.15 ? Number.NaN : j === 1 || j === 4 ? Math.floor(rng.next() * 5) : rng.next() * 2 - 1)));
      const r = treeShap(t, rows.flat(), rows.length, p);
      rows.forEach((row, i) => {
        const want = bruteForce(t, row, p);
        for (let o = 0; o < width; o++) {
          close(r.expected[o]!, want.expected[o]!, 1e-12, 'expected');
          for (let j = 0; j < p; j++) close(r.values[(i * width + o) * p + j]!, want.phi[o]![j]!, 1e-10, `trial ${trial} row ${i} output ${o} feature ${j}`);
        }
        checked++;
      });
    }
    assert.equal(checked, 160);
  });

  it('gives nothing to a branch with zero cover, and no NaN when it splits the same feature again', () => {
    const t = build({ f: 0, t: 0, l: { f: 1, t: 0, l: { v: 1, c: 0 }, r: { f: 0, t: -1, l: { v: 5, c: 0 }, r: { v: 2, c: 0 } } }, r: { v: 3, c: 4 } }, 0, 1);
    for (const row of [[1, 1], [-2, 1], [-0.5, -1]]) {
      const r = treeShap(t, row, 1, 2);
      const want = bruteForce({ ...t, cover: t.cover.map((c) => c + 1e-300) }, row, 2);
      assert.ok(r.values.every(Number.isFinite), String(r.values));
      close(r.values[0]! + r.values[1]! + r.expected[0]!, t.value[leafIndex(t, row, 0)]!, 1e-12, 'sum');
      close(r.expected[0]!, 3, 1e-12, 'expected');
      for (let j = 0; j < 2; j++) close(r.values[j]!, want.phi[0]![j]!, 1e-9, `feature ${j}`);
    }
  });

  it('a single leaf has no contributions and its value as expectation', () => {
    const t = build({ v: [2, -1] }, -1, 2);
    const r = treeShap(t, [1, 2, 3], 1, 3);
    assert.deepEqual(Array.from(r.values), [0, 0, 0, 0, 0, 0]);
    assert.deepEqual(Array.from(treeExpectation(t)), [2, -1]);
  });

  it('refuses a matrix of the wrong shape', () => {
    const t = build({ v: 1 }, 0, 1);
    assert.throws(() => treeShap(t, [1, 2, 3], 2, 2), /x has 3 entries, expected 2 × 2/);
  });
});

describe('ensembleShap', () => {
  const rng = new SeededRandom(5);
  const p = 6;
  const cats = new Set([2]);
  const x = Float64Array.from({ length: 50 * p }, (_, i) => (rng.next() < 0.1 ? Number.NaN : i % p === 2 ? Math.floor(rng.next() * 5) : rng.next() * 2 - 1));

  for (const [name, e] of [
    ['boosted, scalar trees over 3 outputs, summed', { outputs: 3, aggregation: 'sum', baseScore: Float64Array.of(0.5, -1, 2), trees: Array.from({ length: 30 }, (_, i) => randomTree(rng, p, 5, 1, i % 3, cats)) }],
    ['forest, vector leaves, averaged', { outputs: 2, aggregation: 'mean', baseScore: Float64Array.of(0, 0), trees: Array.from({ length: 20 }, () => randomTree(rng, p, 6, 2, -1, cats)) }],
  ] as [string, Ensemble][]) {
    it(`adds up to the raw output to 1e-9: ${name}`, () => {
      const raw = ensembleRaw(e, x, 50, p);
      const r = ensembleShap(e, x, 50, p);
      const k = e.outputs;
      for (let i = 0; i < 50; i++) {
        for (let o = 0; o < k; o++) {
          let s = r.expected[o]!;
          for (let j = 0; j < p; j++) s += r.values[(i * k + o) * p + j]!;
          assert.ok(Math.abs(s - raw[i * k + o]!) < 1e-9, `row ${i} output ${o}: ${s} vs ${raw[i * k + o]}`);
        }
      }
      // The ensemble's values are the (scaled) sum of its trees' values.
      const t0 = e.trees[0]!;
      const one = treeShap(t0, x, 50, p);
      const only: Ensemble = { ...e, trees: [t0], aggregation: 'sum', baseScore: new Float64Array(k) };
      const r0 = ensembleShap(only, x, 50, p);
      const o0 = t0.output >= 0 ? t0.output : 0;
      for (let j = 0; j < p; j++) assert.equal(r0.values[o0 * p + j], one.values[j]);
    });
  }

  it('agrees with xgboost pred_contribs on a converted xgboost model (made by fixtures/xgboost-contribs.py)', () => {
    const e: Ensemble = {
      outputs: fx.outputs, aggregation: 'sum', baseScore: Float64Array.from(fx.baseScore),
      trees: fx.trees.map((t) => ({
        output: t.output, width: 1, feature: Int32Array.from(t.feature), threshold: Float64Array.from(t.threshold), left: Int32Array.from(t.left), right: Int32Array.from(t.right),
        missingLeft: Uint8Array.from(t.missingLeft), value: Float64Array.from(t.value), cover: Float64Array.from(t.cover),
      })),
    };
    const p = fx.features;
    const n = fx.rows.length;
    const xs = Float64Array.from(fx.rows.flat(), (v) => (v === null ? Number.NaN : v));
    const raw = ensembleRaw(e, xs, n, p);
    const r = ensembleShap(e, xs, n, p);
    let maxDiff = 0;
    for (let i = 0; i < n; i++) {
      for (let o = 0; o < fx.outputs; o++) {
        // xgboost works in float32: margins and contributions agree to ~1e-7.
        close(raw[i * fx.outputs + o]!, fx.margin[i]![o]!, 1e-6, `margin row ${i}`);
        const c = fx.contribs[i]![o]!;
        close(r.expected[o]!, c[p]!, 1e-6, `bias output ${o}`);
        for (let j = 0; j < p; j++) {
          maxDiff = Math.max(maxDiff, Math.abs(r.values[(i * fx.outputs + o) * p + j]! - c[j]!));
          close(r.values[(i * fx.outputs + o) * p + j]!, c[j]!, 1e-6, `row ${i} output ${o} feature ${j}`);
        }
      }
    }
    console.log(`xgboost pred_contribs: largest difference ${maxDiff.toExponential(2)} over ${n} rows × ${fx.outputs} outputs × ${p} features`);
  });

  it('explains 2,000 rows of a 100-tree, 31-leaf leaf-wise model, contributions summing to the raw score', () => {
    const rng2 = new SeededRandom(3);
    const p2 = 20;
    // Leaf-wise growth to 31 leaves: split a random leaf (in place) until there are 31.
    const leafWise = (): Tree => {
      type Node = { v?: number; c?: number; f?: number; t?: number; ml?: boolean; l?: Node; r?: Node };
      const leaf = (): Node => ({ v: rng2.next() - 0.5, c: 1 + Math.floor(rng2.next() * 50) });
      const root = leaf();
      const leaves = [root];
      while (leaves.length < 31) {
        const k = Math.floor(rng2.next() * leaves.length);
        const node = leaves[k]!;
        delete node.v;
        Object.assign(node, { f: Math.floor(rng2.next() * p2), t: rng2.next() * 2 - 1, ml: rng2.next() < 0.5, l: leaf(), r: leaf() });
        leaves.splice(k, 1, node.l!, node.r!);
      }
      return build(root as Spec, 0, 1);
    };
    const e: Ensemble = { outputs: 1, aggregation: 'sum', baseScore: Float64Array.of(0), trees: Array.from({ length: 100 }, leafWise) };
    const n2 = 2000;
    const x2 = Float64Array.from({ length: n2 * p2 }, () => rng2.next() * 2 - 1);
    const r = ensembleShap(e, x2, n2, p2);
    const raw = ensembleRaw(e, x2, n2, p2);
    for (let i = 0; i < n2; i += 97) {
      let s = r.expected[0]!;
      for (let j = 0; j < p2; j++) s += r.values[i * p2 + j]!;
      assert.ok(Math.abs(s - raw[i]!) < 1e-9);
    }
    assert.ok(Math.max(...e.trees.map((t) => depthOf(t))) > 5, 'leaf-wise growth gives trees deeper than a balanced 31-leaf tree');
  });
});

function depthOf(t: Tree): number {
  const d = (n: number): number => (t.feature[n]! < 0 ? 0 : 1 + Math.max(d(t.left[n]!), d(t.right[n]!)));
  return d(0);
}
