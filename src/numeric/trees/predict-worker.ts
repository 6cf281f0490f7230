/** Worker thread entry: walks its share of a large batch's rows (see predict-pool.ts). */
import { parentPort } from 'node:worker_threads';
import { walkRows, type Ensemble } from './tree.js';

interface Job {
  id: number;
  ensemble?: Ensemble;
  x: Float64Array;
  out: Float64Array;
  p: number;
  from: number;
  to: number;
  /** [done, failed] */
  flag: Int32Array;
}

const models = new Map<number, Ensemble>();
parentPort!.on('message', (j: Job) => {
  try {
    if (j.ensemble) {
      if (models.size > 16) models.clear();
      models.set(j.id, j.ensemble);
    }
    walkRows(models.get(j.id)!, j.x, j.p, j.from, j.to, j.out);
  } catch {
    Atomics.store(j.flag, 1, 1);
  }
  Atomics.add(j.flag, 0, 1);
  Atomics.notify(j.flag, 0);
});
