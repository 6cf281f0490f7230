/**
 * Classification metrics over typed arrays, matching scikit-learn 1.2 definitions.
 *
 * Binary functions take labels `y` (0/1) and scores or probabilities `p` of the same length; a row is
 * predicted positive when `p[i] >= threshold` (default 0.5, so hard 0/1 predictions work unchanged).
 * Multiclass functions take class indices `y` in 0..k−1 and either hard predictions (an Int32Array,
 * see `argmaxRows`) or a row-major n×k probability matrix.
 *
 * Where scikit-learn would warn and return 0 (a precision with no predicted positives, a recall with
 * no actual positives), these return 0 too.
 */

export const DEFAULT_THRESHOLD = 0.5;
export const LOG_LOSS_EPSILON = 1e-15;

export interface ConfusionMatrix {
  tn: number;
  fp: number;
  fn: number;
  tp: number;
}

function checkBinary(y: ArrayLike<number>, p: ArrayLike<number>): void {
  if (y.length !== p.length) throw new RangeError(`y and p have different lengths: ${y.length} and ${p.length}`);
  if (y.length === 0) throw new RangeError('y is empty');
  for (let i = 0; i < y.length; i++) {
    if (y[i] !== 0 && y[i] !== 1) throw new RangeError(`y must hold 0/1 labels, got ${y[i]} at ${i}`);
  }
}

function checkProbability(p: ArrayLike<number>): void {
  for (let i = 0; i < p.length; i++) {
    if (!(p[i]! >= 0 && p[i]! <= 1)) throw new RangeError(`probabilities must be in [0, 1], got ${p[i]} at ${i}`);
  }
}

/** Counts of the binary confusion matrix at `threshold` (positive iff p ≥ threshold). */
export function confusionMatrix(y: ArrayLike<number>, p: ArrayLike<number>, threshold = DEFAULT_THRESHOLD): ConfusionMatrix {
  checkBinary(y, p);
  let tn = 0, fp = 0, fn = 0, tp = 0;
  for (let i = 0; i < y.length; i++) {
    const predicted = p[i]! >= threshold;
    if (y[i] === 1) {
      if (predicted) tp++;
      else fn++;
    } else if (predicted) fp++;
    else tn++;
  }
  return { tn, fp, fn, tp };
}

export function accuracy(y: ArrayLike<number>, p: ArrayLike<number>, threshold = DEFAULT_THRESHOLD): number {
  const { tn, tp } = confusionMatrix(y, p, threshold);
  return (tn + tp) / y.length;
}

export function precision(y: ArrayLike<number>, p: ArrayLike<number>, threshold = DEFAULT_THRESHOLD): number {
  const { fp, tp } = confusionMatrix(y, p, threshold);
  return tp + fp === 0 ? 0 : tp / (tp + fp);
}

export function recall(y: ArrayLike<number>, p: ArrayLike<number>, threshold = DEFAULT_THRESHOLD): number {
  const { fn, tp } = confusionMatrix(y, p, threshold);
  return tp + fn === 0 ? 0 : tp / (tp + fn);
}

/** F1 = 2·TP / (2·TP + FP + FN), the harmonic mean of precision and recall. */
export function f1(y: ArrayLike<number>, p: ArrayLike<number>, threshold = DEFAULT_THRESHOLD): number {
  const { fp, fn, tp } = confusionMatrix(y, p, threshold);
  return tp === 0 ? 0 : (2 * tp) / (2 * tp + fp + fn);
}

/** Row indices ordered by descending score; ties keep index order (irrelevant to the results). */
function orderByScoreDescending(p: ArrayLike<number>): Int32Array {
  const order = new Int32Array(p.length);
  for (let i = 0; i < order.length; i++) order[i] = i;
  return order.sort((a, b) => p[b]! - p[a]! || a - b);
}

function checkScores(p: ArrayLike<number>): void {
  for (let i = 0; i < p.length; i++) {
    if (!Number.isFinite(p[i]!)) throw new RangeError(`scores must be finite, got ${p[i]} at ${i}`);
  }
}

/**
 * Area under the ROC curve as the Mann–Whitney statistic with average ranks for tied scores, which is
 * exactly scikit-learn's trapezoidal roc_auc_score (a tie between a positive and a negative counts ½).
 */
export function rocAuc(y: ArrayLike<number>, p: ArrayLike<number>): number {
  checkBinary(y, p);
  checkScores(p);
  const order = orderByScoreDescending(p);
  const n = y.length;
  let positives = 0;
  for (let i = 0; i < n; i++) positives += y[i]!;
  const negatives = n - positives;
  if (positives === 0 || negatives === 0) throw new RangeError('rocAuc needs both classes in y');
  // Walk from the highest score down; each positive beats every negative below it, half of those tied.
  let negativesAbove = 0;
  let pairs = 0;
  for (let start = 0; start < n; ) {
    let end = start;
    let pos = 0, neg = 0;
    while (end < n && p[order[end]!] === p[order[start]!]) {
      if (y[order[end]!] === 1) pos++;
      else neg++;
      end++;
    }
    pairs += pos * (negatives - negativesAbove - neg) + 0.5 * pos * neg;
    negativesAbove += neg;
    start = end;
  }
  return pairs / (positives * negatives);
}

/**
 * Average precision, AP = Σₖ (Rₖ − Rₖ₋₁)·Pₖ over the distinct score thresholds taken from high to low,
 * as scikit-learn's average_precision_score (a step function, no interpolation; tied scores enter together).
 */
export function prAuc(y: ArrayLike<number>, p: ArrayLike<number>): number {
  checkBinary(y, p);
  checkScores(p);
  const order = orderByScoreDescending(p);
  const n = y.length;
  let positives = 0;
  for (let i = 0; i < n; i++) positives += y[i]!;
  if (positives === 0) throw new RangeError('prAuc needs at least one positive in y');
  let tp = 0, ap = 0;
  for (let start = 0; start < n; ) {
    let end = start;
    let pos = 0;
    while (end < n && p[order[end]!] === p[order[start]!]) {
      pos += y[order[end]!]!;
      end++;
    }
    tp += pos;
    ap += (pos / positives) * (tp / end);
    start = end;
  }
  return ap;
}

/** Mean binary cross-entropy with p clipped to [eps, 1 − eps], eps = 1e-15 as asked of sklearn's log_loss. */
export function logLoss(y: ArrayLike<number>, p: ArrayLike<number>, eps = LOG_LOSS_EPSILON): number {
  checkBinary(y, p);
  checkProbability(p);
  let sum = 0;
  for (let i = 0; i < y.length; i++) {
    const q = Math.min(Math.max(p[i]!, eps), 1 - eps);
    sum -= y[i] === 1 ? Math.log(q) : Math.log(1 - q);
  }
  return sum / y.length;
}

/** Mean squared difference between probability and outcome. */
export function brierScore(y: ArrayLike<number>, p: ArrayLike<number>): number {
  checkBinary(y, p);
  checkProbability(p);
  let sum = 0;
  for (let i = 0; i < y.length; i++) sum += (p[i]! - y[i]!) ** 2;
  return sum / y.length;
}

export interface CalibrationCurve {
  /** Fraction of positives in each non-empty bin. */
  probTrue: Float64Array;
  /** Mean predicted probability in each non-empty bin. */
  probPred: Float64Array;
  /** Rows in each non-empty bin. */
  counts: Int32Array;
}

/**
 * Reliability diagram over `bins` uniform bins of [0, 1], as sklearn.calibration.calibration_curve
 * with strategy='uniform': edges i/bins, bins closed on the right (a p equal to an inner edge falls
 * in the lower bin), empty bins dropped.
 */
export function calibrationCurve(y: ArrayLike<number>, p: ArrayLike<number>, bins = 5): CalibrationCurve {
  checkBinary(y, p);
  checkProbability(p);
  if (!Number.isInteger(bins) || bins < 1) throw new RangeError(`bins must be a positive integer, got ${bins}`);
  const step = 1 / bins;
  const count = new Int32Array(bins);
  const sumTrue = new Float64Array(bins);
  const sumPred = new Float64Array(bins);
  for (let i = 0; i < y.length; i++) {
    // numpy.searchsorted(inner edges, p, side='left'): the first inner edge ≥ p.
    let b = Math.min(Math.floor(p[i]! * bins), bins - 1);
    while (b > 0 && p[i]! <= b * step) b--;
    while (b < bins - 1 && p[i]! > (b + 1) * step) b++;
    count[b]!++;
    sumTrue[b]! += y[i]!;
    sumPred[b]! += p[i]!;
  }
  let kept = 0;
  for (let b = 0; b < bins; b++) if (count[b]! > 0) kept++;
  const out: CalibrationCurve = { probTrue: new Float64Array(kept), probPred: new Float64Array(kept), counts: new Int32Array(kept) };
  for (let b = 0, j = 0; b < bins; b++) {
    if (count[b] === 0) continue;
    out.probTrue[j] = sumTrue[b]! / count[b]!;
    out.probPred[j] = sumPred[b]! / count[b]!;
    out.counts[j] = count[b]!;
    j++;
  }
  return out;
}

// ---- multiclass ----

function checkClasses(y: ArrayLike<number>, k: number, name: string): void {
  for (let i = 0; i < y.length; i++) {
    const c = y[i]!;
    if (!Number.isInteger(c) || c < 0 || c >= k) throw new RangeError(`${name} must hold class indices in 0..${k - 1}, got ${c} at ${i}`);
  }
}

function checkMatrix(n: number, probs: ArrayLike<number>): number {
  if (n === 0) throw new RangeError('y is empty');
  if (probs.length % n !== 0 || probs.length === 0) throw new RangeError(`probs has ${probs.length} entries, not a multiple of n = ${n}`);
  return probs.length / n;
}

/** The predicted class of each row of a row-major n×k matrix (the first maximum on ties, as numpy.argmax). */
export function argmaxRows(probs: ArrayLike<number>, k: number, out?: Int32Array): Int32Array {
  if (!Number.isInteger(k) || k < 1 || probs.length % k !== 0) throw new RangeError(`probs has ${probs.length} entries, not a multiple of k = ${k}`);
  const n = probs.length / k;
  if (out && out.length !== n) throw new RangeError(`out has length ${out.length}, expected ${n}`);
  const result = out ?? new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 1; j < k; j++) if (probs[i * k + j]! > probs[i * k + best]!) best = j;
    result[i] = best;
  }
  return result;
}

/** Fraction of rows whose predicted class equals the true class. */
export function multiclassAccuracy(y: ArrayLike<number>, predicted: ArrayLike<number>): number {
  if (y.length !== predicted.length) throw new RangeError(`y and predicted have different lengths: ${y.length} and ${predicted.length}`);
  if (y.length === 0) throw new RangeError('y is empty');
  let hits = 0;
  for (let i = 0; i < y.length; i++) if (y[i] === predicted[i]) hits++;
  return hits / y.length;
}

/**
 * Mean categorical cross-entropy of class indices `y` under the row-major n×k matrix `probs`. As
 * sklearn's log_loss (with labels = 0..k−1), entries are clipped to [eps, 1 − eps] and each row is
 * then renormalised to sum to 1.
 */
export function multiclassLogLoss(y: Int32Array, probs: Float64Array, eps = LOG_LOSS_EPSILON): number {
  const n = y.length;
  const k = checkMatrix(n, probs);
  checkClasses(y, k, 'y');
  checkProbability(probs);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    let rowSum = 0;
    for (let j = 0; j < k; j++) rowSum += Math.min(Math.max(probs[i * k + j]!, eps), 1 - eps);
    const q = Math.min(Math.max(probs[i * k + y[i]!]!, eps), 1 - eps);
    sum -= Math.log(q / rowSum);
  }
  return sum / n;
}

/** k×k counts, row-major: entry [t·k + p] counts rows of true class t predicted as p (sklearn's layout). */
export function multiclassConfusionMatrix(y: ArrayLike<number>, predicted: ArrayLike<number>, k: number, out?: Int32Array): Int32Array {
  if (y.length !== predicted.length) throw new RangeError(`y and predicted have different lengths: ${y.length} and ${predicted.length}`);
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`k must be a positive integer, got ${k}`);
  checkClasses(y, k, 'y');
  checkClasses(predicted, k, 'predicted');
  if (out && out.length !== k * k) throw new RangeError(`out has length ${out.length}, expected ${k * k}`);
  const m = out ? out.fill(0) : new Int32Array(k * k);
  for (let i = 0; i < y.length; i++) m[y[i]! * k + predicted[i]!]!++;
  return m;
}

export interface PerClassScores {
  precision: Float64Array;
  recall: Float64Array;
  f1: Float64Array;
  /** Rows of each true class. */
  support: Int32Array;
}

/** One-vs-rest precision, recall and F1 of each class 0..k−1 (sklearn's average=None, zero_division=0). */
export function perClassPrecisionRecallF1(y: ArrayLike<number>, predicted: ArrayLike<number>, k: number): PerClassScores {
  const m = multiclassConfusionMatrix(y, predicted, k);
  const out: PerClassScores = { precision: new Float64Array(k), recall: new Float64Array(k), f1: new Float64Array(k), support: new Int32Array(k) };
  for (let c = 0; c < k; c++) {
    const tp = m[c * k + c]!;
    let actual = 0, predictedAs = 0;
    for (let j = 0; j < k; j++) {
      actual += m[c * k + j]!;
      predictedAs += m[j * k + c]!;
    }
    out.precision[c] = predictedAs === 0 ? 0 : tp / predictedAs;
    out.recall[c] = actual === 0 ? 0 : tp / actual;
    out.f1[c] = tp === 0 ? 0 : (2 * tp) / (actual + predictedAs);
    out.support[c] = actual;
  }
  return out;
}

/**
 * Unweighted mean of the per-class F1 scores. Like sklearn's f1_score(average='macro'), it averages over
 * classes present in y or in the predictions; pass `k` to count every class 0..k−1 instead.
 */
export function macroF1(y: ArrayLike<number>, predicted: ArrayLike<number>, k?: number): number {
  let classes = k ?? 0;
  if (k === undefined) {
    for (let i = 0; i < y.length; i++) classes = Math.max(classes, y[i]! + 1, predicted[i]! + 1);
  }
  const { f1: scores, support } = perClassPrecisionRecallF1(y, predicted, classes);
  const m = multiclassConfusionMatrix(y, predicted, classes);
  let sum = 0, counted = 0;
  for (let c = 0; c < classes; c++) {
    let predictedAs = 0;
    for (let j = 0; j < classes; j++) predictedAs += m[j * classes + c]!;
    if (k === undefined && support[c] === 0 && predictedAs === 0) continue;
    sum += scores[c]!;
    counted++;
  }
  if (counted === 0) throw new RangeError('y is empty');
  return sum / counted;
}

export interface AveragedScores {
  precision: number;
  recall: number;
  f1: number;
}

/**
 * Precision, recall and F1 averaged over classes, as sklearn's `average='macro'` (unweighted mean of
 * the per-class scores) or `average='weighted'` (weighted by support), zero_division=0. Like sklearn
 * without `labels`, only classes present in y or in the predictions are averaged over.
 */
export function averagedPrecisionRecallF1(y: ArrayLike<number>, predicted: ArrayLike<number>, k: number, average: 'macro' | 'weighted'): AveragedScores {
  if (y.length === 0) throw new RangeError('y is empty');
  const s = perClassPrecisionRecallF1(y, predicted, k);
  const predictedAs = new Int32Array(k);
  for (let i = 0; i < predicted.length; i++) predictedAs[predicted[i]!]!++;
  let wSum = 0, precisionSum = 0, recallSum = 0, f1Sum = 0;
  for (let c = 0; c < k; c++) {
    if (s.support[c] === 0 && predictedAs[c] === 0) continue;
    const w = average === 'macro' ? 1 : s.support[c]!;
    wSum += w;
    precisionSum += w * s.precision[c]!;
    recallSum += w * s.recall[c]!;
    f1Sum += w * s.f1[c]!;
  }
  return { precision: precisionSum / wSum, recall: recallSum / wSum, f1: f1Sum / wSum };
}

/** Column c of a row-major n×k matrix, and the 0/1 indicator y = c. */
function oneVsRest(y: ArrayLike<number>, probs: ArrayLike<number>, k: number, c: number, yc: Float64Array, pc: Float64Array): void {
  for (let i = 0; i < y.length; i++) {
    yc[i] = y[i] === c ? 1 : 0;
    pc[i] = probs[i * k + c]!;
  }
}

/**
 * One-vs-rest ROC AUC averaged over the k classes without weights, as sklearn's
 * roc_auc_score(multi_class='ovr', average='macro'); every class must occur in y.
 */
export function multiclassRocAuc(y: ArrayLike<number>, probs: ArrayLike<number>): number {
  return macroOneVsRest(y, probs, rocAuc);
}

/** A binary ranking metric, one class against the rest, averaged over the classes without weights. */
function macroOneVsRest(y: ArrayLike<number>, probs: ArrayLike<number>, metric: (y: Float64Array, p: Float64Array) => number): number {
  const n = y.length;
  const k = checkMatrix(n, probs);
  checkClasses(y, k, 'y');
  const yc = new Float64Array(n);
  const pc = new Float64Array(n);
  let sum = 0;
  for (let c = 0; c < k; c++) {
    oneVsRest(y, probs, k, c, yc, pc);
    sum += metric(yc, pc);
  }
  return sum / k;
}

/**
 * One-vs-rest average precision averaged over the k classes without weights, as sklearn's
 * average_precision_score(label_binarize(y, classes=range(k)), probs, average='macro'); every class
 * must occur in y.
 */
export function multiclassPrAuc(y: ArrayLike<number>, probs: ArrayLike<number>): number {
  return macroOneVsRest(y, probs, prAuc);
}

/**
 * Brier's original multiclass score: the mean over rows of Σ_c (p_ic − [y_i = c])². For two classes
 * it is twice the binary `brierScore` of the positive class (scikit-learn 1.2 has only the binary one).
 */
export function multiclassBrierScore(y: ArrayLike<number>, probs: ArrayLike<number>): number {
  const n = y.length;
  const k = checkMatrix(n, probs);
  checkClasses(y, k, 'y');
  checkProbability(probs);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < k; c++) sum += (probs[i * k + c]! - (y[i] === c ? 1 : 0)) ** 2;
  }
  return sum / n;
}

export interface RankingScores {
  rocAuc: number;
  prAuc: number;
}

/**
 * ROC AUC and average precision of the same rows under many weightings, for the bootstrap: the rows
 * are sorted by score once, and each call walks them in that order in O(n) with `weights` (a
 * resample's multiplicities), which gives exactly `rocAuc` and `prAuc` of the resampled rows, ties
 * included — and sklearn's values with sample_weight. A weighting with no positive (or, for the
 * ROC AUC, no negative) weight gives NaN.
 */
export function rankingScorer(y: ArrayLike<number>, p: ArrayLike<number>): (weights: ArrayLike<number>) => RankingScores {
  checkBinary(y, p);
  checkScores(p);
  const order = orderByScoreDescending(p);
  const n = y.length;
  // Start of each run of tied scores in `order`, plus n at the end.
  const starts: number[] = [];
  for (let i = 0; i < n; i++) if (i === 0 || p[order[i]!] !== p[order[i - 1]!]) starts.push(i);
  starts.push(n);
  return (weights) => {
    if (weights.length !== n) throw new RangeError(`weights has ${weights.length} entries for ${n} rows`);
    let positives = 0, negatives = 0;
    for (let i = 0; i < n; i++) {
      const w = weights[i]!;
      if (!(w >= 0)) throw new RangeError(`weights must be non-negative, got ${w} at ${i}`);
      if (y[i] === 1) positives += w;
      else negatives += w;
    }
    let negativesAbove = 0, pairs = 0, tp = 0, seen = 0, ap = 0;
    for (let s = 0; s < starts.length - 1; s++) {
      let pos = 0, neg = 0;
      for (let j = starts[s]!; j < starts[s + 1]!; j++) {
        const r = order[j]!;
        if (y[r] === 1) pos += weights[r]!;
        else neg += weights[r]!;
      }
      if (pos + neg === 0) continue;
      pairs += pos * (negatives - negativesAbove - neg) + 0.5 * pos * neg;
      negativesAbove += neg;
      tp += pos;
      seen += pos + neg;
      ap += (pos / positives) * (tp / seen);
    }
    return {
      rocAuc: positives > 0 && negatives > 0 ? pairs / (positives * negatives) : Number.NaN,
      prAuc: positives > 0 ? ap : Number.NaN,
    };
  };
}
