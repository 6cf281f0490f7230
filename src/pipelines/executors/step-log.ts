/**
 * The step log and the bits of output kept in memory. Child output is piped into the log file
 * (with backpressure, so a chatty component never grows our heap); only the last few KiB of
 * stderr are kept, for the error message when the component fails.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import type { Readable, Writable } from 'node:stream';

const TAIL_BYTES = 16 * 1024;
const TAIL_LINES = 20;
const LINE_CHARS = 500;

/** The last bytes written to a stream, as lines. */
export class OutputTail {
  private chunks: Buffer[] = [];
  private bytes = 0;

  push(chunk: Buffer | string): void {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    this.chunks.push(b);
    this.bytes += b.length;
    while (this.bytes - this.chunks[0]!.length >= TAIL_BYTES) this.bytes -= this.chunks.shift()!.length;
  }

  /** The last `n` non-empty lines, each cut to a readable length. */
  lines(n = TAIL_LINES): string[] {
    let text = Buffer.concat(this.chunks).toString('utf8');
    if (this.bytes > TAIL_BYTES) text = text.slice(text.length - TAIL_BYTES);
    const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
    if (this.bytes > TAIL_BYTES && lines.length) lines[0] = `…${lines[0]}`;
    return lines.slice(-n).map((l) => (l.length > LINE_CHARS ? `${l.slice(0, LINE_CHARS)}…` : l));
  }

  /** "; last lines of stderr:\n  …" or a note that stderr was empty. */
  describe(stream = 'stderr'): string {
    const lines = this.lines();
    return lines.length ? `; last lines of ${stream}:\n  ${lines.join('\n  ')}` : ` (${stream} was empty)`;
  }
}

/** Copies `source` into `log` without ending it; resolves when the source has ended or closed. */
export function pipeInto(source: Readable | null | undefined, log: Writable, tail?: OutputTail): Promise<void> {
  if (!source) return Promise.resolve();
  if (tail) source.on('data', (c: Buffer) => tail.push(c));
  source.pipe(log, { end: false });
  return new Promise((resolve) => {
    const done = () => { source.unpipe(log); resolve(); };
    source.once('end', done);
    source.once('close', done);
    source.once('error', done);
  });
}

/** Waits for the streams to drain, at most `ms` (a grandchild may hold a pipe open); then lets go of them. */
export async function drain(sources: (Readable | null | undefined)[], pending: Promise<unknown>[], ms = 2000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([Promise.all(pending), new Promise((r) => { timer = setTimeout(r, ms); })]);
  clearTimeout(timer);
  for (const s of sources) s?.destroy();
}

/** Opens (truncates) the step log; rejects when it cannot be written. A later write error is ignored: the step goes on. */
export function openLog(path: string): Promise<WriteStream> {
  const log = createWriteStream(path, { flags: 'w' });
  return new Promise((resolve, reject) => {
    log.once('open', () => {
      log.on('error', () => undefined);
      resolve(log);
    });
    log.once('error', reject);
  });
}

export function closeLog(log: WriteStream): Promise<void> {
  return new Promise((resolve) => log.end(() => resolve()));
}
