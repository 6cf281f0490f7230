/**
 * Batch prediction on two cores: a large batch's rows are split between this thread and a worker
 * that keeps its own copy of each ensemble (sent once). The matrix is read from shared memory
 * (copied there when it is not already) and this thread waits for the worker with Atomics, so
 * `predict` stays synchronous. Installed by `enableParallelPrediction()`; small batches, and
 * machines with one core, walk on this thread only.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { setParallelWalk, walkRows, type Ensemble } from './tree.js';

const FROM_SOURCE = import.meta.url.endsWith('.ts');
const WORKER = new URL(`./predict-worker${FROM_SOURCE ? '.ts' : '.js'}`, import.meta.url);
/** Below this many rows the worker's share is not worth the hand-off. */
const PARALLEL_ROWS = 20_000;
/** The longest this thread waits for the worker before giving up with an error. */
const TIMEOUT_MS = 600_000;

let worker: Worker | undefined;
let nextId = 1;
const ids = new WeakMap<Ensemble, number>();
const sent = new Set<number>();
/** The worker is slower to start and shares the core with the main thread's own share. */
const WORKER_SHARE = 0.5;

function startWorker(): Worker {
  const w = FROM_SOURCE
    ? new Worker(`import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(WORKER.href)}); })`, { eval: true })
    : new Worker(WORKER);
  w.unref();
  w.on('error', () => { worker = undefined; sent.clear(); });
  w.on('exit', () => { worker = undefined; sent.clear(); });
  return w;
}

function parallelWalk(e: Ensemble, x: Float64Array, n: number, p: number, out: Float64Array): boolean {
  if (n < PARALLEL_ROWS || !(out.buffer instanceof SharedArrayBuffer)) return false;
  worker ??= startWorker();
  let id = ids.get(e);
  if (id === undefined) {
    id = nextId++;
    ids.set(e, id);
  }
  let xs = x;
  if (!(x.buffer instanceof SharedArrayBuffer)) {
    xs = new Float64Array(new SharedArrayBuffer(8 * n * p));
    xs.set(x.subarray(0, n * p));
  }
  const split = Math.floor(n * (1 - WORKER_SHARE));
  const flag = new Int32Array(new SharedArrayBuffer(8));
  worker.postMessage({ id, ensemble: sent.has(id) ? undefined : e, x: xs, out, p, from: split, to: n, flag });
  sent.add(id);
  walkRows(e, xs, p, 0, split, out);
  const deadline = Date.now() + TIMEOUT_MS;
  while (Atomics.load(flag, 0) === 0) {
    if (Atomics.wait(flag, 0, 0, 1000) === 'timed-out' && Date.now() > deadline) throw new Error('the prediction worker did not answer');
  }
  if (flag[1]) {
    // The worker failed on its share: walk it here.
    walkRows(e, xs, p, split, n, out);
  }
  return true;
}

/** Lets large batches use a second core (no-op on a single-core machine). */
export function enableParallelPrediction(): void {
  if (availableParallelism() < 2) return;
  setParallelWalk(parallelWalk);
}
