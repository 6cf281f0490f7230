/**
 * The histogram kernel: for the rows of one node, per feature and per bin code, the row count,
 * the hessian sum and one gradient sum per channel. It is the hot loop of tree growing; the main
 * thread and the workers run this same function on disjoint feature ranges of shared buffers.
 *
 * Layout of one histogram slot: features × codes × stride doubles, stride = 2 + channels:
 * `[count, hessian, gradient_0, …]`. With a unit hessian the hessian entry is left at 0 and the
 * count stands for it.
 */
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
}

let scratchA = new Float64Array(0);
let scratchB = new Float64Array(0);

export function slotSize(features: number, codes: number, channels: number): number {
  return features * codes * (2 + channels);
}

/** Builds the histograms of features `features[from … to)` for one node into slot `slot`. */
export function buildHistograms(d: HistogramData, start: number, count: number, slot: number, from: number, to: number, unitHessian: boolean, p: number): void {
  const { bins, rows, idx, grad, hess, hist, features, codes, channels } = d;
  const stride = 2 + channels;
  const slotBase = slot * slotSize(p, codes, channels);
  const end = start + count;
  for (let k = from; k < to; k++) {
    const f = features[k]!;
    const base = slotBase + f * codes * stride;
    hist.fill(0, base, base + codes * stride);
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
