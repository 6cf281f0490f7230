/**
 * The serving engine's model-loading worker: one long-lived worker thread, started at the first
 * load, that takes a model document's bytes (their buffer moved to it, not copied) with the sha256
 * recorded for them, hashes the bytes and refuses them when they differ, then parses and checks the
 * document and decodes its arrays (`checkModel`, src/ml/model.ts). It sends back the document and
 * the decoded arrays, laid out in one buffer that is moved too (`packDecoded`), and the serving
 * thread adopts them as they are (`adoptModel`): parsing, checking, decoding and hashing never run
 * on the thread that answers requests, so a hot swap costs it about the time to receive the message.
 *
 * The worker keeps the process alive only while a load is in flight. If it dies, the loads it had
 * fail with an error that says so and the next load starts a new one.
 */
import { createHash } from 'node:crypto';
import { Worker, threadId } from 'node:worker_threads';
import { TrellisError, isTrellisError } from '../core/errors.js';
import { adoptModel, checkModel, packDecoded, type CheckedModel, type DecodedArrays, type TrellisModel } from '../ml/model.js';

const FROM_SOURCE = import.meta.url.endsWith('.ts');
const WORKER = new URL(`./model-load-worker${FROM_SOURCE ? '.ts' : '.js'}`, import.meta.url);

/** A document's bytes and the digest they must have. */
export interface ModelBytes {
  /** Moved to the loading worker when they own their whole buffer: unusable by the caller afterwards. */
  bytes: Uint8Array;
  /**
   * The sha256 (hex) the bytes must have; null when no bytes can pass (the file was not recorded);
   * undefined when they are not checked (a version registered before digests were recorded).
   */
  expected?: string | null;
  /** The error for bytes whose sha256 is `actual`; default TRELLIS_MODEL_INVALID naming both digests. */
  mismatch?(actual: string): Error;
}

function refusal(file: ModelBytes, actual: string): Error {
  return file.mismatch?.(actual) ?? new TrellisError('TRELLIS_MODEL_INVALID', { detail: `its sha256 is ${actual}, expected ${file.expected ?? '(none)'}` });
}

export interface Loaded {
  model: TrellisModel;
  /** sha256 of the bytes, hex. */
  sha256: string;
  /** The thread that hashed, parsed, checked and decoded it. */
  threadId: number;
}

/** What the worker answers for one load. */
export type LoadReply =
  | { id: number; threadId: number; sha256: string; model: TrellisModel; decoded: DecodedArrays }
  | { id: number; threadId: number; mismatch: string }
  | { id: number; threadId: number; error: { code?: string; message: string; params?: Record<string, unknown> } };

export interface LoadRequest {
  id: number;
  bytes: Uint8Array;
  expected?: string | null;
}

/** The work of one load, in whichever thread runs it: hash and compare, then parse, check and decode. */
export function checkBytes(bytes: Uint8Array, expected?: string | null): { mismatch: string } | { sha256: string; checked: CheckedModel } {
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (expected !== undefined && sha256 !== expected) return { mismatch: sha256 };
  return { sha256, checked: checkModel(bytes) };
}

/** The worker's side of a load (model-load-worker.ts): the reply and the buffers it moves. */
export function answer(req: LoadRequest): { reply: LoadReply; transfer: ArrayBuffer[] } {
  try {
    const r = checkBytes(req.bytes, req.expected);
    if ('mismatch' in r) return { reply: { id: req.id, threadId, mismatch: r.mismatch }, transfer: [] };
    const { model, decoded } = r.checked;
    return { reply: { id: req.id, threadId, sha256: r.sha256, model, decoded }, transfer: [packDecoded(decoded)] };
  } catch (e) {
    const error = isTrellisError(e) ? e.toJSON() : { message: (e as Error)?.message ?? String(e) };
    return { reply: { id: req.id, threadId, error }, transfer: [] };
  }
}

/** Loads in this thread what the worker would: for callers without a loader (tests, tools). */
export function loadHere(file: ModelBytes): Loaded {
  const r = checkBytes(file.bytes, file.expected);
  if ('mismatch' in r) throw refusal(file, r.mismatch);
  return { model: adoptModel(r.checked), sha256: r.sha256, threadId };
}

interface Pending {
  worker: Worker;
  file: ModelBytes;
  what: string;
  resolve: (l: Loaded) => void;
  reject: (e: unknown) => void;
}

function startWorker(): Worker {
  if (!FROM_SOURCE) return new Worker(WORKER);
  return new Worker(`import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(WORKER.href)}); })`, { eval: true });
}

export class ModelLoader {
  private worker?: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  /** Workers started so far. */
  started = 0;

  /**
   * Verifies, parses, checks and decodes a document in the worker and adopts the result here.
   * `what` names the model in errors (`name/version`).
   */
  load(file: ModelBytes, what: string): Promise<Loaded> {
    const worker = this.ensureWorker();
    const id = this.nextId++;
    return new Promise<Loaded>((resolve, reject) => {
      this.pending.set(id, { worker, file, what, resolve, reject });
      // A load in flight keeps the process alive; an idle worker does not.
      worker.ref();
      const req: LoadRequest = { id, bytes: owned(file.bytes), expected: file.expected };
      try {
        worker.postMessage(req, [req.bytes.buffer as ArrayBuffer]);
      } catch {
        // A buffer that cannot be moved (one Node keeps for itself) is copied instead.
        try {
          worker.postMessage({ ...req, bytes: new Uint8Array(file.bytes) } satisfies LoadRequest);
        } catch (e) {
          this.settle(id);
          reject(e instanceof Error ? e : new Error(String(e)));
        }
      }
    });
  }

  /** Stops the worker; loads in flight fail. */
  async close(): Promise<void> {
    const w = this.worker;
    if (!w) return;
    this.failAll(w, 'the loader was closed');
    await w.terminate();
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const w = startWorker();
    this.started++;
    w.on('message', (m: LoadReply) => this.onReply(m));
    w.on('error', (e: Error) => this.failAll(w, `it failed: ${e.message}`));
    w.on('exit', (code) => this.failAll(w, `it exited with code ${code}`));
    // After the listeners: adding a 'message' listener refs the worker again.
    w.unref();
    this.worker = w;
    return w;
  }

  private onReply(m: LoadReply): void {
    const p = this.settle(m.id);
    if (!p) return;
    if ('mismatch' in m) p.reject(refusal(p.file, m.mismatch));
    else if ('error' in m) p.reject(m.error.code ? TrellisError.fromJSON(m.error as { code: string; message: string }) : new Error(m.error.message));
    else {
      try {
        p.resolve({ model: adoptModel({ model: m.model, decoded: m.decoded }), sha256: m.sha256, threadId: m.threadId });
      } catch (e) {
        p.reject(e);
      }
    }
  }

  private settle(id: number): Pending | undefined {
    const p = this.pending.get(id);
    if (!p) return undefined;
    this.pending.delete(id);
    if (![...this.pending.values()].some((x) => x.worker === p.worker)) p.worker.unref();
    return p;
  }

  /** A worker that died, or was stopped: its loads fail, and the next load starts another. */
  private failAll(w: Worker, why: string): void {
    if (this.worker === w) this.worker = undefined;
    for (const [id, p] of this.pending) {
      if (p.worker !== w) continue;
      this.pending.delete(id);
      p.reject(new TrellisError('TRELLIS_INTERNAL', { detail: `the model-loading worker stopped while loading ${p.what} (${why}); the next load starts a new one` }));
    }
    w.unref();
  }
}

/** Bytes whose buffer is theirs alone, so it can be moved: a slice of a shared or larger buffer is copied first. */
function owned(b: Uint8Array): Uint8Array {
  if (b.buffer instanceof ArrayBuffer && b.byteOffset === 0 && b.byteLength === b.buffer.byteLength) return b;
  return new Uint8Array(b);
}
