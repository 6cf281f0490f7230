import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { tableFromRows } from '../data/table.js';
import { SeededRandom } from '../numeric/sketches/seeded-random.js';
import type { Tree } from '../numeric/trees/tree.js';
import { evaluate, type EvaluationReport } from './evaluate.js';
import { fitFeatures } from './features.js';
import { MODEL_FORMAT, linearEstimator, loadModel, treeEstimator, type Task, type TrellisModel } from './model.js';
import { takeRows } from './prepare.js';
import { evaluationHtml } from './report/evaluation-html.js';

/**
 * A model that outputs exactly `values[id]` for the row whose `id` is id: one tree, a chain of splits
 * `id <= j + 0.5`, with identity link — so the report's inputs are known to the last bit and its
 * metrics can be held against scikit-learn's on the same numbers.
 */
function lookupModel(task: Task, values: number[][], classes?: string[]): TrellisModel {
  const m = values.length;
  const width = values[0]!.length;
  const nodes = 2 * m - 1;
  const t: Tree = {
    output: width === 1 ? 0 : -1, width, feature: new Int32Array(nodes).fill(-1), threshold: new Float64Array(nodes), left: new Int32Array(nodes),
    right: new Int32Array(nodes), missingLeft: new Uint8Array(nodes), value: new Float64Array(nodes * width), cover: new Float64Array(nodes).fill(1),
  };
  for (let j = 0; j < m; j++) {
    const leaf = j < m - 1 ? 2 * j + 1 : 2 * j;
    t.value.set(values[j]!, leaf * width);
    if (j < m - 1) {
      t.feature[2 * j] = 0;
      t.threshold[2 * j] = j + 0.5;
      t.left[2 * j] = 2 * j + 1;
      t.right[2 * j] = 2 * j + 2;
    }
  }
  const features = fitFeatures(tableFromRows([{ id: 0 }, { id: 1 }]), [{ column: 'id', kind: 'numeric', impute: 'none', scale: 'none' }]);
  const estimator = treeEstimator({ algorithm: 'forest', outputs: width, aggregation: 'sum', link: 'identity', baseScore: new Array(width).fill(0), trees: [t] });
  return loadModel(JSON.stringify({ format: MODEL_FORMAT, task, target: 'y', classes, features, estimator }));
}

function close(actual: number | undefined, expected: number, tol = 1e-12): void {
  assert.ok(actual !== undefined && Math.abs(actual - expected) <= tol * Math.max(1, Math.abs(expected)), `${actual} != ${expected}`);
}

/*
 * References from scikit-learn 1.2.1 / numpy (Debian, /usr/bin/python3), `from sklearn import metrics as M`:
 *   y = np.array([0,1,1,0,1,0,1,1,0,0,1,0]); p = np.array([0.1,0.8,0.65,0.3,0.5,0.5,0.9,0.2,0.7,0.05,0.5,0.4]); yh = p >= 0.5
 *   accuracy_score, precision_score, recall_score, f1_score (y, yh) -> 0.75 0.7142857142857143 0.8333333333333334 0.7692307692307692
 *   roc_auc_score(y,p) 0.7777777777777779; average_precision_score(y,p) 0.7964285714285714
 *   log_loss(y,p) 0.5563578016045385; brier_score_loss(y,p) 0.1929166666666667
 *   confusion_matrix(y,yh) [[4,2],[1,5]]; precision_recall_fscore_support(y,yh)
 *     -> P [0.8, 0.7142857142857143], R [0.6666666666666666, 0.8333333333333334], F1 [0.7272727272727272, 0.7692307692307692], support [6, 6]
 *   calibration_curve(y,p,n_bins=10) -> prob_true [0,1,0,0,0.6666666666666666,0.5,1,1], prob_pred [0.07500000000000001,0.2,0.3,0.4,0.5,0.675,0.8,0.9]
 */
const Y = [0, 1, 1, 0, 1, 0, 1, 1, 0, 0, 1, 0];
const P = [0.1, 0.8, 0.65, 0.3, 0.5, 0.5, 0.9, 0.2, 0.7, 0.05, 0.5, 0.4];

/*
 *   ym = np.array([0,1,2,2,1,0,2,1,0,2])
 *   Pm = np.array([[.7,.2,.1],[.2,.5,.3],[.1,.3,.6],[.3,.3,.4],[.5,.4,.1],[.6,.1,.3],[.2,.6,.2],[.1,.8,.1],[.4,.35,.25],[.05,.15,.8]])
 *   pred = Pm.argmax(1); accuracy_score 0.8
 *   macro P/R/F1 0.8055555555555555 0.8055555555555555 0.7936507936507936; weighted 0.825 0.8 0.8
 *   roc_auc_score(ym,Pm,multi_class='ovr') 0.9107142857142857; average_precision_score(label_binarize(ym,[0,1,2]),Pm) 0.8716931216931217
 *   log_loss(ym,Pm) 0.6876070582715644; np.mean(np.sum((Pm-np.eye(3)[ym])**2,1)) 0.39099999999999996
 *   confusion_matrix(ym,pred) [[3,0,0],[1,2,0],[0,1,3]]
 *   calibration_curve(pred==ym, Pm.max(1), n_bins=5) -> prob_true [1,0.6,1], prob_pred [0.4,0.56,0.7666666666666666]
 */
const YM = [0, 1, 2, 2, 1, 0, 2, 1, 0, 2];
const PM = [[0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [0.1, 0.3, 0.6], [0.3, 0.3, 0.4], [0.5, 0.4, 0.1], [0.6, 0.1, 0.3], [0.2, 0.6, 0.2], [0.1, 0.8, 0.1], [0.4, 0.35, 0.25], [0.05, 0.15, 0.8]];

/*
 *   yr = np.array([3.0,-0.5,2.0,7.0,0.0,4.5,10.0,1.0]); pr = np.array([2.5,0.0,2.0,8.0,0.3,4.0,12.0,0.5])
 *   sqrt(mean_squared_error) 0.8724964183307574; mean_absolute_error 0.6625; r2_score 0.9340730717185386
 *   nz = yr != 0: mean_absolute_percentage_error(yr[nz], pr[nz]) 0.3029478458049887
 *   np.quantile(yr-pr, [.05,.25,.5,.75,.95]) -> [-1.65, -0.625, -0.15, 0.5, 0.5]
 */
const YR = [3.0, -0.5, 2.0, 7.0, 0.0, 4.5, 10.0, 1.0];
const PR = [2.5, 0.0, 2.0, 8.0, 0.3, 4.0, 12.0, 0.5];

const binaryModel = () => lookupModel('binary', P.map((v) => [v]), ['neg', 'pos']);
const binaryTable = () => tableFromRows(Y.map((y, id) => ({ id, y: y ? 'pos' : 'neg', group: id % 3 === 0 ? 'a' : 'b', size: id * 1.5 })));

describe('evaluate: metrics against scikit-learn', () => {
  it('binary: positive-class scores, AUCs, log loss, Brier, confusion matrix, per-class and calibration', () => {
    const r = evaluate(binaryModel(), binaryTable());
    assert.equal(r.task, 'binary');
    assert.equal(r.rows, 12);
    assert.equal(r.positiveClass, 'pos');
    const m = r.metrics;
    close(m.accuracy?.value, 0.75);
    close(m.precision?.value, 0.7142857142857143);
    close(m.recall?.value, 0.8333333333333334);
    close(m.f1?.value, 0.7692307692307692);
    close(m.roc_auc?.value, 0.7777777777777779);
    close(m.pr_auc?.value, 0.7964285714285714);
    close(m.log_loss?.value, 0.5563578016045385);
    close(m.brier?.value, 0.1929166666666667);
    assert.equal(m.accuracy!.lower, undefined, 'no interval without bootstrap');
    assert.deepEqual(r.confusionMatrix, { labels: ['neg', 'pos'], counts: [[4, 2], [1, 5]] });
    const pc = r.perClass!;
    assert.deepEqual(pc.map((c) => [c.class, c.support]), [['neg', 6], ['pos', 6]]);
    [0.8, 0.7142857142857143].forEach((v, i) => close(pc[i]!.precision, v));
    [0.6666666666666666, 0.8333333333333334].forEach((v, i) => close(pc[i]!.recall, v));
    [0.7272727272727272, 0.7692307692307692].forEach((v, i) => close(pc[i]!.f1, v));
    const cal = r.calibration!;
    assert.equal(cal.kind, 'positive class');
    assert.equal(cal.bins, 10);
    [0, 1, 0, 0, 0.6666666666666666, 0.5, 1, 1].forEach((v, i) => close(cal.points[i]!.observed, v));
    [0.07500000000000001, 0.2, 0.3, 0.4, 0.5, 0.675, 0.8, 0.9].forEach((v, i) => close(cal.points[i]!.predicted, v));
    assert.equal(cal.points.reduce((s, p) => s + p.count, 0), 12);
  });

  it('binary: another positive class and threshold swap the roles', () => {
    const r = evaluate(binaryModel(), binaryTable(), { positive: 'neg', threshold: 0.6 });
    // Counted by hand: neg is predicted when P(neg) = 1 − p ≥ 0.6, i.e. p ≤ 0.4.
    let tp = 0, fp = 0, fn = 0;
    Y.forEach((y, i) => {
      const predNeg = 1 - P[i]! >= 0.6;
      if (predNeg && y === 0) tp++;
      else if (predNeg) fp++;
      else if (y === 0) fn++;
    });
    close(r.metrics.precision?.value, tp / (tp + fp));
    close(r.metrics.recall?.value, tp / (tp + fn));
    close(r.metrics.roc_auc?.value, 0.7777777777777779, 1e-12);
    assert.deepEqual(r.confusionMatrix!.labels, ['pos', 'neg']);
  });

  it('multiclass: macro and weighted scores, one-vs-rest AUCs, log loss, Brier and top-label calibration', () => {
    const model = lookupModel('multiclass', PM, ['a', 'b', 'c']);
    const r = evaluate(model, tableFromRows(YM.map((y, id) => ({ id, y: 'abc'[y]! }))), { calibrationBins: 5 });
    const m = r.metrics;
    close(m.accuracy?.value, 0.8);
    close(m.precision_macro?.value, 0.8055555555555555);
    close(m.recall_macro?.value, 0.8055555555555555);
    close(m.f1_macro?.value, 0.7936507936507936);
    close(m.precision_weighted?.value, 0.825);
    close(m.recall_weighted?.value, 0.8);
    close(m.f1_weighted?.value, 0.8);
    close(m.roc_auc?.value, 0.9107142857142857);
    close(m.pr_auc?.value, 0.8716931216931217);
    close(m.log_loss?.value, 0.6876070582715644);
    close(m.brier?.value, 0.39099999999999996);
    assert.deepEqual(r.confusionMatrix!.counts, [[3, 0, 0], [1, 2, 0], [0, 1, 3]]);
    assert.equal(r.calibration!.kind, 'top label');
    [1, 0.6, 1].forEach((v, i) => close(r.calibration!.points[i]!.observed, v));
    [0.4, 0.56, 0.7666666666666666].forEach((v, i) => close(r.calibration!.points[i]!.predicted, v));
  });

  it('regression: RMSE, MAE, MAPE without the zero label (and says so), R² and residual quantiles', () => {
    const model = lookupModel('regression', PR.map((v) => [v]));
    const r = evaluate(model, tableFromRows(YR.map((y, id) => ({ id, y }))));
    const m = r.metrics;
    close(m.rmse?.value, 0.8724964183307574);
    close(m.mae?.value, 0.6625);
    close(m.r2?.value, 0.9340730717185386);
    close(m.mape?.value, 0.3029478458049887);
    assert.ok(r.notes.some((n) => /mape leaves out the 1 rows whose label is 0/.test(n)), r.notes.join(' | '));
    [-1.65, -0.625, -0.15, 0.5, 0.5].forEach((v, i) => close(m[['residual_p05', 'residual_p25', 'residual_p50', 'residual_p75', 'residual_p95'][i]!]?.value, v));
    assert.equal(r.confusionMatrix, undefined);
  });

  it('leaves out rows without a label, and says how many', () => {
    const rows: { id: number; y: string | null }[] = Y.map((y, id) => ({ id, y: y ? 'pos' : 'neg' }));
    rows.push({ id: 3, y: null }, { id: 4, y: null });
    const r = evaluate(binaryModel(), tableFromRows(rows));
    assert.equal(r.rows, 12);
    assert.equal(r.rowsWithoutLabel, 2);
    close(r.metrics.accuracy?.value, 0.75);
    assert.ok(r.notes.some((n) => /2 rows without a 'y' label/.test(n)));
  });
});

/** A logistic model p = σ(x) over n rows with y ~ Bernoulli(σ(x)): data where the metrics are noisy. */
function noisyBinary(n: number, seed: number): { model: TrellisModel; table: ReturnType<typeof tableFromRows> } {
  const r = new SeededRandom(seed);
  const rows = Array.from({ length: n }, (_, i) => {
    const x = 1.5 * r.normal();
    return { x, region: ['north', 'south', 'east'][i % 3]!, y: r.next() < 1 / (1 + Math.exp(-x)) ? 'yes' : 'no' };
  });
  const features = fitFeatures(tableFromRows([{ x: 0.5 }, { x: 1 }]), [{ column: 'x', kind: 'numeric', scale: 'none' }]);
  const model = loadModel(JSON.stringify({ format: MODEL_FORMAT, task: 'binary', target: 'y', classes: ['no', 'yes'], features, estimator: linearEstimator(new Float64Array([1]), new Float64Array([0])) }));
  return { model, table: tableFromRows(rows) };
}

describe('evaluate: bootstrap intervals', () => {
  const bootstrap = { samples: 300, seed: 11, level: 0.95 };

  it('every scalar metric gets an interval that holds the estimate, and the same seed gives the same report', () => {
    const { model, table } = noisyBinary(600, 1);
    const a = evaluate(model, table, { bootstrap });
    assert.deepEqual(Object.keys(a.metrics).sort(), ['accuracy', 'brier', 'f1', 'log_loss', 'pr_auc', 'precision', 'recall', 'roc_auc']);
    for (const [k, m] of Object.entries(a.metrics)) {
      assert.ok(m.lower! <= m.value && m.value <= m.upper!, `${k}: ${m.lower} ≤ ${m.value} ≤ ${m.upper}`);
      assert.ok(m.upper! - m.lower! > 0, `${k} has a zero-width interval`);
    }
    assert.deepEqual(evaluate(model, table, { bootstrap }), a);
    assert.notDeepEqual(evaluate(model, table, { bootstrap: { ...bootstrap, seed: 12 } }).metrics, a.metrics);
    assert.equal(a.bootstrap!.samples, 300);
    // Percentile intervals at 50% sit inside the 95% ones.
    const narrow = evaluate(model, table, { bootstrap: { ...bootstrap, level: 0.5 } });
    for (const k of Object.keys(a.metrics)) assert.ok(narrow.metrics[k]!.lower! >= a.metrics[k]!.lower! && narrow.metrics[k]!.upper! <= a.metrics[k]!.upper!, k);
  });

  it('intervals narrow as rows grow: 16× the rows, about a quarter of the width', () => {
    const small = noisyBinary(250, 2);
    const large = noisyBinary(4000, 2);
    const a = evaluate(small.model, small.table, { bootstrap });
    const b = evaluate(large.model, large.table, { bootstrap });
    for (const k of ['accuracy', 'roc_auc', 'log_loss', 'brier']) {
      const ratio = (b.metrics[k]!.upper! - b.metrics[k]!.lower!) / (a.metrics[k]!.upper! - a.metrics[k]!.lower!);
      assert.ok(ratio > 0.15 && ratio < 0.4, `${k}: width ratio ${ratio}`);
    }
  });
});

describe('evaluate: slices', () => {
  it('groups by category and by quantile bucket, and the groups add up to the whole', () => {
    const { model, table } = noisyBinary(900, 5);
    const r = evaluate(model, table, { slices: ['region', 'x'], bootstrap: { samples: 100, seed: 1, level: 0.9 } });
    const [region, x] = r.slices;
    assert.equal(region!.kind, 'categories');
    assert.deepEqual(region!.groups.map((g) => [g.value, g.rows]), [['east', 300], ['north', 300], ['south', 300]]);
    assert.equal(x!.kind, 'quantiles');
    assert.equal(x!.groups.length, 4);
    assert.match(x!.groups[0]!.value, /^\[-[\d.]+, -?[\d.]+\)$/);
    assert.match(x!.groups[3]!.value, /\]$/);
    for (const s of [region!, x!]) {
      assert.equal(s.groups.reduce((a, g) => a + g.rows, 0), r.rows);
      // Means over rows recombine: Σ rows·metric over the groups is the metric over all rows.
      for (const k of ['accuracy', 'brier', 'log_loss']) {
        close(s.groups.reduce((a, g) => a + g.rows * g.metrics[k]!.value, 0) / r.rows, r.metrics[k]!.value, 1e-12);
      }
      for (const g of s.groups) assert.ok(g.metrics.accuracy!.lower! <= g.metrics.accuracy!.value && g.metrics.accuracy!.value <= g.metrics.accuracy!.upper!);
    }
    assert.ok(x!.groups.every((g) => Math.abs(g.rows - 225) <= 1), x!.groups.map((g) => g.rows).join(' '));
    // A slice is the report of its rows alone.
    const southRows = Array.from({ length: 900 }, (_, i) => i).filter((i) => i % 3 === 1);
    const alone = evaluate(model, takeRows(table, southRows));
    for (const [k, m] of Object.entries(alone.metrics)) close(region!.groups[2]!.metrics[k]?.value, m.value, 1e-12);
  });

  it('a numeric column with few values is grouped by value; a missing value is its own group', () => {
    const r = evaluate(binaryModel(), tableFromRows(Y.map((y, id) => ({ id, y: y ? 'pos' : 'neg', k: id < 2 ? null : id % 2 }))), { slices: ['k'] });
    assert.deepEqual(r.slices[0]!.groups.map((g) => [g.value, g.rows]), [['0', 5], ['1', 5], ['(missing)', 2]]);
    // Rows 0 and 1 are (y 0, p 0.1) and (y 1, p 0.8): both right at threshold 0.5, one of each class.
    assert.equal(r.slices[0]!.groups[2]!.metrics.accuracy!.value, 1);
    close(r.slices[0]!.groups[2]!.metrics.roc_auc!.value, 1);
  });

  it('leaves out a metric undefined in a slice and says so', () => {
    const r = evaluate(binaryModel(), binaryTable(), { slices: ['y'] });
    for (const g of r.slices[0]!.groups) {
      assert.equal(g.metrics.roc_auc, undefined);
      assert.ok(g.metrics.accuracy);
    }
    assert.ok(r.notes.some((n) => /In some slices a metric is left out/.test(n)));
  });
});

describe('evaluate: bad input', () => {
  it('is refused with errors that name the problem', () => {
    const model = binaryModel();
    const table = binaryTable();
    assert.throws(() => evaluate(model, table, { target: 'label' }), /Target column 'label' is not in the data; its columns are: id, y, group, size/);
    assert.throws(() => evaluate(model, table, { slices: ['grp'] }), /Slice column 'grp' is not in the data; its columns are: id, y, group, size/);
    assert.throws(() => evaluate(model, tableFromRows([{ id: 0, y: 'pos.' }])), /label 'pos\.' in row 1, which is not one of the model's classes \(neg, pos\)/);
    assert.throws(() => evaluate(model, tableFromRows([{ id: 0, y: null }, { id: 1, y: null }])), /has no values/);
    assert.throws(() => evaluate(model, table, { bootstrap: { samples: 0, seed: 1, level: 0.95 } }), /bootstrap samples must be an integer/);
    assert.throws(() => evaluate(model, table, { bootstrap: { samples: 10, seed: 1, level: 95 } }), /bootstrap level must be in \(0, 1\)/);
    assert.throws(() => evaluate(model, table, { positive: 'maybe' }), /positive class 'maybe' is not one of the model's classes/);
    assert.throws(() => evaluate(model, table, { threshold: 2 }), /threshold must be in \[0, 1\]/);
    const many = tableFromRows(Array.from({ length: 120 }, (_, i) => ({ id: i % 12, y: Y[i % 12] ? 'pos' : 'neg', code: `c${i}` })));
    assert.throws(() => evaluate(model, many, { slices: ['code'] }), /Column 'code' has 120 distinct values, too many groups to compare \(at most 100\)/);
    const reg = lookupModel('regression', [[1], [2]]);
    assert.throws(() => evaluate(reg, tableFromRows([{ id: 0, y: 'a' }, { id: 1, y: 'b' }])), /holds text; a regression model needs numeric labels/);
  });
});

describe('evaluationHtml', () => {
  it('renders metrics with intervals, the calibration curve, the confusion matrix and slice bars, escaping text', () => {
    const { model, table } = noisyBinary(300, 9);
    const r: EvaluationReport = evaluate(model, table, { slices: ['region'], bootstrap: { samples: 50, seed: 1, level: 0.95 } });
    r.notes.push('<script>alert(1)</script>');
    const html = evaluationHtml(r);
    assert.match(html, /^<!doctype html>/);
    assert.match(html, /<svg role="img" aria-label="calibration curve"/);
    assert.match(html, /<svg role="img" aria-label="accuracy by region"/);
    assert.match(html, /true ↓ \/ predicted →/);
    assert.match(html, /95% interval/);
    assert.equal((html.match(/<circle /g) ?? []).length, r.calibration!.points.length);
    assert.ok(!html.includes('<script>'));
    assert.ok(html.includes('&lt;script&gt;'));
    const regression = evaluationHtml(evaluate(lookupModel('regression', PR.map((v) => [v])), tableFromRows(YR.map((y, id) => ({ id, y })))));
    assert.match(regression, /residual_p95/);
    assert.ok(!regression.includes('calibration curve'));
  });
});
