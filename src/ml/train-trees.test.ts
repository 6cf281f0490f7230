import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isTrellisError } from '../core/errors.js';
import { readTable } from '../data/readers/index.js';
import { dataset } from '../data/readers/test-helpers/data-files.js';
import { selectColumns, tableFromRows, type Table } from '../data/table.js';
import { loadModel, predict, type TreeEstimator } from './model.js';
import { train } from './train.js';

const ADULT = dataset('adult_train.csv');

const quiet = { onProgress: () => {} };

describe('tree trainers on the Adult census data', () => {
  let adult: Table;
  before(async () => {
    adult = await readTable(ADULT);
  });

  it('boosts a binary classifier that beats the linear model, round-trips and predicts one record as a batch', async () => {
    const lines: string[] = [];
    const g = await train(adult, 'income', 'gbdt', { trees: 60 }, { onProgress: (s) => lines.push(s) });
    const lin = await train(adult, 'income', 'linear', {}, quiet);
    assert.ok(g.metrics.roc_auc! > lin.metrics.roc_auc! + 0.01, `gbdt ${g.metrics.roc_auc} vs linear ${lin.metrics.roc_auc}`);
    assert.ok(lines.some((l) => /^tree 60\/60 · train loss/.test(l)), 'progress names the trees');
    const e = g.model.estimator as TreeEstimator;
    assert.equal(e.kind, 'trees');
    assert.equal(e.trees.length, 60);
    assert.deepEqual(e.categorical?.length, 8, 'the eight text columns are split as categories');
    const m = loadModel(JSON.stringify(g.model));
    const rows = Array.from({ length: 50 }, (_, i) => Object.fromEntries(adult.columns.filter((c) => c.name !== 'income').map((c) => [c.name, (() => {
      const col = c;
      return col.type === 'string' ? (col.codes[i]! < 0 ? null : col.dictionary[col.codes[i]!]!) : col.valid[i] ? col.values[i]! : null;
    })()])));
    const batch = predict(m, rows);
    rows.forEach((r, i) => {
      const one = predict(m, [r]);
      assert.equal(one.proba![1], batch.proba![i * 2 + 1]);
      assert.ok(Math.abs(one.proba![0]! + one.proba![1]! - 1) < 1e-12);
    });
    // An unseen category is treated as missing, not refused.
    const unseen = predict(m, [{ ...rows[0]!, workclass: 'Astronaut' }]);
    const missing = predict(m, [{ ...rows[0]!, workclass: null }]);
    assert.equal(unseen.proba![1], missing.proba![1]);
  });

  it('grows a forest whose probabilities are class shares, deterministic for a seed', async () => {
    const small = selectColumns(adult, ['age', 'education', 'hours-per-week', 'sex', 'income']);
    const a = await train(small, 'income', 'forest', { trees: 8, max_depth: 10 }, quiet);
    const b = await train(small, 'income', 'forest', { trees: 8, max_depth: 10 }, quiet);
    assert.deepEqual(a.metrics, b.metrics);
    assert.ok(a.metrics.roc_auc! > 0.8, `forest AUC ${a.metrics.roc_auc}`);
    const p = predict(a.model, [{ age: 40, education: 'Masters', 'hours-per-week': 50, sex: 'Male' }]);
    assert.ok(p.proba![1]! >= 0 && p.proba![1]! <= 1);
  });

  it('refuses more categories than the configured limit', async () => {
    await assert.rejects(train(adult, 'income', 'gbdt', { max_categories: 5, trees: 2 }, quiet), /Column 'workclass' has 8 categories, more than the limit of 5/);
  });
});

describe('tree trainers', () => {
  const rows = Array.from({ length: 300 }, (_, i) => ({ x: (i * 7) % 100, c: ['red', 'green', 'blue'][i % 3]!, t: i % 3 === 0 ? 'a' : (i * 7) % 100 > 50 ? 'b' : 'c', y: ((i * 7) % 100) / 10 + (i % 3) }));

  it('trains multiclass and regression models from a table of records', async () => {
    const table = tableFromRows(rows.map(({ x, c, t }) => ({ x, c, t })));
    const m = await train(table, 't', 'gbdt', { trees: 20, min_samples_leaf: 5, test_size: 0.25 }, quiet);
    assert.equal(m.model.task, 'multiclass');
    assert.ok(m.metrics.accuracy! > 0.95, `accuracy ${m.metrics.accuracy}`);
    assert.equal((m.model.estimator as TreeEstimator).trees.length, 60, 'one tree per class per round');
    const r = await train(tableFromRows(rows.map(({ x, c, y }) => ({ x, c, y }))), 'y', 'gbdt', { trees: 50, min_samples_leaf: 3 }, quiet);
    assert.equal(r.model.task, 'regression');
    assert.ok(r.metrics.r2! > 0.95, `R² ${r.metrics.r2}`);
    const f = await train(tableFromRows(rows.map(({ x, c, y }) => ({ x, c, y }))), 'y', 'forest', { trees: 10 }, quiet);
    assert.ok(f.metrics.r2! > 0.9, `forest R² ${f.metrics.r2}`);
  });

  it('refuses bad training input with errors that name the problem', async () => {
    const t = (r: Record<string, unknown>[]) => tableFromRows(r);
    await assert.rejects(train(t(rows), 'nope', 'gbdt', {}, quiet), /No column 'nope'/);
    await assert.rejects(train(t(rows.map((r) => ({ ...r, k: 1 }))), 'k', 'gbdt', {}, quiet), /Target 'k' is constant/);
    await assert.rejects(train(t(rows.map((r) => ({ ...r, k: 'yes' }))), 'k', 'forest', { task: 'binary' }, quiet), /Target 'k' is constant/);
    await assert.rejects(train(t(rows.map((r) => ({ ...r, z: null }))), 't', 'gbdt', {}, quiet), /Column 'z' has no values to fit on/);
    await assert.rejects(train(t([]), 't', 'gbdt', {}, quiet), /training set is empty/);
    await assert.rejects(train(t(rows), 't', 'gbdt', { learning_rate: 0 }, quiet), /'learningRate' must be within \(0, 1\]/);
    await assert.rejects(train(t(rows), 't', 'gbdt', { max_leaves: 1 }, quiet), /'maxLeaves' must be an integer ≥ 2/);
    await assert.rejects(train(t(rows), 't', 'gbdt', { depth: 3 }, quiet), /Unknown parameter 'depth' for the gbdt trainer/);
    await assert.rejects(train(t(rows), 't', 'forest', { trees: 'many' }, quiet), /'trees' must be a number, got 'many'/);
  });

  it('checks inputs at predict time: type, NaN and infinities, and refuses a corrupted model', async () => {
    const table = tableFromRows(rows.map(({ x, c, t }) => ({ x, c, t })));
    const { model } = await train(table, 't', 'gbdt', { trees: 5, min_samples_leaf: 5 }, quiet);
    assert.throws(() => predict(model, [{ x: 'ten', c: 'red' }]), /Feature 'x' must be integer, got string/);
    assert.throws(() => predict(model, [{ x: Number.POSITIVE_INFINITY, c: 'red' }]), /Feature 'x' is Infinity in row 0; only finite numbers/);
    assert.throws(() => predict(model, [{ x: Number.NEGATIVE_INFINITY, c: 'red' }]), /-Infinity/);
    const nan = predict(model, [{ x: Number.NaN, c: 'red' }]);
    const nul = predict(model, [{ x: null, c: 'red' }]);
    assert.deepEqual(Array.from(nan.proba!), Array.from(nul.proba!), 'NaN is a missing value');
    const json = JSON.stringify(model);
    const refused = (text: string, why: RegExp) => assert.throws(() => loadModel(text), (e: unknown) => isTrellisError(e, 'TRELLIS_MODEL_INVALID') && why.test(e.message));
    refused(json.replace(/"left":"[^"]+"/, '"left":"AAAAAAAAAAA="'), /tree 0: 'left' has 1 entries/);
    refused(json.replace('"link":"softmax"', '"link":"cube"'), /unknown link "cube"/);
    refused(json.replace(/"trees":\[.*\]/, '"trees":[]'), /no trees/);
    const doc = JSON.parse(json);
    const t0 = doc.estimator.trees[0];
    // A child pointing back at the root would loop forever: refused.
    const left = Buffer.from(t0.left, 'base64');
    left.writeDoubleLE(0, 0);
    t0.left = left.toString('base64');
    refused(JSON.stringify(doc), /tree 0: node 0 has children 0/);
  });
});
