import { SeededRandom } from '../sketches/seeded-random.js';
import { sortedQuantile } from './regression.js';

export interface BootstrapOptions {
  /** Resamples to draw, default 1000. */
  resamples?: number;
  /** Two-sided coverage of the interval, in (0, 1), default 0.95. */
  confidence?: number;
  /** Seed of the SeededRandom that draws the rows, default 1; the same seed gives the same interval. */
  seed?: number;
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
  const resamples = options.resamples ?? 1000;
  const confidence = options.confidence ?? 0.95;
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`n must be a positive integer, got ${n}`);
  if (!Number.isInteger(resamples) || resamples < 1) throw new RangeError(`resamples must be a positive integer, got ${resamples}`);
  if (!(confidence > 0 && confidence < 1)) throw new RangeError(`confidence must be in (0, 1), got ${confidence}`);
  const random = new SeededRandom(options.seed ?? 1);

  const idx = new Int32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  const estimate = metric(idx);

  const values = new Float64Array(resamples);
  let kept = 0;
  for (let r = 0; r < resamples; r++) {
    for (let i = 0; i < n; i++) idx[i] = Math.floor(random.next() * n);
    const v = metric(idx);
    if (Number.isFinite(v)) values[kept++] = v;
  }
  if (kept === 0) throw new RangeError('the metric was not finite on any resample');
  const sorted = values.subarray(0, kept).sort();
  const alpha = (1 - confidence) / 2;
  return { estimate, lower: sortedQuantile(sorted, alpha), upper: sortedQuantile(sorted, 1 - alpha), resamples: kept };
}
