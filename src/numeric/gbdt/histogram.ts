/**
 * The histogram kernel: for the rows of one node, per feature and per bin code, the row count,
 * the hessian sum and one gradient sum per channel. It is the hot loop of tree growing; the main
 * thread and the workers run this same function on disjoint feature ranges of shared buffers.
 *
 * Layout of one histogram slot: features × codes × stride doubles, stride = 2 + channels:
 * `[count, hessian, gradient_0, …]`. With a unit hessian the hessian entry is left at 0 and the
 * count stands for it.
 *
 * The buffers live in one shared WebAssembly memory when they fit (4 GiB), and large nodes with a
 * single gradient channel are built by the WebAssembly kernel (kernel.wat); otherwise, and for
 * small nodes, by the JavaScript loops below on views of the same memory.
 */
import { WASM_BASE64 } from './kernel-wasm.js';
export interface HistogramData {
  /** Column-major bin codes: feature f, row i at `f * rows + i`. */
  bins: Uint8Array;
  rows: number;
  /** Row numbers; a node owns `idx[start … start + count)`. */
  idx: Uint32Array;
  /** Gradients gathered in node order: channel c of position `start + i` at `(start + i) * channels + c`. */
  grad: Float32Array;
  /** Hessians gathered in node order (unused with a unit hessian). */
  hess: Float32Array;
  hist: Float64Array;
  /** The features to build, by index into the feature list. */
  features: Int32Array;
  codes: number;
  channels: number;
  /** Per feature, how many bin codes below the missing one occur (the rest stay zero). */
  used: Int32Array;
  /** Byte offsets of the buffers in `memory`, when they live in WebAssembly memory. */
  wasm?: WasmLayout;
}

/** Where each buffer starts in the WebAssembly memory (bytes). */
export interface WasmLayout {
  memory: WebAssembly.Memory;
  bins: number;
  idx: number;
  grad: number;
  hess: number;
  hist: number;
  scratch: number;
  /** Per-row gradient and hessian (f32), which the trees read through `idx`. */
  rowGrad: number;
  rowHess: number;
  /** Room for one partition's right-hand rows (u32). */
  partScratch: number;
  /** Per thread, one feature's values (f64, rows of them) and 256 edges (f64), for binning. */
  values: number;
  edges: number;
  /** A split's bin-code → left lookup (256 bytes). */
  table: number;
  /** Where `scan` writes the best split it found (6 f64). */
  result: number;
}

export interface Kernel {
  hist(col: number, idx: number, grad: number, hess: number, n: number, a: number, b: number): void;
  combine(a: number, b: number, out: number, len: number): void;
  subtract(out: number, b: number, len: number): void;
  scan(hist: number, bins: number, missing: number, total: number, hTotal: number, g0: number, parent: number, minLeaf: number, minH: number, l2: number, unit: number, best: number, res: number): number;
  partition(idx: number, start: number, count: number, col: number, left: number, scratch: number): number;
  gather(idx: number, n: number, g: number, h: number, outG: number, outH: number): void;
  bin(values: number, n: number, edges: number, out: number, missing: number): void;
}

let wasmModule: WebAssembly.Module | undefined;
const kernels = new WeakMap<WebAssembly.Memory, Kernel>();

export function kernelFor(memory: WebAssembly.Memory): Kernel {
  let k = kernels.get(memory);
  if (!k) {
    wasmModule ??= new WebAssembly.Module(Uint8Array.from(atob(WASM_BASE64), (c) => c.charCodeAt(0)));
    k = new WebAssembly.Instance(wasmModule, { env: { memory } }).exports as unknown as Kernel;
    kernels.set(memory, k);
  }
  return k;
}

const align = (x: number, to: number) => Math.ceil(x / to) * to;
const MAX_WASM_BYTES = 2 ** 32 - 2 ** 16;

/**
 * Allocates the buffers for `rows` × `p` binned features: in one shared WebAssembly memory when
 * it fits, in shared array buffers otherwise. `threads` sizes the per-thread scratch.
 */
export function allocateHistogramData(rows: number, p: number, idxLength: number, channels: number, codes: number, slots: number, threads: number, wasm = true): HistogramData {
  const slotBytes = 8 * slotSize(p, codes, channels);
  let at = 64;
  const take = (bytes: number, alignment: number) => {
    at = align(at, alignment);
    const start = at;
    at += bytes;
    return start;
  };
  const bins = take(rows * p, 8);
  const idx = take(4 * idxLength, 8);
  const grad = take(4 * idxLength * channels, 8);
  const hess = take(4 * idxLength, 8);
  const features = take(4 * p, 8);
  const scratch = take(threads * 2 * codes * 24, 8);
  const hist = take(slots * slotBytes, 8);
  const rowGrad = take(4 * rows, 8);
  const rowHess = take(4 * rows, 8);
  const partScratch = take(4 * idxLength, 8);
  const values = take(8 * rows * threads, 8);
  const edges = take(8 * 256 * threads, 8);
  const table = take(256, 8);
  const result = take(64, 8);
  if (wasm && at <= MAX_WASM_BYTES) {
    const pages = Math.ceil(at / 65_536);
    let memory: WebAssembly.Memory | undefined;
    try {
      memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
    } catch {
      memory = undefined;
    }
    if (memory) {
      const b = memory.buffer;
      return {
        bins: new Uint8Array(b, bins, rows * p), rows, idx: new Uint32Array(b, idx, idxLength), grad: new Float32Array(b, grad, idxLength * channels),
        hess: new Float32Array(b, hess, idxLength), hist: new Float64Array(b, hist, slots * slotBytes / 8), features: new Int32Array(b, features, p),
        codes, channels, used: new Int32Array(new SharedArrayBuffer(4 * p)).fill(codes - 1), wasm: { memory, bins, idx, grad, hess, hist, scratch, rowGrad, rowHess, partScratch, values, edges, table, result },
      };
    }
  }
  return {
    bins: new Uint8Array(new SharedArrayBuffer(rows * p)), rows,
    idx: new Uint32Array(new SharedArrayBuffer(4 * idxLength)),
    grad: new Float32Array(new SharedArrayBuffer(4 * idxLength * channels)),
    hess: new Float32Array(new SharedArrayBuffer(4 * idxLength)),
    hist: new Float64Array(new SharedArrayBuffer(slots * slotBytes)),
    features: new Int32Array(new SharedArrayBuffer(4 * p)),
    codes, channels, used: new Int32Array(new SharedArrayBuffer(4 * p)).fill(codes - 1),
  };
}

let scratchA = new Float64Array(0);
let scratchB = new Float64Array(0);

export function slotSize(features: number, codes: number, channels: number): number {
  return features * codes * (2 + channels);
}

/**
 * Builds the histograms of features `features[from … to)` for one node into slot `slot`; `thread`
 * (0 for the main thread) picks the scratch the WebAssembly kernel uses.
 */
export function buildHistograms(d: HistogramData, start: number, count: number, slot: number, from: number, to: number, unitHessian: boolean, p: number, thread = 0): void {
  const { bins, rows, idx, grad, hess, hist, features, codes, channels } = d;
  const stride = 2 + channels;
  const slotBase = slot * slotSize(p, codes, channels);
  const end = start + count;
  if (d.wasm && channels === 1 && count >= 64) {
    const w = d.wasm;
    const k = kernelFor(w.memory);
    const a = w.scratch + thread * 2 * codes * 24;
    const b = a + codes * 24;
    for (let j = from; j < to; j++) {
      const f = features[j]!;
      k.hist(w.bins + f * rows, w.idx + 4 * start, w.grad + 4 * start, unitHessian ? 0 : w.hess + 4 * start, count, a, b);
      // Only the codes in use and the missing one hold counts.
      const out = w.hist + 8 * (slotBase + f * codes * stride);
      const u = d.used[f]!;
      k.combine(a, b, out, u * 3);
      k.combine(a + 24 * (codes - 1), b + 24 * (codes - 1), out + 24 * (codes - 1), 3);
    }
    return;
  }
  for (let k = from; k < to; k++) {
    const f = features[k]!;
    const base = slotBase + f * codes * stride;
    hist.fill(0, base, base + d.used[f]! * stride);
    hist.fill(0, base + (codes - 1) * stride, base + codes * stride);
    const colBase = f * rows;
    const col = bins.subarray(colBase, colBase + rows);
    if (channels === 1 && count < 4 * codes) {
      // A small node: straight into the slot (the partial histograms would cost more to clear and sum).
      for (let i = start; i < end; i++) {
        const u = base + col[idx[i]!]! * 3;
        hist[u]! += 1;
        if (!unitHessian) hist[u + 1]! += hess[i]!;
        hist[u + 2]! += grad[i]!;
      }
    } else if (channels === 1) {
      // Two partial histograms (even and odd positions) break the dependency between
      // consecutive rows in the same bin; they are summed into the slot at the end.
      const size = codes * 3;
      if (scratchA.length < size) { scratchA = new Float64Array(size); scratchB = new Float64Array(size); }
      const a = scratchA;
      const b = scratchB;
      a.fill(0, 0, size);
      b.fill(0, 0, size);
      let i = start;
      if (unitHessian) {
        for (; i + 1 < end; i += 2) {
          const u = col[idx[i]!]! * 3;
          a[u]! += 1;
          a[u + 2]! += grad[i]!;
          const v = col[idx[i + 1]!]! * 3;
          b[v]! += 1;
          b[v + 2]! += grad[i + 1]!;
        }
      } else {
        for (; i + 1 < end; i += 2) {
          const u = col[idx[i]!]! * 3;
          a[u]! += 1;
          a[u + 1]! += hess[i]!;
          a[u + 2]! += grad[i]!;
          const v = col[idx[i + 1]!]! * 3;
          b[v]! += 1;
          b[v + 1]! += hess[i + 1]!;
          b[v + 2]! += grad[i + 1]!;
        }
      }
      if (i < end) {
        const u = col[idx[i]!]! * 3;
        a[u]! += 1;
        if (!unitHessian) a[u + 1]! += hess[i]!;
        a[u + 2]! += grad[i]!;
      }
      for (let j = 0; j < size; j++) hist[base + j] = a[j]! + b[j]!;
    } else {
      for (let i = start; i < end; i++) {
        const b = base + col[idx[i]!]! * stride;
        hist[b]! += 1;
        if (!unitHessian) hist[b + 1]! += hess[i]!;
        const g = i * channels;
        for (let c = 0; c < channels; c++) hist[b + 2 + c]! += grad[g + c]!;
      }
    }
  }
}
