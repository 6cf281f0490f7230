/**
 * Binning shared out between threads: one work item per feature fits its edges on the sample rows
 * and bins the whole column (with the WebAssembly kernel), reading the feature matrix from shared
 * memory and writing edges and codes to shared buffers.
 */
import { edgesFromValues } from './binning.js';
import { kernelFor, type HistogramData } from './histogram.js';

export interface BinningJob {
  /** Row-major n × p, in shared memory. */
  x: Float64Array;
  n: number;
  p: number;
  maxBins: number;
  /** The rows edges are fitted on. */
  rows: Uint32Array;
  /** Per feature: its number of categories, or -1 for a numeric feature. */
  categories: Int32Array;
  /** Per feature: up to 256 edges at f × 256, and how many. */
  edges: Float64Array;
  edgeCounts: Int32Array;
}

let sample = new Float64Array(0);

export function binFeature(job: BinningJob, data: HistogramData, f: number, thread: number): void {
  const { x, n, p, maxBins, rows } = job;
  const k = job.categories[f]!;
  if (k >= 0) {
    const out = data.bins;
    const base = f * n;
    for (let i = 0; i < n; i++) {
      const v = x[i * p + f]!;
      // NaN fails `v >= 0`: a missing value takes the missing bin.
      out[base + i] = v >= 0 && v < k && Number.isInteger(v) ? v : maxBins;
    }
    return;
  }
  if (sample.length < rows.length) sample = new Float64Array(rows.length);
  let m = 0;
  for (let j = 0; j < rows.length; j++) {
    const v = x[rows[j]! * p + f]!;
    if (!Number.isNaN(v)) sample[m++] = v;
  }
  const e = edgesFromValues(sample.subarray(0, m), maxBins);
  job.edges.set(e, f * 256);
  job.edgeCounts[f] = e.length;
  const w = data.wasm!;
  const valuesAt = w.values + thread * n * 8;
  const edgesAt = w.edges + thread * 256 * 8;
  const values = new Float64Array(w.memory.buffer, valuesAt, n);
  for (let i = 0; i < n; i++) values[i] = x[i * p + f]!;
  const edges = new Float64Array(w.memory.buffer, edgesAt, 256);
  edges.fill(Number.POSITIVE_INFINITY);
  edges.set(e);
  kernelFor(w.memory).bin(valuesAt, n, edgesAt, w.bins + f * n, maxBins);
}
