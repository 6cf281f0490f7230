/**
 * Feature-parallel histogram building: the main thread and `threads - 1` workers each build the
 * histograms of a share of the features, over buffers in shared memory, synchronised with
 * Atomics (a task costs microseconds, not a message round trip). Small nodes stay on the main
 * thread, where waking a worker would cost more than it saves.
 */
import { Worker } from 'node:worker_threads';
import { buildHistograms, type HistogramData } from './histogram.js';

const FROM_SOURCE = import.meta.url.endsWith('.ts');
const WORKER = new URL(`./hist-worker${FROM_SOURCE ? '.ts' : '.js'}`, import.meta.url);
/** Below this many row × feature cells a node is built on the main thread alone. */
const PARALLEL_MIN_CELLS = 200_000;

function startWorker(workerData: unknown): Worker {
  if (!FROM_SOURCE) return new Worker(WORKER, { workerData });
  return new Worker(`import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(WORKER.href)}); })`, { eval: true, workerData });
}

export class HistogramPool {
  private readonly workers: Worker[] = [];
  private readonly ctrl = new Int32Array(new SharedArrayBuffer(4 * (8 + 4 * 16)));
  private seq = 0;
  private activeFeatures = 0;

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

  build(start: number, count: number, slot: number, unitHessian: boolean): void {
    const k = this.activeFeatures;
    const w = this.workers.length;
    if (w === 0 || count * k < PARALLEL_MIN_CELLS) {
      buildHistograms(this.data, start, count, slot, 0, k, unitHessian, this.p);
      return;
    }
    const parts = w + 1;
    const c = this.ctrl;
    c[2] = start;
    c[3] = count;
    c[4] = slot;
    c[5] = unitHessian ? 1 : 0;
    const share = (i: number) => Math.round((i * k) / parts);
    for (let i = 0; i < w; i++) {
      c[8 + i * 4] = share(i + 1);
      c[8 + i * 4 + 1] = share(i + 2);
    }
    const doneBefore = Atomics.load(c, 1);
    this.seq++;
    Atomics.store(c, 0, this.seq);
    Atomics.notify(c, 0);
    buildHistograms(this.data, start, count, slot, 0, share(1), unitHessian, this.p);
    const target = doneBefore + w;
    for (;;) {
      const d = Atomics.load(c, 1);
      if (d >= target) break;
      Atomics.wait(c, 1, d);
    }
  }

  async close(): Promise<void> {
    Atomics.store(this.ctrl, 0, -1);
    Atomics.notify(this.ctrl, 0);
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
