/** The local pipeline engine: runs a pipeline IR end to end, with caching and resume. See engine.ts. */
export { PipelineEngine, resolveParams, ENGINE_VERSION, type EngineOptions, type EngineServices, type PipelineRunResult, type RunOptions, type StepEvent, type StepOutcome, type StepStatus, type OutputEntry } from './engine.js';
export { parseGate, evaluateGate, type GateExpr, type GateEvaluation } from './gate-expr.js';
