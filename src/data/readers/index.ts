/**
 * One entry point for reading a data file into a table, whatever its format. The Parquet and
 * Arrow readers (and their libraries) are loaded only when such a file is read.
 */
import { extname } from 'node:path';
import { TrellisError } from '../../core/errors.js';
import type { Table } from '../table.js';
import { rememberTypeBreak } from '../bad-values.js';
import { readCsvWithInference, type CsvOptions } from './csv.js';
import { readJsonlWithInference } from './jsonl.js';
import type { ReadResult } from './files.js';
import { sourceName, type DataSource } from './source.js';

export {
  readCsv, readCsvBatches, readCsvTables, readCsvWithInference, type CsvBatch, type CsvBatchOptions, type CsvOptions, type CsvTableBatch,
} from './csv.js';
export { readJsonl, readJsonlWithInference, type JsonlOptions } from './jsonl.js';
export { DEFAULT_NULL_VALUES } from './cells.js';
export type { ReadResult } from './files.js';
export type { DataSource } from './source.js';
// Type-only: the Parquet and Arrow modules themselves load on first use (see readTableWithInference).
export type { ParquetOptions } from './parquet.js';
export type { ArrowOptions } from './arrow.js';

export type DataFormat = 'csv' | 'jsonl' | 'parquet' | 'arrow';

export interface ReadTableOptions extends CsvOptions {
  /** The format, when the extension does not say it. */
  readonly format?: DataFormat;
  /** Parquet and Arrow: read only these columns, in this order. */
  readonly columns?: readonly string[];
}

const EXTENSIONS: Record<string, DataFormat> = {
  '.csv': 'csv', '.tsv': 'csv', '.txt': 'csv',
  '.jsonl': 'jsonl', '.ndjson': 'jsonl',
  '.parquet': 'parquet', '.pq': 'parquet',
  '.arrow': 'arrow', '.feather': 'arrow', '.ipc': 'arrow', '.arrows': 'arrow',
};

/** The format a path's extension names, or undefined. */
export function formatOf(path: string): DataFormat | undefined {
  return EXTENSIONS[extname(path).toLowerCase()];
}

/**
 * Reads a file, bytes or a stream (see {@link DataSource}) into a table, with the reasons for
 * each column's type. The format is `options.format`, or the one the path's (or the source's
 * name's) extension names.
 */
export async function readTableWithInference(source: DataSource, options: ReadTableOptions = {}): Promise<ReadResult> {
  const r = await readAny(source, options);
  // Type errors later name the value that made a column text, and its line.
  for (const inf of r.inference) {
    if (!inf.typeBreak) continue;
    const col = r.table.columns.find((c) => c.name === inf.name);
    if (col?.type === 'string') rememberTypeBreak(col, inf.typeBreak);
  }
  return r;
}

async function readAny(source: DataSource, options: ReadTableOptions): Promise<ReadResult> {
  const { format: given, columns, ...rest } = options;
  const path = sourceName(source);
  const format = given ?? formatOf(path);
  switch (format) {
    case 'csv':
      return readCsvWithInference(source, { ...rest, delimiter: rest.delimiter ?? (extname(path).toLowerCase() === '.tsv' ? '\t' : undefined) });
    case 'jsonl':
      return readJsonlWithInference(source, { types: rest.types, maxRows: rest.maxRows });
    case 'parquet': {
      const { readParquetWithInference } = await import('./parquet.js');
      return readParquetWithInference(source, { columns, maxRows: rest.maxRows });
    }
    case 'arrow': {
      const { readArrowWithInference } = await import('./arrow.js');
      return readArrowWithInference(source, { columns, maxRows: rest.maxRows });
    }
    default:
      if (given !== undefined) {
        throw new TrellisError('TRELLIS_INVALID_PARAMETER', { detail: `Unknown data format '${String(given)}'; use csv, jsonl, parquet or arrow` });
      }
      throw new TrellisError('TRELLIS_DATA_FORMAT', {
        file: path, format: 'a data file',
        detail: `the extension '${extname(path)}' names no format Trellis reads (${Object.keys(EXTENSIONS).join(' ')}); pass format: 'csv' | 'jsonl' | 'parquet' | 'arrow'`,
      });
  }
}

/** Reads CSV, JSON Lines, Parquet or Arrow IPC — a file, bytes or a stream — into a table, by extension or `format`. */
export async function readTable(source: DataSource, options: ReadTableOptions = {}): Promise<Table> {
  return (await readTableWithInference(source, options)).table;
}
