/**
 * Dataset profiles: one streaming pass, mergeable. A profile keeps the sketches it was computed
 * from (HyperLogLog for distinct counts, KLL for quantiles and histograms, Space-Saving for top
 * values, Welford moments), so profiles of partitions merge into the profile of the whole and a
 * later monitor can compare a window of serving data with the training profile bin for bin.
 */
import { HyperLogLog, type HyperLogLogJSON } from '../../numeric/sketches/hyperloglog.js';
import { KllSketch, type KllJSON } from '../../numeric/sketches/kll.js';
import { Moments, type MomentsJSON } from '../../numeric/sketches/moments.js';
import { TopK, type TopKJSON } from '../../numeric/sketches/top-k.js';
import { equalWidthFromSketch } from '../../numeric/sketches/histogram.js';
import { invalid } from '../../core/errors.js';
import type { Column, ColumnType, Table } from '../table.js';

export const PROFILE_FORMAT = 'trellis.profile/v1';
export const QUANTILES = [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99] as const;
const HLL_PRECISION = 12;
const TOP_K_CAPACITY = 200;
const HISTOGRAM_BINS = 20;

export interface NumericSummary {
  mean: number;
  std: number;
  min: number;
  max: number;
  sum: number;
  zeros: number;
  infinities: number;
  /** `p1`, `p5`, `p25`, `p50`, `p75`, `p95`, `p99`. */
  quantiles: Record<string, number>;
  histogram: { edges: number[]; counts: number[] };
}

export interface ColumnProfile {
  name: string;
  type: ColumnType;
  /** Rows with a value. */
  count: number;
  missing: number;
  /** HyperLogLog estimate (exact for small sets), never more than `count`. */
  distinct: number;
  numeric?: NumericSummary;
  /** Most frequent values of string and boolean columns, by count. */
  top?: { value: string; count: number }[];
  /**
   * Numeric and datetime columns whose values never decrease in row order (nulls aside): the first
   * and last value, and whether each value is larger than the one before (a counter, a timestamp
   * with no repeats). Absent when some value is smaller than one before it.
   */
  ascending?: { first: number; last: number; strictly: boolean };
  /** The mergeable state the summary was computed from. */
  sketch: { hll: HyperLogLogJSON; kll?: KllJSON; moments?: MomentsJSON; topk?: TopKJSON };
}

export interface Profile {
  format: typeof PROFILE_FORMAT;
  rows: number;
  columns: ColumnProfile[];
}

let scratch = new Float64Array(0);

/** The sketches of one column while a profile is being built. */
export class ColumnAccumulator {
  count = 0;
  missing = 0;
  readonly hll = new HyperLogLog(HLL_PRECISION);
  kll?: KllSketch;
  moments?: Moments;
  topk?: TopK;
  /** Row order of numeric values: the first and last seen, and whether they never (or never even equally) decreased. */
  private order?: { first: number; last: number; ascending: boolean; strictly: boolean };

  constructor(readonly name: string, public type: ColumnType) {
    this.initFor(type);
  }

  private initFor(type: ColumnType): void {
    if (type !== 'string') {
      this.kll ??= new KllSketch({ k: 200, seed: 7 });
      this.moments ??= new Moments();
    }
    if (type === 'string' || type === 'boolean') this.topk ??= new TopK(TOP_K_CAPACITY);
  }

  add(c: Column): void {
    if (c.type !== this.type) {
      throw invalid(`Column '${this.name}' changed type from ${this.type} to ${c.type} between batches; read the data with one schema`);
    }
    if (c.type === 'string') {
      // Count per dictionary code first: sketches then see each distinct value once, with a weight.
      const counts = new Float64Array(c.dictionary.length);
      const codes = c.codes;
      let missing = 0;
      for (let i = 0; i < codes.length; i++) {
        const code = codes[i]!;
        if (code < 0) missing++;
        else counts[code]!++;
      }
      this.missing += missing;
      this.count += codes.length - missing;
      for (let k = 0; k < counts.length; k++) {
        const n = counts[k]!;
        if (n === 0) continue;
        const value = c.dictionary[k]!;
        this.hll.addString(value);
        this.topk!.add(value, n);
      }
      return;
    }
    const { values, valid } = c;
    // The sketches run their column loops over the present values: the column itself when it has
    // no nulls, else a gathered copy in a scratch buffer reused across columns (fresh memory costs
    // a page fault per 4 KiB, more than the sketches themselves).
    let n = 0;
    let ones = 0;
    for (let i = 0; i < values.length; i++) {
      if (valid[i] === 0) continue;
      n++;
      if (values[i] === 1) ones++;
    }
    let present: Float64Array;
    if (n === values.length) {
      present = values;
    } else {
      if (scratch.length < n) scratch = new Float64Array(Math.max(n, scratch.length * 2));
      let k = 0;
      for (let i = 0; i < values.length; i++) if (valid[i] !== 0) scratch[k++] = values[i]!;
      present = scratch.subarray(0, n);
    }
    if (c.type !== 'boolean' && n > 0) this.trackOrder(present);
    this.moments!.addAll(present);
    this.kll!.updateAll(present);
    this.hll.addNumbers(present);
    const missing = values.length - n;
    this.missing += missing;
    this.count += n;
    if (c.type === 'boolean') {
      if (ones) this.topk!.add('true', ones);
      if (n - ones) this.topk!.add('false', n - ones);
    }
  }

  private trackOrder(present: Float64Array): void {
    const o = this.order ?? { first: present[0]!, last: present[0]!, ascending: true, strictly: true };
    let ascending = o.ascending;
    let strictly = o.strictly;
    // The batch's first value continues the previous batch (or is the very first value).
    let prev = this.order ? o.last : Number.NEGATIVE_INFINITY;
    for (let i = 0; i < present.length && ascending; i++) {
      const x = present[i]!;
      if (!(x >= prev)) ascending = false;
      else if (x === prev) strictly = false;
      prev = x;
    }
    this.order = { first: o.first, last: present[present.length - 1]!, ascending, strictly: ascending && strictly };
  }

  merge(o: ColumnAccumulator): void {
    if (o.type !== this.type) throw invalid(`Cannot merge profiles: column '${this.name}' is ${this.type} in one and ${o.type} in the other`);
    this.count += o.count;
    this.missing += o.missing;
    this.hll.merge(o.hll);
    if (o.kll) this.kll!.merge(o.kll);
    if (o.moments) this.moments!.merge(o.moments);
    if (o.topk) this.topk!.merge(o.topk);
    // The other profile's rows come after this one's.
    if (this.order && o.order) {
      const ascending = this.order.ascending && o.order.ascending && o.order.first >= this.order.last;
      this.order = { first: this.order.first, last: o.order.last, ascending, strictly: ascending && this.order.strictly && o.order.strictly && o.order.first > this.order.last };
    } else {
      this.order ??= o.order;
    }
  }

  finish(): ColumnProfile {
    const p: ColumnProfile = {
      name: this.name, type: this.type, count: this.count, missing: this.missing,
      // The estimate can overshoot on small columns; there cannot be more distinct values than values.
      distinct: Math.min(Math.round(this.hll.estimate()), this.count),
      sketch: { hll: this.hll.toJSON() },
    };
    if (this.kll && this.moments) {
      p.sketch.kll = this.kll.toJSON();
      p.sketch.moments = this.moments.toJSON();
      if (this.moments.finiteCount > 0) p.numeric = numericSummary(this.kll, this.moments);
    }
    if (this.order?.ascending) p.ascending = { first: this.order.first, last: this.order.last, strictly: this.order.strictly };
    if (this.topk) {
      p.sketch.topk = this.topk.toJSON();
      p.top = this.topk.top(20).map((e) => ({ value: e.value, count: e.count }));
      // With fewer distinct values than the sketch holds, its counts are exact and so is `distinct`.
      if (this.topk.size < TOP_K_CAPACITY) p.distinct = this.topk.size;
    }
    return p;
  }

  static fromProfile(p: ColumnProfile): ColumnAccumulator {
    const a = new ColumnAccumulator(p.name, p.type);
    a.count = p.count;
    a.missing = p.missing;
    a.hll.merge(HyperLogLog.fromJSON(p.sketch.hll));
    if (p.sketch.kll) a.kll = KllSketch.fromJSON(p.sketch.kll);
    if (p.sketch.moments) a.moments = Moments.fromJSON(p.sketch.moments);
    if (p.sketch.topk) a.topk = TopK.fromJSON(p.sketch.topk);
    // A profile records row order only while it holds; one without it is not in order (or predates it).
    if (p.numeric && p.type !== 'boolean') {
      a.order = p.ascending ? { ...p.ascending, ascending: true } : { first: p.numeric.min, last: p.numeric.max, ascending: false, strictly: false };
    }
    return a;
  }
}

function numericSummary(kll: KllSketch, m: Moments): NumericSummary {
  const qs = kll.quantiles(QUANTILES);
  const quantiles: Record<string, number> = {};
  QUANTILES.forEach((q, i) => (quantiles[`p${Math.round(q * 100)}`] = qs[i]!));
  return {
    mean: m.mean, std: m.standardDeviation(1) || 0, min: m.min, max: m.max, sum: m.sum, zeros: m.zeros,
    infinities: m.positiveInfinity + m.negativeInfinity, quantiles, histogram: histogramOf(kll),
  };
}

/** Bin counts read off the quantile sketch, so merged profiles get histograms for free. */
export function histogramOf(kll: KllSketch, edges?: ArrayLike<number>): { edges: number[]; counts: number[] } {
  const e = edges ? Float64Array.from(edges) : kll.min === kll.max ? Float64Array.of(kll.min, kll.max) : equalWidthFromSketch(kll, HISTOGRAM_BINS);
  const n = kll.count;
  const counts: number[] = [];
  if (e.length === 2 && e[0] === e[1]) return { edges: [e[0]!, e[1]!], counts: [n] };
  // rank(x) counts values ≤ x; the first bin also takes everything below its lower edge.
  let prev = 0;
  for (let i = 1; i < e.length; i++) {
    const upTo = i === e.length - 1 ? n : Math.round(kll.rank(e[i]!) * n);
    counts.push(Math.max(0, upTo - prev));
    prev = Math.max(prev, upTo);
  }
  return { edges: Array.from(e), counts };
}

/** Builds a profile from tables (batches of one source) in one pass. */
export class ProfileBuilder {
  private rows = 0;
  private columns: ColumnAccumulator[] | undefined;

  add(table: Table): this {
    if (!this.columns) {
      this.columns = table.columns.map((c) => new ColumnAccumulator(c.name, c.type));
    } else if (table.columns.length !== this.columns.length || table.columns.some((c, i) => c.name !== this.columns![i]!.name)) {
      throw invalid(`A batch has columns [${table.columns.map((c) => c.name).join(', ')}], expected [${this.columns.map((c) => c.name).join(', ')}]`);
    }
    table.columns.forEach((c, i) => this.columns![i]!.add(c));
    this.rows += table.rowCount;
    return this;
  }

  finish(): Profile {
    return { format: PROFILE_FORMAT, rows: this.rows, columns: (this.columns ?? []).map((c) => c.finish()) };
  }
}

export function profileTable(table: Table): Profile {
  return new ProfileBuilder().add(table).finish();
}

/** The profile of one column on its own (what a profiling worker computes). */
export function profileColumn(c: Column): ColumnProfile {
  const acc = new ColumnAccumulator(c.name, c.type);
  acc.add(c);
  return acc.finish();
}

/** The profile of the union of the data two profiles were computed from. */
export function mergeProfiles(a: Profile, b: Profile): Profile {
  const names = a.columns.map((c) => c.name);
  const bNames = b.columns.map((c) => c.name);
  if (names.join('\u0000') !== bNames.join('\u0000')) {
    throw invalid(`Cannot merge profiles with different columns: [${names.join(', ')}] and [${bNames.join(', ')}]`);
  }
  const columns = a.columns.map((c, i) => {
    const acc = ColumnAccumulator.fromProfile(c);
    acc.merge(ColumnAccumulator.fromProfile(b.columns[i]!));
    return acc.finish();
  });
  return { format: PROFILE_FORMAT, rows: a.rows + b.rows, columns };
}

/** A profile without its sketches: what people and reports look at. */
export function summaryOf(p: Profile): { rows: number; columns: Omit<ColumnProfile, 'sketch'>[] } {
  return { rows: p.rows, columns: p.columns.map(({ sketch: _s, ...rest }) => rest) };
}

export function kllOf(c: ColumnProfile): KllSketch | undefined {
  return c.sketch.kll ? KllSketch.fromJSON(c.sketch.kll) : undefined;
}

export function topKOf(c: ColumnProfile): TopK | undefined {
  return c.sketch.topk ? TopK.fromJSON(c.sketch.topk) : undefined;
}
