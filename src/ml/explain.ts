/**
 * Explanations of a model in terms of its input columns: exact SHAP values per row (TreeSHAP for
 * tree ensembles, linear SHAP for linear models), their mean magnitude as a global importance, and
 * permutation importance for any model.
 *
 * The estimators see the feature matrix, where one input column may become several matrix columns
 * (one-hot categories, datetime parts). SHAP values are additive, so an input column's value is the
 * sum over its matrix columns, and the values of a row still add up, with the expected value, to
 * the model's raw output. That raw output is the margin before the link: log-odds for binary
 * linear and boosted models, per-class logits for multiclass ones, class probabilities for forests
 * (their leaves hold probabilities) and the predicted value for regression.
 */
import { invalid } from '../core/errors.js';
import { column, valueAt, type Column, type Table } from '../data/table.js';
import { accuracy, logLoss, multiclassAccuracy, multiclassLogLoss, rocAuc } from '../numeric/metrics/classification.js';
import { mae, r2, rmse } from '../numeric/metrics/regression.js';
import { columnMeans, linearShap } from '../numeric/shap/linear-shap.js';
import { ensembleShap } from '../numeric/shap/tree-shap.js';
import { decodeFloat64Base64 } from '../numeric/sketches/base64.js';
import { SeededRandom } from '../numeric/sketches/seeded-random.js';
import { applyFeatures, outputNames as stepColumns, type FeaturePipeline } from './features.js';
import { ensembleOf, predict, type TrellisModel } from './model.js';
import { takeRows } from './prepare.js';

/** What the contributions add up to: see the module comment. */
export type ExplanationSpace = 'log-odds' | 'logits' | 'probability' | 'value';

export interface ColumnImportance {
  column: string;
  /** Mean |contribution| over the rows, summed over the outputs. */
  importance: number;
  /** Mean |contribution| over the rows, per output. */
  perOutput: number[];
}

export interface Explanation {
  /** `tree-path-dependent`: TreeSHAP along the training covers; `linear-interventional`: features independent, means from the background. */
  method: 'tree-path-dependent' | 'linear-interventional';
  space: ExplanationSpace;
  /** The model's input columns, in the order of the values. */
  columns: string[];
  /** What each output is: the target (regression), the positive class (binary), or each class. */
  outputs: string[];
  rows: number;
  /** Per output: the base value the contributions start from. */
  expected: number[];
  /** rows × outputs × columns, row-major: `values[(i * outputs.length + o) * columns.length + c]`. */
  values: Float64Array;
  /** Input columns by decreasing mean |contribution|. */
  globalImportance: ColumnImportance[];
}

/** Matrix columns a fitted step writes (as features.ts names them); `matrixToInput` checks the total. */
/** For each matrix column, the index of the input column it comes from. */
export function matrixToInput(p: FeaturePipeline): Int32Array {
  const owner = new Int32Array(p.outputs.length);
  let at = 0;
  p.steps.forEach((s, k) => {
    const w = stepColumns(s).length;
    if (at + w > owner.length) throw invalid(`The feature pipeline's steps produce more columns than its ${p.outputs.length} outputs`);
    owner.fill(k, at, at + w);
    at += w;
  });
  if (at !== owner.length) throw invalid(`The feature pipeline's steps produce ${at} columns, it names ${owner.length} outputs`);
  return owner;
}

function outputNames(model: TrellisModel): string[] {
  if (model.task === 'regression') return [model.target];
  if (model.task === 'binary') return [model.classes![1]!];
  return [...model.classes!];
}

function spaceOf(model: TrellisModel): ExplanationSpace {
  if (model.task === 'regression') return 'value';
  const link = model.estimator.kind === 'trees' ? model.estimator.link : model.task === 'binary' ? 'logistic' : 'softmax';
  return link === 'identity' ? 'probability' : link === 'logistic' ? 'log-odds' : 'logits';
}

/**
 * SHAP values of `model` for each row of `rows`, per input column and output. `background` gives
 * E[x] for linear models (default: `rows` themselves); tree models take their expectations from
 * the covers recorded at training and do not use it.
 */
export function explain(model: TrellisModel, rows: Table, o: { background?: Table } = {}): Explanation {
  if (model.estimator.kind === 'onnx') throw invalid('SHAP values need a linear or tree model; this one is an ONNX graph');
  if (rows.rowCount === 0) throw invalid('There are no rows to explain');
  const pipeline = model.features;
  const p = pipeline.outputs.length;
  const n = rows.rowCount;
  const x = applyFeatures(pipeline, rows);
  const e = model.estimator;
  let shap: { values: Float64Array; expected: Float64Array; outputs: number };
  if (e.kind === 'trees') shap = ensembleShap(ensembleOf(e), x, n, p);
  else {
    const bg = o.background ?? rows;
    if (bg.rowCount === 0) throw invalid('The background has no rows');
    const xb = bg === rows ? x : applyFeatures(pipeline, bg);
    shap = linearShap(decodeFloat64Base64(e.weights), decodeFloat64Base64(e.intercepts), x, n, columnMeans(xb, bg.rowCount, p));
  }
  const owner = matrixToInput(pipeline);
  const columns = pipeline.inputs.map((c) => c.name);
  const m = columns.length;
  const k = shap.outputs;
  const values = new Float64Array(n * k * m);
  for (let r = 0; r < n * k; r++) for (let j = 0; j < p; j++) values[r * m + owner[j]!]! += shap.values[r * p + j]!;
  const mean = columns.map(() => new Array<number>(k).fill(0));
  for (let i = 0; i < n; i++) for (let out = 0; out < k; out++) for (let c = 0; c < m; c++) mean[c]![out]! += Math.abs(values[(i * k + out) * m + c]!) / n;
  const globalImportance = columns
    .map((column, c) => ({ column, importance: mean[c]!.reduce((a, b) => a + b, 0), perOutput: mean[c]! }))
    .sort((a, b) => b.importance - a.importance || (a.column < b.column ? -1 : 1));
  return {
    method: e.kind === 'trees' ? 'tree-path-dependent' : 'linear-interventional', space: spaceOf(model),
    columns, outputs: outputNames(model), rows: n, expected: Array.from(shap.expected), values, globalImportance,
  };
}

/** Row `i` of an explanation as plain JSON: output → input column → contribution. */
export function explanationRow(e: Explanation, i: number): Record<string, Record<string, number>> {
  const k = e.outputs.length;
  const m = e.columns.length;
  return Object.fromEntries(e.outputs.map((out, o) => [out, Object.fromEntries(e.columns.map((c, j) => [c, e.values[(i * k + o) * m + j]!]))]));
}

export type PermutationMetric = 'roc_auc' | 'accuracy' | 'log_loss' | 'rmse' | 'mae' | 'r2';

const METRICS: Record<TrellisModel['task'], PermutationMetric[]> = {
  binary: ['roc_auc', 'accuracy', 'log_loss'],
  multiclass: ['accuracy', 'log_loss'],
  regression: ['rmse', 'mae', 'r2'],
};
const LOWER_IS_BETTER = new Set<PermutationMetric>(['log_loss', 'rmse', 'mae']);

export interface PermutationImportance {
  metric: PermutationMetric;
  /** The metric on the rows as they are. */
  baseline: number;
  repeats: number;
  seed: number;
  /** Input columns by decreasing importance: how much worse the metric gets when the column is shuffled (mean and population std over the repeats). */
  columns: { column: string; importance: number; std: number; scores: number[] }[];
}

/** The labels of `table` for `model`: the rows that have a target, and y as class index (classifiers) or value. */
export function labelsFor(model: TrellisModel, table: Table): { rows: Table; y: Float64Array } {
  let col: Column;
  try {
    col = column(table, model.target);
  } catch {
    throw invalid(`The data has no target column '${model.target}'`);
  }
  const keep: number[] = [];
  const y: number[] = [];
  const index = new Map((model.classes ?? []).map((c, i) => [c, i]));
  for (let i = 0; i < table.rowCount; i++) {
    const v = valueAt(col, i);
    if (v === null || (typeof v === 'number' && !Number.isFinite(v))) continue;
    if (model.task === 'regression') {
      const num = Number(v);
      if (!Number.isFinite(num)) throw invalid(`Target '${model.target}' holds '${String(v)}' in row ${i}; the model predicts numbers`);
      y.push(num);
    } else {
      const c = index.get(String(v));
      if (c === undefined) throw invalid(`Target '${model.target}' holds '${String(v)}' in row ${i}, not one of the model's classes (${model.classes!.join(', ')})`);
      y.push(c);
    }
    keep.push(i);
  }
  if (!keep.length) throw invalid(`Target '${model.target}' has no values`);
  return { rows: keep.length === table.rowCount ? table : takeRows(table, keep), y: Float64Array.from(y) };
}

function scorer(model: TrellisModel, y: Float64Array, metric: PermutationMetric): (t: Table) => number {
  return (t) => {
    const out = predict(model, t);
    if (model.task === 'regression') return metric === 'rmse' ? rmse(y, out.prediction) : metric === 'mae' ? mae(y, out.prediction) : r2(y, out.prediction);
    if (model.task === 'binary') {
      const p1 = Float64Array.from(y, (_, i) => out.proba![i * 2 + 1]!);
      return metric === 'roc_auc' ? rocAuc(y, p1) : metric === 'accuracy' ? accuracy(y, p1) : logLoss(y, p1);
    }
    return metric === 'accuracy' ? multiclassAccuracy(y, out.prediction) : multiclassLogLoss(Int32Array.from(y), out.proba!);
  };
}

function permuted(c: Column, order: Int32Array): Column {
  return c.type === 'string'
    ? { ...c, codes: Int32Array.from(order, (r) => c.codes[r]!) }
    : { ...c, values: Float64Array.from(order, (r) => c.values[r]!), valid: Uint8Array.from(order, (r) => c.valid[r]!) };
}

/**
 * Permutation importance (Breiman 2001; as scikit-learn's `permutation_importance`): for each
 * input column, the drop in `metric` when that column's values are shuffled across the rows,
 * `repeats` times with seeded shuffles. `y` holds the labels as `labelsFor` gives them. Default
 * metric: ROC AUC for binary models, accuracy for multiclass, RMSE for regression; a drop is
 * positive when shuffling makes the model worse, whichever way the metric points.
 */
export function permutationImportance(model: TrellisModel, table: Table, y: ArrayLike<number>, o: { metric?: PermutationMetric; repeats?: number; seed?: number } = {}): PermutationImportance {
  if (model.estimator.kind === 'onnx') throw invalid('Permutation importance of an ONNX model is not supported yet: its predictions are asynchronous');
  const metric = o.metric ?? (model.task === 'binary' ? 'roc_auc' : model.task === 'multiclass' ? 'accuracy' : 'rmse');
  const repeats = o.repeats ?? 5;
  const seed = o.seed ?? 42;
  if (!METRICS[model.task].includes(metric)) throw invalid(`Metric '${metric}' does not apply to a ${model.task} model; use one of ${METRICS[model.task].join(', ')}`);
  if (!(Number.isInteger(repeats) && repeats >= 1)) throw invalid(`repeats must be a positive integer, got ${repeats}`);
  if (!Number.isInteger(seed)) throw invalid(`seed must be an integer, got ${seed}`);
  if (y.length !== table.rowCount) throw invalid(`y has ${y.length} labels for ${table.rowCount} rows`);
  if (table.rowCount < 2) throw invalid('Permutation importance needs at least two rows');
  const yy = Float64Array.from(y);
  if (metric === 'roc_auc' && !(yy.includes(0) && yy.includes(1))) throw invalid('ROC AUC needs rows of both classes; choose another metric or more rows');
  const score = scorer(model, yy, metric);
  const baseline = score(table);
  const sign = LOWER_IS_BETTER.has(metric) ? -1 : 1;
  const rng = new SeededRandom(seed);
  const n = table.rowCount;
  const order = new Int32Array(n);
  const columns = model.features.inputs.map(({ name }) => {
    const at = table.columns.findIndex((c) => c.name === name);
    if (at < 0) throw invalid(`The data has no column '${name}', an input of the model`);
    const scores: number[] = [];
    for (let r = 0; r < repeats; r++) {
      for (let i = 0; i < n; i++) order[i] = i;
      for (let i = n - 1; i > 0; i--) {
        const j = Math.floor(rng.next() * (i + 1));
        const t = order[i]!;
        order[i] = order[j]!;
        order[j] = t;
      }
      const cols = table.columns.slice();
      cols[at] = permuted(table.columns[at]!, order);
      scores.push(score({ columns: cols, rowCount: n }));
    }
    const drops = scores.map((s) => sign * (baseline - s));
    const importance = drops.reduce((a, b) => a + b, 0) / repeats;
    const std = Math.sqrt(drops.reduce((a, d) => a + (d - importance) ** 2, 0) / repeats);
    return { column: name, importance, std, scores };
  });
  columns.sort((a, b) => b.importance - a.importance || (a.column < b.column ? -1 : 1));
  return { metric, baseline, repeats, seed, columns };
}
