/**
 * Space-Saving heavy hitters (Metwally, Agrawal & El Abbadi, 2005, "Efficient computation of
 * frequent and top-k elements in data streams") over strings, with weights.
 *
 * At most `capacity` counters. A value already counted adds its weight; a new value takes a free
 * counter or, when all are taken, evicts the smallest counter and inherits its count (recorded as
 * its error). Hence for every reported value, count − error ≤ true count ≤ count, every value
 * with true count > total/capacity is reported, and exact counts (error 0) whenever the number
 * of distinct values never exceeded the capacity.
 *
 * The counters sit in a binary min-heap keyed by count with a Map from value to counter, so an
 * add costs O(1) for a value already at the bottom of the heap and O(log capacity) at worst, and
 * allocates only when a value not yet counted enters the Map.
 *
 * Merging follows the parallel Space-Saving of Cafaro, Pulimeno & Tempesta (2016): a value absent
 * from a full summary is credited with that summary's minimum count, as count and as error, which
 * keeps both bounds; the largest `capacity` counters are kept.
 */
export interface TopKEntry {
  value: string;
  /** Upper bound on the true count. */
  count: number;
  /** Maximum overestimation: the true count is at least count − error. */
  error: number;
}

export interface TopKJSON {
  type: 'top-k';
  capacity: number;
  total: number;
  /** [value, count, error] by descending count. */
  items: [string, number, number][];
}

export class TopK {
  // `declare`: set once in the constructor, so V8 sees each field's final type from the start (a plain
  // ES2022 field would first be defined as undefined, widening the field's representation).
  declare readonly capacity: number;
  private declare readonly values: string[];
  private declare readonly counts: Float64Array;
  private declare readonly errors: Float64Array;
  /** heap[i] is a counter slot; counts[heap[i]] is a min-heap. */
  private declare readonly heap: Int32Array;
  /** position of each slot in the heap. */
  private declare readonly position: Int32Array;
  private readonly slots = new Map<string, number>();
  private used = 0;
  private totalWeight = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`top-k capacity must be a positive integer, got ${capacity}`);
    this.capacity = capacity;
    this.values = new Array<string>(capacity).fill('');
    this.counts = new Float64Array(capacity);
    this.errors = new Float64Array(capacity);
    this.heap = new Int32Array(capacity);
    this.position = new Int32Array(capacity);
  }

  /** Sum of all weights added. */
  get total(): number {
    return this.totalWeight;
  }

  /** Number of counters in use. */
  get size(): number {
    return this.used;
  }

  add(value: string, weight = 1): void {
    if (!(weight > 0 && weight < Infinity)) {
      if (weight === 0) return;
      throw new RangeError(`top-k weight must be finite and non-negative, got ${weight}`);
    }
    this.totalWeight += weight;
    const slot = this.slots.get(value);
    if (slot !== undefined) {
      this.counts[slot]! += weight;
      this.siftDown(this.position[slot]!);
      return;
    }
    if (this.used < this.capacity) {
      const fresh = this.used++;
      this.values[fresh] = value;
      this.counts[fresh] = weight;
      this.errors[fresh] = 0;
      this.heap[fresh] = fresh;
      this.position[fresh] = fresh;
      this.slots.set(value, fresh);
      this.siftUp(fresh);
      return;
    }
    const victim = this.heap[0]!;
    this.slots.delete(this.values[victim]!);
    this.values[victim] = value;
    this.errors[victim] = this.counts[victim]!;
    this.counts[victim]! += weight;
    this.slots.set(value, victim);
    this.siftDown(0);
  }

  /** add (weight 1) over a column. */
  addAll(values: ArrayLike<string>): void {
    for (let i = 0; i < values.length; i++) this.add(values[i]!);
  }

  /** Estimated count of a value (an upper bound); 0 when not counted, in which case the true count is at most `minCount`. */
  estimate(value: string): number {
    const slot = this.slots.get(value);
    return slot === undefined ? 0 : this.counts[slot]!;
  }

  /** Smallest counter when all are in use (the most an uncounted value can have occurred), else 0. */
  get minCount(): number {
    return this.used < this.capacity ? 0 : this.counts[this.heap[0]!]!;
  }

  /** The k largest counters by descending count (ties by value), k ≤ capacity. */
  top(k = this.capacity): TopKEntry[] {
    if (!Number.isInteger(k) || k < 0) throw new RangeError(`k must be a non-negative integer, got ${k}`);
    const entries: TopKEntry[] = [];
    for (let s = 0; s < this.used; s++) entries.push({ value: this.values[s]!, count: this.counts[s]!, error: this.errors[s]! });
    entries.sort((a, b) => b.count - a.count || (a.value < b.value ? -1 : a.value > b.value ? 1 : 0));
    return entries.slice(0, k);
  }

  /** Folds `other` into this summary (see the class comment); returns this. */
  merge(other: TopK): this {
    if (other.used === 0) return this;
    const mine = this.top();
    const theirs = new Map(other.top().map((e) => [e.value, e] as const));
    const myMin = this.minCount;
    const theirMin = other.minCount;
    const combined: TopKEntry[] = [];
    for (const e of mine) {
      const o = theirs.get(e.value);
      if (o) theirs.delete(e.value);
      combined.push({ value: e.value, count: e.count + (o ? o.count : theirMin), error: e.error + (o ? o.error : theirMin) });
    }
    for (const o of theirs.values()) combined.push({ value: o.value, count: o.count + myMin, error: o.error + myMin });
    combined.sort((a, b) => b.count - a.count || (a.value < b.value ? -1 : a.value > b.value ? 1 : 0));
    const total = this.totalWeight + other.totalWeight;
    this.reset(combined.slice(0, this.capacity), total);
    return this;
  }

  clone(): TopK {
    return TopK.fromJSON(this.toJSON());
  }

  toJSON(): TopKJSON {
    return { type: 'top-k', capacity: this.capacity, total: this.totalWeight, items: this.top().map((e) => [e.value, e.count, e.error]) };
  }

  static fromJSON(json: TopKJSON): TopK {
    if (json.type !== 'top-k') throw new RangeError(`expected a top-k summary, got '${String(json.type)}'`);
    const t = new TopK(json.capacity);
    if (json.items.length > json.capacity) throw new RangeError(`${json.items.length} items exceed the capacity ${json.capacity}`);
    const seen = new Set<string>();
    for (const [value, count, error] of json.items) {
      if (seen.has(value)) throw new RangeError(`value '${value}' appears twice`);
      seen.add(value);
      if (!(count > 0) || !(error >= 0) || error > count) throw new RangeError(`invalid counter for '${value}': count ${count}, error ${error}`);
    }
    t.reset(json.items.map(([value, count, error]) => ({ value, count, error })), json.total);
    return t;
  }

  private reset(entries: readonly TopKEntry[], total: number): void {
    this.slots.clear();
    this.used = 0;
    this.totalWeight = total;
    for (const e of entries) {
      const s = this.used++;
      this.values[s] = e.value;
      this.counts[s] = e.count;
      this.errors[s] = e.error;
      this.heap[s] = s;
      this.position[s] = s;
      this.slots.set(e.value, s);
      this.siftUp(s);
    }
  }

  private siftUp(i: number): void {
    const heap = this.heap;
    const counts = this.counts;
    const slot = heap[i]!;
    const c = counts[slot]!;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const ps = heap[parent]!;
      if (counts[ps]! <= c) break;
      heap[i] = ps;
      this.position[ps] = i;
      i = parent;
    }
    heap[i] = slot;
    this.position[slot] = i;
  }

  private siftDown(i: number): void {
    const heap = this.heap;
    const counts = this.counts;
    const n = this.used;
    const slot = heap[i]!;
    const c = counts[slot]!;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      let child = left;
      if (right < n && counts[heap[right]!]! < counts[heap[left]!]!) child = right;
      const cs = heap[child]!;
      if (counts[cs]! >= c) break;
      heap[i] = cs;
      this.position[cs] = i;
      i = child;
    }
    heap[i] = slot;
    this.position[slot] = i;
  }
}
