/** Worker thread entry: builds histograms for its share of the features when the main thread asks. */
import { parentPort, workerData } from 'node:worker_threads';
import { buildHistograms, type HistogramData } from './histogram.js';

interface Init {
  data: HistogramData;
  ctrl: Int32Array;
  p: number;
  me: number;
}

const { data, ctrl, p, me } = workerData as Init;
const base = 8 + me * 4;
let seq = 0;
parentPort!.postMessage('ready');
for (;;) {
  Atomics.wait(ctrl, 0, seq);
  seq = Atomics.load(ctrl, 0);
  if (seq < 0) break;
  const from = ctrl[base]!;
  const to = ctrl[base + 1]!;
  if (to > from) buildHistograms(data, ctrl[2]!, ctrl[3]!, ctrl[4]!, from, to, ctrl[5] === 1, p, me + 1);
  Atomics.add(ctrl, 1, 1);
  Atomics.notify(ctrl, 1);
}
