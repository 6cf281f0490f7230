/**
 * The thread a `trellis worker` executes steps in. Built-in steps (training, above all) are
 * synchronous work that would block the worker's event loop for as long as they run; executing
 * them here keeps the worker's main thread free to renew its queue locks and write heartbeats, so
 * a long step is never taken for a dead one. The thread opens its own connections to the stores.
 */
import { parentPort } from 'node:worker_threads';
import { openArtifactStore, openStores } from '../../store/open-stores.js';
import type { Actor } from '../../store/ports/common.js';
import type { LeaseFence } from '../../store/ports/pipelines.js';
import { engineServicesOver } from '../engine/services.js';
import type { RunAs } from '../executors/index.js';
import { executeStepJob, type EngineServices, type StepJob } from '../engine/step-exec.js';

export type ThreadMessage =
  | { type: 'run'; job: StepJob; fence: LeaseFence; who: Actor; workRoot: string; store: string; artifacts: string; runAs?: RunAs }
  | { type: 'abort' };

let services: Promise<EngineServices> | undefined;
let current: AbortController | undefined;

async function open(store: string, artifactsUri: string): Promise<EngineServices> {
  const stores = await openStores(store);
  return engineServicesOver(stores, await openArtifactStore(artifactsUri));
}

parentPort!.on('message', (m: ThreadMessage) => {
  if (m.type === 'abort') {
    current?.abort();
    return;
  }
  void (async () => {
    current = new AbortController();
    try {
      services ??= open(m.store, m.artifacts);
      const rec = await executeStepJob(await services, m.job, { who: m.who, workRoot: m.workRoot, signal: current.signal, fence: m.fence, ...(m.runAs ? { runAs: m.runAs } : {}) });
      parentPort!.postMessage({ type: 'done', rec });
    } catch (e) {
      parentPort!.postMessage({ type: 'error', message: e instanceof Error ? e.message : String(e) });
    } finally {
      current = undefined;
    }
  })();
});
