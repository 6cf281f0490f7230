/**
 * Streaming summary statistics of a numeric column: counts (values, missing, zeros, ±Infinity),
 * finite min/max/sum, and mean and variance by Welford's update (Welford, 1962), merged with the
 * pairwise formulas of Chan, Golub & LeVeque (1979), so partitions profiled apart combine into the
 * statistics of the whole without a second pass.
 *
 * Conventions: NaN is missing. ±Infinity are counted but kept out of min, max, sum, mean and
 * variance, which describe the finite values (one stray Infinity would otherwise make them all
 * Infinity or NaN). The sum is compensated (Neumaier, 1974), so it stays accurate over long
 * streams of mixed magnitude.
 */
export interface MomentsJSON {
  type: 'moments';
  count: number;
  missing: number;
  zeros: number;
  positiveInfinity: number;
  negativeInfinity: number;
  /** null when there are no finite values. */
  min: number | null;
  max: number | null;
  mean: number;
  /** Sum of squared deviations from the mean. */
  m2: number;
  sum: number;
}

export class Moments {
  /** Non-missing values, finite or infinite. */
  count = 0;
  /** NaN values. */
  missing = 0;
  zeros = 0;
  positiveInfinity = 0;
  negativeInfinity = 0;
  private finite = 0;
  private meanValue = 0;
  private m2 = 0;
  private sumHigh = 0;
  private sumLow = 0;
  private minValue = Infinity;
  private maxValue = -Infinity;

  add(x: number): void {
    if (Number.isNaN(x)) {
      this.missing++;
      return;
    }
    this.count++;
    if (x === Infinity) {
      this.positiveInfinity++;
      return;
    }
    if (x === -Infinity) {
      this.negativeInfinity++;
      return;
    }
    if (x === 0) this.zeros++;
    const n = ++this.finite;
    const delta = x - this.meanValue;
    this.meanValue += delta / n;
    this.m2 += delta * (x - this.meanValue);
    const s = this.sumHigh;
    const t = s + x;
    this.sumLow += Math.abs(s) >= Math.abs(x) ? s - t + x : x - t + s;
    this.sumHigh = t;
    if (x < this.minValue) this.minValue = x;
    if (x > this.maxValue) this.maxValue = x;
  }

  /** add over a column; on hot paths it spares a call per value. */
  addAll(values: ArrayLike<number>): void {
    for (let i = 0; i < values.length; i++) this.add(values[i]!);
  }

  /** Finite values (count − infinities). */
  get finiteCount(): number {
    return this.finite;
  }

  /** Mean of the finite values; NaN when there are none. From the compensated sum, so correct to about an ulp. */
  get mean(): number {
    return this.finite === 0 ? NaN : (this.sumHigh + this.sumLow) / this.finite;
  }

  /** Sum of the finite values (0 when there are none). */
  get sum(): number {
    return this.sumHigh + this.sumLow;
  }

  get min(): number {
    return this.finite === 0 ? NaN : this.minValue;
  }

  get max(): number {
    return this.finite === 0 ? NaN : this.maxValue;
  }

  /** Variance of the finite values with `ddof` delta degrees of freedom: 0 = population (numpy's default), 1 = sample (pandas'). */
  variance(ddof = 0): number {
    const d = this.finite - ddof;
    return d > 0 ? Math.max(0, this.m2 / d) : NaN;
  }

  standardDeviation(ddof = 0): number {
    return Math.sqrt(this.variance(ddof));
  }

  /** Folds `other` into these statistics (Chan et al.'s pairwise update); returns this. */
  merge(other: Moments): this {
    const na = this.finite;
    const nb = other.finite;
    if (nb > 0) {
      const n = na + nb;
      const delta = other.meanValue - this.meanValue;
      this.meanValue = na === 0 ? other.meanValue : this.meanValue + (delta * nb) / n;
      this.m2 += other.m2 + ((delta * delta * na) / n) * nb;
      this.finite = n;
      this.addToSum(other.sumHigh);
      this.addToSum(other.sumLow);
      if (other.minValue < this.minValue) this.minValue = other.minValue;
      if (other.maxValue > this.maxValue) this.maxValue = other.maxValue;
    }
    this.count += other.count;
    this.missing += other.missing;
    this.zeros += other.zeros;
    this.positiveInfinity += other.positiveInfinity;
    this.negativeInfinity += other.negativeInfinity;
    return this;
  }

  clone(): Moments {
    return Moments.fromJSON(this.toJSON());
  }

  toJSON(): MomentsJSON {
    const empty = this.finite === 0;
    return {
      type: 'moments',
      count: this.count,
      missing: this.missing,
      zeros: this.zeros,
      positiveInfinity: this.positiveInfinity,
      negativeInfinity: this.negativeInfinity,
      min: empty ? null : this.minValue,
      max: empty ? null : this.maxValue,
      mean: this.meanValue,
      m2: this.m2,
      sum: this.sum,
    };
  }

  static fromJSON(json: MomentsJSON): Moments {
    if (json.type !== 'moments') throw new RangeError(`expected moments, got '${String(json.type)}'`);
    const m = new Moments();
    m.count = json.count;
    m.missing = json.missing;
    m.zeros = json.zeros;
    m.positiveInfinity = json.positiveInfinity;
    m.negativeInfinity = json.negativeInfinity;
    m.finite = json.count - json.positiveInfinity - json.negativeInfinity;
    if (m.finite < 0) throw new RangeError(`count ${json.count} is smaller than the infinities counted`);
    if ((m.finite === 0) !== (json.min === null)) throw new RangeError('min/max must be null exactly when there are no finite values');
    m.minValue = json.min ?? Infinity;
    m.maxValue = json.max ?? -Infinity;
    m.meanValue = json.mean;
    m.m2 = json.m2;
    m.sumHigh = json.sum;
    return m;
  }

  private addToSum(x: number): void {
    const s = this.sumHigh;
    const t = s + x;
    this.sumLow += Math.abs(s) >= Math.abs(x) ? s - t + x : x - t + s;
    this.sumHigh = t;
  }
}
