/**
 * Distributed execution: the engine hands each step to a BullMQ queue on Redis, and
 * `trellis worker` processes — on this machine or others sharing the metadata store (PostgreSQL)
 * and the artifact store — take steps from it and execute them.
 *
 * The store, not Redis, is the record of what happened. A job carries a {@link StepJob}; its id is
 * the step run's id, so a step is queued at most once at a time. The worker records everything on
 * the step run (outputs, metrics, log, FINISHED or FAILED) and the engine waits on that record,
 * not on the queue. A worker executes a step only while it holds the step's lease, claimed by
 * compare-and-set and renewed by an unaudited touch every `heartbeatMs`; its records are fenced by
 * the lease's epoch. That is what makes the faults harmless:
 *
 * - A worker killed mid-step stops renewing its BullMQ lock; after `lockMs` another worker's stall
 *   check moves the job back to the queue and it runs again there, once the dead worker's lease
 *   has expired (the step run is still RUNNING; its outputs are written again from the start).
 * - Redis restarted with jobs in flight (and nothing saved): the engine sees its job gone while the
 *   step run is still RUNNING. If no worker's lease on it is live, it queues the job again; if one
 *   is, that worker is still executing the step and will record its end.
 * - A job delivered twice (re-queued while a live worker still had it): the second worker finds
 *   the step ended or another worker's live lease and does not execute it; it waits while that
 *   lease stays live and takes over only when it expires. Of two workers taking over at once,
 *   exactly one wins the lease. A worker that stalled past its lease and was taken over learns it
 *   at its next touch, stops, and cannot record an end.
 *
 * A cancel is recorded on the step run (audited); the holder reads it with its touch and turns it
 * into an abort.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker as Thread } from 'node:worker_threads';
import type { Job, Queue, Worker } from 'bullmq';
import { invalid } from '../../core/errors.js';
import { processGone } from '../../core/processes.js';
import type { Actor } from '../../store/ports/common.js';
import type { EngineServices, StepDispatcher } from '../engine/engine.js';
import type { LeaseFence } from '../../store/ports/pipelines.js';
import { executeStepJob, recordFailure, stepRecord, type StepJob, type StepRecord } from '../engine/step-exec.js';
import type { RunAs } from '../executors/index.js';

export const DEFAULT_QUEUE_NAME = 'trellis-steps';

export interface QueueTimings {
  /** How often a worker renews its lease on the step it executes (default 2000 ms). */
  heartbeatMs?: number;
  /** A lease not renewed for this long has expired: its worker is taken to be gone (default 3 × heartbeatMs). */
  leaseMs?: number;
}

export interface RedisConnection {
  host: string;
  port: number;
  db?: number;
  username?: string;
  password?: string;
  maxRetriesPerRequest: null;
}

/** `redis://[user:password@]host[:port][/db]` as BullMQ connection options. */
export function redisConnection(url: string): RedisConnection {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw invalid(`--queue '${url}' is not a URL: give redis://host:port[/db]`);
  }
  if (u.protocol !== 'redis:') throw invalid(`--queue '${url}': the scheme must be redis://`);
  const db = u.pathname && u.pathname !== '/' ? Number(u.pathname.slice(1)) : undefined;
  if (db !== undefined && (!Number.isInteger(db) || db < 0)) throw invalid(`--queue '${url}': the database after the host must be a number, got '${u.pathname.slice(1)}'`);
  return {
    host: u.hostname || '127.0.0.1', port: u.port ? Number(u.port) : 6379,
    ...(db !== undefined ? { db } : {}),
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    // Workers block on Redis; commands wait for a reconnect instead of failing after 20 tries.
    maxRetriesPerRequest: null,
  };
}

const jobId = (stepRunId: string) => `step-${stepRunId}`;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref?.());
/** A Redis call that gives up after `ms` (while Redis is down, commands wait for the reconnect). */
async function within<T>(ms: number, p: Promise<T>): Promise<T | 'timeout'> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((r) => { t = setTimeout(() => r('timeout'), ms); });
  p.catch(() => undefined);
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(t);
  }
}

export interface RedisDispatcherOptions extends QueueTimings {
  url: string;
  queueName?: string;
  /** How often the engine looks at a step run it is waiting on, at most (default 250 ms; it starts at 10 ms). */
  pollMs?: number;
}

/** The engine's side: queue each step and wait for its run to end. */
export class RedisDispatcher implements StepDispatcher {
  private constructor(private readonly s: EngineServices, private readonly who: Actor, private readonly queue: Queue, private readonly o: Required<Omit<RedisDispatcherOptions, 'url' | 'queueName'>>) {}

  static async open(s: EngineServices, who: Actor, o: RedisDispatcherOptions): Promise<RedisDispatcher> {
    const connection = redisConnection(o.url);
    const { Queue } = await import('bullmq');
    const queue = new Queue(o.queueName ?? DEFAULT_QUEUE_NAME, { connection });
    queue.on('error', () => undefined); // reconnects are ioredis's business; the engine watches the store
    const ok = await within(5000, queue.waitUntilReady());
    if (ok === 'timeout') {
      await queue.close().catch(() => undefined);
      throw invalid(`cannot reach Redis at ${o.url} (no answer in 5 s): is it running?`);
    }
    const heartbeatMs = o.heartbeatMs ?? 2000;
    return new RedisDispatcher(s, who, queue, { heartbeatMs, leaseMs: o.leaseMs ?? 3 * heartbeatMs, pollMs: o.pollMs ?? 250 });
  }

  private async enqueue(job: StepJob): Promise<void> {
    await this.queue.add('step', job, { jobId: jobId(job.stepRunId), attempts: 3, backoff: { type: 'exponential', delay: 1000 }, removeOnComplete: 1000, removeOnFail: 1000 });
  }

  async execute(job: StepJob, ctx: { signal?: AbortSignal }): Promise<StepRecord> {
    await this.enqueue(job);
    let wait = 10;
    let lastQueueCheck = Date.now();
    let missing = 0;
    const runs = this.s.pipelines;
    for (;;) {
      await sleep(wait);
      wait = Math.min(this.o.pollMs, wait * 2);
      const run = await runs.getStepRun(job.stepRunId);
      if (run.status !== 'RUNNING') return stepRecord(run);
      if (ctx.signal?.aborted) return this.stop(job.stepRunId);
      if (Date.now() - lastQueueCheck < Math.max(this.o.pollMs, 1000)) continue;
      lastQueueCheck = Date.now();
      const found = await within(1000, this.queue.getJob(jobId(job.stepRunId)));
      if (found === 'timeout') continue; // Redis is away; the store still tells when the step ends
      const lease = await runs.getStepLease(job.stepRunId);
      const live = !!lease && lease.expiresAt > Date.now();
      if (!found) {
        // Gone from Redis (restarted without its data): queue it again unless a live worker has it.
        if (!live && ++missing >= 2) {
          missing = 0;
          await within(2000, this.enqueue(job));
        }
        continue;
      }
      missing = 0;
      const state = await within(1000, found.getState());
      if (state === 'failed' && !live) {
        await recordFailure(this.s, this.who, job.stepRunId, `step '${job.step}': the queue gave up on it: ${found.failedReason || 'no reason given'}`);
        return stepRecord(await runs.getStepRun(job.stepRunId));
      }
      if (state === 'completed' && !live) {
        // A worker answered without recording an end (it found another worker's fresh heartbeat, which has since gone stale).
        await within(1000, found.remove());
        await within(2000, this.enqueue(job));
      }
    }
  }

  /** Cancels a step: out of the queue if it is still waiting, else asked to stop through its record; then recorded KILLED. */
  private async stop(stepRunId: string): Promise<StepRecord> {
    const runs = this.s.pipelines;
    await this.cancel(stepRunId);
    const until = Date.now() + 10_000;
    while (Date.now() < until) {
      const run = await runs.getStepRun(stepRunId);
      if (run.status !== 'RUNNING') return stepRecord(run);
      await sleep(100);
    }
    await recordFailure(this.s, this.who, stepRunId, 'the run was cancelled', { status: 'KILLED' });
    return stepRecord(await runs.getStepRun(stepRunId));
  }

  async cancel(stepRunId: string): Promise<void> {
    await this.s.pipelines.requestStepCancel(stepRunId, this.who).catch(() => undefined);
    const job = await within(1000, this.queue.getJob(jobId(stepRunId)));
    if (job && job !== 'timeout') {
      const state = await within(1000, job.getState());
      if (state === 'waiting' || state === 'delayed' || state === 'prioritized') await within(1000, job.remove());
    }
  }

  async close(): Promise<void> {
    await this.queue.close().catch(() => undefined);
  }
}

export interface StepWorkerOptions extends QueueTimings {
  url: string;
  queueName?: string;
  /** Steps this worker runs at once (default 1). */
  concurrency?: number;
  /** BullMQ lock: a worker that has not renewed it for this long is taken for dead (default 30000 ms). */
  lockMs?: number;
  /** Called with one line per event (taken, finished, failed, skipped). */
  log?: (line: string) => void;
  /**
   * The stores' URIs: steps then execute in threads of their own (opened on these URIs), so that a
   * long synchronous step (training) never starves the lock renewal and the heartbeats. Without
   * them, steps execute on the worker's own thread with the services it was given.
   */
  stores?: { store: string; artifacts: string };
  /** Who deployed pipelines' code runs as, this worker being root (see `userCodeUser`); over what a job says. */
  runAs?: RunAs;
}

const FROM_SOURCE = import.meta.url.endsWith('.ts');
const EXEC_THREAD = new URL(`./exec-thread${FROM_SOURCE ? '.ts' : '.js'}`, import.meta.url).href;

/** A thread for executing steps; under tsx (from source) it registers tsx first. */
function spawnThread(): Thread {
  const load = `import(${JSON.stringify(EXEC_THREAD)})`;
  if (!FROM_SOURCE) return new Thread(load, { eval: true });
  const [cjs, esm] = [import.meta.resolve('tsx/cjs/api'), import.meta.resolve('tsx/esm/api')].map((u) => JSON.stringify(u));
  return new Thread(`Promise.all([import(${cjs}), import(${esm})]).then(([c, e]) => { c.register(); e.register(); return ${load}; });`, { eval: true });
}

/** A `trellis worker`: takes steps from the queue and executes them against the shared stores. */
const WORK_ROOT_PREFIX = 'trellis-worker-';
/** In each step's folder: `<host> <pid>` of the worker process that made it. */
const OWNER_FILE = '.trellis-owner';

/** A step's folder under `parent`, marked with this process as its owner. */
export async function createWorkRoot(parent: string): Promise<string> {
  const dir = await mkdtemp(join(parent, WORK_ROOT_PREFIX));
  await writeFile(join(dir, OWNER_FILE), `${hostname()} ${process.pid}`);
  return dir;
}

/**
 * Removes the step folders under `parent` that workers killed outright left: those whose owner is
 * a process of this host that no longer exists. A folder of another host (a shared volume), of a
 * live process, or without an owner is left alone.
 */
export async function sweepDeadWorkRoots(parent: string): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await readdir(parent).catch(() => [] as string[])) {
    if (!name.startsWith(WORK_ROOT_PREFIX)) continue;
    const owner = await readFile(join(parent, name, OWNER_FILE), 'utf8').catch(() => '');
    const m = /^(\S+) (\d+)$/.exec(owner);
    if (!m || m[1] !== hostname() || Number(m[2]) === process.pid || !processGone(Number(m[2]))) continue;
    await rm(join(parent, name), { recursive: true, force: true }).catch(() => undefined);
    removed.push(name);
  }
  return removed;
}

export class StepWorker {
  readonly id = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  private worker?: Worker;
  private readonly idle: Thread[] = [];
  private readonly threads = new Set<Thread>();

  private constructor(private readonly s: EngineServices, private readonly who: Actor, private readonly o: StepWorkerOptions & { heartbeatMs: number; leaseMs: number }) {}

  static async start(s: EngineServices, who: Actor, o: StepWorkerOptions): Promise<StepWorker> {
    const heartbeatMs = o.heartbeatMs ?? 2000;
    const w = new StepWorker(s, who, { ...o, heartbeatMs, leaseMs: o.leaseMs ?? 3 * heartbeatMs });
    await sweepDeadWorkRoots(tmpdir());
    const { Worker } = await import('bullmq');
    const lockDuration = o.lockMs ?? 30_000;
    w.worker = new Worker(o.queueName ?? DEFAULT_QUEUE_NAME, (job) => w.process(job), {
      connection: redisConnection(o.url), concurrency: o.concurrency ?? 1,
      lockDuration, stalledInterval: Math.max(500, Math.floor(lockDuration / 2)), maxStalledCount: 5,
    });
    w.worker.on('error', (e) => o.log?.(`queue error: ${e.message}`));
    const ok = await within(5000, w.worker.waitUntilReady());
    if (ok === 'timeout') {
      await w.worker.close(true).catch(() => undefined);
      throw invalid(`cannot reach Redis at ${o.url} (no answer in 5 s): is it running?`);
    }
    return w;
  }

  private async process(job: Job): Promise<{ status: string }> {
    const data = job.data as StepJob;
    if (data?.v !== 1 || typeof data.stepRunId !== 'string') throw new Error(`job ${job.id} is not a Trellis step job (v1)`);
    const log = this.o.log ?? (() => undefined);
    const runs = this.s.pipelines;
    // Another worker's live lease: that worker is on it. Wait while it stays live; take over when it expires.
    let fence: LeaseFence;
    for (;;) {
      const claim = await runs.claimStepLease(data.stepRunId, { owner: this.id, ttlMs: this.o.leaseMs }, this.who);
      if (claim.outcome === 'ended') {
        log(`${data.step} (${data.stepRunId}): already ${claim.stepRun.status}, not run again`);
        return { status: claim.stepRun.status };
      }
      if (claim.outcome !== 'held') {
        fence = { owner: this.id, epoch: claim.lease.epoch };
        if (claim.stepRun.cancelRequested) {
          await recordFailure(this.s, this.who, data.stepRunId, 'the run was cancelled', { status: 'KILLED', fence });
          return { status: 'KILLED' };
        }
        if (claim.outcome === 'taken-over') log(`${data.step} (${data.stepRunId}): taken over from a worker whose lease expired`);
        // For MLflow clients, as before: who has the step, and how often it was delivered (not its heartbeats).
        await this.s.tracking.logBatch(data.stepRunId, { tags: [
          { key: 'trellis.worker', value: this.id }, { key: 'trellis.deliveries', value: String(claim.lease.deliveries) },
        ] }, this.who).catch(() => undefined);
        break;
      }
      await sleep(this.o.heartbeatMs);
    }
    log(`${data.step} (${data.stepRunId}): started`);
    const abort = new AbortController();
    const beat = setInterval(() => {
      void runs.touchStepLease(data.stepRunId, fence, this.o.leaseMs).then((t) => {
        // Cancelled, or taken over by another worker after this one stalled: stop; its records would be refused.
        if (!t.held || t.cancelRequested) abort.abort();
      }, () => undefined);
    }, this.o.heartbeatMs);
    const workRoot = await createWorkRoot(tmpdir());
    const t0 = Date.now();
    try {
      const rec = this.o.stores
        ? await this.inThread(data, fence, workRoot, abort.signal)
        : await executeStepJob(this.s, data, { who: this.who, workRoot, signal: abort.signal, fence, ...(this.o.runAs ? { runAs: this.o.runAs } : {}) });
      log(`${data.step} (${data.stepRunId}): ${rec.status} in ${Date.now() - t0} ms${rec.error ? `: ${rec.error}` : ''}`);
      return { status: rec.status };
    } finally {
      clearInterval(beat);
      await rm(workRoot, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  /** Executes a step in a thread of the pool; a thread that dies is replaced, never reused. */
  private inThread(job: StepJob, fence: LeaseFence, workRoot: string, signal: AbortSignal): Promise<StepRecord> {
    const t = this.idle.pop() ?? spawnThread();
    this.threads.add(t);
    return new Promise<StepRecord>((resolve, reject) => {
      const onAbort = () => t.postMessage({ type: 'abort' });
      const done = (ok: boolean) => {
        t.off('message', onMessage);
        t.off('error', onError);
        t.off('exit', onExit);
        signal.removeEventListener('abort', onAbort);
        if (ok) this.idle.push(t);
        else {
          this.threads.delete(t);
          void t.terminate();
        }
      };
      const onMessage = (m: { type: 'done'; rec: StepRecord } | { type: 'error'; message: string }) => {
        done(true);
        if (m.type === 'done') resolve(m.rec);
        else reject(new Error(m.message));
      };
      const onError = (e: Error) => {
        done(false);
        reject(e);
      };
      const onExit = (code: number) => {
        done(false);
        reject(new Error(`the step's thread exited with code ${code}`));
      };
      t.on('message', onMessage);
      t.on('error', onError);
      t.on('exit', onExit);
      signal.addEventListener('abort', onAbort, { once: true });
      t.postMessage({ type: 'run', job, fence, who: this.who, workRoot, store: this.o.stores!.store, artifacts: this.o.stores!.artifacts, runAs: this.o.runAs });
    });
  }

  /** Stops taking steps; waits for the ones running to end (or, with `force`, abandons them to the stall check). */
  async close(force = false): Promise<void> {
    await this.worker?.close(force);
    await Promise.all([...this.threads].map((t) => t.terminate()));
    this.threads.clear();
    this.idle.length = 0;
  }
}
