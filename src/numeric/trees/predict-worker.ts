/** Worker thread entry: claims blocks of a large batch's rows alongside the main thread (see predict-pool.ts). */
import { parentPort, workerData } from 'node:worker_threads';
import type { Ensemble } from './tree.js';
import { workerBlocks, type Job } from './predict-pool.js';

const models = new Map<number, Ensemble>();
parentPort!.on('message', (j: Job) => {
  if (j.drop !== undefined) models.delete(j.drop);
  if (j.ensemble) models.set(j.id, j.ensemble);
  const e = models.get(j.id);
  // Without its ensemble (never expected) the worker takes no block and the main thread walks them all.
  if (e) workerBlocks(e, j);
});
Atomics.store((workerData as { ready: Int32Array }).ready, 0, 1);
