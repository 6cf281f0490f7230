/** Model-quality metrics: classification, regression, and bootstrap confidence intervals around any of them. */
export {
  DEFAULT_THRESHOLD,
  LOG_LOSS_EPSILON,
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
export type { AveragedScores, CalibrationCurve, ConfusionMatrix, PerClassScores, RankingScores } from './classification.js';
export { mae, mape, mapeNonzero, r2, residualQuantiles, rmse, sortedQuantile } from './regression.js';
export { bootstrapCi, bootstrapCis } from './bootstrap.js';
export type { BootstrapCi, BootstrapOptions } from './bootstrap.js';
