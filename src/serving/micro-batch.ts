/**
 * Adaptive micro-batching: requests that arrive together run as one batch, and each gets back its
 * own slice of the batch's result. Used for ONNX models, where one onnxruntime run over many rows
 * costs far less than one run per request.
 *
 * The policy, which adapts the batch size to the load without a tuning knob beyond two bounds:
 * - Nothing in flight: a request runs at once, alone. A lone request pays no delay.
 * - A batch in flight: requests wait in a queue. When the batch finishes, everything queued runs
 *   as the next batch, so under load a batch holds what arrived during the previous run.
 * - The queue also goes as soon as it holds `maxRows` rows (a batch holds at most `maxRows` rows,
 *   but always at least one request), or when its oldest request has waited `maxDelayMs`, even
 *   while a batch is still in flight.
 * A failure of the batch (the runtime's) fails every request in it with that error; what is wrong
 * with one request's own input is for the caller to find before {@link MicroBatcher.add}, so it
 * fails that request alone.
 */

export interface MicroBatchOptions<T, R, O> {
  /** Most rows in one batch (a larger request runs alone). */
  maxRows: number;
  /** Longest a queued request waits while a batch is in flight, in ms. */
  maxDelayMs: number;
  /** Runs one batch: the requests' items in the order they arrived. */
  run(items: T[]): Promise<R>;
  /** A request's part of the batch's result: rows [start, end). */
  slice(result: R, start: number, end: number): O;
}

interface Pending<T, O> {
  item: T;
  rows: number;
  resolve(o: O): void;
  reject(e: unknown): void;
}

export class MicroBatcher<T, R, O> {
  private queue: Pending<T, O>[] = [];
  private queuedRows = 0;
  private inFlight = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly o: MicroBatchOptions<T, R, O>) {
    if (!(Number.isSafeInteger(o.maxRows) && o.maxRows >= 1)) throw new RangeError(`maxRows must be a whole number of 1 or more, got ${o.maxRows}`);
    if (!(Number.isFinite(o.maxDelayMs) && o.maxDelayMs >= 0)) throw new RangeError(`maxDelayMs must be a number of 0 or more, got ${o.maxDelayMs}`);
  }

  /** Queues one request of `rows` rows; resolves with its slice of the batch's result. */
  add(item: T, rows: number): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, rows, resolve, reject });
      this.queuedRows += rows;
      if (this.inFlight === 0 || this.queuedRows >= this.o.maxRows) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.o.maxDelayMs);
    });
  }

  /** Starts a batch of the queue's head; what does not fit stays queued. */
  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.queue.length === 0) return;
    let rows = this.queue[0]!.rows;
    let take = 1;
    while (take < this.queue.length && rows + this.queue[take]!.rows <= this.o.maxRows) rows += this.queue[take++]!.rows;
    const batch = this.queue.splice(0, take);
    this.queuedRows -= rows;
    this.inFlight++;
    void this.runBatch(batch);
    if (this.queuedRows >= this.o.maxRows) this.flush();
    else if (this.queue.length > 0) this.timer = setTimeout(() => this.flush(), this.o.maxDelayMs);
  }

  private async runBatch(batch: Pending<T, O>[]): Promise<void> {
    try {
      const result = await this.o.run(batch.map((p) => p.item));
      let start = 0;
      for (const p of batch) {
        try {
          p.resolve(this.o.slice(result, start, start + p.rows));
        } catch (e) {
          p.reject(e);
        }
        start += p.rows;
      }
    } catch (e) {
      for (const p of batch) p.reject(e);
    } finally {
      this.inFlight--;
      if (this.queue.length > 0) this.flush();
    }
  }
}
