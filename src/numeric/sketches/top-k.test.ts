import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TopK } from './top-k.js';
import { SeededRandom } from './seeded-random.js';

/** n draws of Zipf(s) over ranks 1…support: the values 'item-<rank>' (from a fixed table) and the exact counts by value. */
function zipfStream(n: number, s: number, support: number, seed: number): { values: string[]; counts: Map<string, number> } {
  const cumulative = new Float64Array(support);
  let total = 0;
  for (let r = 1; r <= support; r++) cumulative[r - 1] = total += Math.pow(r, -s);
  const names = Array.from({ length: support }, (_, i) => `item-${i + 1}`);
  const byRank = new Int32Array(support);
  const random = new SeededRandom(seed);
  const values = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    const u = random.next() * total;
    let lo = 0;
    let hi = support - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cumulative[mid]! > u) hi = mid;
      else lo = mid + 1;
    }
    values[i] = names[lo]!;
    byRank[lo]!++;
  }
  const counts = new Map<string, number>();
  byRank.forEach((c, r) => c > 0 && counts.set(names[r]!, c));
  return { values, counts };
}

function exactTop(counts: Map<string, number>, k: number): string[] {
  return [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, k).map(([v]) => v);
}

describe('TopK (Space-Saving)', () => {
  it('counts exactly while the distinct values fit in the capacity', () => {
    const t = new TopK(5);
    for (const [v, n] of [['a', 5], ['b', 3], ['c', 7], ['d', 1]] as const) for (let i = 0; i < n; i++) t.add(v);
    t.add('e', 2.5);
    assert.deepEqual(t.top(), [
      { value: 'c', count: 7, error: 0 },
      { value: 'a', count: 5, error: 0 },
      { value: 'b', count: 3, error: 0 },
      { value: 'e', count: 2.5, error: 0 },
      { value: 'd', count: 1, error: 0 },
    ]);
    assert.deepEqual(t.top(2).map((e) => e.value), ['c', 'a']);
    assert.equal(t.total, 18.5);
    assert.equal(t.minCount, 1);
    t.add('ignored', 0);
    assert.equal(t.size, 5);
    assert.throws(() => t.add('x', -1), RangeError);
    assert.throws(() => new TopK(0), RangeError);
  });

  it('finds the true top 10 of a 1e6-value Zipf(1.1) stream in order, with valid bounds', () => {
    const { values: stream, counts } = zipfStream(1_000_000, 1.1, 100_000, 11);
    const t = new TopK(1000);
    for (const v of stream) t.add(v);
    const top = t.top(10);
    assert.deepEqual(top.map((e) => e.value), exactTop(counts, 10));
    for (const e of t.top()) {
      const truth = counts.get(e.value) ?? 0;
      assert.ok(e.count - e.error <= truth && truth <= e.count, `${e.value}: ${truth} outside [${e.count - e.error}, ${e.count}]`);
    }
    assert.equal(t.total, 1_000_000);
  });

  it('merges partitions within the same guarantees and the same top 10', () => {
    const { values: stream, counts } = zipfStream(300_000, 1.1, 50_000, 12);
    const parts = [new TopK(500), new TopK(500), new TopK(500)];
    stream.forEach((v, i) => parts[i < 50_000 ? 0 : i < 200_000 ? 1 : 2]!.add(v));
    const merged = parts[0]!.merge(parts[1]!).merge(parts[2]!);
    assert.equal(merged.total, 300_000);
    assert.equal(merged.size, 500);
    assert.deepEqual(merged.top(10).map((e) => e.value), exactTop(counts, 10));
    for (const e of merged.top()) {
      const truth = counts.get(e.value) ?? 0;
      assert.ok(e.count - e.error <= truth && truth <= e.count, `${e.value}: ${truth} outside [${e.count - e.error}, ${e.count}]`);
    }
  });

  it('counts a column with addAll as value-by-value adds do', () => {
    const values = ['a', 'b', 'a', 'c', 'd', 'a', 'e', 'b'];
    const one = new TopK(3);
    for (const v of values) one.add(v);
    const column = new TopK(3);
    column.addAll(values);
    assert.deepEqual(column.toJSON(), one.toJSON());
  });

  it('merges small summaries exactly and round-trips through JSON', () => {
    const a = new TopK(10);
    const b = new TopK(10);
    ['x', 'x', 'y'].forEach((v) => a.add(v));
    ['y', 'z', 'z', 'z'].forEach((v) => b.add(v));
    a.merge(b);
    assert.deepEqual(a.top(), [
      { value: 'z', count: 3, error: 0 },
      { value: 'x', count: 2, error: 0 },
      { value: 'y', count: 2, error: 0 },
    ]);
    const back = TopK.fromJSON(JSON.parse(JSON.stringify(a.toJSON())));
    assert.deepEqual(back.toJSON(), a.toJSON());
    back.add('x', 5);
    assert.equal(back.estimate('x'), 7);
    assert.throws(() => TopK.fromJSON({ ...a.toJSON(), capacity: 2 }), /exceed the capacity/);
  });
});
