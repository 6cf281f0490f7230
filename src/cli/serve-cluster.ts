/**
 * `trellis serve --workers N`: N worker processes serve one REST port and one gRPC port
 * (node:cluster; the primary accepts connections and hands them to the workers in turn). Each worker
 * is a whole replica (its own engine, prediction logger and rollout controller, the store's lease
 * letting one controller act), so a machine's cores all answer requests. The primary runs no
 * model: it starts the workers (the first alone, so that a port in use or a bad store is reported
 * once), says where they listen, restarts one that dies, forwards SIGTERM / Ctrl-C to them and
 * exits when they have drained, and answers `GET /metrics` for all of them (prom-client's cluster
 * aggregation; each worker's series carry its `worker` label).
 */
import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';

/** What a worker says once it listens: its ports, and the line the primary logs for all. */
export interface WorkerReady { rest: number; grpc?: number; fields: Record<string, unknown>; message: string }

type ToPrimary =
  | ({ trellis: 'ready' } & WorkerReady)
  | { trellis: 'metrics?'; id: number }
  | { trellis: 'metrics-json'; id: number; json: unknown };
type ToWorker =
  | { trellis: 'metrics-json?'; id: number }
  | { trellis: 'metrics'; id: number; text?: string; error?: string };

const isMessage = (m: unknown): m is { trellis: string; id?: number } => typeof m === 'object' && m !== null && typeof (m as { trellis?: unknown }).trellis === 'string';

/** More unexpected exits than this within a minute and the primary stops instead of restarting. */
const MAX_RESTARTS_PER_MINUTE = 5;
/** How long the primary waits for each worker's metrics. */
const METRICS_TIMEOUT_MS = 2000;

/** The worker's slot (1..N) when this process is a `trellis serve` worker, else undefined. */
export function workerSlot(): number | undefined {
  return cluster.isWorker ? Number(process.env.TRELLIS_SERVE_WORKER) || cluster.worker?.id : undefined;
}

export interface SuperviseOptions {
  workers: number;
  log: Logger;
  /** Merges the workers' `getMetricsAsJSON()` into one exposition text. */
  aggregate(parts: unknown[]): Promise<string>;
  /** Called once, when every worker listens. */
  listening(ready: WorkerReady): void;
}

/**
 * Runs the primary: resolves with the exit code once the workers are gone (after a signal, a
 * failed start, or too many crashes).
 */
export function superviseWorkers(o: SuperviseOptions): Promise<number> {
  const { log } = o;
  const bySlot = new Map<number, Worker>();
  const ready = new Map<Worker, WorkerReady>();
  const exits: number[] = [];
  const collecting = new Map<number, { parts: unknown[]; waiting: Set<Worker>; done(): void }>();
  let nextId = 1;
  let phase: 'starting' | 'running' | 'stopping' = 'starting';
  let code = 0;
  let finish: (code: number) => void = () => undefined;
  const finished = new Promise<number>((resolve) => { finish = resolve; });
  let started: (() => void) | undefined;
  let failedStart: ((e: Error) => void) | undefined;

  const stopAll = (signal: NodeJS.Signals, exitCode: number): void => {
    if (phase === 'stopping') return;
    phase = 'stopping';
    code = Math.max(code, exitCode);
    for (const w of bySlot.values()) if (!w.isDead()) w.process.kill(signal);
    maybeDone();
  };
  const maybeDone = (): void => {
    if (phase === 'stopping' && [...bySlot.values()].every((w) => w.isDead())) finish(code);
  };

  const collectMetrics = async (): Promise<string> => {
    const id = nextId++;
    const live = [...bySlot.values()].filter((w) => !w.isDead() && w.isConnected());
    const parts: unknown[] = [];
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => { collecting.delete(id); resolve(); }, METRICS_TIMEOUT_MS);
      const entry = { parts, waiting: new Set(live), done: () => { clearTimeout(timer); collecting.delete(id); resolve(); } };
      collecting.set(id, entry);
      for (const w of live) w.send({ trellis: 'metrics-json?', id } satisfies ToWorker, undefined, (err) => { if (err) { entry.waiting.delete(w); if (!entry.waiting.size) entry.done(); } });
      if (!live.length) entry.done();
    });
    return o.aggregate(parts);
  };

  const onMessage = (w: Worker, m: unknown): void => {
    if (!isMessage(m)) return;
    const msg = m as ToPrimary;
    if (msg.trellis === 'ready') {
      ready.set(w, { rest: msg.rest, ...(msg.grpc !== undefined ? { grpc: msg.grpc } : {}), fields: msg.fields, message: msg.message });
      if (phase === 'starting' && started) started();
    } else if (msg.trellis === 'metrics-json') {
      const entry = collecting.get(msg.id);
      if (!entry) return;
      entry.parts.push(msg.json);
      entry.waiting.delete(w);
      if (!entry.waiting.size) entry.done();
    } else if (msg.trellis === 'metrics?') {
      collectMetrics().then(
        (text) => { if (w.isConnected()) w.send({ trellis: 'metrics', id: msg.id, text } satisfies ToWorker); },
        (err: Error) => { if (w.isConnected()) w.send({ trellis: 'metrics', id: msg.id, error: err.message } satisfies ToWorker); },
      );
    }
  };

  const fork = (slot: number): Worker => {
    const w = cluster.fork({ TRELLIS_SERVE_WORKER: String(slot) });
    bySlot.set(slot, w);
    w.on('message', (m: unknown) => onMessage(w, m));
    w.on('exit', (exitCode, signal) => {
      ready.delete(w);
      for (const entry of collecting.values()) if (entry.waiting.delete(w) && !entry.waiting.size) entry.done();
      const how = signal ? `signal ${signal}` : `code ${exitCode}`;
      if (phase === 'stopping') {
        if (exitCode) code = Math.max(code, exitCode);
        maybeDone();
      } else if (phase === 'starting') {
        // The worker has said why (a port in use, a store that does not open); the others stop.
        failedStart?.(new Error(`worker ${slot} exited with ${how} while starting`));
      } else {
        exits.push(Date.now());
        while (exits.length && exits[0]! < Date.now() - 60_000) exits.shift();
        if (exits.length > MAX_RESTARTS_PER_MINUTE) {
          log.fatal({ event: 'worker-exit', worker: slot, pid: w.process.pid, exitCode, signal }, `worker ${slot} (pid ${w.process.pid}) exited with ${how}: more than ${MAX_RESTARTS_PER_MINUTE} workers ended within a minute; stopping`);
          stopAll('SIGTERM', 1);
          return;
        }
        log.error({ event: 'worker-exit', worker: slot, pid: w.process.pid, exitCode, signal }, `worker ${slot} (pid ${w.process.pid}) exited with ${how}; starting another`);
        fork(slot);
      }
    });
    return w;
  };

  /** Forks the given slots and waits until each has said it listens (or one has died). */
  const start = (slots: number[]): Promise<void> => new Promise<void>((resolve, reject) => {
    const ws = slots.map(fork);
    started = () => { if (ws.every((w) => ready.has(w))) resolve(); };
    failedStart = reject;
  });

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      log.warn({ signal }, 'second signal during shutdown; stopping the workers without waiting');
      code = 1;
      for (const w of bySlot.values()) if (!w.isDead()) w.process.kill('SIGKILL');
      return;
    }
    log.info({ signal, event: 'draining' }, `shutting down ${bySlot.size} workers: no new connections, finishing requests in flight`);
    stopAll('SIGTERM', 0);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  void (async () => {
    try {
      await start([1]);
      if (phase !== 'starting') return;
      await start(Array.from({ length: o.workers - 1 }, (_, i) => i + 2));
      if (phase !== 'starting') return;
      phase = 'running';
      started = undefined;
      failedStart = undefined;
      o.listening(ready.get(bySlot.get(1)!)!);
    } catch {
      for (const w of bySlot.values()) if (!w.isDead()) w.process.kill('SIGKILL');
      phase = 'stopping';
      code = 1;
      maybeDone();
    }
  })();
  return finished.finally(() => {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  });
}

/**
 * The worker's side: tells the primary where it listens, hands over its metrics when asked, and
 * asks the primary for everyone's.
 */
export function workerChannel(json: () => Promise<unknown>): { ready(r: WorkerReady): void; metrics(): Promise<string> } {
  const pending = new Map<number, { resolve(text: string): void; reject(e: Error): void }>();
  let nextId = 1;
  process.on('message', (m: unknown) => {
    if (!isMessage(m)) return;
    const msg = m as ToWorker;
    if (msg.trellis === 'metrics-json?') {
      void json().then((j) => process.send?.({ trellis: 'metrics-json', id: msg.id, json: j } satisfies ToPrimary));
    } else if (msg.trellis === 'metrics') {
      const p = pending.get(msg.id);
      pending.delete(msg.id);
      if (msg.text !== undefined) p?.resolve(msg.text);
      else p?.reject(new Error(`metrics from the other workers: ${msg.error ?? 'no answer'}`));
    }
  });
  return {
    ready: (r) => { process.send?.({ trellis: 'ready', ...r } satisfies ToPrimary); },
    metrics: () => new Promise<string>((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => { pending.delete(id); reject(new Error('metrics: the primary process did not answer')); }, METRICS_TIMEOUT_MS * 2);
      pending.set(id, { resolve: (t) => { clearTimeout(timer); resolve(t); }, reject: (e) => { clearTimeout(timer); reject(e); } });
      process.send?.({ trellis: 'metrics?', id } satisfies ToPrimary);
    }),
  };
}
