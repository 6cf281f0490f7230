/**
 * Cross-validation for every built-in trainer. Two schemes:
 * - k-fold: labelled rows shuffled with a seed and dealt into k folds; for classifiers the deal is
 *   stratified, so every fold holds each class in (almost exactly) its overall share;
 * - time-ordered (expanding window): rows ordered by a time column, or kept in file order, cut into
 *   k + 1 blocks; fold i trains on every block before block i and is tested on block i, so a model
 *   never sees a row later than the rows it is scored on. Rows sharing a timestamp are never split
 *   between a fold's training and test rows.
 *
 * Each fold trains through `train()` with no internal hold-out (`testSize: 0`) and the task read
 * from the whole table, and is scored with the same `holdoutMetrics` the trainers use, so fold
 * metrics and a trainer's hold-out metrics are the same quantities. The class indices come from the
 * whole table; a fold whose training rows miss a class is refused rather than scored with
 * shifted labels.
 */
import { invalid } from '../core/errors.js';
import { column, selectColumns, type Table } from '../data/table.js';
import type { Task } from './model.js';
import { holdoutMetrics, readTarget, shuffledIndex, takeRows, type Progress } from './prepare.js';
import { resolveParams, train, type Algo, type ParamValue } from './train.js';

export type CvScheme =
  | { kind: 'kfold'; folds: number; /** Default: the trainer's `seed` parameter. */ seed?: number; /** Default: true for classifiers. */ stratify?: boolean }
  | { kind: 'time'; folds: number; /** Default: the order of the rows. */ column?: string };

/** Row indices of one fold. */
export interface FoldSplit {
  train: number[];
  test: number[];
}

export interface FoldResult {
  /** 1-based. */
  fold: number;
  trainRows: number;
  testRows: number;
  metrics: Record<string, number>;
}

export interface CvResult {
  scheme: CvScheme;
  task: Task;
  classes?: string[];
  folds: FoldResult[];
  /** Mean over the folds that have the metric (e.g. ROC AUC is undefined on a one-class fold). */
  mean: Record<string, number>;
  /** Population standard deviation (ddof 0) over the same folds. */
  std: Record<string, number>;
  /** The trainer's resolved parameters (as used in every fold, `testSize` aside). */
  params: Record<string, ParamValue>;
}

export interface CvOptions {
  /** Called with "fold 2/5: …" before each fold is trained. */
  onProgress?: Progress;
  /** Stops between folds, and inside a fold between trees. */
  signal?: AbortSignal;
}

function checkFolds(k: number, n: number): void {
  if (!Number.isInteger(k) || k < 2) throw invalid(`Cross-validation needs an integer number of folds of at least 2, got ${k}`);
  if (k > n) throw invalid(`Cannot make ${k} folds from ${n} labelled rows`);
}

/**
 * k-fold splits of n rows: a seeded shuffle, then (with `strata`) the rows grouped by stratum and
 * dealt round-robin, so each fold holds ⌊n_c/k⌋ or ⌈n_c/k⌉ rows of every stratum c and fold sizes
 * differ by at most one; without strata, contiguous chunks of the shuffled order.
 */
export function kFoldSplits(n: number, k: number, seed: number, strata?: ArrayLike<number>): FoldSplit[] {
  checkFolds(k, n);
  if (strata && strata.length !== n) throw invalid(`kFoldSplits: ${strata.length} strata for ${n} rows`);
  const order = shuffledIndex(n, seed);
  const foldOf = new Int32Array(n);
  if (strata) {
    // A stable sort by stratum keeps the shuffled order within each stratum.
    const dealt = order.map((r, i) => ({ r, s: strata[r]!, i })).sort((a, b) => a.s - b.s || a.i - b.i);
    dealt.forEach(({ r }, j) => { foldOf[r] = j % k; });
  } else {
    const base = Math.floor(n / k);
    const extra = n % k;
    let pos = 0;
    for (let f = 0; f < k; f++) {
      const size = base + (f < extra ? 1 : 0);
      for (let j = 0; j < size; j++) foldOf[order[pos++]!] = f;
    }
  }
  return Array.from({ length: k }, (_, f) => {
    const train: number[] = [];
    const test: number[] = [];
    for (let r = 0; r < n; r++) (foldOf[r] === f ? test : train).push(r);
    return { train, test };
  });
}

/**
 * Expanding-window splits over rows already in time order (`times[i]` ascending, or absent for
 * plain row order): k + 1 blocks as in scikit-learn's TimeSeriesSplit (test blocks of ⌊n/(k+1)⌋
 * rows at the end, the first training window takes the remainder), each boundary moved back to
 * the first row of its timestamp so that ties stay on the test side.
 */
export function timeSplits(n: number, k: number, times?: ArrayLike<number>): FoldSplit[] {
  checkFolds(k, n);
  const testSize = Math.floor(n / (k + 1));
  if (testSize < 1) throw invalid(`Cannot make ${k} time-ordered folds from ${n} rows: each test block would be empty`);
  const bounds: number[] = [];
  for (let f = 0; f < k; f++) {
    let b = n - (k - f) * testSize;
    if (times) while (b > 0 && times[b - 1] === times[b]) b--;
    bounds.push(b);
  }
  bounds.push(n);
  return Array.from({ length: k }, (_, f) => {
    const start = bounds[f]!;
    const end = bounds[f + 1]!;
    if (start < 2 || end <= start) {
      throw invalid(`Cannot make ${k} time-ordered folds: fold ${f + 1} would have ${start} training and ${Math.max(0, end - start)} test rows (too few rows or distinct timestamps; use fewer folds)`);
    }
    return { train: Array.from({ length: start }, (_, i) => i), test: Array.from({ length: end - start }, (_, i) => start + i) };
  });
}

/** The time of each table row, for ordering; refuses text and missing times. */
function timeValues(table: Table, name: string): Float64Array {
  const c = column(table, name);
  if (c.type === 'string') throw invalid(`Time column '${name}' holds text; time-ordered cross-validation needs a number or datetime column`);
  for (let i = 0; i < c.valid.length; i++) {
    if (c.valid[i] === 0) throw invalid(`Time column '${name}' has a missing value in row ${i + 1}; every row needs a time`);
  }
  return c.values;
}

function meanStd(folds: FoldResult[]): { mean: Record<string, number>; std: Record<string, number> } {
  const keys = [...new Set(folds.flatMap((f) => Object.keys(f.metrics)))].sort();
  const mean: Record<string, number> = {};
  const std: Record<string, number> = {};
  for (const key of keys) {
    const v = folds.map((f) => f.metrics[key]).filter((x): x is number => x !== undefined && Number.isFinite(x));
    if (!v.length) continue;
    const m = v.reduce((s, x) => s + x, 0) / v.length;
    mean[key] = m;
    std[key] = Math.sqrt(v.reduce((s, x) => s + (x - m) ** 2, 0) / v.length);
  }
  return { mean, std };
}

export interface CvSplits {
  task: Task;
  classes?: string[];
  /** Binary: the class counted as positive, `classes[1]`. */
  positiveClass?: string;
  /** By table row: the target (regression) or class index; NaN where the row has no target. */
  y: Float64Array;
  /** Table row indices of each fold; in time order for time-ordered folds, ascending otherwise. */
  folds: FoldSplit[];
}

/**
 * The folds a scheme makes of a table: only rows with a target take part. `seed` shuffles k-fold
 * splits (default 42); `task` overrides the task read from the target, as the trainers' parameter does.
 */
export function cvSplits(table: Table, target: string, scheme: CvScheme, o: { seed?: number; task?: Task; positiveClass?: string } = {}): CvSplits {
  const { task, classes, positiveClass, rows, y } = readTarget(table, target, o.task, o.positiveClass);
  const yByRow = new Float64Array(table.rowCount).fill(Number.NaN);
  rows.forEach((r, i) => { yByRow[r] = y[i]!; });
  const n = rows.length;
  let labelled = rows;
  let positions: FoldSplit[];
  if (scheme.kind === 'kfold') {
    const stratify = scheme.stratify ?? task !== 'regression';
    if (stratify && task === 'regression') throw invalid('Stratified folds need a classification target');
    positions = kFoldSplits(n, scheme.folds, scheme.seed ?? o.seed ?? 42, stratify ? y : undefined);
  } else {
    if (scheme.column === target) throw invalid(`The time column '${target}' is the target`);
    const times = scheme.column === undefined ? undefined : timeValues(table, scheme.column);
    // Array.prototype.sort is stable: rows with the same time keep their file order.
    if (times) labelled = [...rows].sort((a, b) => times[a]! - times[b]!);
    positions = timeSplits(n, scheme.folds, times ? Float64Array.from(labelled, (r) => times[r]!) : undefined);
  }
  const folds = positions.map((s) => ({ train: s.train.map((i) => labelled[i]!), test: s.test.map((i) => labelled[i]!) }));
  if (classes) {
    folds.forEach((s, f) => {
      const seen = new Set(s.train.map((r) => yByRow[r]!));
      const missing = classes.filter((_, c) => !seen.has(c));
      if (missing.length) {
        throw invalid(`Fold ${f + 1}/${folds.length} has no training rows of class ${missing.map((c) => `'${c}'`).join(', ')}; use fewer folds${scheme.kind === 'time' ? ' or k-fold cross-validation' : ''}`);
      }
    });
  }
  return { task, classes, ...(positiveClass !== undefined ? { positiveClass } : {}), y: yByRow, folds };
}

/**
 * Cross-validates `algo` with `params` on `table`. k-fold splits are shuffled with `scheme.seed`,
 * or else the trainer's `seed` parameter; with the same scheme and seed the result is the same on
 * every run.
 */
export async function crossValidate(
  table: Table, target: string, algo: Algo, params: Record<string, ParamValue | boolean>, scheme: CvScheme, o: CvOptions = {},
): Promise<CvResult> {
  const resolved = resolveParams(algo, params);
  const { task, classes, positiveClass, y, folds: splits } = cvSplits(table, target, scheme, {
    seed: Number(resolved.seed ?? 42), task: resolved.task as Task | undefined, positiveClass: resolved.positiveClass as string | undefined,
  });
  const k = splits.length;
  const features = selectColumns(table, table.columns.map((c) => c.name).filter((name) => name !== target));
  // The folds keep the task and the positive class read from every row, whatever each fold holds.
  const foldParams = { ...resolved, task, ...(positiveClass !== undefined ? { positiveClass } : {}), testSize: 0 };
  const folds: FoldResult[] = [];
  for (const [f, s] of splits.entries()) {
    o.onProgress?.(`fold ${f + 1}/${k}: training on ${s.train.length} rows, testing on ${s.test.length}`);
    const { model } = await train(takeRows(table, s.train), target, algo, foldParams, { signal: o.signal });
    if (classes && (model.classes?.length !== classes.length || model.classes.some((c, i) => c !== classes[i]))) {
      throw new Error(`fold ${f + 1}: the model's classes (${model.classes?.join(', ')}) differ from the target's (${classes.join(', ')})`);
    }
    const metrics = holdoutMetrics(model, takeRows(features, s.test), Float64Array.from(s.test, (r) => y[r]!));
    folds.push({ fold: f + 1, trainRows: s.train.length, testRows: s.test.length, metrics });
  }
  return { scheme, task, classes, folds, ...meanStd(folds), params: resolved };
}
