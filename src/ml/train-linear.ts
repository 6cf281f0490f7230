/**
 * Training a linear model on a table: the task is read from the target (numbers → regression,
 * two labels → binary, more → multiclass), features are fitted on the training rows only, the
 * model is solved (least squares with ridge/lasso, or L2 logistic regression by L-BFGS) and
 * evaluated on a seeded hold-out. Deterministic for a given seed.
 */
import { invalid } from '../core/errors.js';
import { column, selectColumns, valueAt, type Table } from '../data/table.js';
import { fitLinearRegression } from '../numeric/linear/linear-regression.js';
import { fitLogisticRegression } from '../numeric/linear/logistic-regression.js';
import { accuracy, f1, logLoss, macroF1, multiclassAccuracy, multiclassLogLoss, rocAuc } from '../numeric/metrics/classification.js';
import { mae, r2, rmse } from '../numeric/metrics/regression.js';
import { SeededRandom } from '../numeric/sketches/seeded-random.js';
import { applyFeatures, defaultSpec, fitFeatures } from './features.js';
import { MODEL_FORMAT, linearEstimator, predict, type Task, type TrellisModel } from './model.js';

export interface LinearParams {
  /** L2 penalty (ridge alpha for regression, 1/C for logistic regression). */
  l2: number;
  /** L1 penalty (regression only: lasso alpha). */
  l1: number;
  /** Share of rows held out for evaluation. */
  testSize: number;
  seed: number;
  task?: Task;
}

export const LINEAR_DEFAULTS: LinearParams = { l2: 1, l1: 0, testSize: 0.2, seed: 42 };

export interface TrainResult {
  model: TrellisModel;
  metrics: Record<string, number>;
  trainRows: number;
  testRows: number;
}

function splitRows(n: number, testSize: number, seed: number): { train: number[]; test: number[] } {
  const rng = new SeededRandom(seed);
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const nTest = Math.max(1, Math.round(n * testSize));
  return { test: order.slice(0, nTest).sort((a, b) => a - b), train: order.slice(nTest).sort((a, b) => a - b) };
}

function takeRows(t: Table, rows: number[]): Table {
  return {
    rowCount: rows.length,
    columns: t.columns.map((c) => c.type === 'string'
      ? { ...c, codes: Int32Array.from(rows, (r) => c.codes[r]!) }
      : { ...c, values: Float64Array.from(rows, (r) => c.values[r]!), valid: Uint8Array.from(rows, (r) => c.valid[r]!) }),
  };
}

export function trainLinear(table: Table, target: string, params: Partial<LinearParams> = {}, onProgress?: (s: string) => void): TrainResult {
  const p = { ...LINEAR_DEFAULTS, ...params };
  if (table.rowCount === 0) throw invalid('The training set is empty');
  const y = column(table, target);
  const labels: (string | number | boolean | null)[] = Array.from({ length: table.rowCount }, (_, i) => valueAt(y, i));
  const rows = labels.map((v, i) => (v === null ? -1 : i)).filter((i) => i >= 0);
  if (rows.length < 2) throw invalid(`Target '${target}' has fewer than two values`);
  const distinct = [...new Set(rows.map((i) => String(labels[i])))].sort();
  if (distinct.length === 1) throw invalid(`Target '${target}' is constant ('${distinct[0]}'): there is nothing to learn`);
  const task: Task = p.task ?? (y.type === 'string' || y.type === 'boolean' ? (distinct.length === 2 ? 'binary' : 'multiclass') : 'regression');
  if (task !== 'regression' && distinct.length < 2) throw invalid(`Target '${target}' has a single class`);
  const featureNames = table.columns.map((c) => c.name).filter((n) => n !== target);
  if (!featureNames.length) throw invalid('There are no feature columns besides the target');
  const { train, test } = splitRows(rows.length, p.testSize, p.seed);
  const data = takeRows(selectColumns(table, featureNames), rows);
  const trainTable = takeRows(data, train);
  const testTable = takeRows(data, test);
  const yAll = rows.map((i) => labels[i]!);
  onProgress?.(`fitting features on ${train.length} rows`);
  const specs = trainTable.columns.map(defaultSpec);
  const features = fitFeatures(trainTable, specs);
  const x = applyFeatures(features, trainTable);
  const width = features.outputs.length;
  onProgress?.(`solving a ${task} linear model over ${width} features`);
  let model: TrellisModel;
  if (task === 'regression') {
    const yt = Float64Array.from(train, (i) => Number(yAll[i]));
    const fit = fitLinearRegression(x, yt, { l2: p.l2, l1: p.l1 });
    model = { format: MODEL_FORMAT, task, target, features, estimator: linearEstimator(fit.coef, Float64Array.of(fit.intercept)) };
  } else {
    const classIndex = new Map(distinct.map((c, i) => [c, i]));
    const yt = Int32Array.from(train, (i) => classIndex.get(String(yAll[i]))!);
    const fit = fitLogisticRegression(x, yt, { l2: p.l2, classes: distinct.length });
    model = { format: MODEL_FORMAT, task, target, classes: distinct, features, estimator: linearEstimator(fit.coef, fit.intercept) };
  }
  model.metadata = { trainer: 'linear', params: p, trainRows: train.length, testRows: test.length };
  onProgress?.(`evaluating on ${test.length} held-out rows`);
  const out = predict(model, testTable);
  const metrics: Record<string, number> = {};
  if (task === 'regression') {
    const yt = Float64Array.from(test, (i) => Number(yAll[i]));
    Object.assign(metrics, { rmse: rmse(yt, out.prediction), mae: mae(yt, out.prediction), r2: r2(yt, out.prediction) });
  } else if (task === 'binary') {
    const yt = Float64Array.from(test, (i) => (String(yAll[i]) === distinct[1] ? 1 : 0));
    const p1 = Float64Array.from(test, (_, k) => out.proba![k * 2 + 1]!);
    Object.assign(metrics, { accuracy: accuracy(yt, p1), f1: f1(yt, p1), log_loss: logLoss(yt, p1) });
    if (yt.some((v) => v === 1) && yt.some((v) => v === 0)) metrics.roc_auc = rocAuc(yt, p1);
  } else {
    const index = new Map(distinct.map((c, i) => [c, i]));
    const yt = Int32Array.from(test, (i) => index.get(String(yAll[i]))!);
    Object.assign(metrics, { accuracy: multiclassAccuracy(yt, out.prediction), log_loss: multiclassLogLoss(yt, out.proba!), macro_f1: macroF1(yt, out.prediction, distinct.length) });
  }
  return { model, metrics, trainRows: train.length, testRows: test.length };
}
