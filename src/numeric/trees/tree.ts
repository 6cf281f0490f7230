/**
 * Decision trees as flat typed arrays, shared by the boosting and forest trainers, the model
 * format, TreeSHAP and the ONNX exporter.
 *
 * Node `i` is a leaf when `feature[i] < 0`. An internal node sends a row left when its feature is
 * at most `threshold[i]` (numeric split) or is one of the category codes in `categories[i]`
 * (categorical split), right otherwise; a missing value (NaN) goes left when `missingLeft[i]` is 1.
 * `value` holds `width` numbers per node: the leaf's output (for internal nodes, the cover-weighted
 * mean of their leaves, which TreeSHAP and explanations use). `cover` is the number of training
 * rows (or their total weight) that reached the node.
 */
export interface Tree {
  /** Which model output this tree adds to; -1 when its leaves are vectors over all outputs. */
  output: number;
  /** Numbers per node in `value`: 1, or the number of outputs for vector leaves. */
  width: number;
  feature: Int32Array;
  threshold: Float64Array;
  left: Int32Array;
  right: Int32Array;
  missingLeft: Uint8Array;
  value: Float64Array;
  cover: Float64Array;
  /** Category codes sent left, for categorical splits; absent (or undefined) for numeric ones. */
  categories?: (Int32Array | undefined)[];
}

export function nodeCount(t: Tree): number {
  return t.feature.length;
}

/** The leaf a row reaches; `row[f]` is read at `x[offset + f]`. */
export function leafIndex(t: Tree, x: ArrayLike<number>, offset: number): number {
  const { feature, threshold, left, right, missingLeft, categories } = t;
  let n = 0;
  for (;;) {
    const f = feature[n]!;
    if (f < 0) return n;
    const v = x[offset + f]!;
    if (v !== v) n = missingLeft[n] ? left[n]! : right[n]!;
    else {
      const set = categories?.[n];
      if (set) n = set.includes(v) ? left[n]! : right[n]!;
      else n = v <= threshold[n]! ? left[n]! : right[n]!;
    }
  }
}

/** The maximum depth of a tree (a single leaf has depth 0). */
export function treeDepth(t: Tree): number {
  let max = 0;
  const stack: [number, number][] = [[0, 0]];
  while (stack.length) {
    const [n, d] = stack.pop()!;
    if (t.feature[n]! < 0) max = Math.max(max, d);
    else stack.push([t.left[n]!, d + 1], [t.right[n]!, d + 1]);
  }
  return max;
}

/**
 * Checks the structure of a tree: children inside the array, every node reached exactly once from
 * the root (no cycles, no sharing), widths consistent. Returns a reason, or null when it is sound.
 */
export function checkTree(t: Tree, features: number): string | null {
  const n = t.feature.length;
  if (n === 0) return 'it has no nodes';
  for (const [name, a] of [['threshold', t.threshold], ['left', t.left], ['right', t.right], ['missingLeft', t.missingLeft], ['cover', t.cover]] as const) {
    if (a.length !== n) return `'${name}' has ${a.length} entries for ${n} nodes`;
  }
  if (t.value.length !== n * t.width) return `'value' has ${t.value.length} entries, expected ${n} × ${t.width}`;
  const seen = new Uint8Array(n);
  const stack = [0];
  let visited = 0;
  while (stack.length) {
    const i = stack.pop()!;
    if (seen[i]) return `node ${i} is reached twice`;
    seen[i] = 1;
    visited++;
    const f = t.feature[i]!;
    if (f < 0) continue;
    if (f >= features) return `node ${i} splits on feature ${f}, the model has ${features}`;
    const l = t.left[i]!;
    const r = t.right[i]!;
    if (!(l > i && l < n && r > i && r < n)) return `node ${i} has children ${l} and ${r} outside the tree`;
    stack.push(l, r);
  }
  if (visited !== n) return `${n - visited} nodes are not reachable from the root`;
  for (let i = 0; i < t.value.length; i++) if (!Number.isFinite(t.value[i]!)) return 'a node holds a non-finite value';
  return null;
}

/**
 * A tree ensemble: boosted trees (raw scores summed) or a forest (outputs averaged), plus a base
 * score per output.
 */
export interface Ensemble {
  outputs: number;
  aggregation: 'sum' | 'mean';
  baseScore: Float64Array;
  trees: Tree[];
}

/** Raw outputs (n × outputs, row-major) for a row-major matrix with `p` columns. */
export function ensembleRaw(e: Ensemble, x: ArrayLike<number>, n: number, p: number): Float64Array {
  const k = e.outputs;
  const out = new Float64Array(n * k);
  const scale = e.aggregation === 'mean' ? 1 / e.trees.length : 1;
  for (let i = 0; i < n; i++) {
    const off = i * p;
    const o = i * k;
    for (const t of e.trees) {
      const leaf = leafIndex(t, x, off);
      if (t.output >= 0) out[o + t.output]! += t.value[leaf]!;
      else for (let j = 0; j < k; j++) out[o + j]! += t.value[leaf * k + j]!;
    }
    for (let j = 0; j < k; j++) out[o + j] = out[o + j]! * scale + e.baseScore[j]!;
  }
  return out;
}
