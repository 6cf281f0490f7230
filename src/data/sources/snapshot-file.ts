/**
 * What every reader of a data source shares: the snapshot file the rows are written to (JSON
 * Lines: numbers, booleans and nulls keep their types, text stays text, times are ISO-8601), the
 * progress callback, and the names errors use.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { TrellisError, invalid } from '../../core/errors.js';

export interface SourceProgress {
  /** Rows read so far (SQL sources). */
  rows?: number;
  /** Bytes read so far (files and objects). */
  bytes?: number;
  /** The size announced by the server, when it announced one. */
  totalBytes?: number;
  /** Set on the last call. */
  done?: boolean;
}

export type ProgressFn = (p: SourceProgress) => void;

/** A JSON value for one cell, in the form the JSON Lines reader reads back with the same type. */
export function jsonCell(v: unknown): unknown {
  if (v === undefined || v === null) return null;
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v.toISOString();
  if (Buffer.isBuffer(v)) return v.toString('base64');
  return v;
}

/** Refuses a result whose columns share a name: a row would keep only one of them. */
export function checkColumnNames(names: readonly string[], source: string): void {
  const seen = new Set<string>();
  for (const n of names) {
    if (seen.has(n)) {
      throw new TrellisError('TRELLIS_DATA_SOURCE_FAILED', {
        source, detail: `the query returns more than one column named '${n}'; give each column its own name (… AS ${n}_2)`,
      });
    }
    seen.add(n);
  }
  if (!names.length) throw invalid(`The query on ${source} returns no columns`);
}

/** Rows as JSON Lines into a file, waiting for the disk when it falls behind. */
export class JsonlWriter {
  private readonly out: WriteStream;
  rows = 0;

  constructor(readonly file: string, private readonly names: readonly string[]) {
    this.out = createWriteStream(file);
  }

  async write(rows: readonly (readonly unknown[])[]): Promise<void> {
    let chunk = '';
    for (const r of rows) {
      const o: Record<string, unknown> = {};
      for (let i = 0; i < this.names.length; i++) o[this.names[i]!] = jsonCell(r[i]);
      chunk += `${JSON.stringify(o)}\n`;
    }
    this.rows += rows.length;
    if (!this.out.write(chunk)) await once(this.out, 'drain');
  }

  async close(): Promise<void> {
    this.out.end();
    await once(this.out, 'close');
  }

  destroy(): void {
    this.out.destroy();
  }
}

/** An empty result is refused: a dataset version holds at least one row. */
export function emptyResult(source: string, what: string): TrellisError {
  return new TrellisError('TRELLIS_DATA_EMPTY', { file: source, detail: what });
}

/** `host:port` of a database URL, for connection errors. */
export function hostPort(url: URL, defaultPort: number): string {
  return `${url.hostname || 'localhost'}:${url.port || defaultPort}`;
}

/** A connection that could not be made, or broke: names host:port and what the system said. */
export function unreachable(source: string, where: string, e: unknown): TrellisError {
  const err = e as NodeJS.ErrnoException;
  const why = err.code === 'ECONNREFUSED' ? 'connection refused'
    : err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN' ? 'the host name does not resolve'
      : err.code === 'ETIMEDOUT' ? 'the connection timed out'
        : err.code === 'ECONNRESET' ? 'the connection was reset'
          : err.message || String(e);
  return new TrellisError('TRELLIS_DATA_SOURCE_UNREACHABLE', { source, detail: `${where}: ${why}` });
}

export const NETWORK_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE']);
