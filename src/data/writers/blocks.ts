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

/** A growing byte buffer. */
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
    this.room(n);
    const { buf } = this;
    let p = this.pos;
    for (let k = 0; k < n; k++) buf[p++] = s.charCodeAt(k);
    this.pos = p;
  }
  bytes(b: Uint8Array): void {
    const n = b.length;
    this.room(n);
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
  /** A finite number as JavaScript prints it; whole numbers digit by digit, the fast way. */
  number(v: number): void {
    if (Number.isInteger(v) && v > -1e15 && v < 1e15 && !Object.is(v, -0)) {
      this.room(17);
      const { buf } = this;
      if (v < 0) {
        buf[this.pos++] = 45;
        v = -v;
      }
      let digits = 1;
      for (let x = v; x >= 10; x = Math.floor(x / 10)) digits++;
      let p = this.pos + digits;
      this.pos = p;
      do {
        const q = Math.floor(v / 10);
        buf[--p] = 48 + (v - q * 10);
        v = q;
      } while (v > 0);
      return;
    }
    this.ascii(String(v));
  }
  take(): Buffer {
    const out = this.buf.subarray(0, this.pos);
    this.pos = 0;
    return out;
  }
}

/** Writes one column's cell of row i. */
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

function cellWriter(c: Column, d: Dialect): CellWriter {
  const nul = d.nullBytes;
  if (c.type === 'string') {
    const enc = c.dictionary.map((v) => Buffer.from(d.text(v)));
    const { codes } = c;
    return (out, i) => {
      const code = codes[i]!;
      out.bytes(code < 0 ? nul : enc[code]!);
    };
  }
  const { values, valid } = c;
  const TRUE = Buffer.from('true');
  const FALSE = Buffer.from('false');
  switch (c.type) {
    case 'boolean':
      return (out, i) => out.bytes(valid[i] ? (values[i] ? TRUE : FALSE) : nul);
    case 'datetime':
      return (out, i) => (valid[i] ? out.bytes(Buffer.from(d.text(new Date(values[i]!).toISOString()))) : out.bytes(nul));
    default:
      return (out, i) => {
        const v = values[i]!;
        if (!valid[i] || (d.finiteOnly && !Number.isFinite(v))) out.bytes(nul);
        else out.number(v);
      };
  }
}

export function csvEncoder(): BlockEncoder {
  const out = new Bytes();
  return {
    block(t, first) {
      if (first) out.bytes(Buffer.from(`${t.columns.map((c) => csvText(c.name)).join(',')}\n`));
      const cells = t.columns.map((c) => cellWriter(c, CSV_DIALECT));
      const k = cells.length;
      for (let i = 0; i < t.rowCount; i++) {
        cells[0]!(out, i);
        for (let j = 1; j < k; j++) {
          out.room(1);
          out.buf[out.pos++] = COMMA;
          cells[j]!(out, i);
        }
        out.room(1);
        out.buf[out.pos++] = LF;
      }
      return out.take();
    },
    end: () => '',
  };
}

export function jsonlEncoder(): BlockEncoder {
  const out = new Bytes();
  return {
    block(t) {
      const cells = t.columns.map((c) => cellWriter(c, JSON_DIALECT));
      const keys = t.columns.map((c, j) => Buffer.from(`${j ? ',' : '{'}${JSON.stringify(c.name)}:`));
      const k = cells.length;
      for (let i = 0; i < t.rowCount; i++) {
        for (let j = 0; j < k; j++) {
          out.bytes(keys[j]!);
          cells[j]!(out, i);
        }
        out.ascii('}\n');
      }
      return out.take();
    },
    end: () => '',
  };
}
