/**
 * Runs a TypeScript (or JavaScript) component: `export async function train(ctx) { … }` in a
 * module, called in a worker thread or a child process — never in the calling thread:
 *
 * - `isolation: 'worker'` (the default): a warm worker thread of the pool (`worker-pool.ts`),
 *   reused for later steps while it stays clean;
 * - `'fresh-worker'`: a new worker thread per attempt, for a component that needs a pristine thread;
 * - `'process'`: a new child process per attempt, with its own heap, environment and process
 *   group, so a timeout also stops whatever the component started.
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
import { runAttempts, type AttemptHandle, type Launch } from './attempts.js';
import { launchAs, type RunAs } from './run-as.js';
import type { RunnerJob, RunnerMessage } from './step-runner.js';
import { signalGroup, spawnGroup, stopGroup } from './process-tree.js';
import { drain, OutputTail, pipeInto } from './step-log.js';
import { checkStepSpec, modulePath, type ResolvedStep, type StepResult, type StepSpec, type TypeScriptComponent } from './step-spec.js';
import { reportError } from './retryable-error.js';
import { componentError } from './user-error.js';
import { bootstrap, needsTsx, runnerUrl } from './worker-bootstrap.js';
import { sharedWorkerPool, type WorkerPool, type WorkerPoolOptions } from './worker-pool.js';

export type Isolation = 'worker' | 'fresh-worker' | 'process';
const ISOLATIONS: readonly Isolation[] = ['worker', 'fresh-worker', 'process'];

export interface TypeScriptStepOptions {
  /** Where the component runs (default: `setDefaultIsolation`'s, initially 'worker'). */
  isolation?: Isolation;
  /** After a timeout or cancel, how long a child process gets between SIGTERM and SIGKILL (default 2000 ms). */
  killGraceMs?: number;
  /** The warm workers for `isolation: 'worker'` (default: the process's shared pool). */
  pool?: WorkerPool;
  /** For `isolation: 'process'`: the child's environment (default: this process's); see `scrubbedEnv`. */
  baseEnv?: NodeJS.ProcessEnv;
  /** For `isolation: 'process'`: the user the child runs as (this process must be root), its output folder handed to it for each attempt; see `run-as.ts`. */
  runAs?: RunAs;
}

let defaultIsolation: Isolation = 'worker';

function checkIsolation(isolation: unknown): Isolation {
  if (!ISOLATIONS.includes(isolation as Isolation)) throw invalid(`isolation must be one of ${ISOLATIONS.map((i) => `'${i}'`).join(', ')}, got ${JSON.stringify(isolation)}`);
  return isolation as Isolation;
}

/** Sets where TypeScript components run when a step does not say, for this process. */
export function setDefaultIsolation(isolation: Isolation): void {
  defaultIsolation = checkIsolation(isolation);
}

/** Changes the shared pool's size or idle timeout (see WorkerPoolOptions). */
export function configureWorkerPool(o: WorkerPoolOptions): void {
  sharedWorkerPool().configure(o);
}

/**
 * Warms the shared pool for a run about to start: grows it to `count` workers when smaller (the
 * run's concurrency), and starts up to `count` idle workers of each kind the component `modules`
 * (paths or file: URLs) need. Resolves once they are ready; a worker that fails to start is only
 * left out (the step that would have used it reports the failure).
 */
export async function prewarmWorkers(count: number, modules: string[]): Promise<void> {
  const pool = sharedWorkerPool();
  if (count > pool.options.size) pool.configure({ size: count });
  const kinds = new Set(modules.map((m) => (needsTsx(modulePath(m)) ? 'tsx' as const : 'plain' as const)));
  await Promise.all([...kinds].map((k) => pool.prewarm(count, k)));
}

/** Terminates the shared pool's workers (idle ones exit by themselves after the idle timeout). */
export function closeWorkerPool(): Promise<void> {
  return sharedWorkerPool().close();
}

export async function runTypeScriptStep(spec: StepSpec, options: TypeScriptStepOptions = {}): Promise<StepResult> {
  const r = checkStepSpec(spec, 'typescript');
  const c = spec.component as StepSpec['component'] & TypeScriptComponent;
  const file = modulePath(c.module);
  if (!existsSync(file)) throw invalid(`step '${r.step}': component module ${file} not found`);
  if (typeof c.export !== 'string' || !c.export) throw invalid(`step '${r.step}': component export must name the exported function`);
  const isolation = checkIsolation(options.isolation ?? defaultIsolation);
  const tsx = needsTsx(file);
  const code = bootstrap(tsx, runnerUrl('step-runner'), file);
  const graceMs = options.killGraceMs ?? 2000;
  const pool = options.pool ?? sharedWorkerPool();
  const { runAs } = options;
  if (runAs && isolation !== 'process') throw invalid(`step '${r.step}': a component run as another user needs isolation 'process', not '${isolation}'`);
  const each: Launch = (attempt, log) => {
    const job: RunnerJob = {
      moduleUrl: pathToFileURL(file).href,
      exportName: c.export,
      ctx: { step: r.step, attempt, inputs: r.inputs, outputs: r.outputs, outputDir: r.outputDir },
    };
    if (isolation === 'worker') return inPool(r, file, pool, tsx ? 'tsx' : 'plain', job, log);
    return isolation === 'fresh-worker' ? inWorker(r, file, code, job, log) : inProcess(r, file, code, job, log, graceMs, options.baseEnv ?? process.env, runAs);
  };
  return runAttempts(r, runAs ? launchAs(runAs, r.outputDir, r.step, each) : each);
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

/** On a warm worker: output and messages arrive in order on one channel, so the step ends when its runner says so. */
function inPool(r: ResolvedStep, file: string, pool: WorkerPool, kind: 'tsx' | 'plain', job: RunnerJob, log: Writable): AttemptHandle {
  const out = new Outcome(r, file);
  const tail = new OutputTail();
  const a = pool.run(kind, job, {
    onMessage: (m) => out.onMessage(m),
    onOutput: (fd, chunk) => {
      log.write(chunk);
      if (fd === 2) tail.push(chunk);
    },
    onCrash: (e) => out.onCrash(e),
  });
  return { done: a.ended.then((how) => out.settle(how ?? 'thread ended its step', tail)), stop: () => a.stop() };
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

function inProcess(r: ResolvedStep, file: string, code: string, job: RunnerJob, log: Writable, graceMs: number, env: NodeJS.ProcessEnv, runAs?: RunAs): AttemptHandle {
  const ids = runAs ? { uid: runAs.uid, gid: runAs.gid } : {};
  const child: ChildProcess = spawnGroup(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], env, ...ids });
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
