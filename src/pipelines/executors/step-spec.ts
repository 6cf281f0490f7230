/**
 * What an executor needs to run one pipeline step, independent of the pipeline IR: the component
 * (a TypeScript module's export, or a command in any language), the step's inputs (artifact paths
 * and scalars), its declared outputs and the directory they go to. `checkStepSpec` validates it at
 * the edge and resolves every path to an absolute one, so neither the working directory of a
 * command nor that of a worker changes what a path means.
 *
 * Layout on disk, for a step `train` with `outputDir: runs/42/train`:
 *   runs/42/train/<output name>   one file or one directory per declared output
 *   runs/42/train/metrics.json    optional metrics (see README.md)
 *   runs/42/train.log             the step's log: stdout, stderr and `ctx.log`, every attempt
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { invalid } from '../../core/errors.js';

export type ArtifactType = 'Dataset' | 'Model' | 'Metrics' | 'Report' | 'File';
export const ARTIFACT_TYPES: readonly ArtifactType[] = ['Dataset', 'Model', 'Metrics', 'Report', 'File'];

export interface ArtifactRef { type: ArtifactType; path: string }
export type StepInput = ArtifactRef | string | number | boolean;

export interface TypeScriptComponent { kind: 'typescript'; module: string /* file path or file: URL */; export: string }
export interface CommandComponent {
  kind: 'command';
  command: string[];
  env?: Record<string, string>;
  workdir?: string;
  /** Exit codes that mean "try again" (default: [75], EX_TEMPFAIL of sysexits.h). */
  retryableExitCodes?: number[];
}

/** A component of this process (a built-in), run by `runInProcessStep` with the function it is handed. */
export interface InProcessComponent { kind: 'in-process' }

export interface StepSpec {
  /** Step name, for messages and the log file name. */
  step: string;
  component: { name: string; version: string } & (TypeScriptComponent | CommandComponent | InProcessComponent);
  inputs: Record<string, StepInput>;
  /** Values of the pipeline's parameters, for a command's `{params.<name>}` placeholders. */
  params?: Record<string, string | number | boolean>;
  /** Declared outputs; each is written at `<outputDir>/<name>` (a file or a directory). */
  outputs: Record<string, { type: ArtifactType }>;
  outputDir: string;
  timeoutSeconds?: number;
  /** Further attempts after the first, for retryable failures only. */
  retries?: number;
  /** Exponential backoff between attempts: base × 2^(retry − 1), at most cap (defaults 1 s and 60 s). */
  backoff?: { baseMs?: number; capMs?: number };
  /** Where the log goes; default `<outputDir>/../<step>.log`. */
  logPath?: string;
  signal?: AbortSignal;
}

export interface StepResult {
  outputs: Record<string, { type: string; path: string; sha256: string }>;
  metrics?: Record<string, number>;
  logPath: string;
  attempts: number;
  durationMs: number;
}

/** A checked spec: absolute paths, defaults filled in. */
export interface ResolvedStep {
  spec: StepSpec;
  step: string;
  outputDir: string;
  logPath: string;
  metricsPath: string;
  inputs: Record<string, StepInput>;
  params: Record<string, string | number | boolean>;
  outputs: Record<string, ArtifactRef>;
  timeoutSeconds?: number;
  maxAttempts: number;
  backoff: { baseMs: number; capMs: number };
}

export const METRICS_FILE = 'metrics.json';

/** Names become file names and environment variables, so they are plain identifiers. */
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const STEP_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

export function isArtifact(v: StepInput): v is ArtifactRef {
  return typeof v === 'object' && v !== null;
}

export function checkStepSpec(spec: StepSpec, kind: StepSpec['component']['kind']): ResolvedStep {
  if (!spec || typeof spec !== 'object') throw invalid('the step spec must be an object');
  const { step } = spec;
  if (typeof step !== 'string' || !STEP_NAME.test(step)) {
    throw invalid(`step name ${JSON.stringify(step)} must be letters, digits, '_', '.' or '-' (it names the log file)`);
  }
  const at = `step '${step}'`;
  const c = spec.component;
  if (!c || c.kind !== kind) throw invalid(`${at}: component kind must be '${kind}' here, got ${JSON.stringify(c?.kind)}`);
  if (typeof spec.outputDir !== 'string' || !spec.outputDir) throw invalid(`${at}: outputDir must be a non-empty path`);
  const outputDir = resolve(spec.outputDir);

  const upper = new Map<string, string>();
  const checkName = (what: string, name: string) => {
    if (!NAME.test(name)) throw invalid(`${at}: ${what} name '${name}' must match ${NAME.source}`);
    const key = `${what}:${name.toUpperCase()}`;
    if (upper.has(key)) throw invalid(`${at}: ${what} names '${upper.get(key)}' and '${name}' differ only in case (environment variables are upper-case)`);
    upper.set(key, name);
  };

  const inputs: Record<string, StepInput> = {};
  for (const [name, v] of Object.entries(spec.inputs ?? {})) {
    checkName('input', name);
    if (isArtifact(v)) {
      if (!ARTIFACT_TYPES.includes(v.type)) throw invalid(`${at}: input '${name}' has unknown type ${JSON.stringify(v.type)}; expected one of ${ARTIFACT_TYPES.join(', ')}`);
      if (typeof v.path !== 'string' || !v.path) throw invalid(`${at}: input '${name}' needs a path`);
      const path = resolve(v.path);
      if (!existsSync(path)) throw invalid(`${at}: input '${name}' does not exist at ${path}`);
      inputs[name] = { type: v.type, path };
    } else if (typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v))) {
      inputs[name] = v;
    } else {
      throw invalid(`${at}: input '${name}' must be an artifact {type, path}, a string, a finite number or a boolean`);
    }
  }

  const params: Record<string, string | number | boolean> = {};
  for (const [name, v] of Object.entries(spec.params ?? {})) {
    if (!NAME.test(name)) throw invalid(`${at}: parameter name '${name}' must match ${NAME.source}`);
    if (!(typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v)))) {
      throw invalid(`${at}: parameter '${name}' must be a string, a finite number or a boolean`);
    }
    params[name] = v;
  }

  const outputs: Record<string, ArtifactRef> = {};
  for (const [name, o] of Object.entries(spec.outputs ?? {})) {
    checkName('output', name);
    if (!o || !ARTIFACT_TYPES.includes(o.type)) throw invalid(`${at}: output '${name}' has unknown type ${JSON.stringify(o?.type)}; expected one of ${ARTIFACT_TYPES.join(', ')}`);
    outputs[name] = { type: o.type, path: join(outputDir, name) };
  }

  const t = spec.timeoutSeconds;
  if (t !== undefined && !(typeof t === 'number' && t > 0 && Number.isFinite(t))) throw invalid(`${at}: timeoutSeconds must be a positive number, got ${t}`);
  const r = spec.retries ?? 0;
  if (!Number.isInteger(r) || r < 0 || r > 100) throw invalid(`${at}: retries must be an integer from 0 to 100, got ${r}`);
  const baseMs = spec.backoff?.baseMs ?? 1000;
  const capMs = spec.backoff?.capMs ?? 60_000;
  if (!(baseMs >= 0 && Number.isFinite(baseMs)) || !(capMs >= 0 && Number.isFinite(capMs))) {
    throw invalid(`${at}: backoff baseMs and capMs must be non-negative numbers`);
  }
  return {
    spec,
    step,
    outputDir,
    logPath: spec.logPath ? resolve(spec.logPath) : join(dirname(outputDir), `${step}.log`),
    metricsPath: join(outputDir, METRICS_FILE),
    inputs,
    params,
    outputs,
    timeoutSeconds: t,
    maxAttempts: r + 1,
    backoff: { baseMs, capMs },
  };
}

/** A component module given as a path (relative to the working directory) or a file: URL, as an absolute path. */
export function modulePath(module: string): string {
  if (typeof module !== 'string' || !module) throw invalid('component module must be a file path or a file: URL');
  if (module.startsWith('file:')) return fileURLToPath(module);
  if (/^[a-z][a-z0-9+.-]*:/i.test(module) && !/^[a-z]:[\\/]/i.test(module)) throw invalid(`component module '${module}' must be a file path or a file: URL`);
  return resolve(module);
}
