/**
 * Parquet into a table, with hyparquet (pure JS, no native build) and its decompressors
 * (Snappy, gzip, Brotli, LZ4, Zstandard), one row group at a time.
 *
 * Types follow the file's schema: integer physical types → integer, FLOAT/DOUBLE/DECIMAL →
 * float, BOOLEAN → boolean, DATE/TIMESTAMP/INT96 → datetime (ms, UTC), strings and enums →
 * string; nested and binary columns are kept as JSON or text. NaN counts as null.
 */
import { open } from 'node:fs/promises';
import {
  asyncBufferFromFile, parquetMetadataAsync, parquetSchema, parquetScan,
  type AsyncBuffer, type Compressors, type FileMetaData, type SchemaElement, type SchemaTree,
} from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { TrellisError } from '../../core/errors.js';
import type { ColumnType } from '../table.js';
import { openError, type ReadResult } from './files.js';
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
    if (size < 12) throw formatError(path, `truncated or not a Parquet file: ${size} bytes is too short to hold one`);
    const head = Buffer.alloc(4);
    const tail = Buffer.alloc(4);
    await handle.read(head, 0, 4, 0);
    await handle.read(tail, 0, 4, size - 4);
    if (!head.equals(MAGIC)) throw formatError(path, 'truncated or not a Parquet file: it does not start with PAR1');
    if (!tail.equals(MAGIC)) throw formatError(path, 'truncated or not a Parquet file: it does not end with PAR1 (a cut-off copy loses its footer)');
    return size;
  } finally {
    await handle.close();
  }
}

export async function readParquetWithInference(path: string, options: ParquetOptions = {}): Promise<ReadResult> {
  await checkMagic(path);
  let file: AsyncBuffer;
  let metadata: FileMetaData;
  try {
    file = await asyncBufferFromFile(path);
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
      file, metadata, columns: [...wanted], parsers, compressors: compressors as Compressors,
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

export async function readParquet(path: string, options: ParquetOptions = {}) {
  return (await readParquetWithInference(path, options)).table;
}
