/** Model-quality metrics: classification, regression, and bootstrap confidence intervals around any of them. */
export {
  DEFAULT_THRESHOLD,
  LOG_LOSS_EPSILON,
  accuracy,
  argmaxRows,
  brierScore,
  calibrationCurve,
  confusionMatrix,
  f1,
  logLoss,
  macroF1,
  multiclassAccuracy,
  multiclassConfusionMatrix,
  multiclassLogLoss,
  perClassPrecisionRecallF1,
  prAuc,
  precision,
  recall,
  rocAuc,
} from './classification.js';
export type { CalibrationCurve, ConfusionMatrix, PerClassScores } from './classification.js';
export { mae, mape, r2, residualQuantiles, rmse, sortedQuantile } from './regression.js';
export { bootstrapCi } from './bootstrap.js';
export type { BootstrapCi, BootstrapOptions } from './bootstrap.js';
