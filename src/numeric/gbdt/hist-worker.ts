/** Worker thread entry: takes work items of the main thread's current task (see pool.ts). */
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import type { HistogramData } from './histogram.js';
import { CTRL, TASK_BINNING, TASK_GRADIENTS, drain, type TaskBuffers } from './pool.js';

interface Init {
  data: HistogramData;
  ctrl: Int32Array;
  p: number;
  me: number;
}

const { data, ctrl, p, me } = workerData as Init;
const buffers: TaskBuffers = {};
const take = (m: { message: unknown } | undefined) => { if (m) Object.assign(buffers, m.message as TaskBuffers); return !!m; };
let seq = 0;
parentPort!.postMessage('ready');
for (;;) {
  Atomics.wait(ctrl, CTRL.seq, seq);
  seq = Atomics.load(ctrl, CTRL.seq);
  if (seq < 0) break;
  // Buffers sent since the last task (this thread blocks, so messages are read synchronously).
  while (take(receiveMessageOnPort(parentPort!)));
  // A task's buffers are posted just before it starts: wait for them if they are still in flight.
  while ((ctrl[CTRL.kind] === TASK_GRADIENTS && !buffers.grads) || (ctrl[CTRL.kind] === TASK_BINNING && !buffers.binning)) take(receiveMessageOnPort(parentPort!));
  drain(ctrl, data, buffers, p, me + 1);
  Atomics.add(ctrl, CTRL.done, 1);
  Atomics.notify(ctrl, CTRL.done);
}
