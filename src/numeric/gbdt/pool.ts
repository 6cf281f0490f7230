/**
 * The worker threads of tree growing: the main thread and `threads - 1` workers share out a task's
 * items — the features of a node's histograms, or blocks of rows for gradients — over buffers in
 * shared memory. Items are claimed one at a time from an atomic counter, so a thread that is slowed
 * down takes fewer; synchronisation is by Atomics (a task costs microseconds, not a message round
 * trip). Small nodes stay on the main thread, where waking a worker would cost more than it saves.
 */
import { Worker } from 'node:worker_threads';
import { buildHistograms, type HistogramData } from './histogram.js';
import { gradients, type GradientBuffers } from './objective.js';
import { binFeature, type BinningJob } from './parallel-binning.js';

const FROM_SOURCE = import.meta.url.endsWith('.ts');
const WORKER = new URL(`./hist-worker${FROM_SOURCE ? '.ts' : '.js'}`, import.meta.url);
/** Below this many row × feature cells a node is built on the main thread alone. */
const PARALLEL_MIN_CELLS = 200_000;
/** Rows per gradient work item. */
export const GRADIENT_BLOCK = 8_192;

/** Control words shared with the workers. */
export const CTRL = { seq: 0, done: 1, start: 2, count: 3, slot: 4, unitHessian: 5, next: 6, kind: 7, items: 8, rows: 9 } as const;
export const TASK_HISTOGRAMS = 0;
export const TASK_GRADIENTS = 1;
export const TASK_BINNING = 2;

function startWorker(workerData: unknown): Worker {
  if (!FROM_SOURCE) return new Worker(WORKER, { workerData });
  return new Worker(`import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(WORKER.href)}); })`, { eval: true, workerData });
}

/** What a task may need besides the histogram buffers, sent to the workers when set. */
export interface TaskBuffers {
  grads?: GradientBuffers;
  binning?: BinningJob;
}

/** Runs one work item of the current task; shared by the main thread and the workers. */
export function runItem(ctrl: Int32Array, data: HistogramData, buffers: TaskBuffers, p: number, item: number, thread: number): void {
  const grads = buffers.grads;
  if (ctrl[CTRL.kind] === TASK_BINNING) {
    binFeature(buffers.binning!, data, item, thread);
  } else if (ctrl[CTRL.kind] === TASK_GRADIENTS) {
    const rows = ctrl[CTRL.rows]!;
    gradients(grads!, item * GRADIENT_BLOCK, Math.min(rows, (item + 1) * GRADIENT_BLOCK));
  } else {
    buildHistograms(data, ctrl[CTRL.start]!, ctrl[CTRL.count]!, ctrl[CTRL.slot]!, item, item + 1, ctrl[CTRL.unitHessian] === 1, p, thread);
  }
}

/** Claims and runs items until none are left. */
export function drain(ctrl: Int32Array, data: HistogramData, buffers: TaskBuffers, p: number, thread: number): void {
  const items = ctrl[CTRL.items]!;
  for (;;) {
    const item = Atomics.add(ctrl, CTRL.next, 1);
    if (item >= items) return;
    runItem(ctrl, data, buffers, p, item, thread);
  }
}

export class HistogramPool {
  private readonly workers: Worker[] = [];
  private readonly ctrl = new Int32Array(new SharedArrayBuffer(4 * 16));
  private seq = 0;
  private activeFeatures = 0;
  private readonly buffers: TaskBuffers = {};

  private constructor(readonly data: HistogramData, private readonly p: number) {}

  static async create(data: HistogramData, p: number, threads: number): Promise<HistogramPool> {
    const pool = new HistogramPool(data, p);
    const n = Math.max(0, Math.min(threads, 16) - 1);
    const ready: Promise<void>[] = [];
    for (let me = 0; me < n; me++) {
      const w = startWorker({ data, ctrl: pool.ctrl, p, me });
      w.unref();
      pool.workers.push(w);
      ready.push(new Promise((resolve, reject) => {
        w.once('message', () => resolve());
        w.once('error', reject);
      }));
    }
    await Promise.all(ready);
    return pool;
  }

  get threads(): number {
    return this.workers.length + 1;
  }

  get featureCount(): number {
    return this.activeFeatures;
  }

  /** Sets how many entries of `data.features` are in use (for column subsampling). */
  setFeatureCount(k: number): void {
    this.activeFeatures = k;
  }

  /** Shares the gradient buffers (in shared memory) with the workers. */
  setGradients(g: GradientBuffers): void {
    this.buffers.grads = g;
    for (const w of this.workers) w.postMessage({ grads: g });
  }

  /** Bins every feature on all threads (see parallel-binning.ts). */
  bin(job: BinningJob): void {
    this.buffers.binning = job;
    for (const w of this.workers) w.postMessage({ binning: job });
    this.run(TASK_BINNING, job.p);
  }

  /** Runs a task's items on every thread and returns when all are done. */
  private run(kind: number, items: number): void {
    const c = this.ctrl;
    const w = this.workers.length;
    c[CTRL.kind] = kind;
    c[CTRL.items] = items;
    Atomics.store(c, CTRL.next, 0);
    const doneBefore = Atomics.load(c, CTRL.done);
    this.seq++;
    Atomics.store(c, CTRL.seq, this.seq);
    Atomics.notify(c, CTRL.seq);
    drain(c, this.data, this.buffers, this.p, 0);
    const target = doneBefore + w;
    for (;;) {
      const d = Atomics.load(c, CTRL.done);
      if (d >= target) break;
      Atomics.wait(c, CTRL.done, d);
    }
  }

  build(start: number, count: number, slot: number, unitHessian: boolean): void {
    const k = this.activeFeatures;
    if (this.workers.length === 0 || count * k < PARALLEL_MIN_CELLS) {
      buildHistograms(this.data, start, count, slot, 0, k, unitHessian, this.p);
      return;
    }
    const c = this.ctrl;
    c[CTRL.start] = start;
    c[CTRL.count] = count;
    c[CTRL.slot] = slot;
    c[CTRL.unitHessian] = unitHessian ? 1 : 0;
    this.run(TASK_HISTOGRAMS, k);
  }

  /** Gradients and hessians of rows [0, rows) from the buffers given to `setGradients`. */
  gradients(rows: number): void {
    const g = this.buffers.grads!;
    if (this.workers.length === 0 || rows < 2 * GRADIENT_BLOCK) {
      gradients(g, 0, rows);
      return;
    }
    this.ctrl[CTRL.rows] = rows;
    this.run(TASK_GRADIENTS, Math.ceil(rows / GRADIENT_BLOCK));
  }

  async close(): Promise<void> {
    Atomics.store(this.ctrl, CTRL.seq, -1);
    Atomics.notify(this.ctrl, CTRL.seq);
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
