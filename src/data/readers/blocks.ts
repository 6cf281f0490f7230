/**
 * A data file as a stream of tables of at most `blockRows` rows, for work that must not hold the
 * file (batch scoring): CSV and JSON Lines are parsed a block at a time, so memory stays bounded
 * by a block whatever the file's size, and a Parquet file on disk a row group at a time. Arrow
 * files, and Parquet handed over as bytes (a dataset version), are decoded whole and handed out in
 * slices.
 *
 * Types: `types` imposes a type on the named columns (a value that does not fit is an error naming
 * its line and column); every other column is read as text by default (`others: 'string'`), so
 * that it is handed on as it was written and no block can disagree with another about its type.
 */
import { extname } from 'node:path';
import { TrellisError, isTrellisError } from '../../core/errors.js';
import { sliceRows, type ColumnType, type Table, type TableSchema } from '../table.js';
import { readCsvBatches, readCsvTables } from './csv.js';
import { readJsonlWithInference } from './jsonl.js';
import { openError } from './files.js';
import { formatOf, readTable, type DataFormat } from './index.js';
import { sourceChunks, sourceName, type DataSource } from './source.js';

export interface BlockOptions {
  /** The format, when the extension does not say it. */
  readonly format?: DataFormat;
  /** Rows per block (default 65,536). */
  readonly blockRows?: number;
  /** Types imposed on the named columns that the file has. */
  readonly types?: TableSchema;
  /** CSV: the type of every other column, or `infer` to infer it per block (default `string`). */
  readonly others?: 'string' | 'infer';
}

export interface TableBlock {
  readonly table: Table;
  /** 0-based index of the block's first row in the file. */
  readonly firstRow: number;
}

export const DEFAULT_BLOCK_ROWS = 65536;

/** The blocks of a file, bytes or stream, in order: see the module comment. */
export async function* readTableBlocks(source: DataSource, o: BlockOptions = {}): AsyncGenerator<TableBlock> {
  const blockRows = o.blockRows ?? DEFAULT_BLOCK_ROWS;
  if (!Number.isInteger(blockRows) || blockRows < 1) throw new TrellisError('TRELLIS_INVALID_PARAMETER', { detail: `blockRows must be a whole number of at least 1, not ${blockRows}` });
  const name = sourceName(source);
  const format = o.format ?? formatOf(name);
  if (format === 'csv') {
    yield* csvBlocks(source, o, blockRows);
    return;
  }
  if (format === 'jsonl') {
    yield* jsonlBlocks(source, o, blockRows);
    return;
  }
  if (format === 'parquet' && typeof source === 'string') {
    const { readParquetBlocks } = await import('./parquet.js');
    let firstRow = 0;
    for await (const table of readParquetBlocks(source, blockRows)) {
      yield { table, firstRow };
      firstRow += table.rowCount;
    }
    return;
  }
  // Arrow, Parquet bytes (and an unknown format, which readTable names in its error).
  const table = await readTable(source, { format });
  for (let from = 0; from < table.rowCount; from += blockRows) yield { table: sliceRows(table, from, from + blockRows), firstRow: from };
}

async function* csvBlocks(source: DataSource, o: BlockOptions, blockRows: number): AsyncGenerator<TableBlock> {
  const delimiter = extname(sourceName(source)).toLowerCase() === '.tsv' ? '\t' : undefined;
  // The header first (one row), so that the types can name every column the file has.
  let header: string[] = [];
  for await (const b of readCsvBatches(source, { delimiter, batchSize: 1, maxRows: 1, allowHeaderOnly: true })) header = b.header;
  const types: Record<string, ColumnType> = {};
  for (const h of header) {
    const t = o.types?.[h] ?? (o.others === 'infer' ? undefined : 'string');
    if (t) types[h] = t;
  }
  let firstRow = 0;
  for await (const b of readCsvTables(source, { delimiter, batchSize: blockRows, types })) {
    yield { table: b.table, firstRow };
    firstRow += b.table.rowCount;
  }
}

const LF = 10;

/**
 * JSON Lines, `blockRows` lines at a time: each block's lines are parsed by the JSON Lines reader,
 * and its errors are given the line of the file rather than of the block.
 */
async function* jsonlBlocks(source: DataSource, o: BlockOptions, blockRows: number): AsyncGenerator<TableBlock> {
  const name = sourceName(source);
  let pending: Buffer[] = [];
  let pendingLines = 0;
  let lineOffset = 0;
  let firstRow = 0;
  let sawRow = false;
  let types: TableSchema | undefined;
  const parse = async (bytes: Buffer, lines: number): Promise<TableBlock | undefined> => {
    if (bytes.length === 0) return undefined;
    let table: Table;
    try {
      // JSON says which values are text: only the imposed types apply. A type imposed on a key
      // makes a column of nulls where the key is absent: the first block imposes them only on the
      // keys its rows have, so that a key absent from them is a column missing, as in a CSV header.
      if (types === undefined && o.types) {
        const keys = new Set((await readJsonlWithInference({ bytes, name })).table.columns.map((c) => c.name));
        types = Object.fromEntries(Object.entries(o.types).filter(([k]) => keys.has(k)));
      }
      table = (await readJsonlWithInference({ bytes, name }, { types: sawRow ? o.types : types })).table;
    } catch (e) {
      if (isTrellisError(e, 'TRELLIS_DATA_EMPTY')) {
        lineOffset += lines;
        return undefined;
      }
      if (isTrellisError(e, 'TRELLIS_DATA_PARSE')) {
        const p = e.params as { line: number; column: number; detail: string };
        throw new TrellisError('TRELLIS_DATA_PARSE', { file: name, line: p.line + lineOffset, column: p.column, detail: p.detail });
      }
      throw e;
    }
    lineOffset += lines;
    const block = { table, firstRow };
    firstRow += table.rowCount;
    sawRow = true;
    return block;
  };
  const stream = sourceChunks(source, 1 << 20);
  try {
    for await (const chunk of stream) {
      // Cut the chunk after the line that completes a block, as often as it holds one.
      let start = 0;
      for (let at = chunk.indexOf(LF); at >= 0; at = chunk.indexOf(LF, at + 1)) {
        if (++pendingLines < blockRows) continue;
        pending.push(chunk.subarray(start, at + 1));
        const block = await parse(Buffer.concat(pending), pendingLines);
        pending = [];
        pendingLines = 0;
        start = at + 1;
        if (block) yield block;
      }
      if (start < chunk.length) pending.push(chunk.subarray(start));
    }
    const rest = Buffer.concat(pending);
    const block = await parse(rest, pendingLines);
    if (block) yield block;
  } catch (e) {
    throw openError(e, name);
  } finally {
    await stream.return(undefined);
  }
  if (!sawRow) throw new TrellisError('TRELLIS_DATA_EMPTY', { file: name, detail: 'the file holds no JSON object' });
}
