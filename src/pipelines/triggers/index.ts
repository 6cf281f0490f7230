export { Scheduler, type Decision, type DecisionAction, type SchedulerOptions } from './scheduler.js';
export { dueTriggers, latestDue } from './conditions.js';
export { coerceParams, fetchPackage, materialise, packageLocation, publishPackage, requestTrigger, type DeployServices } from './deployments.js';
