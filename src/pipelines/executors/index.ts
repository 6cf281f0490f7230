/**
 * Pipeline step executors: run one step of a pipeline — a TypeScript component in a (warm) worker
 * thread or a child process, or a command in any language — with its log, timeout, retries, metrics and
 * content-hashed outputs. See README.md for the contract with components.
 */
import { invalid } from '../../core/errors.js';
import { runCommandStep, type CommandStepOptions } from './command-step.js';
import type { StepResult, StepSpec } from './step-spec.js';
import { runTypeScriptStep, type TypeScriptStepOptions } from './typescript-step.js';

export { runCommandStep, substitute, stepEnv, scrubbedEnv, DEFAULT_RETRYABLE_EXIT_CODES, type CommandStepOptions } from './command-step.js';
export { runTypeScriptStep, setDefaultIsolation, configureWorkerPool, prewarmWorkers, closeWorkerPool, type Isolation, type TypeScriptStepOptions } from './typescript-step.js';
export { runInProcessStep, type InProcessBody } from './in-process-step.js';
export { WorkerPool, sharedWorkerPool, type WorkerPoolOptions, type WorkerPoolStats } from './worker-pool.js';
export { RetryableError } from './retryable-error.js';
export { defaultRunAs, isRoot, resolveRunAs, unreachable, userCodeUser, type RunAs } from './run-as.js';
export { hashOutput, hashFile } from './output-hash.js';
export type { StepContext } from './component-call.js';
export { METRICS_FILE, type ArtifactRef, type ArtifactType, type StepInput, type StepResult, type StepSpec } from './step-spec.js';

/** Runs a step with the executor its component kind needs. */
export function runStep(spec: StepSpec, options: TypeScriptStepOptions & CommandStepOptions = {}): Promise<StepResult> {
  const kind = spec?.component?.kind;
  if (kind === 'typescript') return runTypeScriptStep(spec, options);
  if (kind === 'command') return runCommandStep(spec, options);
  return Promise.reject(invalid(`component kind must be 'typescript' or 'command', got ${JSON.stringify(kind)}`));
}
