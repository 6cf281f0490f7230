/**
 * Distribution distances between a batch and a reference profile, as validation and train/serve
 * skew report them: L-infinity of category shares for categorical columns (TFDV's measure) and the
 * Jensen–Shannon distance of histograms over the reference's bins for numeric ones. Always with
 * the sample sizes they were computed on, so a reader can judge a distance from 30 rows.
 */
import { jensenShannonDistance } from '../../numeric/stats/jensen-shannon.js';
import { lInfinityDistance } from '../../numeric/stats/l-infinity.js';
import { histogramOf, kllOf, type ColumnProfile } from '../profile/profile.js';
import type { Column } from '../table.js';

export interface Distance {
  column: string;
  measure: 'l_infinity' | 'jensen_shannon';
  value: number;
  threshold: number;
  /** Values in the batch and in the reference the distance was computed from. */
  sampleSize: number;
  referenceSize: number;
  /**
   * The distance expected from sampling alone, with no change in the distribution: a batch of 300
   * rows is never a perfect copy of its reference. A distance is skew only above threshold + noise.
   * Jensen–Shannon: √((k−1)/(8 n ln 2)) for k bins (the χ² approximation of the divergence of an
   * empirical histogram); L-infinity: 1/(2√n), the largest share's standard error at p = ½.
   */
  noise: number;
  /** For L-infinity: the category whose share moved most. */
  category?: string;
}

/** True when a distance is beyond both its threshold and what sampling alone explains. */
export function isSkewed(d: Distance): boolean {
  return d.value > d.threshold + d.noise;
}

function jsNoise(bins: number, n: number): number {
  return Math.sqrt(Math.max(0, bins - 1) / (8 * n * Math.LN2));
}

function linfNoise(n: number): number {
  return 1 / (2 * Math.sqrt(n));
}

/** Category counts of a batch column (strings, or booleans as 'true'/'false'). */
export function categoryCounts(c: Column): Map<string, number> {
  const out = new Map<string, number>();
  if (c.type === 'string') {
    const counts = new Float64Array(c.dictionary.length);
    for (let i = 0; i < c.codes.length; i++) if (c.codes[i]! >= 0) counts[c.codes[i]!]!++;
    counts.forEach((n, k) => n && out.set(c.dictionary[k]!, (out.get(c.dictionary[k]!) ?? 0) + n));
  } else {
    for (let i = 0; i < c.values.length; i++) {
      if (!c.valid[i]) continue;
      const key = c.type === 'boolean' ? (c.values[i] === 1 ? 'true' : 'false') : String(c.values[i]);
      out.set(key, (out.get(key) ?? 0) + 1);
    }
  }
  return out;
}

export function categoricalDistance(c: Column, ref: ColumnProfile, threshold: number): Distance | undefined {
  const refTop = ref.sketch.topk;
  if (!refTop) return undefined;
  const refCounts: Record<string, number> = {};
  for (const [value, count] of refTop.items) refCounts[value] = count;
  const batch = Object.fromEntries(categoryCounts(c));
  const sampleSize = Object.values(batch).reduce((a, b) => a + b, 0);
  if (!sampleSize || !ref.count) return undefined;
  const r = lInfinityDistance(batch, refCounts);
  return { column: c.name, measure: 'l_infinity', value: r.distance, threshold, noise: linfNoise(sampleSize), sampleSize, referenceSize: ref.count, category: r.category };
}

export function numericDistance(c: Column, ref: ColumnProfile, threshold: number): Distance | undefined {
  if (c.type === 'string' || !ref.numeric) return undefined;
  const { edges, counts: refCounts } = ref.numeric.histogram;
  const bins = refCounts.length;
  const counts = new Float64Array(bins);
  let n = 0;
  for (let i = 0; i < c.values.length; i++) {
    if (!c.valid[i]) continue;
    const x = c.values[i]!;
    if (Number.isNaN(x)) continue;
    // Values beyond the reference's edges fall into its first or last bin, as in the reference itself.
    let lo = 0;
    let hi = bins - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (x <= edges[mid + 1]!) hi = mid;
      else lo = mid + 1;
    }
    counts[lo]!++;
    n++;
  }
  if (!n || !ref.count) return undefined;
  const used = refCounts.filter((x, i) => x > 0 || counts[i]! > 0).length;
  return { column: c.name, measure: 'jensen_shannon', value: jensenShannonDistance(counts, refCounts), threshold, noise: jsNoise(used, n), sampleSize: n, referenceSize: ref.count };
}

/** The distance between two profiles of a column (a dataset version against another). */
export function profileDistance(current: ColumnProfile, reference: ColumnProfile, thresholds: { categorical: number; numeric: number }): Distance | undefined {
  if (current.sketch.topk && reference.sketch.topk && (current.type === 'string' || current.type === 'boolean')) {
    const counts = (items: [string, number, number][]) => Object.fromEntries(items.map(([v, n]) => [v, n]));
    if (!current.count || !reference.count) return undefined;
    const r = lInfinityDistance(counts(current.sketch.topk.items), counts(reference.sketch.topk.items));
    return { column: current.name, measure: 'l_infinity', value: r.distance, threshold: thresholds.categorical, noise: linfNoise(Math.min(current.count, reference.count)), sampleSize: current.count, referenceSize: reference.count, category: r.category };
  }
  if (current.sketch.kll && reference.numeric) {
    const kll = kllOf(current);
    if (!kll || kll.count === 0 || !reference.count) return undefined;
    const { counts } = histogramOf(kll, reference.numeric.histogram.edges);
    const used = counts.filter((x, i) => x > 0 || reference.numeric!.histogram.counts[i]! > 0).length;
    return { column: current.name, measure: 'jensen_shannon', value: jensenShannonDistance(counts, reference.numeric.histogram.counts), threshold: thresholds.numeric, noise: jsNoise(used, Math.min(current.count, reference.count)), sampleSize: current.count, referenceSize: reference.count };
  }
  return undefined;
}
