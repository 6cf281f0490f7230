/** Drift and skew statistics between a reference and a current distribution. */
export { countTotal } from './count-total.js';
export { jensenShannonDistance } from './jensen-shannon.js';
export { kolmogorovSmirnovSf } from './kolmogorov-smirnov-distribution.js';
export { ksStatistic, ksTwoSample } from './ks-two-sample.js';
export type { KsMethod, KsTwoSampleOptions, KsTwoSampleResult } from './ks-two-sample.js';
export { lInfinityDistance } from './l-infinity.js';
export type { CategoryCounts, LInfinityResult } from './l-infinity.js';
export { PSI_DEFAULT_EPSILON, psi } from './psi.js';
export { smirnovSf } from './smirnov-distribution.js';
export { wassersteinDistance } from './wasserstein.js';
