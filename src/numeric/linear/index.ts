/** Linear models fitted on row-major Float64Array design matrices, matching scikit-learn's objectives. */
export { fitLinearRegression } from './linear-regression.js';
export type { LinearRegressionModel, LinearRegressionOptions } from './linear-regression.js';
export { fitLogisticRegression, predictProba } from './logistic-regression.js';
export type { LogisticRegressionModel, LogisticRegressionOptions } from './logistic-regression.js';
