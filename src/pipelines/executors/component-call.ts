/**
 * Calls one TypeScript component inside the thread or child process that hosts it: imports the
 * module, calls its export with the step context, and reports metrics, success or the exception
 * through `send`. Shared by the one-step runner (`step-runner.ts`) and the warm pooled workers
 * (`pool-runner.ts`). Only Node and `retryable-error.ts` are imported here: user code shares this
 * thread.
 */
import { reportError, type ReportedError } from './retryable-error.js';
import type { StepInput } from './step-spec.js';

/** What a component's exported function receives. */
export interface StepContext {
  step: string;
  /** 1 on the first attempt, 2 on the first retry, … */
  attempt: number;
  /** Artifact inputs as `{ type, path }` (absolute paths), scalars as they are. */
  inputs: Record<string, StepInput>;
  /** Where to write each declared output: `ctx.outputs.model.path` (a file or a directory). */
  outputs: Record<string, { type: string; path: string }>;
  outputDir: string;
  /** A line in the step log. */
  log(message: string): void;
  /** Reports a metric of the step (last value per name wins). */
  metric(name: string, value: number): void;
}

export interface RunnerJob {
  moduleUrl: string;
  exportName: string;
  ctx: Omit<StepContext, 'log' | 'metric'>;
}

export type RunnerMessage =
  | { t: 'metric'; name: string; value: number }
  | { t: 'done' }
  | { t: 'error'; phase: 'load' | 'run'; error: ReportedError };

/** Resolves once what was written to the stream has been handed on (to the executor, for a worker). */
const flush = (s: NodeJS.WriteStream) => new Promise<void>((resolve) => s.write('', () => resolve()));

/** Runs the job; the last message sent is `done` or `error`. Resolves with the phase that failed, if one did. */
export async function callComponent(job: RunnerJob, send: (m: RunnerMessage) => Promise<void>): Promise<'load' | 'run' | undefined> {
  let fn: unknown;
  try {
    const mod = (await import(job.moduleUrl)) as Record<string, unknown>;
    fn = mod[job.exportName];
    // A CommonJS module (a .js or .ts file outside an ESM package) may show its exports only on `default`.
    const cjs = mod.default as Record<string, unknown> | undefined;
    if (typeof fn !== 'function' && cjs && typeof cjs === 'object') fn = cjs[job.exportName];
    if (typeof fn !== 'function') {
      const names = [...new Set([...Object.keys(mod), ...(cjs && typeof cjs === 'object' ? Object.keys(cjs) : [])])].join(', ') || 'none';
      throw new TypeError(`the module has no exported function '${job.exportName}' (its exports: ${names})`);
    }
  } catch (e) {
    await send({ t: 'error', phase: 'load', error: reportError(e) });
    return 'load';
  }
  const ctx: StepContext = {
    ...job.ctx,
    log(message: string) {
      process.stdout.write(`${message}\n`);
    },
    metric(name: string, value: number) {
      if (typeof name !== 'string' || !name) throw new TypeError('ctx.metric: the name must be a non-empty string');
      if (typeof value !== 'number' || !Number.isFinite(value)) throw new TypeError(`ctx.metric('${name}'): the value must be a finite number, got ${value}`);
      void send({ t: 'metric', name, value });
    },
  };
  let outcome: RunnerMessage;
  try {
    await (fn as (c: StepContext) => unknown)(ctx);
    outcome = { t: 'done' };
  } catch (e) {
    outcome = { t: 'error', phase: 'run', error: reportError(e) };
  }
  await flush(process.stdout);
  await flush(process.stderr);
  await send(outcome);
  return outcome.t === 'error' ? 'run' : undefined;
}
