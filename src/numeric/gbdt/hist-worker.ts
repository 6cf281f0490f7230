/** Worker thread entry: takes work items of the main thread's current task (see pool.ts). */
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import type { HistogramData } from './histogram.js';
import type { GradientBuffers } from './objective.js';
import { CTRL, TASK_GRADIENTS, drain } from './pool.js';

interface Init {
  data: HistogramData;
  ctrl: Int32Array;
  p: number;
  me: number;
}

const { data, ctrl, p, me } = workerData as Init;
let grads: GradientBuffers | undefined;
let seq = 0;
parentPort!.postMessage('ready');
for (;;) {
  Atomics.wait(ctrl, CTRL.seq, seq);
  seq = Atomics.load(ctrl, CTRL.seq);
  if (seq < 0) break;
  // Buffers sent since the last task (this thread blocks, so messages are read synchronously).
  for (let m = receiveMessageOnPort(parentPort!); m; m = receiveMessageOnPort(parentPort!)) grads = m.message as GradientBuffers;
  while (ctrl[CTRL.kind] === TASK_GRADIENTS && !grads) {
    const m = receiveMessageOnPort(parentPort!);
    if (m) grads = m.message as GradientBuffers;
  }
  drain(ctrl, data, grads, p, me + 1);
  Atomics.add(ctrl, CTRL.done, 1);
  Atomics.notify(ctrl, CTRL.done);
}
