/**
 * Runs a TypeScript (or JavaScript) component: `export async function train(ctx) { … }` in a
 * module, called in a fresh worker thread (the default) or a fresh child process — never in the
 * calling thread. A worker starts faster; a child process gets its own heap, environment and
 * process group, so a timeout also stops whatever the component started.
 *
 * `.ts`, `.mts` and `.cts` modules load through tsx (registered in the worker or child only);
 * `.js`/`.mjs` modules load as they are. This works when Trellis itself runs from source (under
 * tsx) and from its build in `dist/`.
 */
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { ChildProcess } from 'node:child_process';
import type { Writable } from 'node:stream';
import { invalid, TrellisError } from '../../core/errors.js';
import { runAttempts, type AttemptHandle } from './attempts.js';
import { signalGroup, spawnGroup, stopGroup } from './process-tree.js';
import { drain, OutputTail, pipeInto } from './step-log.js';
import type { RunnerJob, RunnerMessage } from './step-runner.js';
import { checkStepSpec, modulePath, type ResolvedStep, type StepResult, type StepSpec, type TypeScriptComponent } from './step-spec.js';
import { reportError } from './retryable-error.js';
import { componentError } from './user-error.js';

export interface TypeScriptStepOptions {
  isolation?: 'worker' | 'process';
  /** After a timeout or cancel, how long a child process gets between SIGTERM and SIGKILL (default 2000 ms). */
  killGraceMs?: number;
}

const FROM_SOURCE = import.meta.url.endsWith('.ts');
const RUNNER = new URL(`./step-runner${FROM_SOURCE ? '.ts' : '.js'}`, import.meta.url).href;
const TS_MODULE = /\.(ts|mts|cts|tsx)$/;

let tsxApis: [string, string] | undefined;
function resolveTsx(module: string): [string, string] {
  try {
    tsxApis ??= [import.meta.resolve('tsx/cjs/api'), import.meta.resolve('tsx/esm/api')];
    return tsxApis;
  } catch {
    throw invalid(`component module ${module} is TypeScript, which needs the 'tsx' package next to Trellis: install it (npm install tsx) or compile the component to .js`);
  }
}

/**
 * The script a worker or child starts with: tsx where TypeScript is loaded, then the runner. Both
 * of tsx's hooks: a `.ts` file outside an ESM package (no `"type": "module"`) loads as CommonJS.
 */
function bootstrap(needTsx: boolean, module: string): string {
  if (!needTsx) return `import(${JSON.stringify(RUNNER)});`;
  const [cjs, esm] = resolveTsx(module).map((u) => JSON.stringify(u));
  return `Promise.all([import(${cjs}), import(${esm})]).then(([c, e]) => { c.register(); e.register(); return import(${JSON.stringify(RUNNER)}); });`;
}

export async function runTypeScriptStep(spec: StepSpec, options: TypeScriptStepOptions = {}): Promise<StepResult> {
  const r = checkStepSpec(spec, 'typescript');
  const c = spec.component as StepSpec['component'] & TypeScriptComponent;
  const file = modulePath(c.module);
  if (!existsSync(file)) throw invalid(`step '${r.step}': component module ${file} not found`);
  if (typeof c.export !== 'string' || !c.export) throw invalid(`step '${r.step}': component export must name the exported function`);
  const isolation = options.isolation ?? 'worker';
  if (isolation !== 'worker' && isolation !== 'process') throw invalid(`isolation must be 'worker' or 'process', got ${JSON.stringify(isolation)}`);
  const code = bootstrap(FROM_SOURCE || TS_MODULE.test(file), file);
  const graceMs = options.killGraceMs ?? 2000;
  return runAttempts(r, (attempt, log) => {
    const job: RunnerJob = {
      moduleUrl: pathToFileURL(file).href,
      exportName: c.export,
      ctx: { step: r.step, attempt, inputs: r.inputs, outputs: r.outputs, outputDir: r.outputDir },
    };
    return isolation === 'worker' ? inWorker(r, file, code, job, log) : inProcess(r, file, code, job, log, graceMs);
  });
}

/** Collects what the runner reports and turns how it ended into metrics or a TrellisError. */
class Outcome {
  readonly metrics: Record<string, number> = {};
  finished = false;
  error?: TrellisError;

  constructor(private readonly r: ResolvedStep, private readonly file: string) {}

  onMessage(m: RunnerMessage): void {
    if (m.t === 'metric') this.metrics[m.name] = m.value;
    else if (m.t === 'done') this.finished = true;
    else if (m.t === 'error') this.error ??= componentError(this.r.step, m.error, m.phase, this.file);
  }

  /** An exception that escaped the component's function (thrown from a callback, an unhandled rejection). */
  onCrash(e: unknown): void {
    this.error ??= componentError(this.r.step, reportError(e), 'run', this.file);
  }

  settle(how: string, tail: OutputTail): Record<string, number> {
    if (this.error) throw this.error;
    if (!this.finished) {
      throw new TrellisError('TRELLIS_STEP_FAILED', { step: this.r.step, detail: `the component ${how} before it finished${tail.describe()}` });
    }
    return this.metrics;
  }
}

function inWorker(r: ResolvedStep, file: string, code: string, job: RunnerJob, log: Writable): AttemptHandle {
  const worker = new Worker(code, { eval: true, workerData: job, stdout: true, stderr: true });
  const out = new Outcome(r, file);
  const tail = new OutputTail();
  const streams = [pipeInto(worker.stdout, log), pipeInto(worker.stderr, log, tail)];
  worker.on('message', (m: RunnerMessage) => {
    out.onMessage(m);
    if (m.t !== 'metric') void worker.terminate();
  });
  worker.on('error', (e) => out.onCrash(e));
  const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
  const done = exited.then(async (exitCode) => {
    await drain([worker.stdout, worker.stderr], streams);
    return out.settle(`thread exited with code ${exitCode}`, tail);
  });
  return {
    done,
    stop: async () => {
      await worker.terminate();
      await drain([worker.stdout, worker.stderr], streams);
    },
  };
}

function inProcess(r: ResolvedStep, file: string, code: string, job: RunnerJob, log: Writable, graceMs: number): AttemptHandle {
  const child: ChildProcess = spawnGroup(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], env: process.env });
  const out = new Outcome(r, file);
  const tail = new OutputTail();
  const streams = [pipeInto(child.stdout, log), pipeInto(child.stderr, log, tail)];
  child.on('message', (m: RunnerMessage) => out.onMessage(m));
  // A child that dies before it reads the job is reported by its exit.
  child.send(job, (e) => void e);
  const exited = new Promise<string>((resolve) => {
    child.on('error', (e) => { if (child.pid === undefined) resolve(`process could not start (${e.message})`); });
    child.once('exit', (exitCode, signal) => {
      signalGroup(child, 'SIGKILL'); // what the component started and left running
      resolve(signal ? `process was killed by ${signal}` : `process exited with code ${exitCode}`);
    });
  });
  const done = exited.then(async (how) => {
    await drain([child.stdout, child.stderr], streams);
    return out.settle(how, tail);
  });
  return {
    done,
    stop: async () => {
      await stopGroup(child, graceMs);
      await drain([child.stdout, child.stderr], streams);
    },
  };
}
