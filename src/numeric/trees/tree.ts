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
import { maskWalk, type MaskTree, type MaskWalk } from './predict-tables.js';

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
    if (Number.isNaN(v)) n = missingLeft[n] ? left[n]! : right[n]!;
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
  let total = 0;
  let valueCount = 0;
  let bitCount = 0;
  const wordsOf = (set: Int32Array) => {
    let max = -1;
    for (const v of set) if (v > max) max = v;
    return max < 0 ? 1 : (max >> 5) + 1;
  };
  for (const t of e.trees) {
    total += t.feature.length;
    valueCount += t.value.length;
    if (t.categories) for (let i = 0; i < t.feature.length; i++) if (t.categories[i] && t.feature[i]! >= 0) bitCount += wordsOf(t.categories[i]!);
  }
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
  const bits = new Uint32Array(bitCount);
  const value = new Float64Array(valueCount);
  let base = 0;
  let valueBase = 0;
  let bitBase = 0;
  e.trees.forEach((t, k) => {
    roots[k] = base;
    treeOutput[k] = t.output;
    feature.set(t.feature, base);
    threshold.set(t.threshold, base);
    missingLeft.set(t.missingLeft, base);
    value.set(t.value, valueBase);
    for (let i = 0; i < t.feature.length; i++) {
      const at = base + i;
      left[at] = base + t.left[i]!;
      right[at] = base + t.right[i]!;
      valueAt[at] = valueBase + i * t.width;
      const set = t.categories?.[i];
      if (set && t.feature[i]! >= 0) {
        const words = wordsOf(set);
        catAt[at] = bitBase;
        catWords[at] = words;
        // Negative codes are in no set: no value reaches them.
        for (const v of set) if (v >= 0) bits[bitBase + (v >> 5)] = bits[bitBase + (v >> 5)]! | (1 << (v & 31));
        bitBase += words;
      }
    }
    base += t.feature.length;
    valueBase += t.value.length;
  });
  return { roots, treeOutput, feature, threshold, left, right, missingLeft, catAt, catWords, bits, valueAt, value };
}

/** Raw outputs (n × outputs, row-major) for a row-major matrix with `p` columns. */
export function ensembleRaw(e: Ensemble, x: Float64Array, n: number, p: number): Float64Array {
  return wasmRaw(e, x, n, p);
}

/** The same as `ensembleRaw`, walking the trees in JavaScript (the reference for the WebAssembly walk). */
export function ensembleRawJs(e: Ensemble, x: Float64Array, n: number, p: number): Float64Array {
  const out = walkRowsJs(e, x, n, p);
  finish(e, out, n);
  return out;
}

/** Averaging and base scores, applied in place to sums of leaf values (n × outputs). */
function finish(e: Ensemble, out: Float64Array, n: number): void {
  const k = e.outputs;
  const scale = e.aggregation === 'mean' ? 1 / e.trees.length : 1;
  for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) out[i * k + j] = out[i * k + j]! * scale + e.baseScore[j]!;
}

/** Sums of leaf values (n × outputs), one row and one tree at a time. */
function walkRowsJs(e: Ensemble, x: Float64Array, n: number, p: number): Float64Array {
  let c = compiledCache.get(e);
  if (!c) {
    c = compile(e);
    compiledCache.set(e, c);
  }
  const k = e.outputs;
  const out = new Float64Array(n * k);
  const { roots, treeOutput, feature, threshold, left, right, missingLeft, catAt, catWords, bits, valueAt, value } = c;
  const trees = roots.length;
  for (let i = 0; i < n; i++) {
    const off = i * p;
    const o = i * k;
    for (let t = 0; t < trees; t++) {
      let node = roots[t]!;
      for (let f = feature[node]!; f >= 0; f = feature[node]!) {
        const v = x[off + f]!;
        if (Number.isNaN(v)) node = missingLeft[node] ? left[node]! : right[node]!;
        else {
          const at = catAt[node]!;
          if (at < 0) node = v <= threshold[node]! ? left[node]! : right[node]!;
          else {
            // A category code is the value's integer part; a negative or huge value is in no set.
            const code = v >= 0 && v < 2 ** 31 ? Math.trunc(v) : -1;
            const word = code >> 5;
            node = code >= 0 && word < catWords[node]! && (bits[at + word]! >>> (code & 31)) & 1 ? left[node]! : right[node]!;
          }
        }
      }
      const out1 = treeOutput[t]!;
      const va = valueAt[node]!;
      if (out1 >= 0) out[o + out1]! += value[va]!;
      else for (let j = 0; j < k; j++) out[o + j]! += value[va + j]!;
    }
  }
  return out;
}

/**
 * Rows per call of the WebAssembly walk: the batch is copied into its memory a chunk at a time.
 * Small enough that the first call, which runs before the engine has optimised the walk, is short.
 */
const CHUNK = 1024;
/** Above this many bitset words an ensemble is walked in JavaScript rather than laid out in WebAssembly. */
const MAX_SET_WORDS = 1 << 22;

interface WasmEnsemble {
  encode: (x: number, n: number, p: number, cols: number, ncols: number, codes: number) => void;
  walk: (roots: number, trees: number, codes: number, n: number, stride: number, out: number, leaf: number, k: number, outputsOf: number) => void;
  walkSum: (roots: number, trees: number, codes: number, n: number, stride: number, out: number, leaf: number) => void;
  memory: WebAssembly.Memory;
  p: number;
  ncols: number;
  at: { cols: number; roots: number; outputsOf: number; leaf: number; x: number; codes: number; out: number };
}

let predictModule: WebAssembly.Module | undefined;
const maskCache = new WeakMap<Ensemble, { p: number; walk: MaskWalk } | null>();
const wasmCache = new WeakMap<Ensemble, WasmEnsemble | null>();

interface Column { feature: number; edges?: number[]; size: number }

function compiledOf(e: Ensemble): Compiled {
  let c = compiledCache.get(e);
  if (!c) {
    c = compile(e);
    compiledCache.set(e, c);
  }
  return c;
}

/**
 * The columns of codes an ensemble's splits read: one per (feature, numeric) and (feature,
 * categorical) pair in use. A numeric column's code is the rank of the value among the feature's
 * thresholds, with a code of its own for a missing value; a category column's code is the category
 * code, with one for any code no set holds and one for a missing value.
 */
function splitColumns(c: Compiled) {
  const total = c.feature.length;
  const numericCol = new Map<number, number>();
  const categoricalCol = new Map<number, number>();
  const columns: Column[] = [];
  const thresholds = new Map<number, number[]>();
  const maxCode = new Map<number, number>();
  for (let i = 0; i < total; i++) {
    const f = c.feature[i]!;
    if (f < 0) continue;
    if (c.catAt[i]! < 0) {
      let list = thresholds.get(f);
      if (!list) thresholds.set(f, (list = []));
      if (!Number.isNaN(c.threshold[i]!)) list.push(c.threshold[i]!);
    } else {
      let top = maxCode.get(f) ?? -1;
      for (let w = c.catWords[i]! - 1; w >= 0; w--) {
        const word = c.bits[c.catAt[i]! + w]!;
        if (word) { top = Math.max(top, 32 * w + 31 - Math.clz32(word)); break; }
      }
      maxCode.set(f, top);
    }
  }
  // A numeric split's threshold → its rank among its feature's thresholds (-0 and 0 are one).
  const rankOf: Map<number, number>[] = [];
  for (const [f, list] of thresholds) {
    numericCol.set(f, columns.length);
    list.sort((a, b) => a - b);
    const edges = list.filter((v, j) => j === 0 || v !== list[j - 1]);
    rankOf[columns.length] = new Map(edges.map((v, j) => [v, j]));
    // Ranks 0…m and a missing code m + 1.
    columns.push({ feature: f, edges, size: edges.length + 2 });
  }
  for (const [f, top] of maxCode) {
    categoricalCol.set(f, columns.length);
    // Codes 0…top, one for any other code (top + 1), and a missing code (top + 2).
    columns.push({ feature: f, size: top + 3 });
  }
  // Each numeric column's thresholds padded with +Infinity to 2^s - 1 for a branch-free search.
  const searchSteps = columns.map((col) => {
    if (!col.edges?.length) return 0;
    let s = 1;
    while (2 * s - 1 < col.edges.length) s *= 2;
    return s;
  });
  return { columns, rankOf, numericCol, categoricalCol, searchSteps };
}

/**
 * Lays an ensemble out for the leaf-mask walk (predict-tables.ts), or null when its trees are too
 * large for it.
 */
function maskEnsemble(e: Ensemble, p: number): MaskWalk | null {
  const cached = maskCache.get(e);
  if (cached !== undefined && (cached === null || cached.p === p)) return cached?.walk ?? null;
  const c = compiledOf(e);
  const { columns, rankOf, numericCol, categoricalCol, searchSteps } = splitColumns(c);
  const trees: MaskTree[] = [];
  for (let t = 0; t < c.roots.length; t++) {
    const base = c.roots[t]!;
    const size = e.trees[t]!.feature.length;
    const column = new Int32Array(size);
    const rank = new Int32Array(size);
    for (let i = 0; i < size; i++) {
      const g = base + i;
      const f = c.feature[g]!;
      if (f < 0) { column[i] = -1; continue; }
      const cat = c.catAt[g]! >= 0;
      column[i] = cat ? categoricalCol.get(f)! : numericCol.get(f)!;
      rank[i] = cat || Number.isNaN(c.threshold[g]!) ? -1 : rankOf[column[i]!]!.get(c.threshold[g]!)!;
    }
    trees.push({
      output: c.treeOutput[t]!,
      column,
      left: Int32Array.from(c.left.subarray(base, base + size), (v) => v - base),
      right: Int32Array.from(c.right.subarray(base, base + size), (v) => v - base),
      rank,
      missingLeft: c.missingLeft.subarray(base, base + size),
      categoryCodes: (i, left) => {
        const g = base + i;
        const from = c.catAt[g]!;
        for (let w = 0; w < c.catWords[g]!; w++) {
          for (let word = c.bits[from + w]!; word; word &= word - 1) left[32 * w + 31 - Math.clz32(word & -word)] = 1;
        }
      },
      leafValues: (i) => c.value.subarray(c.valueAt[base + i], c.valueAt[base + i]! + (c.treeOutput[t]! >= 0 ? 1 : e.outputs)),
    });
  }
  const walk = maskWalk(trees, columns, searchSteps, e.outputs, p, CHUNK);
  maskCache.set(e, walk ? { p, walk } : null);
  return walk;
}

/**
 * Lays an ensemble out for the WebAssembly walk (see predict.wat): each row's features become
 * small integer codes, one per column the trees split on — for a numeric split, the rank of the
 * value among the feature's thresholds; for a category split, the category code — with a code of
 * its own for a missing value and, for categories, one for any code no set holds. Every split is
 * then a bit test of the row's code in a bitset of the node, missing values included. Null when
 * the bitsets would be too large, or a node has two parents.
 */
function wasmEnsemble(e: Ensemble, p: number): WasmEnsemble | null {
  const cached = wasmCache.get(e);
  if (cached !== undefined && (cached === null || cached.p === p)) return cached;
  const c = compiledOf(e);
  const total = c.feature.length;
  const k = e.outputs;
  const { columns, rankOf, numericCol, categoricalCol, searchSteps } = splitColumns(c);
  const wordsOf = (col: Column) => Math.ceil(col.size / 32);
  // Bitsets, shared between nodes that test the same codes.
  const sets = new Map<string, number>();
  const setWords: number[] = [];
  const nodeSet = new Int32Array(total).fill(-1);
  const nodeCol = new Int32Array(total);
  let zeroWords = 1;
  for (const col of columns) zeroWords = Math.max(zeroWords, wordsOf(col));
  for (let i = 0; i < total; i++) {
    const f = c.feature[i]!;
    if (f < 0) continue;
    const cat = c.catAt[i]! >= 0;
    const ci = cat ? categoricalCol.get(f)! : numericCol.get(f)!;
    const col = columns[ci]!;
    const rank = cat || Number.isNaN(c.threshold[i]!) ? -1 : rankOf[ci]!.get(c.threshold[i]!)!;
    const ml = c.missingLeft[i] ? 1 : 0;
    const catFrom = c.catAt[i]!;
    const key = cat ? `${ci} ${ml} ${c.bits.subarray(catFrom, catFrom + c.catWords[i]!).join(' ')}` : `${ci} ${ml} ${rank}`;
    let at = sets.get(key);
    if (at === undefined) {
      at = setWords.length;
      sets.set(key, at);
      const words = Math.ceil(col.size / 32);
      if (at + words > MAX_SET_WORDS) {
        wasmCache.set(e, null);
        return null;
      }
      for (let w = 0; w < words; w++) setWords.push(0);
      const set = (code: number) => { setWords[at! + (code >> 5)] = setWords[at! + (code >> 5)]! | (1 << (code & 31)); };
      if (cat) {
        for (let w = 0; w < c.catWords[i]!; w++) setWords[at + w] = c.bits[catFrom + w]!;
      } else {
        // Left when the value is at most the threshold: ranks up to the threshold's own.
        for (let code = 0; code <= rank; code++) set(code);
      }
      if (ml) set(col.size - 1);
    }
    nodeSet[i] = at;
    nodeCol[i] = ci;
  }
  const ncols = Math.max(1, columns.length);
  const edgeCount = columns.reduce((s, col, j) => s + (col.edges ? Math.max(0, 2 * searchSteps[j]! - 1) : 0), 0);
  const align16 = (v: number) => Math.ceil(v / 16) * 16;
  const colsAt = align16(4 * zeroWords);
  const edgesAt = align16(colsAt + 16 * columns.length);
  const bitsAt = align16(edgesAt + 8 * edgeCount);
  const nodes = align16(bitsAt + 4 * setWords.length);
  const roots = nodes + 16 * total;
  const outputsOf = align16(roots + 4 * c.roots.length);
  const leafAt = align16(outputsOf + 4 * c.roots.length);
  // One output: each node's leaf value (f64); several: the byte address of its values (i32).
  const valuesAt = align16(leafAt + (k === 1 ? 8 : 4) * total);
  const xAt = align16(valuesAt + 8 * c.value.length);
  const codesAt = xAt + 8 * CHUNK * p;
  const out = align16(codesAt + 4 * CHUNK * ncols);
  const end = out + 8 * CHUNK * k;
  const pages = Math.ceil(end / 65_536);
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
  const buf = memory.buffer;
  const f64 = new Float64Array(buf);
  const i32 = new Int32Array(buf);
  let edgeAt = edgesAt;
  columns.forEach((col, j) => {
    const d = (colsAt + 16 * j) / 4;
    i32[d] = 8 * col.feature;
    if (col.edges) {
      const padded = Math.max(0, 2 * searchSteps[j]! - 1);
      f64.set(col.edges, edgeAt / 8);
      f64.fill(Number.POSITIVE_INFINITY, edgeAt / 8 + col.edges.length, edgeAt / 8 + padded);
      i32[d + 1] = edgeAt;
      i32[d + 2] = searchSteps[j]!;
      edgeAt += 8 * padded;
    } else {
      i32[d + 1] = 0;
      i32[d + 2] = col.size - 2;
    }
    i32[d + 3] = col.size - 1;
  });
  new Int32Array(buf, bitsAt, setWords.length).set(setWords);
  // Each internal node's children side by side, right then left, so that the walk steps to the
  // first plus 16 bytes when a row goes left.
  const slot = new Int32Array(total).fill(-1);
  let used = 0;
  const queue: number[] = [];
  for (let t = 0; t < c.roots.length; t++) {
    slot[c.roots[t]!] = used++;
    queue.push(c.roots[t]!);
  }
  for (let q = 0; q < queue.length; q++) {
    const i = queue[q]!;
    if (c.feature[i]! < 0) continue;
    for (const child of [c.right[i]!, c.left[i]!]) {
      // A node with two parents: not a tree this layout can hold (the JavaScript walk can).
      if (slot[child] !== -1) {
        wasmCache.set(e, null);
        return null;
      }
      slot[child] = used++;
      queue.push(child);
    }
  }
  const addr = (i: number) => nodes + 16 * slot[i]!;
  for (let i = 0; i < total; i++) {
    if (slot[i] === -1) continue;
    const b = addr(i) / 4;
    const leaf = c.feature[i]! < 0;
    // A leaf tests the empty set at address 0 and is its own child, so a finished walk stays put.
    i32[b] = leaf ? 0 : 4 * nodeCol[i]!;
    i32[b + 1] = leaf ? 0 : bitsAt + 4 * nodeSet[i]!;
    i32[b + 2] = leaf ? addr(i) : addr(c.right[i]!);
    if (k === 1) f64[leafAt / 8 + slot[i]!] = leaf ? c.value[c.valueAt[i]!]! : 0;
    else i32[leafAt / 4 + slot[i]!] = valuesAt + 8 * c.valueAt[i]!;
  }
  for (let t = 0; t < c.roots.length; t++) i32[roots / 4 + t] = addr(c.roots[t]!);
  i32.set(c.treeOutput, outputsOf / 4);
  f64.set(c.value, valuesAt / 8);
  predictModule ??= new WebAssembly.Module(Uint8Array.from(atob(PREDICT_WASM), (ch) => ch.charCodeAt(0)));
  const exports = new WebAssembly.Instance(predictModule, { env: { memory } }).exports as unknown as Pick<WasmEnsemble, 'encode' | 'walk' | 'walkSum'>;
  // The walk finds a node's leaf entry at leaf + (address >> 1) (f64) or (address >> 2) (i32).
  const leaf = k === 1 ? leafAt - nodes / 2 : leafAt - nodes / 4;
  const w: WasmEnsemble = { ...exports, memory, p, ncols: columns.length, at: { cols: colsAt, roots, outputsOf, leaf, x: xAt, codes: codesAt, out } };
  wasmCache.set(e, w);
  return w;
}

/**
 * Sums of leaf values (before averaging and base scores) of rows [from, to) into `out` (rows × k),
 * row `from` at row `at` of `out` (by default `from`).
 */
export function walkRows(e: Ensemble, x: Float64Array, p: number, from: number, to: number, out: Float64Array, at = from): void {
  const mw = maskEnsemble(e, p);
  if (mw) {
    const k = e.outputs;
    const buf = mw.memory.buffer;
    const xs = new Float64Array(buf, mw.x, CHUNK * p);
    const os = new Float64Array(buf, mw.out, CHUNK * k);
    for (let start = from; start < to; start += CHUNK) {
      const m = Math.min(CHUNK, to - start);
      xs.set(x.subarray(start * p, (start + m) * p));
      mw.encode(m);
      os.fill(0, 0, m * k);
      mw.walk(m);
      out.set(os.subarray(0, m * k), (start - from + at) * k);
    }
    return;
  }
  const w = wasmEnsemble(e, p);
  if (!w) {
    out.set(walkRowsJs(e, x.subarray(from * p, to * p), to - from, p), at * e.outputs);
    return;
  }
  const k = e.outputs;
  const buf = w.memory.buffer;
  const xs = new Float64Array(buf, w.at.x, CHUNK * p);
  const os = new Float64Array(buf, w.at.out, CHUNK * k);
  const trees = e.trees.length;
  const stride = 4 * Math.max(1, w.ncols);
  for (let start = from; start < to; start += CHUNK) {
    const m = Math.min(CHUNK, to - start);
    xs.set(x.subarray(start * p, (start + m) * p));
    if (w.ncols) w.encode(w.at.x, m, p, w.at.cols, w.ncols, w.at.codes);
    if (k === 1) w.walkSum(w.at.roots, trees, w.at.codes, m, stride, w.at.out, w.at.leaf);
    else {
      os.fill(0, 0, m * k);
      w.walk(w.at.roots, trees, w.at.codes, m, stride, w.at.out, w.at.leaf, k, w.at.outputsOf);
    }
    out.set(os.subarray(0, m * k), (start - from + at) * k);
  }
}

/**
 * How `walkRows` walks an ensemble over rows of p features: by leaf masks (trees of up to 64
 * leaves), node by node in WebAssembly, or in JavaScript.
 */
export function walkLayout(e: Ensemble, p: number): 'masks' | 'nodes' | 'js' {
  return maskEnsemble(e, p) ? 'masks' : wasmEnsemble(e, p) ? 'nodes' : 'js';
}

/**
 * Large batches are shared out with a worker thread (predict-pool.ts) when one is set up: it hands
 * the batch to the worker and returns how to finish it (walk what is left here, wait for the rest
 * and return the sums of leaf values), or undefined to leave the batch to this thread.
 */
let parallelWalk: ((e: Ensemble, x: Float64Array, n: number, p: number) => (() => Float64Array) | undefined) | undefined;

export function setParallelWalk(f: typeof parallelWalk): void {
  parallelWalk = f;
}

function wasmRaw(e: Ensemble, x: Float64Array, n: number, p: number): Float64Array {
  return startEnsembleRaw(e, x, n, p)();
}

/**
 * `ensembleRaw` in two halves, for a caller with other work to do while the trees are walked
 * (batch scoring reads and writes other blocks meanwhile): a large batch starts on the prediction
 * worker at once, and the function returned finishes it on this thread (walking what the worker
 * has not claimed) and returns the raw outputs. `x` must not change until then.
 */
export function startEnsembleRaw(e: Ensemble, x: Float64Array, n: number, p: number): () => Float64Array {
  const join = parallelWalk?.(e, x, n, p);
  return () => {
    let out = join?.();
    if (!out) {
      out = new Float64Array(n * e.outputs);
      walkRows(e, x, p, 0, n, out);
    }
    finish(e, out, n);
    return out;
  };
}
