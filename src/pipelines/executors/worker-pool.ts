/**
 * Warm worker threads for TypeScript components (`isolation: 'worker'`, the default). Starting a
 * thread costs tens of milliseconds, and more than a hundred when tsx must be loaded into it for a
 * `.ts` module; a warm worker has done that already, so a step starts in about a millisecond.
 *
 * - Two kinds of worker: with tsx registered (for `.ts` modules, and for any module when Trellis
 *   runs from source) and without. A worker serves steps of its kind, one at a time.
 * - At most `size` workers are kept (busy and idle together; default 2, the engine's default
 *   concurrency). When all are busy, a step gets a worker of its own that exits after it: steps
 *   never wait for a worker.
 * - An idle worker exits after `idleMs` (default 30 s) and never keeps the process alive.
 * - A worker is discarded, not reused, after a step that timed out or was cancelled (it is
 *   terminated), that crashed the thread (an uncaught exception, an unhandled rejection,
 *   `process.exit`), whose module failed to load, or that left the thread changed — a global, a
 *   `process` listener, a handle left open (see `pool-runner.ts`). `process.env` and
 *   `process.exitCode` are reset before every step; the working directory cannot change in a
 *   worker thread.
 * - A warm worker caches the modules it loaded. Each code file it loads (outside `node_modules`)
 *   is fingerprinted before it is read; before the worker takes a step, any of those files that
 *   changed on disk means the worker is discarded, so an edited component (or a file it imports)
 *   always runs as it now is.
 *
 * What is not isolated between two steps in one worker: state kept in the variables of a cached
 * module, and mutations deep inside global objects. A component that needs a pristine thread runs
 * with `isolation: 'fresh-worker'`; one that needs its own process with `isolation: 'process'`.
 */
import { Worker } from 'node:worker_threads';
import { invalid } from '../../core/errors.js';
import type { RunnerJob, RunnerMessage } from './component-call.js';
import { changedModule } from './module-files.js';
import type { PoolJob, PoolMessage } from './pool-runner.js';
import { bootstrap, runnerUrl } from './worker-bootstrap.js';

export type WorkerKind = 'tsx' | 'plain';

export interface WorkerPoolOptions {
  /** Warm workers kept at most, busy and idle together (default 2). */
  size?: number;
  /** How long an idle worker waits for a step before it exits (default 30,000 ms). */
  idleMs?: number;
}

/** What a step hears from the worker running it. */
export interface PoolStepEvents {
  onMessage(m: RunnerMessage): void;
  onOutput(fd: 1 | 2, chunk: string | Buffer): void;
  /** An exception that escaped the component and ended the thread. */
  onCrash(e: unknown): void;
}

export interface PoolAttempt {
  /** Resolves when the step is over: undefined once the runner has reported its end, else how the thread ended first. */
  ended: Promise<string | undefined>;
  /** Terminates the worker (it is not reused); resolves once the thread is gone. */
  stop(): Promise<void>;
}

export interface WorkerPoolStats {
  /** The workers kept (not those being let go). */
  workers: { threadId: number; kind: WorkerKind; state: 'starting' | 'idle' | 'busy' }[];
  started: number;
  /** Steps that ran on a worker that had run a step before. */
  reused: number;
  /** Why workers were let go, by reason, with how many times. */
  discarded: Record<string, number>;
}

interface Attempt {
  job: RunnerJob;
  events: PoolStepEvents;
  finish(how: string | undefined): void;
}

interface Slot {
  worker: Worker;
  kind: WorkerKind;
  state: 'starting' | 'idle' | 'busy';
  /** Kept in the pool after its step (false: started because the pool was full, exits after one step). */
  pooled: boolean;
  steps: number;
  /** Code files the worker loaded, with their fingerprints when it read them. */
  files: Map<string, string>;
  current?: Attempt;
  idleTimer?: NodeJS.Timeout;
  /** Set once the worker is being let go, with why. */
  leaving?: string;
  ready: Promise<void>;
}

const DEFAULT_SIZE = 2;
const DEFAULT_IDLE_MS = 30_000;

export class WorkerPool {
  private size: number;
  private idleMs: number;
  private readonly slots = new Set<Slot>();
  private readonly exits = new Set<Promise<void>>();
  private started = 0;
  private reused = 0;
  private readonly discarded: Record<string, number> = {};

  constructor(o: WorkerPoolOptions = {}) {
    this.size = DEFAULT_SIZE;
    this.idleMs = DEFAULT_IDLE_MS;
    this.configure(o);
  }

  /** Changes the size or the idle timeout; a smaller size lets surplus idle workers go at once. */
  configure(o: WorkerPoolOptions): void {
    if (o.size !== undefined) {
      if (!Number.isInteger(o.size) || o.size < 0) throw invalid(`worker pool size must be a non-negative integer, got ${o.size}`);
      this.size = o.size;
    }
    if (o.idleMs !== undefined) {
      if (!(o.idleMs >= 0 && Number.isFinite(o.idleMs))) throw invalid(`worker pool idleMs must be a non-negative number of milliseconds, got ${o.idleMs}`);
      this.idleMs = o.idleMs;
    }
    for (const s of [...this.slots].filter((x) => x.state === 'idle' && !x.leaving)) {
      if (this.pooledCount() <= this.size) break;
      void this.discard(s, 'the pool shrank');
    }
  }

  get options(): Required<WorkerPoolOptions> {
    return { size: this.size, idleMs: this.idleMs };
  }

  /**
   * Starts workers of `kind` until `n` of them (at most the pool's size) are idle or starting, so
   * that the next steps need not wait for one. Resolves once they are ready (or have failed to start).
   */
  prewarm(n: number, kind: WorkerKind): Promise<void> {
    const free = () => [...this.slots].filter((s) => s.kind === kind && s.pooled && !s.current && !s.leaving && (s.state === 'idle' || s.state === 'starting'));
    while (free().length < Math.min(n, this.size)) {
      if (this.pooledCount() >= this.size && !this.evictIdle(kind)) break;
      this.spawn(kind, true);
    }
    return Promise.all(free().map((s) => s.ready)).then(() => undefined);
  }

  /** Runs one step on a warm worker of `kind` (or a new one); see PoolAttempt. */
  run(kind: WorkerKind, job: RunnerJob, events: PoolStepEvents): PoolAttempt {
    let finish!: (how: string | undefined) => void;
    const ended = new Promise<string | undefined>((resolve) => { finish = resolve; });
    const attempt: Attempt = { job, events, finish };
    const warm = this.takeIdle(kind);
    const slot = warm ?? this.takeStarting(kind) ?? this.spawn(kind, this.pooledCount() < this.size || this.evictIdle(kind));
    slot.current = attempt;
    slot.worker.ref();
    if (warm) {
      if (warm.steps > 0) this.reused++;
      this.post(warm);
    }
    return {
      ended,
      stop: () => {
        if (slot.current === attempt) return this.discard(slot, 'the step was stopped (timeout or cancel)');
        return Promise.resolve();
      },
    };
  }

  /** Terminates every worker (a step running on one ends as if its thread had exited); the pool stays usable. */
  async close(): Promise<void> {
    for (const s of [...this.slots]) void this.discard(s, 'the pool was closed');
    await Promise.all(this.exits);
  }

  stats(): WorkerPoolStats {
    return {
      workers: [...this.slots].filter((s) => !s.leaving).map((s) => ({ threadId: s.worker.threadId, kind: s.kind, state: s.state })),
      started: this.started,
      reused: this.reused,
      discarded: { ...this.discarded },
    };
  }

  private pooledCount(): number {
    let n = 0;
    for (const s of this.slots) if (s.pooled && !s.leaving) n++;
    return n;
  }

  /** An idle worker of `kind` whose loaded files are unchanged, now busy. */
  private takeIdle(kind: WorkerKind): Slot | undefined {
    for (const s of this.slots) {
      if (s.kind !== kind || s.state !== 'idle' || s.leaving) continue;
      if (changedModule(s.files)) {
        void this.discard(s, 'a module it loaded changed on disk');
        continue;
      }
      clearTimeout(s.idleTimer);
      s.state = 'busy';
      return s;
    }
    return undefined;
  }

  /** A worker of `kind` still starting that no step waits for yet. */
  private takeStarting(kind: WorkerKind): Slot | undefined {
    for (const s of this.slots) if (s.kind === kind && s.state === 'starting' && !s.current && !s.leaving) return s;
    return undefined;
  }

  /** Lets an idle worker of another kind go, to make room for one of `kind`; whether there was one. */
  private evictIdle(kind: WorkerKind): boolean {
    const s = [...this.slots].find((x) => x.kind !== kind && x.pooled && x.state === 'idle' && !x.leaving);
    if (s) void this.discard(s, 'room was needed for a worker of the other kind');
    return !!s;
  }

  private spawn(kind: WorkerKind, pooled: boolean): Slot {
    // Console output arrives as messages (see pool-runner.ts). Not `stdout: true`: reading the
    // worker's stdio would keep this process alive as long as the worker lives, idle or not.
    const worker = new Worker(bootstrap(kind === 'tsx', runnerUrl('pool-runner'), 'a TypeScript component'), { eval: true });
    this.started++;
    let ready!: () => void;
    const slot: Slot = { worker, kind, state: 'starting', pooled, steps: 0, files: new Map(), ready: new Promise((r) => { ready = r; }) };
    this.slots.add(slot);
    worker.on('message', (m: PoolMessage) => this.onMessage(slot, m, ready));
    worker.on('error', (e) => slot.current?.events.onCrash(e));
    const exited = new Promise<void>((resolve) => {
      worker.once('exit', (code) => {
        this.slots.delete(slot);
        clearTimeout(slot.idleTimer);
        if (!slot.leaving) this.count(code === 0 ? 'the thread exited' : 'the thread crashed or called process.exit');
        const a = slot.current;
        slot.current = undefined;
        ready();
        a?.finish(`thread exited with code ${code}`);
        resolve();
      });
    });
    this.exits.add(exited);
    void exited.then(() => this.exits.delete(exited));
    return slot;
  }

  private onMessage(slot: Slot, m: PoolMessage, ready: () => void): void {
    const a = slot.current;
    switch (m.t) {
      case 'ready':
        ready();
        if (slot.leaving) return;
        if (a) {
          slot.state = 'busy';
          this.post(slot);
        } else {
          this.idle(slot);
        }
        return;
      case 'out':
        a?.events.onOutput(m.fd, typeof m.data === 'string' ? m.data : Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength));
        return;
      case 'idle': {
        for (const [path, fp] of m.files) slot.files.set(path, fp);
        slot.current = undefined;
        if (slot.leaving) {
          // already on its way out (the pool was closed or shrank during the step)
        } else if (!m.reusable) void this.discard(slot, m.reason ?? 'the step left the thread changed');
        else if (!slot.pooled) void this.discard(slot, 'the pool was full');
        else if (this.pooledCount() > this.size) void this.discard(slot, 'the pool shrank');
        else this.idle(slot);
        a?.finish(undefined);
        return;
      }
      default:
        a?.events.onMessage(m);
    }
  }

  private post(slot: Slot): void {
    slot.steps++;
    const job: PoolJob = { t: 'job', job: slot.current!.job, env: { ...process.env } as Record<string, string> };
    slot.worker.postMessage(job);
  }

  private idle(slot: Slot): void {
    slot.state = 'idle';
    slot.worker.unref();
    slot.idleTimer = setTimeout(() => void this.discard(slot, 'it was idle too long'), this.idleMs);
    slot.idleTimer.unref();
  }

  private discard(slot: Slot, why: string): Promise<void> {
    if (!slot.leaving) {
      slot.leaving = why;
      this.count(why);
      clearTimeout(slot.idleTimer);
    }
    return slot.worker.terminate().then(() => undefined, () => undefined);
  }

  private count(why: string): void {
    this.discarded[why] = (this.discarded[why] ?? 0) + 1;
  }
}

let shared: WorkerPool | undefined;

/** The pool `runTypeScriptStep` uses unless given another. */
export function sharedWorkerPool(): WorkerPool {
  shared ??= new WorkerPool();
  return shared;
}
