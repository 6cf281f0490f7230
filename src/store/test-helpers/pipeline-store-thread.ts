/**
 * A pipeline store in a worker thread of its own, on its own connection to the database: how the
 * tests put a second worker beside the first. For SQLite this is the only faithful way — a second
 * connection on the same thread would wait for the write lock synchronously, blocking the event
 * loop the first connection's transaction needs to finish.
 *
 * Time comes from the caller: each call carries the caller's clock reading, so that both stores
 * agree on when a lease expires.
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import type { Clock } from '../../core/clock.js';
import { isTrellisError, TrellisError } from '../../core/errors.js';
import type { PipelineRunStore } from '../ports/pipelines.js';

const KIND = 'trellis-pipeline-store-thread';

interface Call { id: number; method: string; args: unknown[]; now: number }
// A TrellisError crosses as its JSON, to be rebuilt as one; anything else as its message and code.
type Reply = { id: number; ok: true; value: unknown }
  | { id: number; ok: false; trellis?: ReturnType<TrellisError['toJSON']>; code?: string; message: string };

export async function pipelineStoreInThread(uri: string, clock: Clock): Promise<{ store: PipelineRunStore; close(): Promise<void> }> {
  // Tests run from source: the thread registers tsx before it imports this module.
  const [self, cjs, esm] = [import.meta.url, import.meta.resolve('tsx/cjs/api'), import.meta.resolve('tsx/esm/api')].map((u) => JSON.stringify(u));
  const thread = new Worker(`Promise.all([import(${cjs}), import(${esm})]).then(([c, e]) => { c.register(); e.register(); return import(${self}); });`, {
    eval: true, workerData: { kind: KIND, uri },
  });
  const waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  let next = 0;
  thread.on('message', (r: Reply | { ready: true }) => {
    if ('ready' in r) return;
    const w = waiting.get(r.id);
    waiting.delete(r.id);
    if (r.ok) w?.resolve(r.value);
    else w?.reject(r.trellis ? TrellisError.fromJSON(r.trellis) : Object.assign(new Error(r.message), { code: r.code }));
  });
  await new Promise<void>((resolve, reject) => {
    thread.once('message', () => resolve());
    thread.once('error', reject);
  });
  const store = new Proxy({} as PipelineRunStore, {
    get: (_, method) => (...args: unknown[]) => new Promise((resolve, reject) => {
      const id = ++next;
      waiting.set(id, { resolve, reject });
      thread.postMessage({ id, method: String(method), args, now: clock.now() } satisfies Call);
    }),
  });
  return { store, close: async () => { thread.postMessage('close'); await new Promise((r) => thread.once('exit', r)); } };
}

if (!isMainThread && (workerData as { kind?: string } | null)?.kind === KIND) {
  const { openStores } = await import('../open-stores.js');
  let now = 0;
  const stores = await openStores((workerData as { uri: string }).uri, { clock: { now: () => now } });
  const port = parentPort!;
  port.on('message', (m: Call | 'close') => {
    if (m === 'close') {
      void stores.close().then(() => process.exit(0));
      return;
    }
    now = m.now;
    const fn = (stores.pipelines as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[m.method];
    void Promise.resolve()
      .then(() => {
        if (typeof fn !== 'function') throw new TypeError(`the pipeline store has no method '${m.method}'`);
        return fn.apply(stores.pipelines, m.args);
      })
      .then(
        (value) => port.postMessage({ id: m.id, ok: true, value } satisfies Reply),
        (e: Error & { code?: string }) => port.postMessage({ id: m.id, ok: false, trellis: isTrellisError(e) ? e.toJSON() : undefined, code: e.code, message: e.message } satisfies Reply),
      );
  });
  port.postMessage({ ready: true });
}
