import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readTable } from '../data/readers/index.js';
import { dataset } from '../data/readers/test-helpers/data-files.js';
import { tableFromRows } from '../data/table.js';
import { loadModel, predict } from './model.js';
import { trainLinear } from './train-linear.js';

const ADULT = dataset('adult_train.csv');
const BIKE = dataset('bike_sharing_hourly.csv');

describe('linear trainer', () => {
  it('fits the bike-sharing demand as a regression, deterministically', async () => {
    const table = await readTable(BIKE);
    const { selectColumns } = await import('../data/table.js');
    const t = selectColumns(table, ['season', 'yr', 'hr', 'holiday', 'workingday', 'weathersit', 'temp', 'hum', 'windspeed', 'cnt']);
    const a = trainLinear(t, 'cnt', { l2: 1 });
    const b = trainLinear(t, 'cnt', { l2: 1 });
    assert.equal(a.model.task, 'regression');
    assert.equal(JSON.stringify(a.model), JSON.stringify(b.model));
    // hr as a number is a poor feature for an hourly curve: a linear model explains roughly 40%.
    assert.ok(a.metrics.r2! > 0.3 && a.metrics.r2! < 0.6, String(a.metrics.r2));
    assert.ok(a.metrics.rmse! < 160);
    assert.equal(a.trainRows + a.testRows, 17379);
  });

  it('fits Adult income as a binary classifier with a useful AUC', async () => {
    const table = await readTable(ADULT);
    const r = trainLinear(table, 'income', { l2: 1 });
    assert.equal(r.model.task, 'binary');
    assert.deepEqual(r.model.classes, ['<=50K', '>50K']);
    // Published logistic-regression baselines on Adult: accuracy ≈ 0.85, ROC AUC ≈ 0.90.
    assert.ok(r.metrics.roc_auc! > 0.88, String(r.metrics.roc_auc));
    assert.ok(r.metrics.accuracy! > 0.83, String(r.metrics.accuracy));
    const m = loadModel(JSON.stringify(r.model));
    const one = predict(m, [{ age: 52, workclass: 'Self-emp-inc', fnlwgt: 287927, education: 'HS-grad', 'education-num': 9, 'marital-status': 'Married-civ-spouse', occupation: 'Exec-managerial', relationship: 'Wife', race: 'White', sex: 'Female', 'capital-gain': 15024, 'capital-loss': 0, 'hours-per-week': 40, 'native-country': 'United-States' }]);
    assert.equal(one.classes![one.prediction[0]!], '>50K');
  });

  it('fits a multiclass target', () => {
    const rows = Array.from({ length: 300 }, (_, i) => ({ x: (i % 3) * 2 + Math.sin(i), y: ['a', 'b', 'c'][i % 3]! }));
    const r = trainLinear(tableFromRows(rows), 'y', { l2: 0.1 });
    assert.equal(r.model.task, 'multiclass');
    assert.ok(r.metrics.accuracy! > 0.9, String(r.metrics.accuracy));
  });

  it('fits a sparse logistic regression with an L1 penalty', () => {
    // Two informative columns and eight of noise: a strong L1 penalty zeroes the noise weights.
    const rows = Array.from({ length: 400 }, (_, i) => {
      const r: Record<string, number | string> = { a: Math.sin(i), b: Math.cos(3 * i) };
      for (let j = 0; j < 8; j++) r[`noise${j}`] = Math.sin(i * (j + 7) * 1.3);
      r.y = Math.sin(i) + Math.cos(3 * i) > 0 ? 'yes' : 'no';
      return r;
    });
    const dense = trainLinear(tableFromRows(rows), 'y', { l2: 0.01, l1: 0 });
    const sparse = trainLinear(tableFromRows(rows), 'y', { l2: 0, l1: 20 });
    const w = (m: typeof dense) => new Float64Array(new Uint8Array(Buffer.from((m.model.estimator as { weights: string }).weights, 'base64')).buffer);
    const names = dense.model.features.outputs;
    const zeros = (m: typeof dense) => names.filter((_, j) => w(m)[j] === 0);
    assert.equal(zeros(dense).length, 0);
    assert.ok(zeros(sparse).filter((n) => n.startsWith('noise')).length >= 6, `zeroed: ${zeros(sparse)}`);
    assert.ok(!zeros(sparse).includes('a') && !zeros(sparse).includes('b'), 'the informative columns keep their weights');
    assert.ok(sparse.metrics.accuracy! > 0.9, `accuracy ${sparse.metrics.accuracy}`);
  });

  it('refuses bad training input with clear errors', () => {
    assert.throws(() => trainLinear(tableFromRows([{ x: 1, y: 2 }, { x: 2, y: 3 }]), 'nope'), /No column 'nope'/);
    assert.throws(() => trainLinear(tableFromRows([{ x: 1, y: 5 }, { x: 2, y: 5 }]), 'y'), /is constant/);
    assert.throws(() => trainLinear(tableFromRows([{ x: 1, y: 'a' }, { x: 2, y: 'a' }]), 'y'), /is constant \('a'\)/);
    assert.throws(() => trainLinear(tableFromRows([]), 'y'), /training set is empty/);
    assert.throws(() => trainLinear(tableFromRows([{ y: 1 }, { y: 2 }]), 'y'), /no feature columns/);
    assert.throws(() => trainLinear(tableFromRows([{ x: null, y: 1 }, { x: null, y: 2 }, { x: null, y: 3 }]), 'y'), /no values to fit on/);
  });
});
