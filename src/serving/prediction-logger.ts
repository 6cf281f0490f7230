/**
 * Writes the prediction log off the request path: each answer is turned into an entry and queued;
 * a timer (or a full batch) writes the queue in one append. Memory stays bounded when the store is
 * slow or down: beyond `maxQueue` entries, new ones are dropped and counted rather than blocking
 * the request or growing without end. A sample rate below 1 logs that fraction of the requests
 * (decided per request id, so a request's primary and shadow entries are kept or dropped together).
 */
import type { PredictionEntry } from '../store/ports/predictions.js';
import type { Served } from './engine.js';
import { stickyHash } from './engine.js';

export interface PredictionLoggerOptions {
  /** Where batches go (the prediction log's append). */
  sink: (entries: PredictionEntry[]) => Promise<void>;
  /** Fraction of requests logged, 0–1 (default 1). */
  sampleRate?: number;
  /** Entries held at most while the sink is slow (default 20,000). */
  maxQueue?: number;
  /** Entries per append (default 1,000). */
  batchSize?: number;
  /** Time between flushes, ms (default 250). */
  flushMs?: number;
  onError?: (e: Error, dropped: number) => void;
}

export function entryOf(s: Served): PredictionEntry {
  const e: PredictionEntry = {
    requestId: s.requestId, endpoint: s.endpoint, time: s.time, model: s.model, version: s.version, route: s.route, shadow: s.shadow,
    latencyMs: Math.round(s.latencyMs * 1000) / 1000, inputs: s.records,
  };
  const p = s.result?.predictions;
  if (p) {
    const classes = p.classes;
    const n = p.prediction.length;
    if (classes) {
      const c = classes.length;
      const labels = new Array<string | number>(n);
      for (let i = 0; i < n; i++) labels[i] = classes[p.prediction[i]!] ?? p.prediction[i]!;
      e.predictions = labels;
      e.classes = classes;
      const proba = p.proba;
      if (proba) {
        const rows = new Array<number[]>(n);
        for (let i = 0; i < n; i++) {
          const row = new Array<number>(c);
          for (let k = 0; k < c; k++) row[k] = proba[i * c + k]!;
          rows[i] = row;
        }
        e.proba = rows;
      }
    } else e.predictions = Array.from(p.prediction);
  }
  if (s.error) e.error = s.error.message;
  return e;
}

export class PredictionLogger {
  private queue: PredictionEntry[] = [];
  private timer?: NodeJS.Timeout;
  private flushing?: Promise<void>;
  /** Entries dropped because the queue was full. */
  dropped = 0;
  /** Entries written. */
  written = 0;
  /** Appends that failed (their entries are dropped and counted). */
  failures = 0;
  private readonly sample: number;
  private readonly maxQueue: number;
  private readonly batchSize: number;

  constructor(private readonly o: PredictionLoggerOptions) {
    const rate = o.sampleRate ?? 1;
    if (!(rate >= 0 && rate <= 1)) throw new RangeError(`sample rate ${rate} is not between 0 and 1`);
    this.sample = rate;
    this.maxQueue = o.maxQueue ?? 20_000;
    this.batchSize = o.batchSize ?? 1000;
    this.timer = setInterval(() => void this.flush(), o.flushMs ?? 250);
    this.timer.unref();
  }

  /** Queues an answer (never throws, never waits). */
  add(s: Served): void {
    if (this.sample < 1 && stickyHash(s.requestId) >= this.sample) return;
    if (this.queue.length >= this.maxQueue) {
      this.dropped++;
      return;
    }
    this.queue.push(entryOf(s));
    if (this.queue.length >= this.batchSize) void this.flush();
  }

  get pending(): number {
    return this.queue.length;
  }

  /** Writes what is queued, one batch at a time; concurrent calls share the run. */
  flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    if (!this.queue.length) return Promise.resolve();
    const run = (async () => {
      while (this.queue.length) {
        const batch = this.queue.splice(0, this.batchSize);
        try {
          await this.o.sink(batch);
          this.written += batch.length;
        } catch (e) {
          this.failures++;
          this.dropped += batch.length;
          this.o.onError?.(e as Error, batch.length);
        }
      }
    })();
    // Cleared once the run is over (never inside it: a run that awaits nothing ends before it is stored).
    this.flushing = run.finally(() => { this.flushing = undefined; });
    return this.flushing;
  }

  /** Stops the timer and writes what is left. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }
}
