/** Unconstrained smooth minimisation. */
export { lbfgs } from './lbfgs.js';
export type { LbfgsOptions, LbfgsResult, Objective } from './lbfgs.js';
