/**
 * Moves WAL checkpoints off the writer's thread. A checkpoint copies the WAL into the database file
 * and fsyncs it; done inside a commit (SQLite's default) it stalls every writer behind that fsync.
 * This worker thread runs passive checkpoints on its own connection every `intervalMs`, which never
 * blocks the writer; the writer keeps a large automatic checkpoint only as a safety net.
 */
import { Worker } from 'node:worker_threads';

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
const db = new Database(workerData.path);
db.pragma('busy_timeout = 1000');
const tick = () => { try { db.pragma('wal_checkpoint(PASSIVE)'); } catch { /* busy: next tick */ } };
const timer = setInterval(tick, workerData.intervalMs);
parentPort.on('message', (m) => {
  if (m === 'stop') {
    clearInterval(timer);
    tick();
    db.close();
    parentPort.postMessage('stopped');
  }
});
`;

export class Checkpointer {
  private readonly worker: Worker;
  private stopped?: Promise<void>;

  constructor(path: string, moduleId: string, intervalMs = 250) {
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { path, module: moduleId, intervalMs } });
    this.worker.unref();
    this.worker.on('error', () => {
      /* the writer's automatic checkpoint still bounds the WAL */
    });
  }

  /** Runs a last checkpoint and ends the thread; later calls wait for the same stop. */
  stop(): Promise<void> {
    this.stopped ??= this.doStop();
    return this.stopped;
  }

  private async doStop(): Promise<void> {
    const stopped = new Promise<void>((resolve) => {
      this.worker.once('message', () => resolve());
      this.worker.once('exit', () => resolve());
    });
    // Unref'd so an idle process can exit; held again while the last checkpoint runs.
    this.worker.ref();
    this.worker.postMessage('stop');
    await stopped;
    await this.worker.terminate();
  }
}
