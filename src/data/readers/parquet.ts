/**
 * Parquet into a table (or, for a file too large to hold, row group by row group), with hyparquet (pure JS, no native build) and its decompressors
 * (Snappy, gzip, Brotli, LZ4, Zstandard). The file is read whole — Parquet is compressed, so it
 * is small beside the table it becomes — and its page headers are checked before decoding.
 *
 * Types follow the file's schema: integer physical types → integer, FLOAT/DOUBLE/DECIMAL →
 * float, BOOLEAN → boolean, DATE/TIMESTAMP/INT96 → datetime (ms, UTC), strings and enums →
 * string; nested and binary columns are kept as JSON or text. NaN counts as null.
 */
import { open, type FileHandle } from 'node:fs/promises';
import {
  parquetMetadataAsync, parquetSchema, parquetScan,
  type AsyncBuffer, type FileMetaData, type ParquetScan, type RowGroup, type SchemaElement, type SchemaTree,
} from 'hyparquet';
import { parquetHeader } from 'hyparquet/src/column.js';
import { compressors } from 'hyparquet-compressors';
import { TrellisError } from '../../core/errors.js';
import { sliceRows, type ColumnType, type Table } from '../table.js';
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
  checkRowCount(path, metadata);
  metadata.row_groups.forEach((group, g) => checkGroupPages(path, bytes, 0, bytes.length, group, g));
}

function checkRowCount(path: string, metadata: FileMetaData): void {
  const totalRows = Number(metadata.num_rows);
  const groupRows = metadata.row_groups.reduce((n, group) => n + Number(group.num_rows), 0);
  if (groupRows !== totalRows) {
    throw formatError(path, `its row groups hold ${groupRows} rows but the footer says ${totalRows}; the file is corrupt`);
  }
}

/** Where a column chunk's pages lie in the file, [start, end). */
function chunkSpan(meta: NonNullable<RowGroup['columns'][number]['meta_data']>): { start: number; end: number } {
  // As hyparquet does: some writers leave a zero dictionary offset for no dictionary.
  const start = Number(meta.dictionary_page_offset || meta.data_page_offset);
  return { start, end: start + Number(meta.total_compressed_size) };
}

/** {@link checkPages} for one row group, whose bytes are `bytes`, read from offset `base` of a file of `fileSize` bytes. */
function checkGroupPages(path: string, bytes: Buffer, base: number, fileSize: number, group: RowGroup, g: number): void {
  for (const chunk of group.columns) {
    const meta = chunk.meta_data;
    if (!meta) continue;
    const name = meta.path_in_schema.join('.');
    const where = `column '${name}' of row group ${g}`;
    const values = Number(meta.num_values);
    const { start, end } = chunkSpan(meta);
    if (!(values >= 0) || !(start >= 4) || !(end <= fileSize - 8) || end < start || start < base || end > base + bytes.length) {
      throw formatError(path, `the footer gives ${where} a position or size outside the file; it is corrupt`);
    }
    const reader = { view: new DataView(bytes.buffer, bytes.byteOffset, end - base), offset: start - base };
    while (reader.offset < end - base) {
      let header;
      try {
        header = parquetHeader(reader);
      } catch (e) {
        throw formatError(path, `a page header in ${where} cannot be read (${(e as Error).message}); the file is corrupt`, e);
      }
      const n = header.data_page_header?.num_values ?? header.data_page_header_v2?.num_values ?? header.dictionary_page_header?.num_values ?? 0;
      const size = header.compressed_page_size;
      if (!(size >= 0) || reader.offset + size > end - base || !(header.uncompressed_page_size >= 0) || !(n >= 0 && n <= values)) {
        throw formatError(path, `a page header in ${where} gives sizes or counts its column chunk cannot hold; the file is corrupt`);
      }
      reader.offset += size;
    }
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
      for (const c of cols) pushData(c, await scan.readColumn({ column: c.name, rowStart: range.rowStart, rowEnd }));
    }
  } catch (e) {
    throw formatError(path, `its data cannot be decoded (${(e as Error).message}); the file may be truncated or corrupt`, e);
  }
  return typedResult(cols);
}

function pushData(c: TypedColumn, data: Awaited<ReturnType<ParquetScan['readColumn']>>): void {
  if (data instanceof Float64Array || data instanceof Float32Array || data instanceof Int32Array) {
    c.pushNumbers(data);
  } else {
    c.reserve(data.length);
    for (let i = 0; i < data.length; i++) c.push(data[i]);
  }
}

/**
 * A Parquet file on disk a row group at a time, for work that must not hold the file (batch
 * scoring): each row group's bytes are read and their page headers checked, then its rows are
 * decoded and handed out as tables of at most `blockRows` rows. Memory is bounded by a row group
 * (writers cut files into row groups of about 100,000 rows or 128 MB by default).
 */
export async function* readParquetBlocks(path: string, blockRows: number): AsyncGenerator<Table> {
  const size = await checkMagic(path);
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (e) {
    throw openError(e, path);
  }
  try {
    const readAt = async (start: number, end: number): Promise<Buffer> => {
      const b = Buffer.alloc(end - start);
      await handle.read(b, 0, b.length, start);
      return b;
    };
    // The row group being decoded is held whole; the footer and indexes are read from the file.
    let group: { base: number; bytes: Buffer } | undefined;
    const file: AsyncBuffer = {
      byteLength: size,
      slice: async (start: number, end = size) => {
        const g = group;
        const b = g && start >= g.base && end <= g.base + g.bytes.length ? g.bytes.subarray(start - g.base, end - g.base) : await readAt(start, end);
        return b.buffer.slice(b.byteOffset, b.byteOffset + b.length) as ArrayBuffer;
      },
    };
    let metadata: FileMetaData;
    let tree: SchemaTree;
    try {
      metadata = await parquetMetadataAsync(file, { parsers });
      tree = parquetSchema(metadata);
    } catch (e) {
      throw formatError(path, `truncated or not a Parquet file: its footer cannot be read (${(e as Error).message})`, e);
    }
    checkRowCount(path, metadata);
    const fields = tree.children;
    let scan: ParquetScan;
    try {
      scan = await parquetScan({ file, metadata, columns: fields.map((f) => f.element.name), parsers, compressors });
    } catch (e) {
      throw formatError(path, `its data cannot be decoded (${(e as Error).message}); the file may be truncated or corrupt`, e);
    }
    let groupStart = 0;
    for (const [g, rg] of metadata.row_groups.entries()) {
      const rows = Number(rg.num_rows);
      const spans = rg.columns.flatMap((c) => (c.meta_data ? [chunkSpan(c.meta_data)] : []));
      if (rows === 0 || !spans.length) {
        groupStart += rows;
        continue;
      }
      const base = Math.min(...spans.map((x) => x.start));
      const end = Math.max(...spans.map((x) => x.end));
      if (!(base >= 4) || !(end <= size - 8) || end < base) throw formatError(path, `the footer gives row group ${g} a position or size outside the file; it is corrupt`);
      group = { base, bytes: await readAt(base, end) };
      checkGroupPages(path, group.bytes, base, size, rg, g);
      const cols = fields.map((f) => new TypedColumn(f.element.name, parquetColumnType(f.element, f.children.length > 0 || f.element.repetition_type === 'REPEATED')));
      try {
        for (const c of cols) pushData(c, await scan.readColumn({ column: c.name, rowStart: groupStart, rowEnd: groupStart + rows }));
      } catch (e) {
        throw formatError(path, `its data cannot be decoded (${(e as Error).message}); the file may be truncated or corrupt`, e);
      }
      const table = typedResult(cols).table;
      group = undefined;
      for (let from = 0; from < rows; from += blockRows) yield sliceRows(table, from, from + blockRows);
      groupStart += rows;
    }
  } finally {
    await handle.close();
  }
}

export async function readParquet(source: DataSource, options: ParquetOptions = {}): Promise<Table> {
  return (await readParquetWithInference(source, options)).table;
}
