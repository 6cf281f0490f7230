/**
 * The evaluation report of a model on labelled data: every headline metric with a seeded percentile
 * bootstrap interval, so that a promotion gate can tell a real improvement from resampling noise
 * (a challenger whose lower bound clears the champion's estimate), plus the confusion matrix,
 * per-class scores, a calibration curve or residual quantiles, and the same metrics per slice of
 * chosen columns. The report is plain JSON; `evaluationHtml` in ./report renders it.
 */
import { invalid } from '../core/errors.js';
import { sortedQuantile } from '../numeric/metrics/regression.js';
import { type Column, type Table, valueAt } from '../data/table.js';
import { bootstrapCis } from '../numeric/metrics/bootstrap.js';
import {
  accuracy, averagedPrecisionRecallF1, brierScore, calibrationCurve, f1, logLoss, multiclassAccuracy, multiclassBrierScore,
  multiclassConfusionMatrix, multiclassLogLoss, perClassPrecisionRecallF1, precision, rankingScorer, recall,
} from '../numeric/metrics/classification.js';
import { mae, mapeNonzero, r2, residualQuantiles, rmse } from '../numeric/metrics/regression.js';
import { predict, type Task, type TrellisModel } from './model.js';
import { takeRows } from './prepare.js';

export const EVALUATION_FORMAT = 'trellis.evaluation/v1';

export interface BootstrapSpec {
  /** Resamples of the rows, drawn with replacement. */
  samples: number;
  seed: number;
  /** Two-sided coverage of the interval, in (0, 1), e.g. 0.95. */
  level: number;
}

export interface EvaluateOptions {
  /** The label column; default the model's target. */
  target?: string;
  /** Columns to break the metrics down by: each category, or quantile buckets of a numeric column. */
  slices?: string[];
  bootstrap?: BootstrapSpec;
  /** Binary: the class counted as positive, default the positive class chosen at training (the model's second class). */
  positive?: string;
  /** Binary: a row is predicted positive when its probability is at least this, default 0.5. */
  threshold?: number;
  /** Uniform bins of the calibration curve, default 10. */
  calibrationBins?: number;
  /** Quantile buckets for a numeric slice column, default 4. */
  sliceBuckets?: number;
}

/** A metric and, when the report was bootstrapped, its percentile interval. */
export interface MetricValue {
  value: number;
  lower?: number;
  upper?: number;
}

export type Metrics = Record<string, MetricValue>;

export interface SliceGroup {
  /** The category, `(missing)`, or a bucket such as `[25, 37)`. */
  value: string;
  rows: number;
  metrics: Metrics;
}

export interface SliceReport {
  column: string;
  kind: 'categories' | 'quantiles';
  groups: SliceGroup[];
}

export interface EvaluationReport {
  format: typeof EVALUATION_FORMAT;
  task: Task;
  target: string;
  /** Rows evaluated: those with a label. */
  rows: number;
  rowsWithoutLabel: number;
  classes?: string[];
  positiveClass?: string;
  threshold?: number;
  bootstrap?: BootstrapSpec & { method: string };
  metrics: Metrics;
  /** counts[t][p]: rows of true class t predicted as class p, in the order of `labels`. */
  confusionMatrix?: { labels: string[]; counts: number[][] };
  perClass?: { class: string; precision: number; recall: number; f1: number; support: number }[];
  calibration?: { kind: 'positive class' | 'top label'; bins: number; points: { predicted: number; observed: number; count: number }[] };
  slices: SliceReport[];
  /** What a reader must know to read the figures right (rows left out, metrics undefined). */
  notes: string[];
}

const RESIDUAL_QUANTILES = [0.05, 0.25, 0.5, 0.75, 0.95] as const;
const MAX_RESAMPLES = 100_000;

// ---- pieces shared with fairness ----

/** Refuses an impossible bootstrap request with the field at fault. */
export function checkBootstrap(b: BootstrapSpec | undefined): void {
  if (!b) return;
  if (!Number.isInteger(b.samples) || b.samples < 1 || b.samples > MAX_RESAMPLES) throw invalid(`bootstrap samples must be an integer from 1 to ${MAX_RESAMPLES}, got ${b.samples}`);
  if (!Number.isInteger(b.seed)) throw invalid(`bootstrap seed must be an integer, got ${b.seed}`);
  if (!(b.level > 0 && b.level < 1)) throw invalid(`bootstrap level must be in (0, 1), e.g. 0.95, got ${b.level}`);
}

/** A column of the data by role, or an error naming the role, the column and the columns there are. */
export function roleColumn(table: Table, name: string, role: string): Column {
  const c = table.columns.find((x) => x.name === name);
  if (!c) throw invalid(`${role} column '${name}' is not in the data; its columns are: ${table.columns.map((x) => x.name).join(', ')}`);
  return c;
}

/**
 * The labels of the rows that have one, as indices into the model's classes (or as numbers for
 * regression). A label the model does not know is refused with the row and the classes.
 */
export function readLabels(table: Table, target: string, task: Task, classes?: string[]): { rows: number[]; y: Float64Array } {
  const col = roleColumn(table, target, 'Target');
  const rows: number[] = [];
  const y: number[] = [];
  const index = new Map((classes ?? []).map((c, i) => [c, i]));
  if (task === 'regression' && col.type === 'string' && col.codes.some((code) => code >= 0)) throw invalid(`Target '${target}' holds text; a regression model needs numeric labels`);
  for (let i = 0; i < table.rowCount; i++) {
    const v = valueAt(col, i);
    if (v === null || (typeof v === 'number' && !Number.isFinite(v))) continue;
    if (task === 'regression') y.push(Number(v));
    else {
      const k = index.get(String(v));
      if (k === undefined) throw invalid(`Target '${target}' holds the label '${String(v)}' in row ${i + 1}, which is not one of the model's classes (${classes!.join(', ')})`);
      y.push(k);
    }
    rows.push(i);
  }
  if (rows.length === 0) throw invalid(`Target '${target}' has no values: there is nothing to evaluate against`);
  return { rows, y: Float64Array.from(y) };
}

export interface Grouping {
  kind: 'categories' | 'quantiles';
  /** Group names, in report order. */
  names: string[];
  /** Group index of each row. */
  group: Int32Array;
}

const MISSING_GROUP = '(missing)';
const MAX_GROUPS = 100;

function formatEdge(v: number, type: Column['type']): string {
  if (type === 'datetime') return new Date(v).toISOString().replace('T00:00:00.000Z', '').replace('.000Z', 'Z');
  return String(Number(v.toPrecision(6)));
}

/**
 * Groups the given rows of a column: each value of a string or boolean column (sorted, then
 * `(missing)`; at most 100 of them); a numeric or datetime column with more than `buckets`
 * distinct values in quantile buckets [q_j, q_j+1) (the last one closed), and otherwise by value.
 */
export function groupRows(c: Column, rows: ArrayLike<number>, buckets = 4): Grouping {
  const n = rows.length;
  const group = new Int32Array(n);
  const values: (string | number | null)[] = Array.from({ length: n }, (_, i) => {
    const v = valueAt(c, rows[i]!);
    return v === null ? null : typeof v === 'boolean' ? String(v) : c.type === 'string' ? String(v) : (c.values[rows[i]!] as number);
  });
  const numeric = c.type !== 'string' && c.type !== 'boolean';
  const present = values.filter((v) => v !== null);
  const distinct = [...new Set(present)];
  const hasMissing = present.length < n;
  if (!numeric && distinct.length > MAX_GROUPS) {
    throw invalid(`Column '${c.name}' has ${distinct.length} distinct values, too many groups to compare (at most ${MAX_GROUPS}); choose a column with fewer categories, or a numeric one (it is bucketed by quantiles)`);
  }
  if (!numeric || distinct.length <= buckets) {
    const sorted = numeric ? (distinct as number[]).sort((a, b) => a - b) : (distinct as string[]).sort();
    const names = sorted.map((v) => (typeof v === 'number' ? formatEdge(v, c.type) : v));
    const at = new Map<string | number, number>(sorted.map((v, i) => [v, i]));
    for (let i = 0; i < n; i++) group[i] = values[i] === null ? sorted.length : at.get(values[i]!)!;
    return { kind: 'categories', names: hasMissing ? [...names, MISSING_GROUP] : names, group };
  }
  const sorted = Float64Array.from(present as number[]).sort();
  const edges = [...new Set(Array.from({ length: buckets + 1 }, (_, j) => sortedQuantile(sorted, j / buckets)))];
  const names = edges.slice(0, -1).map((e, j) => `[${formatEdge(e, c.type)}, ${formatEdge(edges[j + 1]!, c.type)}${j === edges.length - 2 ? ']' : ')'}`);
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (v === null) { group[i] = names.length; continue; }
    let j = 0;
    while (j < edges.length - 2 && (v as number) >= edges[j + 1]!) j++;
    group[i] = j;
  }
  return { kind: 'quantiles', names: hasMissing ? [...names, MISSING_GROUP] : names, group };
}

// ---- scorers: every scalar metric of a task over a set of rows ----

interface Scorer {
  names: readonly string[];
  /** The metrics over the rows `idx` (NaN where a metric is undefined on them). */
  score(idx: Int32Array): Float64Array;
}

const BINARY_METRICS = ['accuracy', 'precision', 'recall', 'f1', 'roc_auc', 'pr_auc', 'log_loss', 'brier'] as const;
const MULTICLASS_METRICS = ['accuracy', 'precision_macro', 'recall_macro', 'f1_macro', 'precision_weighted', 'recall_weighted', 'f1_weighted', 'roc_auc', 'pr_auc', 'log_loss', 'brier'] as const;
const REGRESSION_METRICS = ['rmse', 'mae', 'mape', 'r2', ...RESIDUAL_QUANTILES.map((q) => `residual_p${String(Math.round(q * 100)).padStart(2, '0')}`)] as const;

/** How many times each row 0..n−1 occurs in `idx`. */
function multiplicities(idx: Int32Array, out: Float64Array): Float64Array {
  out.fill(0);
  for (let i = 0; i < idx.length; i++) out[idx[i]!]!++;
  return out;
}

function binaryScorer(y: Float64Array, p: Float64Array, threshold: number): Scorer {
  const n = y.length;
  const yb = new Float64Array(n);
  const pb = new Float64Array(n);
  const w = new Float64Array(n);
  // The AUCs sort the rows by score once and then weigh each resample's rows, instead of sorting every resample.
  const ranking = rankingScorer(y, p);
  const out = new Float64Array(BINARY_METRICS.length);
  return {
    names: BINARY_METRICS,
    score(idx) {
      for (let i = 0; i < n; i++) {
        yb[i] = y[idx[i]!]!;
        pb[i] = p[idx[i]!]!;
      }
      const auc = ranking(multiplicities(idx, w));
      out[0] = accuracy(yb, pb, threshold);
      out[1] = precision(yb, pb, threshold);
      out[2] = recall(yb, pb, threshold);
      out[3] = f1(yb, pb, threshold);
      out[4] = auc.rocAuc;
      out[5] = auc.prAuc;
      out[6] = logLoss(yb, pb);
      out[7] = brierScore(yb, pb);
      return out;
    },
  };
}

/** One-vs-rest AUCs are the unweighted mean over classes, NaN unless every class occurs (as sklearn requires). */
function multiclassScorer(y: Float64Array, proba: Float64Array, k: number): Scorer {
  const n = y.length;
  const yb = new Int32Array(n);
  const pb = new Float64Array(n * k);
  const predicted = new Int32Array(n);
  const w = new Float64Array(n);
  const rankings = Array.from({ length: k }, (_, c) => rankingScorer(Float64Array.from(y, (v) => (v === c ? 1 : 0)), Float64Array.from(y, (_, i) => proba[i * k + c]!)));
  const out = new Float64Array(MULTICLASS_METRICS.length);
  return {
    names: MULTICLASS_METRICS,
    score(idx) {
      for (let i = 0; i < n; i++) {
        const r = idx[i]!;
        yb[i] = y[r]!;
        let best = 0;
        for (let c = 0; c < k; c++) {
          pb[i * k + c] = proba[r * k + c]!;
          if (pb[i * k + c]! > pb[i * k + best]!) best = c;
        }
        predicted[i] = best;
      }
      multiplicities(idx, w);
      let rocSum = 0, prSum = 0;
      for (const rank of rankings) {
        const a = rank(w);
        rocSum += a.rocAuc;
        prSum += a.prAuc;
      }
      const macro = averagedPrecisionRecallF1(yb, predicted, k, 'macro');
      const weighted = averagedPrecisionRecallF1(yb, predicted, k, 'weighted');
      out.set([
        multiclassAccuracy(yb, predicted), macro.precision, macro.recall, macro.f1, weighted.precision, weighted.recall, weighted.f1,
        rocSum / k, prSum / k, multiclassLogLoss(yb, pb), multiclassBrierScore(yb, pb),
      ]);
      return out;
    },
  };
}

function regressionScorer(y: Float64Array, pred: Float64Array): Scorer {
  const n = y.length;
  const yb = new Float64Array(n);
  const pb = new Float64Array(n);
  const out = new Float64Array(REGRESSION_METRICS.length);
  const q = new Float64Array(RESIDUAL_QUANTILES.length);
  return {
    names: REGRESSION_METRICS,
    score(idx) {
      for (let i = 0; i < n; i++) {
        yb[i] = y[idx[i]!]!;
        pb[i] = pred[idx[i]!]!;
      }
      residualQuantiles(yb, pb, RESIDUAL_QUANTILES, q);
      out.set([rmse(yb, pb), mae(yb, pb), mapeNonzero(yb, pb), r2(yb, pb), ...q]);
      return out;
    },
  };
}

/** The scorer's metrics over all its rows, with bootstrap intervals when asked; undefined metrics are left out. */
function measure(scorer: Scorer, n: number, bootstrap?: BootstrapSpec): Metrics {
  const out: Metrics = {};
  if (!bootstrap) {
    const idx = Int32Array.from({ length: n }, (_, i) => i);
    const v = scorer.score(idx);
    scorer.names.forEach((name, j) => {
      if (Number.isFinite(v[j]!)) out[name] = { value: v[j]! };
    });
    return out;
  }
  const cis = bootstrapCis((idx) => scorer.score(idx), n, { resamples: bootstrap.samples, seed: bootstrap.seed, confidence: bootstrap.level });
  scorer.names.forEach((name, j) => {
    const ci = cis[j]!;
    if (!Number.isFinite(ci.estimate)) return;
    out[name] = ci.resamples > 0 ? { value: ci.estimate, lower: ci.lower, upper: ci.upper } : { value: ci.estimate };
  });
  return out;
}

// ---- the report ----

/** Evaluates `model` on the labelled rows of `table`. */
export function evaluate(model: TrellisModel, table: Table, options: EvaluateOptions = {}): EvaluationReport {
  checkBootstrap(options.bootstrap);
  const target = options.target ?? model.target;
  const task = model.task;
  const threshold = options.threshold ?? 0.5;
  if (!(threshold >= 0 && threshold <= 1)) throw invalid(`threshold must be in [0, 1], got ${threshold}`);
  const bins = options.calibrationBins ?? 10;
  if (!Number.isInteger(bins) || bins < 1 || bins > 100) throw invalid(`calibrationBins must be an integer from 1 to 100, got ${bins}`);
  const buckets = options.sliceBuckets ?? 4;
  if (!Number.isInteger(buckets) || buckets < 2 || buckets > 100) throw invalid(`sliceBuckets must be an integer from 2 to 100, got ${buckets}`);
  const sliceColumns = (options.slices ?? []).map((s) => roleColumn(table, s, 'Slice'));
  if (options.positive !== undefined && task !== 'binary') throw invalid(`'positive' applies to binary classifiers; this model is ${task}`);

  const { rows, y: labels } = readLabels(table, target, task, model.classes);
  const n = rows.length;
  const notes: string[] = [];
  if (n < table.rowCount) notes.push(`${table.rowCount - n} rows without a '${target}' label are left out.`);
  const out = predict(model, n === table.rowCount ? table : takeRows(table, rows));

  const report: EvaluationReport = { format: EVALUATION_FORMAT, task, target, rows: n, rowsWithoutLabel: table.rowCount - n, metrics: {}, slices: [], notes };
  if (options.bootstrap) report.bootstrap = { ...options.bootstrap, method: 'percentile; rows resampled with replacement' };

  let scorerFor: (sub: number[] | null) => Scorer;
  if (task === 'binary') {
    const classes = model.classes!;
    const positive = options.positive ?? classes[1]!;
    const pos = classes.indexOf(positive);
    if (pos < 0) throw invalid(`The positive class '${positive}' is not one of the model's classes (${classes.join(', ')})`);
    const y = Float64Array.from(labels, (v) => (v === pos ? 1 : 0));
    const p = Float64Array.from({ length: n }, (_, i) => out.proba![i * 2 + pos]!);
    const order = [classes[1 - pos]!, positive];
    const predicted = Int32Array.from(p, (v) => (v >= threshold ? 1 : 0));
    const yi = Int32Array.from(y);
    Object.assign(report, { classes, positiveClass: positive, threshold });
    report.confusionMatrix = { labels: order, counts: matrixRows(multiclassConfusionMatrix(yi, predicted, 2), 2) };
    report.perClass = perClass(yi, predicted, order);
    const curve = calibrationCurve(y, p, bins);
    report.calibration = { kind: 'positive class', bins, points: curvePoints(curve) };
    scorerFor = (sub) => (sub ? binaryScorer(pick(y, sub), pick(p, sub), threshold) : binaryScorer(y, p, threshold));
  } else if (task === 'multiclass') {
    const classes = model.classes!;
    const k = classes.length;
    const proba = out.proba!;
    const yi = Int32Array.from(labels);
    const predicted = Int32Array.from(out.prediction);
    report.classes = classes;
    report.confusionMatrix = { labels: classes, counts: matrixRows(multiclassConfusionMatrix(yi, predicted, k), k) };
    report.perClass = perClass(yi, predicted, classes);
    const correct = Float64Array.from(yi, (t, i) => (t === predicted[i] ? 1 : 0));
    const confidence = Float64Array.from({ length: n }, (_, i) => proba[i * k + predicted[i]!]!);
    report.calibration = { kind: 'top label', bins, points: curvePoints(calibrationCurve(correct, confidence, bins)) };
    const absent = classes.filter((_, c) => !yi.includes(c));
    if (absent.length) notes.push(`roc_auc and pr_auc are left out: the class${absent.length > 1 ? 'es' : ''} ${absent.join(', ')} never occur${absent.length > 1 ? '' : 's'} in the labels.`);
    else notes.push('roc_auc and pr_auc are one-vs-rest, averaged over classes without weights; brier is the multiclass (sum over classes) score.');
    const pickRows = (sub: number[]) => {
      const sp = new Float64Array(sub.length * k);
      sub.forEach((r, i) => sp.set(proba.subarray(r * k, r * k + k), i * k));
      return sp;
    };
    scorerFor = (sub) => (sub ? multiclassScorer(pick(labels, sub), pickRows(sub), k) : multiclassScorer(labels, proba, k));
  } else {
    const pred = out.prediction;
    const zeros = labels.reduce((s, v) => s + (v === 0 ? 1 : 0), 0);
    if (zeros === n) notes.push(`mape is left out: every '${target}' label is 0.`);
    else if (zeros > 0) notes.push(`mape leaves out the ${zeros} rows whose label is 0 (no percentage error is defined there).`);
    notes.push('Residuals are label − prediction: residual_p05 … residual_p95 are their 5th to 95th percentiles.');
    scorerFor = (sub) => (sub ? regressionScorer(pick(labels, sub), pick(pred, sub)) : regressionScorer(labels, pred));
  }

  report.metrics = measure(scorerFor(null), n, options.bootstrap);
  if (task === 'binary') {
    const missing = ['roc_auc', 'pr_auc'].filter((m) => !(m in report.metrics));
    if (missing.length) notes.push(`${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} left out: the labels hold a single class.`);
  }

  let undefinedInSlices = false;
  for (const c of sliceColumns) {
    const g = groupRows(c, rows, buckets);
    const members: number[][] = g.names.map(() => []);
    for (let i = 0; i < n; i++) members[g.group[i]!]!.push(i);
    const groups = g.names.map((value, j) => {
      // Every group holds at least one row: the groups are the values the rows carry.
      const metrics = measure(scorerFor(members[j]!), members[j]!.length, options.bootstrap);
      if (Object.keys(metrics).length < Object.keys(report.metrics).length) undefinedInSlices = true;
      return { value, rows: members[j]!.length, metrics };
    });
    report.slices.push({ column: c.name, kind: g.kind, groups });
  }
  if (undefinedInSlices) notes.push('In some slices a metric is left out because it is undefined there (e.g. an AUC where the slice holds one class).');
  return report;
}

function pick(a: Float64Array, rows: number[]): Float64Array {
  return Float64Array.from(rows, (r) => a[r]!);
}

function matrixRows(m: Int32Array, k: number): number[][] {
  return Array.from({ length: k }, (_, t) => Array.from(m.subarray(t * k, t * k + k)));
}

function perClass(y: Int32Array, predicted: Int32Array, labels: string[]): NonNullable<EvaluationReport['perClass']> {
  const s = perClassPrecisionRecallF1(y, predicted, labels.length);
  return labels.map((label, c) => ({ class: label, precision: s.precision[c]!, recall: s.recall[c]!, f1: s.f1[c]!, support: s.support[c]! }));
}

function curvePoints(c: { probTrue: Float64Array; probPred: Float64Array; counts: Int32Array }): { predicted: number; observed: number; count: number }[] {
  return Array.from(c.counts, (count, j) => ({ predicted: c.probPred[j]!, observed: c.probTrue[j]!, count }));
}
