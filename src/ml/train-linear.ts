/**
 * Training a linear model on a table: features fitted on the training rows only (numbers
 * standardised, categories one-hot), then least squares with ridge/lasso/elastic net, or logistic
 * regression (L2 by L-BFGS, L1/elastic net by proximal gradient); evaluated on a seeded hold-out. Deterministic for a given seed.
 */
import type { Table } from '../data/table.js';
import { fitLinearRegression } from '../numeric/linear/linear-regression.js';
import { fitLogisticRegression } from '../numeric/linear/logistic-regression.js';
import { applyFeatures, defaultSpec, fitFeatures } from './features.js';
import { MODEL_FORMAT, linearEstimator, type Task, type TrellisModel } from './model.js';
import { holdoutMetrics, prepare, type Progress, type TrainResult } from './prepare.js';

export type { TrainResult } from './prepare.js';

export interface LinearParams {
  /** L2 penalty (ridge alpha for regression, 1/C for logistic regression). */
  l2: number;
  /** L1 penalty (lasso alpha for regression; with logistic regression, sparse coefficients). */
  l1: number;
  /** Share of rows held out for evaluation. */
  testSize: number;
  seed: number;
  task?: Task;
  /** Binary: the class counted as positive (default by the rule of `choosePositiveClass`). */
  positiveClass?: string;
}

export const LINEAR_DEFAULTS: LinearParams = { l2: 1, l1: 0, testSize: 0.2, seed: 42 };

export function trainLinear(table: Table, target: string, params: Partial<LinearParams> = {}, onProgress?: Progress): TrainResult {
  const p = { ...LINEAR_DEFAULTS, ...params };
  const d = prepare(table, target, p);
  onProgress?.(`fitting features on ${d.train.rowCount} rows`);
  const features = fitFeatures(d.train, d.train.columns.map(defaultSpec));
  const x = applyFeatures(features, d.train);
  onProgress?.(`solving a ${d.task} linear model over ${features.outputs.length} features`);
  let model: TrellisModel;
  if (d.task === 'regression') {
    const fit = fitLinearRegression(x, d.yTrain, { l2: p.l2, l1: p.l1 });
    model = { format: MODEL_FORMAT, task: d.task, target, features, estimator: linearEstimator(fit.coef, Float64Array.of(fit.intercept)) };
  } else {
    const fit = fitLogisticRegression(x, Int32Array.from(d.yTrain), { l2: p.l2, l1: p.l1, classes: d.classes!.length });
    model = { format: MODEL_FORMAT, task: d.task, target, classes: d.classes, features, estimator: linearEstimator(fit.coef, fit.intercept) };
  }
  model.metadata = { trainer: 'linear', params: p, trainRows: d.train.rowCount, testRows: d.test.rowCount };
  if (d.test.rowCount > 0) onProgress?.(`evaluating on ${d.test.rowCount} held-out rows`);
  return { model, metrics: holdoutMetrics(model, d.test, d.yTest), trainRows: d.train.rowCount, testRows: d.test.rowCount, holdout: d.holdout };
}
