/**
 * Tree trainers on tables: histogram gradient boosting and random forest. Features are fitted for
 * trees (numbers as they are with missing values kept, strings as category codes split natively),
 * the ensemble is grown in numeric/ and stored in the model format with the transforms.
 */
import { availableParallelism } from 'node:os';
import { invalid } from '../core/errors.js';
import type { Table } from '../data/table.js';
import { boost, forest, type Matrix } from '../numeric/gbdt/boost.js';
import { applyFeatures, categoricalOutputs, fitFeatures, treeSpec, type FeaturePipeline } from './features.js';
import { MODEL_FORMAT, treeEstimator, type Task, type TrellisModel } from './model.js';
import { holdoutMetrics, prepare, shuffledIndex, takeRows, type Progress, type TrainResult } from './prepare.js';

export interface GbdtParams {
  trees: number;
  learningRate: number;
  maxLeaves: number;
  /** 0: no limit. */
  maxDepth: number;
  minSamplesLeaf: number;
  l2: number;
  maxBins: number;
  /** Share of rows drawn (without replacement) for each tree. */
  subsample: number;
  /** Share of features drawn for each tree. */
  colsample: number;
  /** Stop after this many trees without improvement on the validation set; 0: never. */
  earlyStopping: number;
  /** Share of the training rows held out for early stopping (when it is on). */
  validationSize: number;
  maxCategories: number;
  threads: number;
  testSize: number;
  seed: number;
  task?: Task;
  /** Binary: the class counted as positive (default by the rule of `choosePositiveClass`). */
  positiveClass?: string;
}

export const GBDT_DEFAULTS: GbdtParams = {
  trees: 100, learningRate: 0.1, maxLeaves: 31, maxDepth: 0, minSamplesLeaf: 20, l2: 0, maxBins: 255,
  subsample: 1, colsample: 1, earlyStopping: 0, validationSize: 0.1, maxCategories: 255, threads: 2, testSize: 0.2, seed: 42,
};

export interface ForestParams {
  trees: number;
  /** 0: no limit. */
  maxDepth: number;
  minSamplesLeaf: number;
  /** Share of features considered at each split; 0: √p for classifiers, p/3 for regression. */
  maxFeatures: number;
  /** Bootstrap sample size as a share of the rows. */
  subsample: number;
  maxBins: number;
  maxCategories: number;
  threads: number;
  testSize: number;
  seed: number;
  task?: Task;
  /** Binary: the class counted as positive (default by the rule of `choosePositiveClass`). */
  positiveClass?: string;
}

export const FOREST_DEFAULTS: ForestParams = {
  trees: 100, maxDepth: 0, minSamplesLeaf: 1, maxFeatures: 0, subsample: 1, maxBins: 255, maxCategories: 255, threads: 2, testSize: 0.2, seed: 42,
};

function check(name: string, v: number, ok: boolean, want: string): void {
  if (!ok) throw invalid(`Parameter '${name}' must be ${want}, got ${v}`);
}

const int = (v: number) => Number.isInteger(v);

function threadsFor(wanted: number): number {
  return Math.max(1, Math.min(wanted, availableParallelism()));
}

/** Features for trees: fitted on the training rows, with the columns the trees split as categories. */
function treeFeatures(train: Table, maxCategories: number, maxBins: number) {
  const limit = Math.min(maxCategories, maxBins);
  const features = fitFeatures(train, train.columns.map((c) => treeSpec(c, limit)));
  return { features, categorical: categoricalOutputs(features) };
}

function matrix(features: FeaturePipeline, t: Table, y: Float64Array): Matrix {
  return { x: applyFeatures(features, t), n: t.rowCount, p: features.outputs.length, y };
}

/** `signal` stops it between trees. */
export async function trainGbdt(table: Table, target: string, params: Partial<GbdtParams> = {}, onProgress?: Progress, signal?: AbortSignal): Promise<TrainResult> {
  const p = { ...GBDT_DEFAULTS, ...params };
  check('trees', p.trees, int(p.trees) && p.trees >= 1 && p.trees <= 100_000, 'an integer within 1…100000');
  check('learningRate', p.learningRate, p.learningRate > 0 && p.learningRate <= 1, 'within (0, 1]');
  check('maxLeaves', p.maxLeaves, int(p.maxLeaves) && p.maxLeaves >= 2 && p.maxLeaves <= 65_536, 'an integer ≥ 2');
  check('maxDepth', p.maxDepth, int(p.maxDepth) && p.maxDepth >= 0, 'a non-negative integer (0: no limit)');
  check('minSamplesLeaf', p.minSamplesLeaf, int(p.minSamplesLeaf) && p.minSamplesLeaf >= 1, 'a positive integer');
  check('l2', p.l2, p.l2 >= 0, 'non-negative');
  check('maxBins', p.maxBins, int(p.maxBins) && p.maxBins >= 2 && p.maxBins <= 255, 'an integer within 2…255');
  check('subsample', p.subsample, p.subsample > 0 && p.subsample <= 1, 'within (0, 1]');
  check('colsample', p.colsample, p.colsample > 0 && p.colsample <= 1, 'within (0, 1]');
  check('earlyStopping', p.earlyStopping, int(p.earlyStopping) && p.earlyStopping >= 0, 'a non-negative integer (0: off)');
  check('validationSize', p.validationSize, p.validationSize > 0 && p.validationSize < 1, 'within (0, 1)');
  check('threads', p.threads, int(p.threads) && p.threads >= 1, 'a positive integer');
  const d = prepare(table, target, p);
  let fit = d.train;
  let yFit = d.yTrain;
  let valid: Table | undefined;
  let yValid: Float64Array | undefined;
  if (p.earlyStopping > 0) {
    const order = shuffledIndex(d.train.rowCount, p.seed + 1);
    const nv = Math.max(1, Math.round(d.train.rowCount * p.validationSize));
    const v = order.slice(0, nv).sort((a, b) => a - b);
    const t = order.slice(nv).sort((a, b) => a - b);
    valid = takeRows(d.train, v);
    yValid = Float64Array.from(v, (i) => d.yTrain[i]!);
    fit = takeRows(d.train, t);
    yFit = Float64Array.from(t, (i) => d.yTrain[i]!);
  }
  onProgress?.(`fitting features on ${fit.rowCount} rows`);
  const { features, categorical } = treeFeatures(fit, p.maxCategories, p.maxBins);
  const train = matrix(features, fit, yFit);
  const threads = threadsFor(p.threads);
  onProgress?.(`boosting ${p.trees} trees (${d.task}, ${train.p} features, ${categorical.size} categorical, ${threads} threads)`);
  const every = Math.max(1, Math.round(p.trees / 10));
  const started = Date.now();
  const result = await boost(train, {
    objective: d.task, classes: d.classes?.length ?? 1, trees: p.trees, learningRate: p.learningRate, maxLeaves: p.maxLeaves, maxDepth: p.maxDepth,
    minSamplesLeaf: p.minSamplesLeaf, l2: p.l2, maxBins: p.maxBins, subsample: p.subsample, colsample: p.colsample, earlyStopping: p.earlyStopping,
    threads, seed: p.seed, categorical, lossEvery: every,
  }, valid && yValid ? matrix(features, valid, yValid) : undefined, (done, total, info) => {
    if (done % every === 0 || done === total) {
      onProgress?.(`tree ${done}/${total} · train loss ${info.trainLoss.toFixed(5)}${info.validLoss !== undefined ? ` · validation loss ${info.validLoss.toFixed(5)}` : ''} · ${((Date.now() - started) / 1000).toFixed(1)} s`);
    }
  }, signal);
  if (p.earlyStopping > 0 && result.trainLoss.length < p.trees) onProgress?.(`stopped early: best iteration ${result.iterations} of ${result.trainLoss.length}`);
  const model: TrellisModel = {
    format: MODEL_FORMAT, task: d.task, target, ...(d.classes ? { classes: d.classes } : {}), features,
    estimator: treeEstimator({
      algorithm: 'gbdt', outputs: result.ensemble.outputs, aggregation: 'sum', link: d.task === 'regression' ? 'identity' : d.task === 'binary' ? 'logistic' : 'softmax',
      baseScore: Array.from(result.ensemble.baseScore), categorical: [...categorical.keys()], trees: result.ensemble.trees,
    }),
    metadata: { trainer: 'gbdt', params: p, iterations: result.iterations, threads: result.threads, trainRows: fit.rowCount, validationRows: valid?.rowCount ?? 0, testRows: d.test.rowCount },
  };
  if (d.test.rowCount > 0) onProgress?.(`evaluating on ${d.test.rowCount} held-out rows`);
  const metrics = holdoutMetrics(model, d.test, d.yTest);
  return { model, metrics, trainRows: fit.rowCount, testRows: d.test.rowCount, holdout: d.holdout };
}

/** `signal` stops it between trees. */
export async function trainForest(table: Table, target: string, params: Partial<ForestParams> = {}, onProgress?: Progress, signal?: AbortSignal): Promise<TrainResult> {
  const p = { ...FOREST_DEFAULTS, ...params };
  check('trees', p.trees, int(p.trees) && p.trees >= 1 && p.trees <= 10_000, 'an integer within 1…10000');
  check('maxDepth', p.maxDepth, int(p.maxDepth) && p.maxDepth >= 0, 'a non-negative integer (0: no limit)');
  check('minSamplesLeaf', p.minSamplesLeaf, int(p.minSamplesLeaf) && p.minSamplesLeaf >= 1, 'a positive integer');
  check('maxFeatures', p.maxFeatures, p.maxFeatures >= 0 && p.maxFeatures <= 1, 'within [0, 1] (0: √p for classifiers, p/3 for regression)');
  check('subsample', p.subsample, p.subsample > 0 && p.subsample <= 1, 'within (0, 1]');
  check('maxBins', p.maxBins, int(p.maxBins) && p.maxBins >= 2 && p.maxBins <= 255, 'an integer within 2…255');
  check('threads', p.threads, int(p.threads) && p.threads >= 1, 'a positive integer');
  const d = prepare(table, target, p);
  onProgress?.(`fitting features on ${d.train.rowCount} rows`);
  const { features, categorical } = treeFeatures(d.train, p.maxCategories, p.maxBins);
  const train = matrix(features, d.train, d.yTrain);
  const threads = threadsFor(p.threads);
  onProgress?.(`growing ${p.trees} trees (${d.task}, ${train.p} features, ${threads} threads)`);
  const every = Math.max(1, Math.round(p.trees / 10));
  const started = Date.now();
  const result = await forest(train, {
    objective: d.task, classes: d.classes?.length ?? 1, trees: p.trees, maxDepth: p.maxDepth, minSamplesLeaf: p.minSamplesLeaf,
    maxFeatures: p.maxFeatures, subsample: p.subsample, maxBins: p.maxBins, threads, seed: p.seed, categorical,
  }, (done, total) => {
    if (done % every === 0 || done === total) onProgress?.(`tree ${done}/${total} · ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }, signal);
  const model: TrellisModel = {
    format: MODEL_FORMAT, task: d.task, target, ...(d.classes ? { classes: d.classes } : {}), features,
    estimator: treeEstimator({
      algorithm: 'forest', outputs: result.ensemble.outputs, aggregation: 'mean', link: 'identity',
      baseScore: Array.from(result.ensemble.baseScore), categorical: [...categorical.keys()], trees: result.ensemble.trees,
    }),
    metadata: { trainer: 'forest', params: p, threads: result.threads, trainRows: d.train.rowCount, testRows: d.test.rowCount },
  };
  if (d.test.rowCount > 0) onProgress?.(`evaluating on ${d.test.rowCount} held-out rows`);
  return { model, metrics: holdoutMetrics(model, d.test, d.yTest), trainRows: d.train.rowCount, testRows: d.test.rowCount, holdout: d.holdout };
}
