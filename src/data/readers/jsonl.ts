/**
 * JSON Lines (one JSON object per line) into a table, reading 1 MB at a time. Keys become columns
 * in the order they first appear; a row without a key is null there. JSON numbers and booleans
 * keep their types, ISO-8601 strings become datetimes, other strings stay strings (JSON already
 * said they are text, so "007" stays "007"), and nested objects or arrays are kept as JSON text.
 */
import { isUtf8 } from 'node:buffer';
import { TrellisError } from '../../core/errors.js';
import { TableBuilder, type Table, type TableSchema } from '../table.js';
import { findInvalidUtf8 } from './cells.js';
import { openError, type ReadResult } from './files.js';
import { sourceChunks, sourceName, type DataSource } from './source.js';

export interface JsonlOptions {
  /** Types to impose on named keys instead of inferring them. */
  readonly types?: TableSchema;
  /** Stop after this many rows. */
  readonly maxRows?: number;
}

const LF = 10;
const CR = 13;

function parseError(file: string, line: number, column: number, detail: string): TrellisError {
  return new TrellisError('TRELLIS_DATA_PARSE', { file, line, column, detail });
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return `a ${typeof v}`;
}

function firstNonBlank(text: string): number {
  const m = /\S/.exec(text);
  return m ? m.index : 0;
}

export async function readJsonlWithInference(source: DataSource, options: JsonlOptions = {}): Promise<ReadResult> {
  const path = sourceName(source);
  const builder = new TableBuilder([], { types: options.types });
  const maxRows = options.maxRows ?? Infinity;
  let line = 1;
  let offset = 0;
  let sawObject = false;

  const readLine = (buf: Buffer, s: number, e: number): void => {
    if (e > s && buf[e - 1] === CR) e--;
    let text = buf.toString('utf8', s, e);
    if (line === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    if (text.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      const message = (err as Error).message;
      const at = /at position (\d+)/.exec(message);
      throw parseError(path, line, at ? Number(at[1]) + 1 : firstNonBlank(text) + 1, `invalid JSON: ${message}`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw parseError(path, line, firstNonBlank(text) + 1,
        `expected a JSON object, found ${describe(value)}; each line must hold one object whose keys are the columns`);
    }
    sawObject = true;
    const bad = builder.appendRecord(value as Record<string, unknown>, line);
    if (bad) {
      const at = text.indexOf(JSON.stringify(bad.column));
      throw parseError(path, line, at >= 0 ? at + 1 : 1, bad.detail);
    }
  };

  // Reads the complete lines of buf; returns where the unfinished last line starts.
  const readLines = (buf: Buffer, final: boolean): number => {
    const last = final ? buf.length : buf.lastIndexOf(LF) + 1;
    if (last > 0 && !isUtf8(buf.subarray(0, last))) {
      const bad = findInvalidUtf8(buf, 0, last);
      let l = line;
      let ls = 0;
      for (let i = 0; i < bad; i++) if (buf[i] === LF) { l++; ls = i + 1; }
      throw parseError(path, l, [...buf.toString('utf8', ls, bad)].length + 1,
        `invalid UTF-8: byte 0x${buf[bad]!.toString(16).padStart(2, '0')} at byte offset ${offset + bad} does not start or continue a character; save the file as UTF-8`);
    }
    let s = 0;
    while (s < last && builder.rowCount < maxRows) {
      let nl = buf.indexOf(LF, s);
      if (nl < 0 || nl >= last) nl = last;
      readLine(buf, s, nl);
      line++;
      s = nl + 1;
    }
    return Math.min(s, last);
  };

  const stream = sourceChunks(source, 1 << 20);
  let pending: Buffer[] = [];
  try {
    for await (const c of stream) {
      pending.push(c);
      // A line longer than a chunk: join only once its end has arrived, not on every chunk.
      if (c.indexOf(LF) < 0) continue;
      const buf = pending.length === 1 ? c : Buffer.concat(pending);
      pending = [];
      const used = readLines(buf, false);
      offset += used;
      if (used < buf.length) pending.push(buf.subarray(used));
      if (builder.rowCount >= maxRows) break;
    }
    if (builder.rowCount < maxRows && pending.length) readLines(Buffer.concat(pending), true);
  } catch (e) {
    throw openError(e, path);
  } finally {
    await stream.return(undefined);
  }
  if (!sawObject) throw new TrellisError('TRELLIS_DATA_EMPTY', { file: path, detail: 'the file holds no JSON object' });
  return { table: builder.finish(), inference: builder.inference() };
}

export async function readJsonl(source: DataSource, options: JsonlOptions = {}): Promise<Table> {
  return (await readJsonlWithInference(source, options)).table;
}
