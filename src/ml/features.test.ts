import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readTable } from '../data/readers/index.js';
import { tableFromRows } from '../data/table.js';
import { applyFeatures, defaultSpec, fitFeatures, MISSING, OTHER } from './features.js';

const train = tableFromRows([
  { age: 20, city: 'Lisbon', when: '2024-01-15T10:00:00Z', score: 1 },
  { age: 30, city: 'Porto', when: '2024-06-01T23:00:00Z', score: null },
  { age: null, city: 'Lisbon', when: '2024-12-31T00:00:00Z', score: 5 },
  { age: 40, city: null, when: '2025-03-03T12:00:00Z', score: 9 },
]);

describe('feature transforms', () => {
  it('imputes with the training mean, then standardises', () => {
    const p = fitFeatures(train, [{ column: 'age', kind: 'numeric', impute: 'mean', scale: 'standard' }]);
    const x = applyFeatures(p, train);
    // mean 30, population std sqrt(200/3); the null becomes the mean, i.e. 0.
    const sd = Math.sqrt(200 / 3);
    assert.deepEqual(Array.from(x).map((v) => +v.toFixed(12)), [-10 / sd, 0, 0, 10 / sd].map((v) => +v.toFixed(12)));
    const mm = applyFeatures(fitFeatures(train, [{ column: 'age', kind: 'numeric', impute: 'median', scale: 'minmax' }]), train);
    assert.deepEqual(Array.from(mm), [0, 0.5, 0.5, 1]);
  });

  it('one-hot encodes with each unseen-category policy, and a missing level', () => {
    const serve = tableFromRows([{ city: 'Faro' }, { city: 'Porto' }, { city: null }]);
    const ignore = fitFeatures(train, [{ column: 'city', kind: 'onehot', unseen: 'ignore' }]);
    assert.deepEqual(ignore.outputs, ['city=Lisbon', 'city=Porto', `city=${MISSING}`]);
    assert.deepEqual(Array.from(applyFeatures(ignore, serve)), [0, 0, 0, 0, 1, 0, 0, 0, 1]);
    const other = fitFeatures(train, [{ column: 'city', kind: 'onehot', unseen: 'other', impute: 'most_frequent' }]);
    assert.deepEqual(other.outputs, ['city=Lisbon', 'city=Porto', `city=${OTHER}`]);
    assert.deepEqual(Array.from(applyFeatures(other, serve)), [0, 0, 1, 0, 1, 0, 1, 0, 0]);
    const strict = fitFeatures(train, [{ column: 'city', kind: 'onehot', unseen: 'error' }]);
    assert.throws(() => applyFeatures(strict, serve), /category 'Faro' in row 0, unseen in training \(policy: error\)/);
    assert.throws(() => fitFeatures(train, [{ column: 'city', kind: 'onehot', maxCategories: 1 }]), /2 categories, more than the limit of 1/);
  });

  it('encodes ordinals, datetime parts and buckets', () => {
    const ord = fitFeatures(train, [{ column: 'city', kind: 'ordinal', unseen: 'other' }]);
    assert.deepEqual(Array.from(applyFeatures(ord, train)), [0, 1, 0, 2]);
    const strictOrd = fitFeatures(train, [{ column: 'city', kind: 'ordinal', unseen: 'error' }]);
    assert.deepEqual(Array.from(applyFeatures(strictOrd, tableFromRows([{ city: 'Porto' }, { city: null }, { city: 'Lisbon' }]))), [1, 2, 0]);
    assert.throws(() => applyFeatures(strictOrd, tableFromRows([{ city: 'Porto' }, { city: 'Faro' }])), /category 'Faro' in row 1, unseen in training \(policy: error\)/);
    const dt = fitFeatures(train, [{ column: 'when', kind: 'datetime', parts: ['year', 'month', 'hour', 'weekday', 'dayofyear'] }]);
    // 2024-01-15 was a Monday (1); 2024-12-31 is day 366 of a leap year.
    assert.deepEqual(Array.from(applyFeatures(dt, train)).slice(0, 5), [2024, 1, 10, 1, 15]);
    assert.equal(applyFeatures(dt, train)[14], 366);
    const b = fitFeatures(train, [{ column: 'score', kind: 'bucketize', boundaries: [2, 6] }]);
    assert.deepEqual(Array.from(applyFeatures(b, train)).map((v) => (Number.isNaN(v) ? 'NaN' : v)), [0, 'NaN', 1, 2]);
  });

  it('serves a single record exactly as a batch row', () => {
    const p = fitFeatures(train, train.columns.map(defaultSpec));
    const batch = applyFeatures(p, train);
    const one = applyFeatures(p, tableFromRows([{ age: 30, city: 'Porto', when: '2024-06-01T23:00:00Z', score: null }]));
    assert.deepEqual(Array.from(one), Array.from(batch.subarray(p.outputs.length, 2 * p.outputs.length)));
    assert.deepEqual(JSON.parse(JSON.stringify(p)), p);
  });

  it('refuses wrong types, missing features, infinities and empty training data', () => {
    const p = fitFeatures(train, [{ column: 'age', kind: 'numeric' }]);
    assert.throws(() => applyFeatures(p, tableFromRows([{ age: 'old' }])), /Feature 'age' expects numbers; row 1 has "old"/);
    assert.throws(() => applyFeatures(p, tableFromRows([{ other: 1 }])), /missing the feature 'age'/);
    const f = fitFeatures(tableFromRows([{ x: 1.5 }, { x: 2.5 }]), [{ column: 'x', kind: 'numeric' }]);
    assert.throws(() => applyFeatures(f, tableFromRows([{ x: Infinity }])), /only finite numbers/);
    assert.throws(() => fitFeatures(tableFromRows([{ x: null }, { x: null }]), [{ column: 'x', kind: 'numeric' }]), /no values to fit on/);
    assert.throws(() => fitFeatures(tableFromRows([]), []), /empty table/);
  });
  it('treats a literal missing marker as an ordinary unseen category when missing values are imputed otherwise', () => {
    const t = tableFromRows([{ c: 'a', x: 1 }, { c: 'b', x: 2 }]);
    const p = fitFeatures(t, [{ column: 'c', kind: 'onehot', unseen: 'ignore', impute: 'most_frequent' }, { column: 'x', kind: 'numeric', scale: 'none' }]);
    const m = applyFeatures(p, tableFromRows([{ c: '__missing__', x: 7 }, { c: 'a', x: 8 }]));
    assert.deepEqual(Array.from(m), [0, 0, 7, 1, 0, 8]);
  });
  it('names the value that is not a number, and its line, when a column was read as text', async () => {
    const rows = Array.from({ length: 100 }, (_, i) => `${i % 24},${i}`);
    rows[69] = '2O,69'; // line 71: the header is line 1
    const bad = await readTable({ bytes: Buffer.from(`hr,n\n${rows.join('\n')}\n`), name: 'hours.csv' });
    const p = fitFeatures(tableFromRows([{ hr: 6 }, { hr: 7 }]), [{ column: 'hr', kind: 'numeric' }]);
    assert.throws(() => applyFeatures(p, bad), (e: Error & { detail?: string }) => {
      const text = `${e.message} ${e.detail ?? ''}`;
      assert.match(text, /Feature 'hr' expects numbers; line 71 has "2O"/);
      assert.doesNotMatch(text, /"6"|"0"/);
      return true;
    });
  });
});
