import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readTable } from '../data/readers/index.js';
import { dataset } from '../data/readers/test-helpers/data-files.js';
import { column, selectColumns, tableFromRows, valueAt, type Table } from '../data/table.js';
import { crossValidate, cvSplits, kFoldSplits, timeSplits } from './cv.js';
import { predict } from './model.js';
import { shuffledIndex, takeRows } from './prepare.js';
import { train } from './train.js';


/** Every row in exactly one test fold, and each fold's training rows are the others. */
function assertPartition(folds: { train: number[]; test: number[] }[], rows: number[]): void {
  const count = new Map(rows.map((r) => [r, 0]));
  for (const f of folds) {
    for (const r of f.test) count.set(r, (count.get(r) ?? Number.NaN) + 1);
    const test = new Set(f.test);
    assert.deepEqual([...f.train].sort((a, b) => a - b), rows.filter((r) => !test.has(r)));
  }
  assert.ok([...count.values()].every((c) => c === 1), 'each row is tested exactly once');
  assert.equal(count.size, rows.length);
}

describe('k-fold splits', () => {
  it('partition the rows exactly once, in folds whose sizes differ by at most one', () => {
    const rows = Array.from({ length: 103 }, (_, i) => i);
    const folds = kFoldSplits(103, 5, 7);
    assertPartition(folds, rows);
    assert.deepEqual(folds.map((f) => f.test.length), [21, 21, 21, 20, 20]);
  });

  it('are the same for a seed and differ between seeds', () => {
    assert.deepEqual(kFoldSplits(50, 4, 3), kFoldSplits(50, 4, 3));
    assert.notDeepEqual(kFoldSplits(50, 4, 3), kFoldSplits(50, 4, 4));
  });

  it('refuse fewer than two folds and more folds than rows', () => {
    assert.throws(() => kFoldSplits(10, 1, 1), /at least 2, got 1/);
    assert.throws(() => kFoldSplits(10, 2.5, 1), /at least 2, got 2.5/);
    assert.throws(() => kFoldSplits(3, 4, 1), /Cannot make 4 folds from 3 labelled rows/);
  });
});

describe('time-ordered splits', () => {
  it('match scikit-learn TimeSeriesSplit without ties', () => {
    // TimeSeriesSplit(n_splits=4).split(np.zeros(103)) in scikit-learn 1.2: training sizes 23, 43,
    // 63, 83; test blocks [23, 42], [43, 62], [63, 82], [83, 102].
    const folds = timeSplits(103, 4);
    assert.deepEqual(folds.map((f) => [f.train.length, f.test[0], f.test.at(-1)]), [[23, 23, 42], [43, 43, 62], [63, 63, 82], [83, 83, 102]]);
    for (const f of folds) assert.deepEqual(f.train, Array.from({ length: f.train.length }, (_, i) => i));
  });

  it('keep rows with the same time on the test side of a boundary', () => {
    // n = 8, k = 2: test blocks of 2 rows would start at rows 4 and 6, inside the ties 1,1,1 and 2,2.
    assert.deepEqual(timeSplits(8, 2, [0, 0, 1, 1, 1, 2, 2, 3]), [{ train: [0, 1], test: [2, 3, 4] }, { train: [0, 1, 2, 3, 4], test: [5, 6, 7] }]);
    assert.throws(() => timeSplits(6, 2, [0, 1, 1, 2, 2, 3]), /fold 1 would have 1 training and 2 test rows/);
    assert.throws(() => timeSplits(6, 2, [0, 0, 0, 0, 0, 0]), /too few rows or distinct timestamps/);
  });
});

describe('cross-validation on real data', () => {
  let german: Table;
  let bike: Table;
  before(async () => {
    german = await readTable(dataset('german_credit.csv'));
    bike = await readTable(dataset('bike_sharing_hourly.csv'));
  });

  it('stratifies folds by class: the positive class (the minority, bad) comes second, and each fold holds 140 good and 60 bad of the 700/300 rows', () => {
    const s = cvSplits(german, 'class', { kind: 'kfold', folds: 5 });
    assert.deepEqual(s.classes, ['good', 'bad']);
    assertPartition(s.folds, Array.from({ length: 1000 }, (_, i) => i));
    const label = column(german, 'class');
    for (const f of s.folds) {
      const bad = f.test.filter((r) => valueAt(label, r) === 'bad').length;
      assert.deepEqual([bad, f.test.length - bad], [60, 140]);
    }
    // Without stratification, the class shares of the folds wander.
    const plain = cvSplits(german, 'class', { kind: 'kfold', folds: 5, stratify: false });
    assert.ok(plain.folds.some((f) => f.test.filter((r) => valueAt(label, r) === 'bad').length !== 60));
  });

  it('leaves rows without a target out of the folds', () => {
    const t = tableFromRows(Array.from({ length: 30 }, (_, i) => ({ x: i, y: i % 7 === 0 ? null : i % 3 === 0 ? 'a' : 'b' })));
    const s = cvSplits(t, 'y', { kind: 'kfold', folds: 3 });
    assertPartition(s.folds, Array.from({ length: 30 }, (_, i) => i).filter((i) => i % 7 !== 0));
  });

  it('time folds, ordered by a column over shuffled rows, never train on a later or equal time', () => {
    const shuffled = takeRows(bike, shuffledIndex(bike.rowCount, 5));
    const s = cvSplits(shuffled, 'cnt', { kind: 'time', folds: 4, column: 'dteday' });
    const day = column(shuffled, 'dteday') as { values: Float64Array };
    const t = (r: number) => day.values[r]!;
    let previousTrain = 0;
    for (const f of s.folds) {
      const lastTrain = Math.max(...f.train.map(t));
      const firstTest = Math.min(...f.test.map(t));
      assert.ok(lastTrain < firstTest, `training ends ${new Date(lastTrain).toISOString()} before testing starts ${new Date(firstTest).toISOString()}`);
      assert.ok(f.train.length > previousTrain, 'the window expands');
      previousTrain = f.train.length;
    }
    // Test blocks follow each other and end with the last row; the first window is all before them.
    const tested = s.folds.flatMap((f) => f.test);
    assert.equal(new Set(tested).size, tested.length);
    assert.equal(tested.length + s.folds[0]!.train.length, bike.rowCount);
    assert.equal(Math.max(...tested.map(t)), Date.UTC(2012, 11, 31));
  });

  it('scores each fold like a hold-out: accuracy agrees with predictions recounted from the labels', async () => {
    const cv = await crossValidate(german, 'class', 'linear', { l2: 1 }, { kind: 'kfold', folds: 5, seed: 11 });
    assert.equal(cv.task, 'binary');
    assert.deepEqual(cv.folds.map((f) => [f.trainRows, f.testRows]), Array(5).fill([800, 200]));
    // Fold 2 rebuilt from the splits: the trainer on its training rows, predictions compared with
    // the label text of its test rows.
    const s = cvSplits(german, 'class', { kind: 'kfold', folds: 5, seed: 11 });
    const { model } = await train(takeRows(german, s.folds[1]!.train), 'class', 'linear', { l2: 1, testSize: 0 });
    const test = takeRows(german, s.folds[1]!.test);
    const p = predict(model, selectColumns(test, german.columns.map((c) => c.name).filter((n) => n !== 'class')));
    const label = column(test, 'class');
    const hits = Array.from(p.prediction, (k, i) => model.classes![k] === valueAt(label, i)).filter(Boolean).length;
    assert.equal(cv.folds[1]!.metrics.accuracy, hits / 200);
    // Mean and population standard deviation over the folds.
    for (const m of ['accuracy', 'roc_auc', 'log_loss', 'f1']) {
      const v = cv.folds.map((f) => f.metrics[m]!);
      const mean = v.reduce((a, b) => a + b) / 5;
      assert.ok(Math.abs(cv.mean[m]! - mean) < 1e-12);
      assert.ok(Math.abs(cv.std[m]! - Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / 5)) < 1e-12);
    }
    // Logistic regression on German credit is known to reach an AUC of about 0.77–0.80.
    assert.ok(cv.mean.roc_auc! > 0.74 && cv.mean.roc_auc! < 0.84, `roc_auc ${cv.mean.roc_auc}`);
    assert.ok(cv.std.roc_auc! > 0 && cv.std.roc_auc! < 0.08);
  });

  it('is deterministic for a seed and reports progress per fold', async () => {
    const lines: string[] = [];
    const a = await crossValidate(german, 'class', 'linear', { seed: 3 }, { kind: 'kfold', folds: 3 }, { onProgress: (s) => lines.push(s) });
    const b = await crossValidate(german, 'class', 'linear', { seed: 3 }, { kind: 'kfold', folds: 3 });
    const c = await crossValidate(german, 'class', 'linear', { seed: 4 }, { kind: 'kfold', folds: 3 });
    assert.deepEqual(a, b);
    assert.notDeepEqual(a.folds, c.folds);
    assert.deepEqual(lines.map((l) => l.slice(0, 9)), ['fold 1/3:', 'fold 2/3:', 'fold 3/3:']);
    assert.match(lines[0]!, /training on 666 rows, testing on 334/);
  });

  it('time-ordered regression on bike sharing: expanding folds, metrics per fold', async () => {
    const t = selectColumns(bike, ['dteday', 'season', 'hr', 'workingday', 'weathersit', 'temp', 'hum', 'windspeed', 'cnt']);
    const cv = await crossValidate(t, 'cnt', 'linear', {}, { kind: 'time', folds: 3, column: 'dteday' });
    assert.equal(cv.task, 'regression');
    assert.deepEqual(cv.folds.map((f) => f.trainRows + f.testRows).every((n, i, all) => i === 0 || n > all[i - 1]!), true);
    for (const f of cv.folds) {
      assert.deepEqual(Object.keys(f.metrics).sort(), ['mae', 'r2', 'rmse']);
      // Hourly counts have a standard deviation of about 180; a linear model explains part of it.
      assert.ok(f.metrics.rmse! > 60 && f.metrics.rmse! < 300, `rmse ${f.metrics.rmse}`);
    }
  });

  it('refuses folds that cannot be scored, with the reason', async () => {
    // Time order puts every 'c' at the end: the first folds never see it in training.
    const rows = Array.from({ length: 40 }, (_, i) => ({ x: i, y: i < 30 ? (i % 2 ? 'a' : 'b') : 'c' }));
    await assert.rejects(crossValidate(tableFromRows(rows), 'y', 'linear', {}, { kind: 'time', folds: 3 }), /Fold 1\/3 has no training rows of class 'c'; use fewer folds or k-fold/);
    const g = german;
    await assert.rejects(crossValidate(g, 'class', 'linear', {}, { kind: 'kfold', folds: 1 }), /at least 2, got 1/);
    await assert.rejects(crossValidate(g, 'class', 'linear', {}, { kind: 'time', folds: 3, column: 'purpose' }), /Time column 'purpose' holds text/);
    await assert.rejects(crossValidate(g, 'class', 'linear', {}, { kind: 'time', folds: 3, column: 'when' }), /No column 'when'/);
    await assert.rejects(crossValidate(g, 'credit_amount', 'linear', {}, { kind: 'kfold', folds: 3, stratify: true }), /Stratified folds need a classification target/);
    const gaps = tableFromRows([{ t: 1, x: 1, y: 1 }, { t: null, x: 2, y: 2 }, { t: 3, x: 3, y: 4 }, { t: 4, x: 5, y: 3 }]);
    await assert.rejects(crossValidate(gaps, 'y', 'linear', {}, { kind: 'time', folds: 2, column: 't' }), /Time column 't' has a missing value in row 2/);
    await assert.rejects(crossValidate(g, 'class', 'linear', { depth: 3 }, { kind: 'kfold', folds: 3 }), /Unknown parameter 'depth'/);
  });
});
