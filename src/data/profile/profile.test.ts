import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { tableFromRows, sliceRows } from '../table.js';
import { mergeProfiles, profileTable, summaryOf, ProfileBuilder } from './profile.js';

function rows(n: number, offset = 0) {
  return Array.from({ length: n }, (_, i) => {
    const k = i + offset;
    return { x: k, y: k % 10 === 0 ? null : k / 4, color: ['red', 'green', 'blue'][k % 3]!, flag: k % 4 === 0 };
  });
}

describe('profiles', () => {
  it('counts, missing values, moments, exact quantiles on small data, top values', () => {
    const p = profileTable(tableFromRows(rows(101)));
    assert.equal(p.rows, 101);
    const [x, y, color, flag] = p.columns;
    assert.equal(x!.type, 'integer');
    assert.equal(x!.count, 101);
    assert.equal(x!.missing, 0);
    assert.equal(x!.distinct, 101);
    assert.equal(x!.numeric!.mean, 50);
    // Sample standard deviation of 0..100: sqrt(101*102/12) = 29.3002 (ddof 1).
    assert.ok(Math.abs(x!.numeric!.std - Math.sqrt((101 * 102) / 12)) < 1e-9);
    assert.equal(x!.numeric!.min, 0);
    assert.equal(x!.numeric!.max, 100);
    assert.equal(x!.numeric!.quantiles.p50, 50);
    assert.equal(x!.numeric!.histogram.counts.reduce((a, b) => a + b, 0), 101);
    assert.equal(y!.missing, 11);
    assert.equal(y!.count, 90);
    assert.equal(color!.type, 'string');
    assert.equal(color!.distinct, 3);
    assert.deepEqual(color!.top!.map((t) => t.value).sort(), ['blue', 'green', 'red']);
    assert.equal(color!.top!.find((t) => t.value === 'red')!.count, 34);
    assert.equal(flag!.type, 'boolean');
    assert.equal(flag!.numeric!.mean, 26 / 101);
    assert.deepEqual(Object.fromEntries(flag!.top!.map((t) => [t.value, t.count])), { true: 26, false: 75 });
  });

  it('merges the profiles of partitions into the profile of the whole', () => {
    const table = tableFromRows(rows(5000));
    const whole = profileTable(table);
    const parts = mergeProfiles(profileTable(sliceRows(table, 0, 1700)), profileTable(sliceRows(table, 1700)));
    const streamed = new ProfileBuilder().add(sliceRows(table, 0, 2500)).add(sliceRows(table, 2500)).finish();
    for (const p of [parts, streamed]) {
      assert.equal(p.rows, whole.rows);
      p.columns.forEach((c, i) => {
        const w = whole.columns[i]!;
        assert.equal(c.count, w.count);
        assert.equal(c.missing, w.missing);
        assert.ok(Math.abs(c.distinct - w.distinct) / w.distinct < 0.02, `${c.name} distinct ${c.distinct} vs ${w.distinct}`);
        if (w.numeric) {
          assert.ok(Math.abs(c.numeric!.mean - w.numeric.mean) < 1e-9);
          assert.ok(Math.abs(c.numeric!.std - w.numeric.std) < 1e-9);
          assert.equal(c.numeric!.min, w.numeric.min);
          // KLL rank error: the median of 0..4999 within 2% of the range.
          assert.ok(Math.abs(c.numeric!.quantiles.p50! - w.numeric.quantiles.p50!) <= 0.02 * (w.numeric.max - w.numeric.min) + 1e-9);
        }
      });
    }
  });

  it('never reports more distinct values than values, also after a merge', () => {
    // 64..77 and 144..150 all-distinct integers are where the estimate overshoots by one.
    for (const n of [64, 70, 77, 144, 150]) {
      const table = tableFromRows(Array.from({ length: n }, (_, i) => ({ x: i, f: i / 7 + 0.5, y: i % 2 === 0 ? i : null })));
      const p = profileTable(table);
      for (const c of p.columns) assert.ok(c.distinct <= c.count, `${n} rows: ${c.name} distinct ${c.distinct} > count ${c.count}`);
      assert.equal(p.columns[0]!.distinct, n);
      const merged = mergeProfiles(profileTable(sliceRows(table, 0, 10)), profileTable(sliceRows(table, 10)));
      for (const c of merged.columns) assert.ok(c.distinct <= c.count, `${n} rows merged: ${c.name} distinct ${c.distinct} > count ${c.count}`);
    }
  });

  it('summaries drop the sketches and survive JSON', () => {
    const p = profileTable(tableFromRows(rows(50)));
    const back = JSON.parse(JSON.stringify(p));
    assert.deepEqual(mergeProfiles(back, back).columns[0]!.count, 100);
    assert.equal('sketch' in summaryOf(p).columns[0]!, false);
  });

  it('refuses to merge profiles of different shapes', () => {
    const a = profileTable(tableFromRows([{ a: 1 }]));
    const b = profileTable(tableFromRows([{ b: 1 }]));
    assert.throws(() => mergeProfiles(a, b), /different columns/);
    const c = profileTable(tableFromRows([{ a: 'x' }]));
    assert.throws(() => mergeProfiles(a, c), /integer in one and string/);
  });
});
