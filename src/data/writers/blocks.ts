/**
 * Tables written a block at a time — CSV, JSON Lines or Parquet — under a temporary name beside the
 * final file, renamed to it only once every block is written: a write stopped half-way (an error,
 * Ctrl-C) leaves nothing under the final name, and `abort` removes the temporary file.
 *
 * CSV cells are written as `trellis predict` writes them: null as an empty cell, datetimes in
 * ISO-8601, numbers as JavaScript prints them, and a cell quoted when it holds a quote, a comma, a
 * line break or surrounding spaces. The columns of the first block fix the file's columns; a later
 * block must have the same names (a Parquet column keeps the type of its first block, and takes a
 * later block's values of another type as text when it is a text column).
 */
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { TrellisError, invalid } from '../../core/errors.js';
import type { Column, Table } from '../table.js';
import type { BlockEncoder } from './encoder.js';

export type OutputFormat = 'csv' | 'jsonl' | 'parquet';

const EXTENSIONS: Record<string, OutputFormat> = { '.csv': 'csv', '.jsonl': 'jsonl', '.ndjson': 'jsonl', '.parquet': 'parquet', '.pq': 'parquet' };

/** The output format a path's extension names, or undefined. */
export function outputFormatOf(path: string): OutputFormat | undefined {
  return EXTENSIONS[extname(path).toLowerCase()];
}

export interface BlockWriter {
  /** The file being written until `finish` renames it. */
  readonly tempPath: string;
  write(t: Table): Promise<void>;
  /** Completes the file and gives it its final name. */
  finish(): Promise<void>;
  /** Removes the temporary file; the final name is never touched. */
  abort(): Promise<void>;
}

/**
 * Checks that `path` can be written (a known extension, an existing folder, not a folder itself)
 * without creating anything; returns its format.
 */
export function checkOutputPath(path: string, format?: OutputFormat): OutputFormat {
  const f = format ?? outputFormatOf(path);
  if (!f) throw invalid(`cannot write '${path}': its extension names no output format (${Object.keys(EXTENSIONS).join(' ')})`);
  const dir = dirname(resolve(path));
  let isDir: boolean;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    isDir = false;
  }
  if (!isDir) throw invalid(`cannot write '${path}': the folder '${dir}' does not exist`);
  try {
    if (statSync(path).isDirectory()) throw invalid(`cannot write '${path}': it is a folder`);
  } catch (e) {
    if (e instanceof TrellisError) throw e;
  }
  return f;
}

/** Opens `path` for writing block by block (see the module comment). */
export async function openBlockWriter(path: string, format?: OutputFormat): Promise<BlockWriter> {
  const f = checkOutputPath(path, format);
  const tempPath = join(dirname(resolve(path)), `.${basename(path)}.${process.pid}-${randomBytes(4).toString('hex')}.partial`);
  const encoder = f === 'csv' ? csvEncoder() : f === 'jsonl' ? jsonlEncoder() : (await import('./parquet.js')).parquetEncoder();
  let file: FileHandle | undefined = await open(tempPath, 'wx');
  let first = true;
  let names: string[] = [];
  const put = async (data: Uint8Array | string) => {
    // writeFile writes all of it from the current position, where write may stop short.
    if (data.length) await file!.writeFile(data);
  };
  return {
    tempPath,
    async write(t) {
      const these = t.columns.map((c) => c.name);
      if (first) names = these;
      else if (these.length !== names.length || these.some((n, i) => n !== names[i])) {
        throw invalid(`the columns of a later block (${these.join(', ')}) differ from the first block's (${names.join(', ')})`);
      }
      await put(encoder.block(t, first));
      first = false;
    },
    async finish() {
      await put(encoder.end());
      await file!.close();
      file = undefined;
      await rename(tempPath, path);
    },
    async abort() {
      await file?.close().catch(() => undefined);
      file = undefined;
      await rm(tempPath, { force: true });
    },
  };
}

// --- CSV and JSON Lines ------------------------------------------------------------------------
// Rows are written as bytes into one buffer per block (grown as needed, reused): building a string
// per row costs more in garbage collection than the whole rest of scoring.

const NEEDS_QUOTES = /[",\n\r]|^\s|\s$/;

/** A CSV cell's text: quoted when it holds a quote, a comma, a line break or surrounding spaces. */
export function csvText(s: string): string {
  return NEEDS_QUOTES.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

const COMMA = 44;
const LF = 10;

/** A growing byte buffer. Writers call `room` once per row, for the row's longest possible text. */
class Bytes {
  buf = Buffer.allocUnsafe(1 << 20);
  pos = 0;
  room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
  ascii(s: string): void {
    const n = s.length;
    const { buf } = this;
    let p = this.pos;
    for (let k = 0; k < n; k++) buf[p++] = s.charCodeAt(k);
    this.pos = p;
  }
  bytes(b: Uint8Array): void {
    const n = b.length;
    if (n < 32) {
      const { buf } = this;
      let p = this.pos;
      for (let k = 0; k < n; k++) buf[p++] = b[k]!;
      this.pos = p;
    } else {
      this.buf.set(b, this.pos);
      this.pos += n;
    }
  }
  /** A finite number as JavaScript prints it; 32-bit integers digit by digit, the fast way. */
  number(v: number): void {
    if (v !== (v | 0)) {
      this.ascii(String(v));
      return;
    }
    const { buf } = this;
    let u = v;
    if (u < 0) {
      buf[this.pos++] = 45;
      u = -u;
    }
    const digits = u < 10 ? 1 : u < 100 ? 2 : u < 1000 ? 3 : u < 10_000 ? 4 : u < 100_000 ? 5 : u < 1_000_000 ? 6 : u < 10_000_000 ? 7 : u < 100_000_000 ? 8 : u < 1_000_000_000 ? 9 : 10;
    let p = this.pos + digits;
    this.pos = p;
    do {
      const q = (u / 10) | 0;
      buf[--p] = 48 + u - q * 10;
      u = q;
    } while (u > 0);
  }
  take(): Buffer {
    const out = this.buf.subarray(0, this.pos);
    this.pos = 0;
    return out;
  }
}

/** Writes one column's cell of row i (room for it has been made). */
type CellWriter = (out: Bytes, i: number) => void;

/** How cells are spelled: CSV (null empty, text quoted when needed) or JSON. */
interface Dialect {
  text(s: string): string;
  nullBytes: Uint8Array;
  /** Whether NaN and infinities are written as null (JSON has neither). */
  finiteOnly: boolean;
}

const CSV_DIALECT: Dialect = { text: csvText, nullBytes: new Uint8Array(0), finiteOnly: false };
const JSON_DIALECT: Dialect = { text: (s) => JSON.stringify(s), nullBytes: Buffer.from('null'), finiteOnly: true };
const TRUE = Buffer.from('true');
const FALSE = Buffer.from('false');
/** The longest text of a number (-1.2345678901234567e-308) or a datetime in JSON ("+275760-09-13T00:00:00.000Z"). */
const MAX_NUMBER = 32;

/** A column's cell writer, and the most bytes one of its cells takes. */
function cellWriter(c: Column, d: Dialect): { write: CellWriter; max: number } {
  const nul = d.nullBytes;
  if (c.type === 'string') {
    const enc = c.dictionary.map((v) => Buffer.from(d.text(v)));
    const { codes } = c;
    return {
      max: enc.reduce((m, b) => Math.max(m, b.length), nul.length),
      write: (out, i) => {
        const code = codes[i]!;
        out.bytes(code < 0 ? nul : enc[code]!);
      },
    };
  }
  const { values, valid } = c;
  switch (c.type) {
    case 'boolean':
      return { max: 5, write: (out, i) => out.bytes(valid[i] ? (values[i] ? TRUE : FALSE) : nul) };
    case 'datetime':
      return { max: MAX_NUMBER, write: (out, i) => (valid[i] ? out.ascii(d.text(new Date(values[i]!).toISOString())) : out.bytes(nul)) };
    default:
      return {
        max: MAX_NUMBER,
        write: (out, i) => {
          const v = values[i]!;
          if (!valid[i] || (d.finiteOnly && !Number.isFinite(v))) out.bytes(nul);
          else out.number(v);
        },
      };
  }
}

/** Writes the rows of a block, each `open`, its cells with `sep[j]` before cell j, then `close`. */
function writeRows(out: Bytes, t: Table, d: Dialect, seps: Uint8Array[], close: Uint8Array): void {
  const cells = t.columns.map((c) => cellWriter(c, d));
  const writers = cells.map((c) => c.write);
  const rowMax = cells.reduce((m, c, j) => m + c.max + seps[j]!.length, close.length);
  const k = writers.length;
  for (let i = 0; i < t.rowCount; i++) {
    out.room(rowMax);
    for (let j = 0; j < k; j++) {
      const sep = seps[j]!;
      if (sep.length === 1) out.buf[out.pos++] = sep[0]!;
      else out.bytes(sep);
      writers[j]!(out, i);
    }
    out.bytes(close);
  }
}

const NOTHING = new Uint8Array(0);
const COMMA_BYTES = Uint8Array.of(COMMA);
const NEWLINE = Uint8Array.of(LF);

export function csvEncoder(): BlockEncoder {
  const out = new Bytes();
  return {
    block(t, first) {
      if (first) {
        const head = Buffer.from(`${t.columns.map((c) => csvText(c.name)).join(',')}\n`);
        out.room(head.length);
        out.bytes(head);
      }
      writeRows(out, t, CSV_DIALECT, t.columns.map((_, j) => (j ? COMMA_BYTES : NOTHING)), NEWLINE);
      return out.take();
    },
    end: () => '',
  };
}

export function jsonlEncoder(): BlockEncoder {
  const out = new Bytes();
  const close = Buffer.from('}\n');
  return {
    block(t) {
      writeRows(out, t, JSON_DIALECT, t.columns.map((c, j) => Buffer.from(`${j ? ',' : '{'}${JSON.stringify(c.name)}:`)), close);
      return out.take();
    },
    end: () => '',
  };
}
