/**
 * Batch prediction on two cores: the rows of a large batch are cut into blocks that this thread
 * and a worker (which keeps its own copy of each ensemble, sent once) claim from a shared counter,
 * so a worker slowed by other work on the machine simply takes fewer blocks. The first large batch
 * starts the worker and is walked here; later ones are shared once it is up. A caller may start a
 * batch and join it later (tree.ts `startEnsembleRaw`), the worker walking meanwhile. The matrix is read from shared memory (copied there when it is not already) and this
 * thread waits for the blocks the worker took with Atomics, so `predict` stays synchronous.
 * Installed by `enableParallelPrediction()`; small batches, and machines with one core, walk on
 * this thread only.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { setParallelWalk, walkRows, type Ensemble } from './tree.js';

const FROM_SOURCE = import.meta.url.endsWith('.ts');
const WORKER = new URL(`./predict-worker${FROM_SOURCE ? '.ts' : '.js'}`, import.meta.url);
/** Below this many row × tree walks (a few milliseconds) the hand-off costs more than it saves. */
const PARALLEL_WALKS = 300_000;
/** Blocks per batch: enough for the two threads to even out, few enough to keep calls long. */
const BLOCKS = 32;
const MIN_BLOCK_ROWS = 256;
/** The longest this thread waits for the worker to finish copying a block before giving up with an error. */
const TIMEOUT_MS = 600_000;

/**
 * Shared state of one batch: [next block to claim, rows the worker delivered, then one state per
 * block]. A block the worker claimed is walked into its own buffer and copied into the output
 * only if the main thread has not taken it back (WRITING, then DONE); the main thread, once no
 * block is left, takes back a block the worker is slow to deliver (STOLEN) and walks it itself,
 * so a worker descheduled on a busy machine never holds the batch up.
 */
export type BatchState = Int32Array;
const HEADER = 2;
const WRITING = 1;
const DONE = 2;
const STOLEN = 3;

export interface Job {
  id: number;
  /** The ensemble, the first time it is sent. */
  ensemble?: Ensemble;
  /** An ensemble the worker may forget (the main thread will send it again if it needs it). */
  drop?: number;
  x: Float64Array;
  out: Float64Array;
  p: number;
  n: number;
  block: number;
  state: BatchState;
}

let worker: Worker | undefined;
let nextId = 1;
const ids = new WeakMap<Ensemble, number>();
/** Ensembles the worker holds, oldest first; it forgets the same ones this thread drops. */
const sent = new Set<number>();
const KEPT = 16;
/** Set to 1 by the worker once its module is loaded. */
let ready: Int32Array | undefined;
let lastWorkerRows = 0;

/** Workers started; after a few that died, batches stay on this thread. */
let starts = 0;
const MAX_STARTS = 3;

function startWorker(): Worker | undefined {
  if (starts >= MAX_STARTS) return undefined;
  starts++;
  ready = new Int32Array(new SharedArrayBuffer(4));
  const w = FROM_SOURCE
    ? new Worker(`import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(WORKER.href)}); })`, { eval: true, workerData: { ready } })
    : new Worker(WORKER, { workerData: { ready } });
  w.unref();
  w.on('error', () => { worker = undefined; sent.clear(); });
  w.on('exit', () => { worker = undefined; sent.clear(); });
  return w;
}

/** The worker's side of a batch (predict-worker.ts): claims blocks until none is left. */
export function workerBlocks(e: Ensemble, j: Job): void {
  const k = e.outputs;
  const blocks = Math.ceil(j.n / j.block);
  const own = new Float64Array(j.block * k);
  // Lay the ensemble out (the first time) before claiming a block, not while holding one.
  walkRows(e, j.x, j.p, 0, 0, own);
  for (let b = Atomics.add(j.state, 0, 1); b < blocks; b = Atomics.add(j.state, 0, 1)) {
    const from = b * j.block;
    const to = Math.min(j.n, from + j.block);
    own.fill(0);
    // A block that fails is left unclaimed-looking; the main thread takes it back.
    try {
      walkRows(e, j.x, j.p, from, to, own, 0);
    } catch {
      continue;
    }
    if (Atomics.compareExchange(j.state, HEADER + b, 0, WRITING) !== 0) continue;
    j.out.set(own.subarray(0, (to - from) * k), from * k);
    Atomics.add(j.state, 1, to - from);
    Atomics.store(j.state, HEADER + b, DONE);
    Atomics.notify(j.state, HEADER + b);
  }
}

/**
 * Posts a large batch to the worker, which starts claiming its blocks at once; the function returned
 * claims the blocks still unclaimed on this thread, then waits for the worker's (see BatchState)
 * and returns the sums. Undefined for a batch this thread walks alone.
 */
function startParallelWalk(e: Ensemble, x: Float64Array, n: number, p: number): (() => Float64Array) | undefined {
  if (n * e.trees.length < PARALLEL_WALKS || n < 2 * MIN_BLOCK_ROWS) return undefined;
  worker ??= startWorker();
  // A worker still starting would take its blocks late: this batch is walked here alone.
  if (!worker || !Atomics.load(ready!, 0)) return undefined;
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
  const out = new Float64Array(new SharedArrayBuffer(8 * n * e.outputs));
  const block = Math.max(MIN_BLOCK_ROWS, Math.ceil(n / BLOCKS));
  const blocks = Math.ceil(n / block);
  const state: BatchState = new Int32Array(new SharedArrayBuffer(4 * (HEADER + blocks)));
  const job: Job = { id, x: xs, out, p, n, block, state };
  if (!sent.has(id)) {
    job.ensemble = e;
    sent.add(id);
    if (sent.size > KEPT) {
      job.drop = sent.values().next().value!;
      sent.delete(job.drop);
    }
  }
  worker.postMessage(job);
  return () => joinBatch(e, job, blocks);
}

function joinBatch(e: Ensemble, job: Job, blocks: number): Float64Array {
  const { x: xs, out, p, n, block, state } = job;
  const mine = new Uint8Array(blocks);
  let walked = 0;
  const started = performance.now();
  for (let b = Atomics.add(state, 0, 1); b < blocks; b = Atomics.add(state, 0, 1)) {
    walkRows(e, xs, p, b * block, Math.min(n, (b + 1) * block), out);
    mine[b] = 1;
    walked++;
  }
  // The worker's blocks: wait for each about as long as this thread took per block, then take it back.
  const patience = walked ? (performance.now() - started) / walked + 1 : 50;
  const deadline = Date.now() + TIMEOUT_MS;
  for (let b = 0; b < blocks; b++) {
    if (mine[b]) continue;
    if (Atomics.load(state, HEADER + b) === 0) Atomics.wait(state, HEADER + b, 0, patience);
    if (Atomics.compareExchange(state, HEADER + b, 0, STOLEN) === 0) {
      walkRows(e, xs, p, b * block, Math.min(n, (b + 1) * block), out);
      continue;
    }
    while (Atomics.load(state, HEADER + b) === WRITING) {
      if (Atomics.wait(state, HEADER + b, WRITING, 1000) === 'timed-out' && Date.now() > deadline) throw new Error('the prediction worker did not answer');
    }
  }
  lastWorkerRows = Atomics.load(state, 1);
  return out;
}

/** Lets large batches use a second core (no-op on a single-core machine). */
export function enableParallelPrediction(): void {
  if (availableParallelism() < 2) return;
  setParallelWalk(startParallelWalk);
}

/** Resolves once the worker has started (starting it if needed); for tests and warm-up. */
export async function predictionWorkerReady(): Promise<void> {
  worker ??= startWorker();
  while (worker && ready && Atomics.load(ready, 0) === 0) await new Promise((r) => setTimeout(r, 5));
}

/** Rows of the last parallel batch that the worker walked. */
export function lastBatchWorkerRows(): number {
  return lastWorkerRows;
}
