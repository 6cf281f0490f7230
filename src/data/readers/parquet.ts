/**
 * Parquet into a table, with hyparquet (pure JS, no native build) and its decompressors
 * (Snappy, gzip, Brotli, LZ4, Zstandard). The file is read whole — Parquet is compressed, so it
 * is small beside the table it becomes — and its page headers are checked before decoding.
 *
 * Types follow the file's schema: integer physical types → integer, FLOAT/DOUBLE/DECIMAL →
 * float, BOOLEAN → boolean, DATE/TIMESTAMP/INT96 → datetime (ms, UTC), strings and enums →
 * string; nested and binary columns are kept as JSON or text. NaN counts as null.
 */
import { open } from 'node:fs/promises';
import {
  parquetMetadataAsync, parquetSchema, parquetScan,
  type AsyncBuffer, type FileMetaData, type SchemaElement, type SchemaTree,
} from 'hyparquet';
import { parquetHeader } from 'hyparquet/src/column.js';
import { compressors } from 'hyparquet-compressors';
import { TrellisError } from '../../core/errors.js';
import type { ColumnType, Table } from '../table.js';
import { openError, type ReadResult } from './files.js';
import { sourceBytes, sourceName, sourcePath, type DataSource } from './source.js';
import { TypedColumn, typedResult } from './typed-column.js';

export interface ParquetOptions {
  /** Read only these columns, in this order. */
  readonly columns?: readonly string[];
  /** Stop after this many rows. */
  readonly maxRows?: number;
}

const MAGIC = Buffer.from('PAR1');
const MS_PER_DAY = 86400000;

/** hyparquet hands datetimes to these instead of making Date objects: the table wants ms. */
const parsers = {
  timestampFromMilliseconds: (v: bigint) => Number(v),
  timestampFromMicroseconds: (v: bigint) => Number(v) / 1000,
  timestampFromNanoseconds: (v: bigint) => Number(v) / 1e6,
  dateFromDays: (days: number) => days * MS_PER_DAY,
};

function formatError(file: string, detail: string, cause?: unknown): TrellisError {
  return new TrellisError('TRELLIS_DATA_FORMAT', { file, format: 'Parquet', detail }, { cause });
}

/** The column type a Parquet schema element maps to. */
export function parquetColumnType(el: SchemaElement, nested: boolean): ColumnType {
  if (nested) return 'string';
  const logical = el.logical_type?.type;
  const converted = el.converted_type;
  if (logical === 'DATE' || logical === 'TIMESTAMP' || converted === 'DATE' || converted === 'TIMESTAMP_MILLIS'
    || converted === 'TIMESTAMP_MICROS' || el.type === 'INT96') return 'datetime';
  if (logical === 'DECIMAL' || converted === 'DECIMAL' || logical === 'FLOAT16') return 'float';
  switch (el.type) {
    case 'BOOLEAN': return 'boolean';
    case 'INT32':
    case 'INT64': return 'integer';
    case 'FLOAT':
    case 'DOUBLE': return 'float';
    default: return 'string';
  }
}

async function checkMagic(path: string): Promise<number> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (e) {
    throw openError(e, path);
  }
  try {
    const { size } = await handle.stat();
    if (size === 0) throw new TrellisError('TRELLIS_DATA_EMPTY', { file: path, detail: 'the file is empty' });
    if (size < 12) throw formatError(path, `truncated or not a Parquet file: ${size} bytes is too short to hold one`);
    const head = Buffer.alloc(4);
    const tail = Buffer.alloc(4);
    await handle.read(head, 0, 4, 0);
    await handle.read(tail, 0, 4, size - 4);
    checkEnds(path, head, tail);
    return size;
  } finally {
    await handle.close();
  }
}

/** {@link checkMagic} for bytes already in memory. */
function checkMagicBytes(name: string, bytes: Buffer): void {
  if (bytes.length === 0) throw new TrellisError('TRELLIS_DATA_EMPTY', { file: name, detail: 'the file is empty' });
  if (bytes.length < 12) throw formatError(name, `truncated or not a Parquet file: ${bytes.length} bytes is too short to hold one`);
  checkEnds(name, bytes.subarray(0, 4), bytes.subarray(bytes.length - 4));
}

function checkEnds(path: string, head: Buffer, tail: Buffer): void {
  if (!head.equals(MAGIC)) throw formatError(path, 'truncated or not a Parquet file: it does not start with PAR1');
  if (!tail.equals(MAGIC)) throw formatError(path, 'truncated or not a Parquet file: it does not end with PAR1 (a cut-off copy loses its footer)');
}

/**
 * Walks the page headers of every column chunk before decoding. A corrupt count in a page
 * header sends hyparquet's level decoder into a loop that never ends (found by fuzzing); a count
 * larger than its column chunk's is caught here instead.
 */
function checkPages(path: string, bytes: Buffer, metadata: FileMetaData): void {
  const totalRows = Number(metadata.num_rows);
  let groupRows = 0;
  metadata.row_groups.forEach((group, g) => {
    const rows = Number(group.num_rows);
    groupRows += rows;
    for (const chunk of group.columns) {
      const meta = chunk.meta_data;
      if (!meta) continue;
      const name = meta.path_in_schema.join('.');
      const where = `column '${name}' of row group ${g}`;
      const values = Number(meta.num_values);
      // As hyparquet does: some writers leave a zero dictionary offset for no dictionary.
      const start = Number(meta.dictionary_page_offset || meta.data_page_offset);
      const end = start + Number(meta.total_compressed_size);
      if (!(values >= 0) || !(start >= 4) || !(end <= bytes.length - 8) || end < start) {
        throw formatError(path, `the footer gives ${where} a position or size outside the file; it is corrupt`);
      }
      const reader = { view: new DataView(bytes.buffer, bytes.byteOffset, end), offset: start };
      while (reader.offset < end) {
        let header;
        try {
          header = parquetHeader(reader);
        } catch (e) {
          throw formatError(path, `a page header in ${where} cannot be read (${(e as Error).message}); the file is corrupt`, e);
        }
        const n = header.data_page_header?.num_values ?? header.data_page_header_v2?.num_values ?? header.dictionary_page_header?.num_values ?? 0;
        const size = header.compressed_page_size;
        if (!(size >= 0) || reader.offset + size > end || !(header.uncompressed_page_size >= 0) || !(n >= 0 && n <= values)) {
          throw formatError(path, `a page header in ${where} gives sizes or counts its column chunk cannot hold; the file is corrupt`);
        }
        reader.offset += size;
      }
    }
  });
  if (groupRows !== totalRows) {
    throw formatError(path, `its row groups hold ${groupRows} rows but the footer says ${totalRows}; the file is corrupt`);
  }
}

export async function readParquetWithInference(source: DataSource, options: ParquetOptions = {}): Promise<ReadResult> {
  const path = sourceName(source);
  // A file's two ends are looked at before all of it is read: a large file that is not Parquet is refused cheaply.
  const onDisk = sourcePath(source);
  if (onDisk !== undefined) await checkMagic(onDisk);
  let file: AsyncBuffer;
  let metadata: FileMetaData;
  let bytes: Buffer;
  try {
    // Decoding needs every page anyway, and checkPages must see them first: read the file once.
    bytes = await sourceBytes(source);
  } catch (e) {
    throw openError(e, path);
  }
  if (onDisk === undefined) checkMagicBytes(path, bytes);
  try {
    const data = bytes;
    file = {
      byteLength: data.length,
      slice: (s: number, e?: number) => data.buffer.slice(data.byteOffset + s, data.byteOffset + (e ?? data.length)) as ArrayBuffer,
    };
    metadata = await parquetMetadataAsync(file, { parsers });
  } catch (e) {
    throw formatError(path, `truncated or not a Parquet file: its footer cannot be read (${(e as Error).message})`, e);
  }
  let tree: SchemaTree;
  try {
    tree = parquetSchema(metadata);
  } catch (e) {
    throw formatError(path, `its schema cannot be read (${(e as Error).message})`, e);
  }
  checkPages(path, bytes, metadata);
  const fields = tree.children;
  const wanted = options.columns ?? fields.map((f) => f.element.name);
  const byName = new Map(fields.map((f) => [f.element.name, f]));
  for (const name of wanted) {
    if (!byName.has(name)) {
      throw new TrellisError('TRELLIS_DATA_COLUMN_NOT_FOUND', { name, columns: `${[...byName.keys()].join(', ')} (in ${path})` });
    }
  }
  const cols = wanted.map((name) => {
    const f = byName.get(name)!;
    const nested = f.children.length > 0 || f.element.repetition_type === 'REPEATED';
    return new TypedColumn(name, parquetColumnType(f.element, nested));
  });
  const maxRows = Math.min(options.maxRows ?? Infinity, Number(metadata.num_rows));
  try {
    const scan = await parquetScan({
      file, metadata, columns: [...wanted], parsers, compressors,
    });
    for (const range of scan.ranges) {
      if (range.rowStart >= maxRows) break;
      const rowEnd = Math.min(range.rowEnd, maxRows);
      for (const c of cols) {
        const data = await scan.readColumn({ column: c.name, rowStart: range.rowStart, rowEnd });
        if (data instanceof Float64Array || data instanceof Float32Array || data instanceof Int32Array) {
          c.pushNumbers(data);
        } else {
          c.reserve(data.length);
          for (let i = 0; i < data.length; i++) c.push(data[i]);
        }
      }
    }
  } catch (e) {
    throw formatError(path, `its data cannot be decoded (${(e as Error).message}); the file may be truncated or corrupt`, e);
  }
  return typedResult(cols);
}

export async function readParquet(source: DataSource, options: ParquetOptions = {}): Promise<Table> {
  return (await readParquetWithInference(source, options)).table;
}
