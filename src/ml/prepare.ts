/**
 * What every trainer does before fitting: read the task from the target (exactly two distinct
 * values → binary, whatever their type; more numbers → regression; more labels → multiclass),
 * choose the positive class of a binary target, drop rows without a target, split a seeded
 * hold-out, and after fitting, score the hold-out. Deterministic for a given seed.
 */
import { invalid } from '../core/errors.js';
import { column, selectColumns, valueAt, type Table } from '../data/table.js';
import { accuracy, f1, logLoss, macroF1, multiclassAccuracy, multiclassLogLoss, rocAuc } from '../numeric/metrics/classification.js';
import { mae, r2, rmse } from '../numeric/metrics/regression.js';
import { SeededRandom } from '../numeric/sketches/seeded-random.js';
import { predict, type Task, type TrellisModel } from './model.js';

export interface Prepared {
  task: Task;
  target: string;
  /** Class labels, for classifiers: sorted (multiclass), or negative then positive (binary). */
  classes?: string[];
  /** Binary: the class counted as positive (`classes[1]`). */
  positiveClass?: string;
  featureNames: string[];
  train: Table;
  test: Table;
  /** Regression: the values; classifiers: the class index. */
  yTrain: Float64Array;
  yTest: Float64Array;
  /** The held-out rows with every column, the target included (for evaluation reports). */
  holdout: Table;
}

export interface TrainResult {
  model: TrellisModel;
  metrics: Record<string, number>;
  trainRows: number;
  testRows: number;
  /** The held-out rows with the target, when there are any. */
  holdout?: Table;
}

export type Progress = (message: string) => void;

export function shuffledIndex(n: number, seed: number): number[] {
  const rng = new SeededRandom(seed);
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

export function takeRows(t: Table, rows: ArrayLike<number>): Table {
  const n = rows.length;
  // Every row in order: the table itself (tables are immutable by convention).
  if (n === t.rowCount) {
    let same = true;
    for (let i = 0; i < n && same; i++) same = rows[i] === i;
    if (same) return t;
  }
  return {
    rowCount: n,
    columns: t.columns.map((c) => {
      if (c.type === 'string') {
        const codes = new Int32Array(n);
        for (let i = 0; i < n; i++) codes[i] = c.codes[rows[i]!]!;
        return { ...c, codes };
      }
      const values = new Float64Array(n);
      const valid = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        const r = rows[i]!;
        values[i] = c.values[r]!;
        valid[i] = c.valid[r]!;
      }
      return { ...c, values, valid };
    }),
  };
}

/** Labels that name the positive class of a binary target when present (compared case-insensitively). */
export const POSITIVE_LABELS: readonly string[] = ['1', 'true', 'yes', 'y'];

/**
 * The positive class of a two-label target: the label that reads as `1`, `true`, `yes` or `y`
 * (case-insensitive) when exactly one does; otherwise the minority label, and on a tie the label
 * sorting last.
 */
export function choosePositiveClass(counts: ReadonlyMap<string, number>): string {
  const labels = [...counts.keys()].sort();
  if (labels.length !== 2) throw new Error(`a positive class needs exactly two labels, got ${labels.length}`);
  const marked = labels.filter((l) => POSITIVE_LABELS.includes(l.toLowerCase()));
  if (marked.length === 1) return marked[0]!;
  const [a, b] = labels as [string, string];
  return counts.get(a)! < counts.get(b)! ? a : b;
}

export interface TargetRead {
  task: Task;
  /** Classifiers: sorted (multiclass), or the negative class then the positive one (binary). */
  classes?: string[];
  /** Binary: the class counted as positive, `classes[1]`. */
  positiveClass?: string;
  rows: number[];
  y: Float64Array;
}

/**
 * The task and the labels of a target column, with the rows that have one. A target with exactly
 * two distinct values is binary unless `task` says otherwise; its positive class is `positiveClass`
 * when given (it must be one of the two labels), else {@link choosePositiveClass}.
 */
export function readTarget(table: Table, target: string, task?: Task, positiveClass?: string): TargetRead {
  if (table.rowCount === 0) throw invalid('The training set is empty');
  const col = column(table, target);
  const n = table.rowCount;
  const rows: number[] = [];
  // Distinct labels: a dictionary code (text) or a value (numbers), with a row showing it.
  const firstRow = new Map<number, number>();
  if (col.type === 'string') {
    for (let i = 0; i < n; i++) {
      const code = col.codes[i]!;
      if (code < 0) continue;
      rows.push(i);
      if (!firstRow.has(code)) firstRow.set(code, i);
    }
  } else {
    for (let i = 0; i < n; i++) {
      const v = col.values[i]!;
      if (!col.valid[i] || !Number.isFinite(v)) continue;
      rows.push(i);
      if (firstRow.size <= 10_000 && !firstRow.has(v)) firstRow.set(v, i);
    }
  }
  if (rows.length === 0) throw invalid(`Target '${target}' has no values (every row is null)`);
  if (rows.length < 2) throw invalid(`Target '${target}' has fewer than two values`);
  const labelOf = new Map([...firstRow].map(([key, row]) => [key, String(valueAt(col, row))]));
  const distinct = [...new Set(labelOf.values())].sort();
  if (distinct.length === 1) throw invalid(`Target '${target}' is constant ('${distinct[0]}'): there is nothing to learn`);
  const labelled = col.type === 'string' || col.type === 'boolean';
  const t: Task = task ?? (distinct.length === 2 && col.type !== 'datetime' ? 'binary' : labelled ? 'multiclass' : 'regression');
  if (positiveClass !== undefined && t !== 'binary') {
    throw invalid(`A positive class applies to a binary target; '${target}' trains a ${t} model${t === 'regression' ? '' : ` (classes ${distinct.join(', ')})`}`);
  }
  if (t === 'regression') {
    if (col.type === 'string') throw invalid(`Target '${target}' holds text; a regression target must be numeric`);
    const y = new Float64Array(rows.length);
    for (let i = 0; i < rows.length; i++) y[i] = col.values[rows[i]!]!;
    return { task: t, rows, y };
  }
  if (firstRow.size > 10_000) throw invalid(`Target '${target}' has more than 10,000 distinct values; a ${t} task needs classes`);
  if (t === 'binary' && distinct.length !== 2) throw invalid(`Target '${target}' has ${distinct.length} classes; a binary task needs exactly two`);
  const keyOf = (row: number) => (col.type === 'string' ? col.codes[row]! : col.values[row]!);
  let classes = distinct;
  let positive: string | undefined;
  if (t === 'binary') {
    if (positiveClass !== undefined) {
      if (!distinct.includes(positiveClass)) throw invalid(`The positive class '${positiveClass}' is not a label of target '${target}'; its labels are '${distinct[0]}' and '${distinct[1]}'`);
      positive = positiveClass;
    } else {
      const counts = new Map(distinct.map((l) => [l, 0]));
      for (const r of rows) {
        const label = labelOf.get(keyOf(r))!;
        counts.set(label, counts.get(label)! + 1);
      }
      positive = choosePositiveClass(counts);
    }
    classes = [distinct.find((l) => l !== positive)!, positive];
  }
  const index = new Map(classes.map((c, i) => [c, i]));
  const classOf = new Map([...labelOf].map(([key, label]) => [key, index.get(label)!]));
  const y = new Float64Array(rows.length);
  for (let i = 0; i < rows.length; i++) y[i] = classOf.get(keyOf(rows[i]!))!;
  return { task: t, classes, ...(positive !== undefined ? { positiveClass: positive } : {}), rows, y };
}

export function prepare(table: Table, target: string, o: { testSize: number; seed: number; task?: Task; positiveClass?: string }): Prepared {
  const { task, classes, positiveClass, rows, y } = readTarget(table, target, o.task, o.positiveClass);
  const featureNames = table.columns.map((c) => c.name).filter((n) => n !== target);
  if (!featureNames.length) throw invalid('There are no feature columns besides the target');
  if (!(o.testSize >= 0 && o.testSize < 1)) throw invalid(`testSize must be in [0, 1), got ${o.testSize}`);
  const order = shuffledIndex(rows.length, o.seed);
  const nTest = o.testSize > 0 ? Math.max(1, Math.round(rows.length * o.testSize)) : 0;
  const test = order.slice(0, nTest).sort((a, b) => a - b);
  const train = order.slice(nTest).sort((a, b) => a - b);
  if (train.length < 2) throw invalid(`Only ${train.length} training rows are left after the hold-out`);
  const data = takeRows(selectColumns(table, featureNames), rows);
  return {
    task, target, classes, ...(positiveClass !== undefined ? { positiveClass } : {}), featureNames,
    train: takeRows(data, train), test: takeRows(data, test),
    yTrain: Float64Array.from(train, (i) => y[i]!), yTest: Float64Array.from(test, (i) => y[i]!),
    holdout: takeRows(table, test.map((i) => rows[i]!)),
  };
}

/** Headline metrics of a model on labelled rows (y as in `Prepared`). */
export function holdoutMetrics(model: TrellisModel, table: Table, y: Float64Array): Record<string, number> {
  if (table.rowCount === 0) return {};
  const out = predict(model, table);
  if (model.task === 'regression') return { rmse: rmse(y, out.prediction), mae: mae(y, out.prediction), r2: r2(y, out.prediction) };
  if (model.task === 'binary') {
    const p1 = Float64Array.from(y, (_, k) => out.proba![k * 2 + 1]!);
    const m: Record<string, number> = { accuracy: accuracy(y, p1), f1: f1(y, p1), log_loss: logLoss(y, p1) };
    if (y.some((v) => v === 1) && y.some((v) => v === 0)) m.roc_auc = rocAuc(y, p1);
    return m;
  }
  const yi = Int32Array.from(y);
  return { accuracy: multiclassAccuracy(yi, out.prediction), log_loss: multiclassLogLoss(yi, out.proba!), macro_f1: macroF1(yi, out.prediction, model.classes!.length) };
}
