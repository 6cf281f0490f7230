import { SeededRandom } from '../sketches/seeded-random.js';
import { sortedQuantile } from './regression.js';

export interface BootstrapOptions {
  /** Resamples to draw, default 1000. */
  resamples?: number;
  /** Two-sided coverage of the interval, in (0, 1), default 0.95. */
  confidence?: number;
  /** Seed of the SeededRandom that draws the rows, default 1; the same seed gives the same interval. */
  seed?: number;
  /**
   * Stratum of each row (any integers). When given, every resample draws, for each row, a row of
   * the same stratum: the strata keep their sizes and none can vanish from a resample. Without it
   * rows are drawn from all n.
   */
  strata?: ArrayLike<number>;
}

export interface BootstrapCi {
  /** The metric over all rows 0..n−1. */
  estimate: number;
  lower: number;
  upper: number;
  /** Resamples that gave a finite value and so enter the percentiles. */
  resamples: number;
}

/**
 * Percentile bootstrap confidence interval of a metric over n rows. `metric` receives the row indices
 * of one sample (n indices drawn with replacement; the identity for the estimate) and returns the
 * statistic; rows are what get resampled, so pairs such as (y, p) stay together. The interval is the
 * (1 − confidence)/2 and (1 + confidence)/2 quantiles of the resampled values, linearly interpolated.
 *
 * A resample on which the metric is undefined (an AUC drawn with one class) should return NaN: it is
 * skipped, and `resamples` reports how many were kept. The index buffer is reused between calls, so
 * `metric` must not keep it.
 */
export function bootstrapCi(metric: (idx: Int32Array) => number, n: number, options: BootstrapOptions = {}): BootstrapCi {
  const out = new Float64Array(1);
  const [ci] = bootstrapCis((idx) => {
    out[0] = metric(idx);
    return out;
  }, n, options);
  if (ci!.resamples === 0) throw new RangeError('the metric was not finite on any resample');
  return ci!;
}

/**
 * Percentile bootstrap intervals of several metrics from the same resamples: `metrics` returns one
 * value per metric for the rows it is given (the same number of values on every call). Drawing the
 * rows once for all the metrics keeps their intervals consistent with each other and costs one draw
 * per resample. A metric that is not finite on some resample skips that resample only; one that is
 * never finite gets NaN bounds and `resamples` 0. The same seed gives the same draws as
 * `bootstrapCi`.
 */
export function bootstrapCis(metrics: (idx: Int32Array) => ArrayLike<number>, n: number, options: BootstrapOptions = {}): BootstrapCi[] {
  const resamples = options.resamples ?? 1000;
  const confidence = options.confidence ?? 0.95;
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`n must be a positive integer, got ${n}`);
  if (!Number.isInteger(resamples) || resamples < 1) throw new RangeError(`resamples must be a positive integer, got ${resamples}`);
  if (!(confidence > 0 && confidence < 1)) throw new RangeError(`confidence must be in (0, 1), got ${confidence}`);
  const draw = options.strata ? stratifiedDraw(options.strata, n) : undefined;
  const random = new SeededRandom(options.seed ?? 1);

  const idx = new Int32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  const estimates = Float64Array.from(metrics(idx));
  const m = estimates.length;

  const values = Array.from({ length: m }, () => new Float64Array(resamples));
  const kept = new Int32Array(m);
  for (let r = 0; r < resamples; r++) {
    if (draw) draw(random, idx);
    else for (let i = 0; i < n; i++) idx[i] = Math.floor(random.next() * n);
    const v = metrics(idx);
    if (v.length !== m) throw new RangeError(`the metrics gave ${v.length} values on a resample and ${m} on all rows`);
    for (let j = 0; j < m; j++) if (Number.isFinite(v[j]!)) values[j]![kept[j]!++] = v[j]!;
  }
  const alpha = (1 - confidence) / 2;
  return Array.from(estimates, (estimate, j) => {
    if (kept[j] === 0) return { estimate, lower: Number.NaN, upper: Number.NaN, resamples: 0 };
    const sorted = values[j]!.subarray(0, kept[j]).sort();
    return { estimate, lower: sortedQuantile(sorted, alpha), upper: sortedQuantile(sorted, 1 - alpha), resamples: kept[j]! };
  });
}

/** A resampler that replaces row i by a random row of its own stratum. */
function stratifiedDraw(strata: ArrayLike<number>, n: number): (random: SeededRandom, idx: Int32Array) => void {
  if (strata.length !== n) throw new RangeError(`strata has ${strata.length} entries for ${n} rows`);
  const members = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    const s = strata[i]!;
    if (!Number.isInteger(s)) throw new RangeError(`strata must hold integers, got ${s} at ${i}`);
    let list = members.get(s);
    if (!list) members.set(s, (list = []));
    list.push(i);
  }
  const pools = new Map([...members].map(([s, list]) => [s, Int32Array.from(list)]));
  const own = Array.from({ length: n }, (_, i) => pools.get(strata[i]!)!);
  return (random, idx) => {
    for (let i = 0; i < n; i++) {
      const pool = own[i]!;
      idx[i] = pool[Math.floor(random.next() * pool.length)]!;
    }
  };
}
