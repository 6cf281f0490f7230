/**
 * Feature binning for histogram tree growing. Each numeric feature gets at most `maxBins - 1`
 * bins whose upper edges are midpoints between distinct values (all of them when few, quantiles
 * of a seeded sample otherwise); categorical features use their category code as the bin. One
 * more code (`maxBins`) is reserved for missing values, so with up to 255 bins every code fits in
 * a byte.
 *
 * A row's value `x` is in bin `b` when `edges[b-1] < x <= edges[b]`; hence `x <= edges[t]` holds
 * exactly when its bin is at most `t`, and a split found on bins is the same split on values.
 */
import { SeededRandom } from '../sketches/seeded-random.js';

export interface Binning {
  /** Bins per feature, missing excluded; the missing bin is `missingBin`. */
  bins: number[];
  /** Upper edges per numeric feature (length bins - 1; the last bin is unbounded); empty for categorical. */
  edges: Float64Array[];
  categorical: boolean[];
  missingBin: number;
  /** Total number of bin codes including missing (= maxBins + 1). */
  codes: number;
}

const SAMPLE = 200_000;

/**
 * Fits bins on a row-major n × p matrix. `categories` maps a feature to its number of categories
 * (codes 0…k-1); each must be below `maxBins - 1`.
 */
export function fitBinning(x: Float64Array, n: number, p: number, maxBins: number, categories: Map<number, number>, seed: number): Binning {
  checkMaxBins(maxBins);
  const rows = sampleRows(n, seed);
  const bins: number[] = [];
  const edges: Float64Array[] = [];
  const categorical: boolean[] = [];
  // The sample, column by column (one pass over its rows rather than one per feature).
  const s = rows.length;
  const columns = new Float64Array(s * p);
  for (let j = 0; j < s; j++) {
    const base = rows[j]! * p;
    for (let f = 0; f < p; f++) columns[f * s + j] = x[base + f]!;
  }
  const values = new Float64Array(s);
  for (let f = 0; f < p; f++) {
    const k = categories.get(f);
    if (k !== undefined) {
      checkCategories(f, k, maxBins);
      bins.push(k);
      edges.push(new Float64Array(0));
      categorical.push(true);
      continue;
    }
    let m = 0;
    for (let j = f * s; j < (f + 1) * s; j++) {
      const v = columns[j]!;
      if (!Number.isNaN(v)) values[m++] = v;
    }
    const e = edgesFromValues(values.subarray(0, m), maxBins);
    edges.push(e);
    bins.push(e.length + 1);
    categorical.push(false);
  }
  return { bins, edges, categorical, missingBin: maxBins, codes: maxBins + 1 };
}

export function checkMaxBins(maxBins: number): void {
  if (!(Number.isInteger(maxBins) && maxBins >= 2 && maxBins <= 255)) throw new RangeError(`maxBins must be an integer within 2…255, got ${maxBins}`);
}

export function checkCategories(f: number, k: number, maxBins: number): void {
  if (k > maxBins) throw new RangeError(`feature ${f} has ${k} categories; at most ${maxBins} fit in ${maxBins} bins`);
}

/** The rows bins are fitted on: all of them, or a seeded sample of 200,000 (in row order). */
export function sampleRows(n: number, seed: number): Uint32Array {
  if (n <= SAMPLE) return Uint32Array.from({ length: n }, (_, i) => i);
  const rng = new SeededRandom(seed);
  const pick = new Uint8Array(n);
  let chosen = 0;
  while (chosen < SAMPLE) {
    const r = Math.floor(rng.next() * n);
    if (!pick[r]) { pick[r] = 1; chosen++; }
  }
  const rows = new Uint32Array(SAMPLE);
  let j = 0;
  for (let i = 0; i < n; i++) if (pick[i]) rows[j++] = i;
  return rows;
}

/**
 * Upper bin edges for a feature's (non-missing) sample values, which are sorted in place: midpoints
 * between distinct values when they are few, between quantiles otherwise.
 */
export function edgesFromValues(values: Float64Array, maxBins: number): Float64Array {
  const m = values.length;
  const sorted = values.sort();
  const distinct: number[] = [];
  const counts: number[] = [];
  for (let i = 0; i < m; i++) {
    if (i === 0 || sorted[i] !== sorted[i - 1]) { distinct.push(sorted[i]!); counts.push(1); } else counts[counts.length - 1]!++;
  }
  if (distinct.length <= maxBins) return Float64Array.from(distinct.slice(0, -1), (v, i) => v + (distinct[i + 1]! - v) / 2);
  // Quantile edges over the sample, midpoints between neighbouring distinct values.
  const e: number[] = [];
  const target = maxBins;
  let cum = 0;
  let next = 1;
  for (let i = 0; i < distinct.length - 1 && e.length < target - 1; i++) {
    cum += counts[i]!;
    if (cum >= (next * m) / target) {
      e.push(distinct[i]! + (distinct[i + 1]! - distinct[i]!) / 2);
      while (cum >= (next * m) / target) next++;
    }
  }
  return Float64Array.from(e);
}

function binOf(edges: Float64Array, v: number): number {
  let lo = 0;
  let hi = edges.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (v <= edges[mid]!) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** A branch-free binner for numeric features (the WebAssembly kernel), given scratch for one column. */
export interface FastBinner {
  /** Scratch for one feature's values and for 256 edges. */
  values: Float64Array;
  edges: Float64Array;
  /** Bins `n` values from `values` into `out` (a byte offset understood by the binner). */
  bin(n: number, outOffset: number, missing: number): void;
}

/** Bins a row-major n × p matrix into a column-major byte matrix (feature f at `out[f * n + i]`). */
export function applyBinning(b: Binning, x: Float64Array, n: number, p: number, out: Uint8Array = new Uint8Array(n * p), fast?: FastBinner & { outBase: number }): Uint8Array {
  for (let f = 0; f < p; f++) {
    const base = f * n;
    if (fast && !b.categorical[f] && b.edges[f]!.length < 256) {
      const vals = fast.values;
      for (let i = 0; i < n; i++) vals[i] = x[i * p + f]!;
      fast.edges.fill(Number.POSITIVE_INFINITY);
      fast.edges.set(b.edges[f]!);
      fast.bin(n, fast.outBase + base, b.missingBin);
      continue;
    }
    if (b.categorical[f]) {
      const k = b.bins[f]!;
      for (let i = 0; i < n; i++) {
        const v = x[i * p + f]!;
        // NaN fails `v >= 0`: a missing value takes the missing bin.
        out[base + i] = v >= 0 && v < k && Number.isInteger(v) ? v : b.missingBin;
      }
      continue;
    }
    const e = b.edges[f]!;
    for (let i = 0; i < n; i++) {
      const v = x[i * p + f]!;
      out[base + i] = Number.isNaN(v) ? b.missingBin : binOf(e, v);
    }
  }
  return out;
}
