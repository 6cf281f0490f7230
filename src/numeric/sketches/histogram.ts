/**
 * Fixed-edge histogram: counts of values in bins [e0, e1), [e1, e2), …, [e(b−1), eb] — the last
 * bin closed, as numpy.histogram — plus counts below e0 (underflow), above eb (overflow) and of
 * NaN (missing). Histograms merge by adding counts, so partitions profiled apart combine exactly;
 * that requires identical edges, which is why edges are chosen up front (for instance from a
 * KLL sketch of a first pass, with `equalWidthFromSketch`).
 */
export interface HistogramJSON {
  type: 'histogram';
  edges: number[];
  counts: number[];
  underflow: number;
  overflow: number;
  missing: number;
}

/**
 * `bins` equal-width bins from min to max: bins + 1 edges, the last exactly max. A degenerate
 * range (min = max) becomes [min − 0.5, max + 0.5], as numpy.histogram does.
 */
export function histogramEdges(min: number, max: number, bins: number, out: Float64Array = new Float64Array(bins + 1)): Float64Array {
  if (!Number.isInteger(bins) || bins < 1) throw new RangeError(`bins must be a positive integer, got ${bins}`);
  if (!Number.isFinite(min) || !Number.isFinite(max)) throw new RangeError(`histogram range must be finite, got [${min}, ${max}]`);
  if (max < min) throw new RangeError(`histogram range is inverted: min ${min} > max ${max}`);
  if (out.length !== bins + 1) throw new RangeError(`output buffer has length ${out.length}, need bins + 1 = ${bins + 1}`);
  if (min === max) {
    min -= 0.5;
    max += 0.5;
  }
  const width = (max - min) / bins;
  for (let i = 0; i < bins; i++) out[i] = min + i * width;
  out[bins] = max;
  return out;
}

/** What `equalWidthFromSketch` needs of a quantile sketch (KllSketch provides it). */
export interface QuantileSummary {
  readonly count: number;
  readonly min: number;
  readonly max: number;
  quantile(q: number): number;
}

export interface EqualWidthOptions {
  /**
   * A tail is "extreme" when it reaches beyond the 0.1% (or 99.9%) quantile by more than this
   * fraction of the central span q(0.999) − q(0.001); the edge is then put at that quantile and
   * the outliers land in underflow/overflow. Default 0.5: a normal sample keeps its min and max
   * (its tails reach ~0.3 of the span beyond), a lognormal or a stray 1e9 does not.
   */
  tailTolerance?: number;
}

/**
 * Equal-width edges spanning the sketch's min and max — or its 0.001/0.999 quantiles on a side
 * whose tail is extreme — so a few outliers do not squeeze all the data into one bin.
 */
export function equalWidthFromSketch(sketch: QuantileSummary, bins: number, options: EqualWidthOptions = {}): Float64Array {
  if (sketch.count === 0) throw new RangeError('cannot choose histogram edges from an empty sketch');
  const tolerance = options.tailTolerance ?? 0.5;
  if (!(tolerance >= 0)) throw new RangeError(`tailTolerance must be non-negative, got ${tolerance}`);
  const low = sketch.quantile(0.001);
  const high = sketch.quantile(0.999);
  const span = high - low;
  let min = sketch.min;
  let max = sketch.max;
  if (!Number.isFinite(min) || low - min > tolerance * span) min = low;
  if (!Number.isFinite(max) || max - high > tolerance * span) max = high;
  if (!Number.isFinite(min) || !Number.isFinite(max)) throw new RangeError(`sketch has no finite central range (q0.001 = ${low}, q0.999 = ${high})`);
  return histogramEdges(min, max, bins);
}

export class Histogram {
  // `declare`: set once in the constructor, so V8 sees each field's final type from the start (a plain
  // ES2022 field would first be defined as undefined, widening the field's representation).
  declare readonly edges: Float64Array;
  declare readonly counts: Float64Array;
  underflow = 0;
  overflow = 0;
  missing = 0;
  private declare readonly first: number;
  private declare readonly last: number;
  private declare readonly bins: number;
  /** bins / (last − first) when the edges are equally spaced (direct indexing); 0 otherwise. */
  private declare readonly scale: number;

  constructor(edges: ArrayLike<number>) {
    if (edges.length < 2) throw new RangeError(`a histogram needs at least 2 edges, got ${edges.length}`);
    for (let i = 0; i < edges.length; i++) {
      if (!Number.isFinite(edges[i]!)) throw new RangeError(`edge ${i} is not finite: ${edges[i]}`);
      if (i > 0 && !(edges[i]! > edges[i - 1]!)) throw new RangeError(`edges must increase strictly; edge ${i} (${edges[i]}) ≤ edge ${i - 1} (${edges[i - 1]})`);
    }
    this.edges = Float64Array.from(edges);
    this.bins = edges.length - 1;
    this.counts = new Float64Array(this.bins);
    this.first = this.edges[0]!;
    this.last = this.edges[this.bins]!;
    const width = (this.last - this.first) / this.bins;
    let uniform = true;
    for (let i = 1; i < this.bins && uniform; i++) uniform = Math.abs(this.edges[i]! - (this.first + i * width)) <= 1e-9 * width;
    this.scale = uniform ? this.bins / (this.last - this.first) : 0;
  }

  /** Total weight counted, including underflow, overflow and missing. */
  get total(): number {
    let sum = this.underflow + this.overflow + this.missing;
    for (let i = 0; i < this.bins; i++) sum += this.counts[i]!;
    return sum;
  }

  add(x: number, weight = 1): void {
    if (Number.isNaN(x)) {
      this.missing += weight;
      return;
    }
    if (x < this.first) {
      this.underflow += weight;
      return;
    }
    if (x > this.last) {
      this.overflow += weight;
      return;
    }
    this.counts[this.binOf(x)]! += weight;
  }

  /** add (weight 1) over a column; on hot paths it spares a call per value. */
  addAll(values: ArrayLike<number>): void {
    for (let i = 0; i < values.length; i++) this.add(values[i]!);
  }

  /** Index of the bin holding x, for first ≤ x ≤ last. */
  binOf(x: number): number {
    const edges = this.edges;
    const last = this.bins - 1;
    if (this.scale !== 0) {
      let i = Math.floor((x - this.first) * this.scale);
      if (i > last) i = last;
      else if (i < 0) i = 0;
      // The product can land one bin off near an edge; the stored edges decide.
      if (x < edges[i]!) i--;
      else if (i < last && x >= edges[i + 1]!) i++;
      return i;
    }
    let lo = 0;
    let hi = last;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (edges[mid]! <= x) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Adds `other`'s counts; the edges must be identical. */
  merge(other: Histogram): this {
    if (!sameEdges(this.edges, other.edges)) {
      throw new RangeError(
        `cannot merge histograms with different edges (${describeEdges(this.edges)} vs ${describeEdges(other.edges)}); choose the edges once and share them`,
      );
    }
    for (let i = 0; i < this.bins; i++) this.counts[i]! += other.counts[i]!;
    this.underflow += other.underflow;
    this.overflow += other.overflow;
    this.missing += other.missing;
    return this;
  }

  clone(): Histogram {
    return Histogram.fromJSON(this.toJSON());
  }

  toJSON(): HistogramJSON {
    return {
      type: 'histogram',
      edges: Array.from(this.edges),
      counts: Array.from(this.counts),
      underflow: this.underflow,
      overflow: this.overflow,
      missing: this.missing,
    };
  }

  static fromJSON(json: HistogramJSON): Histogram {
    if (json.type !== 'histogram') throw new RangeError(`expected a histogram, got '${String(json.type)}'`);
    const h = new Histogram(json.edges);
    if (json.counts.length !== h.bins) throw new RangeError(`expected ${h.bins} counts for ${json.edges.length} edges, got ${json.counts.length}`);
    h.counts.set(json.counts);
    h.underflow = json.underflow;
    h.overflow = json.overflow;
    h.missing = json.missing;
    return h;
  }
}

function sameEdges(a: Float64Array, b: Float64Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function describeEdges(e: Float64Array): string {
  return `${e.length - 1} bins over [${e[0]}, ${e[e.length - 1]}]`;
}
