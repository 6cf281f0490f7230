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
import { WASM_BASE64 as PREDICT_WASM } from './predict-wasm.js';

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

/**
 * An ensemble flattened for prediction: every tree's nodes in one set of arrays with absolute
 * child indices, and categorical splits as bitsets, so the inner loop touches only typed arrays.
 */
export interface Compiled {
  roots: Int32Array;
  treeOutput: Int32Array;
  feature: Int32Array;
  threshold: Float64Array;
  left: Int32Array;
  right: Int32Array;
  missingLeft: Uint8Array;
  /** Per node: offset of its category bitset in `bits`, or -1 for a numeric split. */
  catAt: Int32Array;
  catWords: Int32Array;
  bits: Uint32Array;
  /** Per node: offset of its values in `value`. */
  valueAt: Int32Array;
  value: Float64Array;
}

const compiledCache = new WeakMap<Ensemble, Compiled>();

export function compile(e: Ensemble): Compiled {
  const total = e.trees.reduce((s, t) => s + t.feature.length, 0);
  const roots = new Int32Array(e.trees.length);
  const treeOutput = new Int32Array(e.trees.length);
  const feature = new Int32Array(total);
  const threshold = new Float64Array(total);
  const left = new Int32Array(total);
  const right = new Int32Array(total);
  const missingLeft = new Uint8Array(total);
  const catAt = new Int32Array(total).fill(-1);
  const catWords = new Int32Array(total);
  const valueAt = new Int32Array(total);
  const bits: number[] = [];
  const values: number[] = [];
  let base = 0;
  e.trees.forEach((t, k) => {
    roots[k] = base;
    treeOutput[k] = t.output;
    for (let i = 0; i < t.feature.length; i++) {
      const at = base + i;
      feature[at] = t.feature[i]!;
      threshold[at] = t.threshold[i]!;
      left[at] = base + t.left[i]!;
      right[at] = base + t.right[i]!;
      missingLeft[at] = t.missingLeft[i]!;
      valueAt[at] = values.length;
      for (let c = 0; c < t.width; c++) values.push(t.value[i * t.width + c]!);
      const set = t.categories?.[i];
      if (set && t.feature[i]! >= 0) {
        const words = set.length ? (Math.max(...set) >> 5) + 1 : 1;
        catAt[at] = bits.length;
        catWords[at] = words;
        const w = new Array<number>(words).fill(0);
        for (const v of set) w[v >> 5] = (w[v >> 5]! | (1 << (v & 31))) >>> 0;
        bits.push(...w);
      }
    }
    base += t.feature.length;
  });
  return { roots, treeOutput, feature, threshold, left, right, missingLeft, catAt, catWords, bits: Uint32Array.from(bits), valueAt, value: Float64Array.from(values) };
}

/** Raw outputs (n × outputs, row-major) for a row-major matrix with `p` columns. */
export function ensembleRaw(e: Ensemble, x: Float64Array, n: number, p: number): Float64Array {
  return wasmRaw(e, x, n, p);
}

/** The same as `ensembleRaw`, walking the trees in JavaScript (the reference for the WebAssembly walk). */
export function ensembleRawJs(e: Ensemble, x: Float64Array, n: number, p: number): Float64Array {
  let c = compiledCache.get(e);
  if (!c) {
    c = compile(e);
    compiledCache.set(e, c);
  }
  const k = e.outputs;
  const out = new Float64Array(n * k);
  const scale = e.aggregation === 'mean' ? 1 / e.trees.length : 1;
  const { roots, treeOutput, feature, threshold, left, right, missingLeft, catAt, catWords, bits, valueAt, value } = c;
  const trees = roots.length;
  for (let i = 0; i < n; i++) {
    const off = i * p;
    const o = i * k;
    for (let t = 0; t < trees; t++) {
      let node = roots[t]!;
      let f = feature[node]!;
      {
        for (; f >= 0;) {
          const v = x[off + f]!;
          if (v !== v) node = missingLeft[node] ? left[node]! : right[node]!;
          else {
            const at = catAt[node]!;
            if (at < 0) node = v <= threshold[node]! ? left[node]! : right[node]!;
            else {
              const word = v >> 5;
              node = v >= 0 && word < catWords[node]! && (bits[at + word]! >>> (v & 31)) & 1 ? left[node]! : right[node]!;
            }
          }
          f = feature[node]!;
        }
      }
      const out1 = treeOutput[t]!;
      const va = valueAt[node]!;
      if (out1 >= 0) out[o + out1]! += value[va]!;
      else for (let j = 0; j < k; j++) out[o + j]! += value[va + j]!;
    }
    for (let j = 0; j < k; j++) out[o + j] = out[o + j]! * scale + e.baseScore[j]!;
  }
  return out;
}

/** Rows per call of the WebAssembly walk: the batch is copied into its memory a chunk at a time. */
const CHUNK = 4096;

interface WasmEnsemble {
  predict: (nodes: number, roots: number, outputsOf: number, trees: number, bits: number, values: number, x: number, n: number, p: number, out: number, k: number) => void;
  memory: WebAssembly.Memory;
  p: number;
  at: { nodes: number; roots: number; outputsOf: number; bits: number; values: number; x: number; out: number };
}

let predictModule: WebAssembly.Module | undefined;
const wasmCache = new WeakMap<Ensemble, WasmEnsemble>();

/** Lays an ensemble out in its own WebAssembly memory (32-byte nodes, see predict.wat), once per ensemble and width. */
function wasmEnsemble(e: Ensemble, p: number): WasmEnsemble {
  const cached = wasmCache.get(e);
  if (cached && cached.p === p) return cached;
  let c = compiledCache.get(e);
  if (!c) {
    c = compile(e);
    compiledCache.set(e, c);
  }
  const total = c.feature.length;
  const k = e.outputs;
  const align8 = (v: number) => Math.ceil(v / 8) * 8;
  // Category sets as [words, bits…] records.
  const catRecords: number[] = [];
  const catAt = new Int32Array(total).fill(-1);
  for (let i = 0; i < total; i++) {
    if (c.catAt[i]! < 0) continue;
    catAt[i] = 4 * catRecords.length;
    catRecords.push(c.catWords[i]!);
    for (let w = 0; w < c.catWords[i]!; w++) catRecords.push(c.bits[c.catAt[i]! + w]!);
  }
  const nodes = 64;
  const roots = nodes + 32 * total;
  const outputsOf = align8(roots + 4 * c.roots.length);
  const bits = align8(outputsOf + 4 * c.roots.length);
  const values = align8(bits + 4 * Math.max(1, catRecords.length));
  const xAt = align8(values + 8 * c.value.length);
  const out = xAt + 8 * CHUNK * p;
  const end = out + 8 * CHUNK * k;
  const pages = Math.ceil(end / 65_536);
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
  const buf = memory.buffer;
  const f64 = new Float64Array(buf);
  const i32 = new Int32Array(buf);
  for (let i = 0; i < total; i++) {
    const b = (nodes + 32 * i) / 4;
    const leaf = c.feature[i]! < 0;
    // A leaf is its own child (see predict.wat), so a finished walk stays put.
    f64[(nodes + 32 * i) / 8] = leaf ? Number.POSITIVE_INFINITY : c.threshold[i]!;
    i32[b + 2] = leaf ? 0 : c.feature[i]!;
    i32[b + 3] = leaf ? i : c.left[i]!;
    i32[b + 4] = leaf ? i : c.right[i]!;
    i32[b + 5] = leaf ? 0 : c.missingLeft[i]!;
    i32[b + 6] = leaf ? -1 : catAt[i]!;
    i32[b + 7] = leaf ? c.valueAt[i]! : -1;
  }
  i32.set(c.roots, roots / 4);
  i32.set(c.treeOutput, outputsOf / 4);
  new Uint32Array(buf, bits, catRecords.length).set(catRecords);
  f64.set(c.value, values / 8);
  predictModule ??= new WebAssembly.Module(Uint8Array.from(atob(PREDICT_WASM), (ch) => ch.charCodeAt(0)));
  const exports = new WebAssembly.Instance(predictModule, { env: { memory } }).exports as unknown as { predict: WasmEnsemble['predict'] };
  const w: WasmEnsemble = { predict: exports.predict, memory, p, at: { nodes, roots, outputsOf, bits, values, x: xAt, out } };
  wasmCache.set(e, w);
  return w;
}

/** Sums of leaf values (before averaging and base scores) of rows [from, to) into `out` (n × k). */
export function walkRows(e: Ensemble, x: Float64Array, p: number, from: number, to: number, out: Float64Array): void {
  const w = wasmEnsemble(e, p);
  const k = e.outputs;
  const buf = w.memory.buffer;
  const xs = new Float64Array(buf, w.at.x, CHUNK * p);
  const os = new Float64Array(buf, w.at.out, CHUNK * k);
  const trees = e.trees.length;
  for (let start = from; start < to; start += CHUNK) {
    const m = Math.min(CHUNK, to - start);
    xs.set(x.subarray(start * p, (start + m) * p));
    os.fill(0, 0, m * k);
    w.predict(w.at.nodes, w.at.roots, w.at.outputsOf, trees, w.at.bits, w.at.values, w.at.x, m, p, w.at.out, k);
    out.set(os.subarray(0, m * k), start * k);
  }
}

/** Large batches are shared out with a worker thread (predict-pool.ts) when one is set up. */
let parallelWalk: ((e: Ensemble, x: Float64Array, n: number, p: number, out: Float64Array) => boolean) | undefined;

export function setParallelWalk(f: typeof parallelWalk): void {
  parallelWalk = f;
}

function wasmRaw(e: Ensemble, x: Float64Array, n: number, p: number): Float64Array {
  const k = e.outputs;
  const out = new Float64Array(n * k > 50_000 ? new SharedArrayBuffer(8 * n * k) : new ArrayBuffer(8 * n * k));
  if (!parallelWalk?.(e, x, n, p, out)) walkRows(e, x, p, 0, n, out);
  const trees = e.trees.length;
  const scale = e.aggregation === 'mean' ? 1 / trees : 1;
  for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) out[i * k + j] = out[i * k + j]! * scale + e.baseScore[j]!;
  return out;
}
