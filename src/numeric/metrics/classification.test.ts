import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  accuracy,
  argmaxRows,
  averagedPrecisionRecallF1,
  brierScore,
  calibrationCurve,
  confusionMatrix,
  f1,
  logLoss,
  macroF1,
  multiclassAccuracy,
  multiclassBrierScore,
  multiclassConfusionMatrix,
  multiclassLogLoss,
  multiclassPrAuc,
  multiclassRocAuc,
  perClassPrecisionRecallF1,
  prAuc,
  precision,
  rankingScorer,
  recall,
  rocAuc,
} from './classification.js';

/*
 * References from scikit-learn 1.2.1 (Debian, /usr/bin/python3):
 *   import numpy as np; from sklearn import metrics as M; from sklearn.calibration import calibration_curve
 *   y = np.array([0,1,1,0,1,0,1,1,0,0,1,0], float)
 *   p = np.array([0.1,0.8,0.65,0.3,0.5,0.5,0.9,0.2,0.7,0.05,0.5,0.4])
 *   yh = (p >= 0.5).astype(float); yh7 = (p >= 0.7).astype(float)
 *   M.accuracy_score(y,yh), M.precision_score(y,yh), M.recall_score(y,yh), M.f1_score(y,yh)
 *     -> 0.75 0.7142857142857143 0.8333333333333334 0.7692307692307692
 *   same at yh7 -> 0.5833333333333334 0.6666666666666666 0.3333333333333333 0.4444444444444444
 *   M.confusion_matrix(y,yh).ravel() -> [4 2 1 5]
 *   M.roc_auc_score(y,p), M.average_precision_score(y,p) -> 0.7777777777777779 0.7964285714285714
 *   M.log_loss(y,p,eps=1e-15), M.brier_score_loss(y,p) -> 0.5563578016045385 0.1929166666666667
 *   p2 = p.copy(); p2[0]=0.0; p2[1]=1.0; p2[3]=1.0; M.log_loss(y,p2,eps=1e-15) -> 3.377557550057048
 *   calibration_curve(y,p,n_bins=5) -> ([1/3, 0, 2/3, 2/3, 1], [0.11666666666666668, 0.35, 0.5, 0.7166666666666668, 0.9])
 *   calibration_curve(y,p,n_bins=3) -> ([0.25, 0.6, 0.6666666666666666], [0.16250000000000003, 0.51, 0.8000000000000002])
 *   ties: M.roc_auc_score([1,0,1,1,0,0,1],[.5,.5,.5,.2,.2,.9,.9]) -> 0.5; average_precision_score -> 0.5678571428571428
 */
const y = new Float64Array([0, 1, 1, 0, 1, 0, 1, 1, 0, 0, 1, 0]);
const p = new Float64Array([0.1, 0.8, 0.65, 0.3, 0.5, 0.5, 0.9, 0.2, 0.7, 0.05, 0.5, 0.4]);

function close(actual: number, expected: number, tol = 1e-12): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${actual} != ${expected}`);
}
function closeArray(actual: ArrayLike<number>, expected: number[], tol = 1e-12): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++) close(actual[i]!, expected[i]!, tol);
}

describe('binary classification metrics', () => {
  it('match sklearn at the default threshold 0.5 (p >= threshold is positive)', () => {
    assert.deepEqual(confusionMatrix(y, p), { tn: 4, fp: 2, fn: 1, tp: 5 });
    close(accuracy(y, p), 0.75);
    close(precision(y, p), 0.7142857142857143);
    close(recall(y, p), 0.8333333333333334);
    close(f1(y, p), 0.7692307692307692);
  });

  it('match sklearn at threshold 0.7', () => {
    close(accuracy(y, p, 0.7), 0.5833333333333334);
    close(precision(y, p, 0.7), 0.6666666666666666);
    close(recall(y, p, 0.7), 0.3333333333333333);
    close(f1(y, p, 0.7), 0.4444444444444444);
  });

  it('return 0 where sklearn divides by zero', () => {
    assert.equal(precision(y, p, 2), 0);
    assert.equal(f1(y, p, 2), 0);
    assert.equal(recall(new Float64Array([0, 0]), new Float64Array([0.9, 0.1])), 0);
  });

  it('rocAuc and prAuc match roc_auc_score and average_precision_score, ties included', () => {
    close(rocAuc(y, p), 0.7777777777777779);
    close(prAuc(y, p), 0.7964285714285714);
    const yt = new Float64Array([1, 0, 1, 1, 0, 0, 1]);
    const st = new Float64Array([0.5, 0.5, 0.5, 0.2, 0.2, 0.9, 0.9]);
    close(rocAuc(yt, st), 0.5);
    close(prAuc(yt, st), 0.5678571428571428);
  });

  it('logLoss clips at 1e-15 and brierScore match sklearn', () => {
    close(logLoss(y, p), 0.5563578016045385);
    const p2 = p.slice();
    p2[0] = 0;
    p2[1] = 1;
    p2[3] = 1;
    close(logLoss(y, p2), 3.377557550057048, 1e-9);
    close(brierScore(y, p), 0.1929166666666667);
  });

  it('calibrationCurve matches calibration_curve(strategy="uniform"), inner edges in the lower bin', () => {
    const c5 = calibrationCurve(y, p, 5);
    closeArray(c5.probTrue, [1 / 3, 0, 2 / 3, 2 / 3, 1]);
    closeArray(c5.probPred, [0.11666666666666668, 0.35, 0.5, 0.7166666666666668, 0.9]);
    assert.deepEqual(Array.from(c5.counts), [3, 2, 3, 3, 1]);
    const c3 = calibrationCurve(y, p, 3);
    closeArray(c3.probTrue, [0.25, 0.6, 0.6666666666666666]);
    closeArray(c3.probPred, [0.16250000000000003, 0.51, 0.8000000000000002]);
  });

  it('reject bad shapes and inputs early', () => {
    assert.throws(() => accuracy(y, p.subarray(1)), RangeError);
    assert.throws(() => accuracy(new Float64Array([2]), new Float64Array([0.5])), /0\/1 labels/);
    assert.throws(() => rocAuc(new Float64Array([1, 1]), new Float64Array([0.1, 0.2])), /both classes/);
    assert.throws(() => prAuc(new Float64Array([0, 0]), new Float64Array([0.1, 0.2])), /positive/);
    assert.throws(() => logLoss(new Float64Array([1]), new Float64Array([1.5])), /\[0, 1\]/);
    assert.throws(() => calibrationCurve(y, p, 0), /bins/);
  });
});

/*
 * References from scikit-learn 1.2.1:
 *   yc = np.array([0,2,1,2,0,1,1,2,0,2])
 *   P = np.array([[.7,.2,.1],[.1,.3,.6],[.2,.5,.3],[.3,.3,.4],[.4,.4,.2],[.1,.8,.1],[.5,.3,.2],[.2,.2,.6],[.6,.1,.3],[.3,.5,.2]])
 *   pred = P.argmax(1) -> [0 2 1 2 0 1 0 2 0 1]
 *   M.accuracy_score(yc,pred) -> 0.8;  M.log_loss(yc,P,eps=1e-15,labels=[0,1,2]) -> 0.7451434727619206
 *   M.log_loss([1,2,0],[[.5,.3,.1],[0,0,1.0],[.2,.5,.3]],eps=1e-15,labels=[0,1,2]) -> 0.9026834003674041  (rows renormalised)
 *   M.precision_recall_fscore_support(yc,pred,labels=[0,1,2],zero_division=0)
 *     -> precision [0.75, 0.6666666666666666, 1.0], recall [1.0, 0.6666666666666666, 0.75],
 *        f1 [0.8571428571428571, 0.6666666666666666, 0.8571428571428571], support [3 3 4]
 *   M.f1_score(yc,pred,average='macro') -> 0.7936507936507936
 *   M.confusion_matrix(yc,pred).ravel() -> [3 0 0 1 2 0 0 1 3]
 */
describe('multiclass metrics', () => {
  const yc = new Int32Array([0, 2, 1, 2, 0, 1, 1, 2, 0, 2]);
  const P = new Float64Array([
    0.7, 0.2, 0.1, 0.1, 0.3, 0.6, 0.2, 0.5, 0.3, 0.3, 0.3, 0.4, 0.4, 0.4, 0.2, 0.1, 0.8, 0.1, 0.5, 0.3, 0.2, 0.2, 0.2, 0.6, 0.6,
    0.1, 0.3, 0.3, 0.5, 0.2,
  ]);
  const pred = argmaxRows(P, 3);

  it('argmaxRows takes the first maximum, as numpy.argmax', () => {
    assert.deepEqual(Array.from(pred), [0, 2, 1, 2, 0, 1, 0, 2, 0, 1]);
    const out = new Int32Array(10);
    assert.equal(argmaxRows(P, 3, out), out);
  });

  it('accuracy, log loss, confusion matrix and per-class scores match sklearn', () => {
    close(multiclassAccuracy(yc, pred), 0.8);
    close(multiclassLogLoss(yc, P), 0.7451434727619206);
    close(
      multiclassLogLoss(new Int32Array([1, 2, 0]), new Float64Array([0.5, 0.3, 0.1, 0, 0, 1, 0.2, 0.5, 0.3])),
      0.9026834003674041,
      1e-9,
    );
    assert.deepEqual(Array.from(multiclassConfusionMatrix(yc, pred, 3)), [3, 0, 0, 1, 2, 0, 0, 1, 3]);
    const s = perClassPrecisionRecallF1(yc, pred, 3);
    closeArray(s.precision, [0.75, 0.6666666666666666, 1.0]);
    closeArray(s.recall, [1.0, 0.6666666666666666, 0.75]);
    closeArray(s.f1, [0.8571428571428571, 0.6666666666666666, 0.8571428571428571]);
    assert.deepEqual(Array.from(s.support), [3, 3, 4]);
    close(macroF1(yc, pred), 0.7936507936507936);
  });

  it('macroF1 skips absent classes unless k is given', () => {
    // sklearn: f1_score([0,0,1],[0,1,1],average='macro') == 0.6666666666666666; class 2 absent.
    close(macroF1(new Int32Array([0, 0, 1]), new Int32Array([0, 1, 1])), 0.6666666666666666);
    close(macroF1(new Int32Array([0, 0, 1]), new Int32Array([0, 1, 1]), 3), 0.4444444444444444);
  });

  it('rejects bad shapes and class indices', () => {
    assert.throws(() => multiclassLogLoss(yc, P.subarray(1)), /multiple of n/);
    assert.throws(() => multiclassLogLoss(new Int32Array([3]), new Float64Array([0.5, 0.5])), /class indices/);
    assert.throws(() => multiclassConfusionMatrix(yc, pred, 3, new Int32Array(4)), /out has length/);
    assert.throws(() => argmaxRows(P, 4), /multiple of k/);
  });
});

/*
 * References from scikit-learn 1.2.1 / numpy (Debian, /usr/bin/python3):
 *   ym = np.array([0,1,2,2,1,0,2,1,0,2])
 *   Pm = np.array([[.7,.2,.1],[.2,.5,.3],[.1,.3,.6],[.3,.3,.4],[.5,.4,.1],[.6,.1,.3],[.2,.6,.2],[.1,.8,.1],[.4,.35,.25],[.05,.15,.8]])
 *   pred = Pm.argmax(1) -> [0 1 2 2 0 0 1 1 0 2]
 *   for avg in macro, weighted: M.precision_score / recall_score / f1_score(ym, pred, average=avg, zero_division=0)
 *     -> macro 0.8055555555555555 0.8055555555555555 0.7936507936507936; weighted 0.825 0.8 0.8
 *   M.roc_auc_score(ym, Pm, multi_class='ovr', average='macro') -> 0.9107142857142857
 *   M.average_precision_score(label_binarize(ym, classes=[0,1,2]), Pm, average='macro') -> 0.8716931216931217
 *   np.mean(np.sum((Pm - np.eye(3)[ym])**2, axis=1)) -> 0.39099999999999996
 *   binary y, p above: 2 * M.brier_score_loss(y, p) -> 0.3858333333333334
 *   M.f1_score([0,0,1],[0,1,1],average='weighted') -> 0.6666666666666666
 */
describe('averaged and one-vs-rest multiclass metrics', () => {
  const ym = new Int32Array([0, 1, 2, 2, 1, 0, 2, 1, 0, 2]);
  const Pm = new Float64Array([
    0.7, 0.2, 0.1, 0.2, 0.5, 0.3, 0.1, 0.3, 0.6, 0.3, 0.3, 0.4, 0.5, 0.4, 0.1, 0.6, 0.1, 0.3, 0.2, 0.6, 0.2, 0.1, 0.8, 0.1, 0.4,
    0.35, 0.25, 0.05, 0.15, 0.8,
  ]);
  const predm = argmaxRows(Pm, 3);

  it('macro and weighted precision, recall and F1 match sklearn', () => {
    assert.deepEqual(Array.from(predm), [0, 1, 2, 2, 0, 0, 1, 1, 0, 2]);
    const macro = averagedPrecisionRecallF1(ym, predm, 3, 'macro');
    close(macro.precision, 0.8055555555555555);
    close(macro.recall, 0.8055555555555555);
    close(macro.f1, 0.7936507936507936);
    const weighted = averagedPrecisionRecallF1(ym, predm, 3, 'weighted');
    close(weighted.precision, 0.825);
    close(weighted.recall, 0.8);
    close(weighted.f1, 0.8);
    // A class neither true nor predicted does not count, as in sklearn without `labels`.
    close(averagedPrecisionRecallF1(new Int32Array([0, 0, 1]), new Int32Array([0, 1, 1]), 3, 'weighted').f1, 0.6666666666666666);
    close(averagedPrecisionRecallF1(new Int32Array([0, 0, 1]), new Int32Array([0, 1, 1]), 3, 'macro').f1, macroF1(new Int32Array([0, 0, 1]), new Int32Array([0, 1, 1])));
  });

  it('one-vs-rest ROC AUC and average precision match sklearn macro averages', () => {
    close(multiclassRocAuc(ym, Pm), 0.9107142857142857);
    close(multiclassPrAuc(ym, Pm), 0.8716931216931217);
    assert.throws(() => multiclassRocAuc(new Int32Array([0, 0]), new Float64Array([0.5, 0.5, 0.5, 0.5])), /both classes/);
  });

  it('multiclass Brier score is the mean squared distance to the one-hot label, twice the binary one for two classes', () => {
    close(multiclassBrierScore(ym, Pm), 0.39099999999999996);
    const two = new Float64Array(y.length * 2);
    for (let i = 0; i < y.length; i++) {
      two[2 * i] = 1 - p[i]!;
      two[2 * i + 1] = p[i]!;
    }
    close(multiclassBrierScore(Int32Array.from(y), two), 0.3858333333333334);
    assert.throws(() => multiclassBrierScore(ym, Pm.subarray(1)), /multiple of n/);
  });
});

/*
 * sklearn 1.2.1 with sample weights, y and p as above:
 *   w = np.array([2,0,1,3,1,1,0,2,1,1,4,1], float)
 *   M.roc_auc_score(y,p,sample_weight=w) -> 0.7152777777777778; M.average_precision_score(y,p,sample_weight=w) -> 0.6741071428571428
 */
describe('rankingScorer', () => {
  const w = [2, 0, 1, 3, 1, 1, 0, 2, 1, 1, 4, 1];
  const score = rankingScorer(y, p);

  it('matches sklearn with sample_weight, and rocAuc/prAuc with unit weights', () => {
    const s = score(w);
    close(s.rocAuc, 0.7152777777777778);
    close(s.prAuc, 0.6741071428571428);
    const unit = score(new Float64Array(12).fill(1));
    close(unit.rocAuc, rocAuc(y, p));
    close(unit.prAuc, prAuc(y, p));
  });

  it('with multiplicities equals the metrics of the rows repeated, ties included', () => {
    const yt = new Float64Array([1, 0, 1, 1, 0, 0, 1]);
    const st = new Float64Array([0.5, 0.5, 0.5, 0.2, 0.2, 0.9, 0.9]);
    const m = [3, 1, 0, 2, 1, 2, 1];
    const rows = m.flatMap((k, i) => Array.from({ length: k }, () => i));
    const s = rankingScorer(yt, st)(m);
    close(s.rocAuc, rocAuc(rows.map((i) => yt[i]!), rows.map((i) => st[i]!)));
    close(s.prAuc, prAuc(rows.map((i) => yt[i]!), rows.map((i) => st[i]!)));
  });

  it('gives NaN without both classes and refuses bad weights', () => {
    const onlyNegatives = w.map((v, i) => (y[i] === 1 ? 0 : v));
    assert.ok(Number.isNaN(score(onlyNegatives).rocAuc));
    assert.ok(Number.isNaN(score(onlyNegatives).prAuc));
    assert.throws(() => score([1, 2]), /weights has 2 entries/);
    assert.throws(() => score(w.map((v) => -v)), /non-negative/);
  });
});
