/**
 * Runs inside a fresh worker thread or child process that hosts one TypeScript component for one
 * attempt: calls it (`component-call.ts`) with the job it was started with, reports back to the
 * executor, and ends. Warm, reused workers run `pool-runner.ts` instead.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { callComponent, type RunnerJob, type RunnerMessage } from './component-call.js';

export type { RunnerJob, RunnerMessage, StepContext } from './component-call.js';

const send = (m: RunnerMessage): Promise<void> =>
  isMainThread
    ? new Promise((resolve) => process.send!(m, undefined, {}, () => resolve()))
    : (parentPort!.postMessage(m), Promise.resolve());

if (isMainThread) {
  process.once('message', (job: RunnerJob) => {
    // The component may leave timers or sockets open: the step ends when its function does.
    void callComponent(job, send).finally(() => process.exit(0));
  });
} else {
  void callComponent(workerData as RunnerJob, send);
}
