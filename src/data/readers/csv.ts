/**
 * CSV in, tables out. `readCsvBatches` streams text cells in bounded batches (for work that must
 * not hold the file); `readCsv` types fields straight from the bytes into a table.
 *
 * A file with a header and no rows is an error (TRELLIS_DATA_EMPTY) unless `allowHeaderOnly`
 * is set: a dataset version with no rows is almost always a mistake worth stopping for.
 */
import { TrellisError } from '../../core/errors.js';
import { NullMatcher, DEFAULT_NULL_VALUES } from './cells.js';
import { CsvScanner, scanFieldThenPush, type FieldSink, type RowSink } from './csv-scanner.js';
import { ColumnBuilder, TableBuilder, type ColumnType, type Table, type TableSchema } from '../table.js';
import { openError, type ReadResult } from './files.js';
import { openByteReader, rereadable, sourceName, sourceSize, type ByteReader, type DataSource } from './source.js';

export interface CsvOptions {
  /** One ASCII character; found from the header line (`,` `;` tab `|`) when not given. */
  readonly delimiter?: string;
  /** Cell texts read as null. Default: '', NA, N/A, null, NULL, NaN, ?. */
  readonly nullValues?: readonly string[];
  /** With ',' a decimal comma (3,14) is a number; by default it stays text and the inference says why. */
  readonly decimal?: '.' | ',';
  /** Types to impose on named columns instead of inferring them ('string' keeps "007" as is). */
  readonly types?: TableSchema;
  /** Stop after this many data rows. */
  readonly maxRows?: number;
  /** Return an empty table for a header-only file instead of raising TRELLIS_DATA_EMPTY. */
  readonly allowHeaderOnly?: boolean;
}

export interface CsvBatchOptions extends CsvOptions {
  /** Rows per batch (default 65,536). */
  readonly batchSize?: number;
}

export interface CsvBatch {
  readonly header: string[];
  /** One array per header column; null where the cell is one of the null values. */
  readonly columns: (string | null)[][];
  /** Line of the first row of the batch (the header is line 1 unless blank lines precede it). */
  readonly firstLine: number;
  /** Line of each row; differs from firstLine + i once a quoted field spans lines. */
  readonly lines: Uint32Array;
}

const CHUNK = 1 << 20;

function emptyError(file: string, detail: string): TrellisError {
  return new TrellisError('TRELLIS_DATA_EMPTY', { file, detail });
}

/**
 * Drives a scanner over the file: `onHeader` makes the sinks once the header is known, and
 * `rowsWanted` says how many rows the consumer can take before it must be given back control.
 */
async function* scanFile(
  source: DataSource,
  options: CsvOptions,
  onHeader: (header: string[], scanner: CsvScanner) => { cols: FieldSink[]; row: RowSink },
  rowsWanted: () => number,
  afterChunk?: (scanner: CsvScanner) => void,
): AsyncGenerator<void> {
  const path = sourceName(source);
  const scanner = new CsvScanner(path, options.delimiter);
  const maxRows = options.maxRows ?? Infinity;
  let sinks: { cols: FieldSink[]; row: RowSink } | undefined;
  // Returns true when the consumer's batch is full (yield), false when more input is needed.
  const step = (): boolean => {
    if (!sinks) {
      if (!scanner.readHeader()) return false;
      sinks = onHeader(scanner.header!, scanner);
    }
    const want = Math.min(rowsWanted(), maxRows - scanner.rows);
    if (want <= 0) return true;
    const got = scanner.readRows(sinks.cols, sinks.row, want);
    return got === want;
  };
  let file: ByteReader | undefined;
  try {
    file = await openByteReader(source);
    for (;;) {
      const { target, offset } = scanner.space(CHUNK);
      const { bytesRead } = await file.read(target, offset, CHUNK, null);
      if (bytesRead === 0) break;
      if (!scanner.filled(bytesRead)) continue;
      while (step()) {
        if (scanner.rows >= maxRows) return;
        yield;
      }
      afterChunk?.(scanner);
    }
    scanner.end();
    while (step()) {
      if (scanner.rows >= maxRows) return;
      yield;
    }
  } catch (e) {
    throw openError(e, path);
  } finally {
    await file?.close();
  }
  if (!scanner.header) throw emptyError(path, 'the file is empty');
  if (scanner.rows === 0 && !options.allowHeaderOnly) {
    throw emptyError(path, `the header names ${scanner.header.length} column${scanner.header.length === 1 ? '' : 's'} but no data row follows`);
  }
}

function checkTypes(path: string, header: string[], types: TableSchema | undefined): void {
  for (const name of Object.keys(types ?? {})) {
    if (!header.includes(name)) {
      throw new TrellisError('TRELLIS_DATA_COLUMN_NOT_FOUND', { name, columns: `${header.join(', ')} (in ${path})` });
    }
  }
}

class StringCells implements FieldSink {
  cells: (string | null)[] = [];
  rejection = '';
  constructor(private readonly nulls: NullMatcher) {}
  scanField(buf: Buffer, s: number, limit: number, d: number, line: number): number {
    return scanFieldThenPush(this, buf, s, limit, d, line);
  }
  pushBytes(buf: Buffer, s: number, e: number, escaped: boolean): boolean {
    if (!escaped && this.nulls.matchesBytes(buf, s, e)) {
      this.cells.push(null);
    } else {
      const text = buf.toString('utf8', s, e);
      this.cells.push(escaped ? text.replaceAll('""', '"') : text);
    }
    return true;
  }
}

/**
 * The rows of a CSV file as batches of text cells (~64k rows each), reading 1 MB at a time, so
 * memory stays bounded by a batch whatever the file's size. Cells are text: `types` and `decimal`
 * apply where they are typed, in a {@link TableBuilder} fed with the batches.
 */
export async function* readCsvBatches(source: DataSource, options: CsvBatchOptions = {}): AsyncGenerator<CsvBatch> {
  const batchSize = options.batchSize ?? 65536;
  if (!(batchSize >= 1)) throw new TrellisError('TRELLIS_INVALID_PARAMETER', { detail: `batchSize must be at least 1, not ${batchSize}` });
  const nulls = new NullMatcher(options.nullValues ?? DEFAULT_NULL_VALUES);
  let header: string[] = [];
  let cols: StringCells[] = [];
  let lines: number[] = [];
  const row: RowSink = {
    endRow: (line) => { lines.push(line); },
    rollback: () => { for (const c of cols) c.cells.length = lines.length; },
  };
  const take = (): CsvBatch => {
    // Called for a full batch or the rows left at the end, never for an empty one.
    const batch = { header, columns: cols.map((c) => c.cells), firstLine: lines[0]!, lines: Uint32Array.from(lines) };
    for (const c of cols) c.cells = [];
    lines = [];
    return batch;
  };
  const scan = scanFile(source, options, (h) => {
    header = h;
    cols = h.map(() => new StringCells(nulls));
    return { cols, row };
  }, () => batchSize - lines.length);
  for await (const _ of scan) yield take();
  if (lines.length) yield take();
}

export interface CsvTableBatch extends ReadResult {
  /** Line of the first row of the batch. */
  readonly firstLine: number;
}

/**
 * The rows of a CSV file as typed tables of ~64k rows, parsed from bytes as `readCsv` does:
 * the fast way through a file too large to hold (readCsvBatches makes a string of every cell).
 * Each batch infers its own types unless `types` imposes them, and a batch whose column turns
 * mixed holds its earlier numbers re-rendered ("1.50" as "1.5"): impose the types found by a
 * first look (e.g. `readCsvWithInference` with `maxRows`) when batches must agree.
 */
export async function* readCsvTables(source: DataSource, options: CsvBatchOptions = {}): AsyncGenerator<CsvTableBatch> {
  const batchSize = options.batchSize ?? 65536;
  if (!(batchSize >= 1)) throw new TrellisError('TRELLIS_INVALID_PARAMETER', { detail: `batchSize must be at least 1, not ${batchSize}` });
  let header: string[] = [];
  let builder: TableBuilder | undefined;
  let firstLine = 0;
  // The scanner keeps this array; each batch puts its own builders in it.
  const cols: ColumnBuilder[] = [];
  const fresh = () => {
    const b = new TableBuilder(header, { nullValues: options.nullValues, decimal: options.decimal, types: options.types });
    b.reserve(batchSize);
    header.forEach((_, i) => { cols[i] = b.columnBuilder(i); });
    builder = b;
    firstLine = 0;
  };
  const row: RowSink = {
    endRow: (line) => { if (builder!.rowCount === 0) firstLine = line; builder!.endRow(); },
    rollback: () => builder!.rollback(),
  };
  const take = (): CsvTableBatch => {
    const b = builder!;
    const batch = { table: b.finish(), inference: b.inference(), firstLine };
    fresh();
    return batch;
  };
  const scan = scanFile(source, options, (h) => {
    checkTypes(sourceName(source), h, options.types);
    header = h;
    fresh();
    return { cols, row };
  }, () => batchSize - builder!.rowCount);
  for await (const _ of scan) yield take();
  if (builder && builder.rowCount > 0) yield take();
}

async function buildCsv(source: DataSource, options: CsvOptions): Promise<TableBuilder> {
  let builder: TableBuilder | undefined;
  const path = sourceName(source);
  // Unknown for a stream, whose columns then grow as rows come.
  const size = await sourceSize(source);
  let reserved = false;
  // Sized once from the first megabyte's rows, the columns are written once instead of
  // being copied on every doubling.
  const estimate = (scanner: CsvScanner) => {
    if (reserved || !builder || scanner.rows === 0 || size === undefined) return;
    reserved = true;
    const rows = (scanner.rows * size) / scanner.consumed;
    builder.reserve(Math.min(options.maxRows ?? Infinity, rows * 1.05 + 1024));
  };
  const scan = scanFile(source, options, (header) => {
    checkTypes(path, header, options.types);
    const b = new TableBuilder(header, { nullValues: options.nullValues, decimal: options.decimal, types: options.types });
    builder = b;
    const cols: ColumnBuilder[] = header.map((_, i) => b.columnBuilder(i));
    return { cols, row: { endRow: () => b.endRow(), rollback: () => b.rollback() } };
  }, () => Infinity, estimate);
  for await (const _ of scan) { /* one table: nothing to hand back between rows */ }
  return builder!;
}

/**
 * Reads a CSV file into a table and says, per column, why it got its type. Types are inferred
 * in one pass; when a column turns out mixed (numbers, then text), the file is read a second
 * time for the exact text of those columns, since the first pass kept only parsed numbers.
 */
export async function readCsvWithInference(source: DataSource, options: CsvOptions = {}): Promise<ReadResult> {
  // A stream is held in memory first: a column that turns out mixed needs a second pass.
  const data = await rereadable(source);
  const first = await buildCsv(data, options);
  const inference = first.inference();
  const mixed = first.rerenderedColumns();
  if (mixed.length === 0) return { table: first.finish(), inference };
  const types: Record<string, ColumnType> = {};
  for (const c of inference) types[c.name] = mixed.includes(c.name) ? 'string' : c.type;
  const second = await buildCsv(data, { ...options, types: { ...types, ...options.types } });
  return { table: second.finish(), inference };
}

export async function readCsv(source: DataSource, options: CsvOptions = {}): Promise<Table> {
  return (await readCsvWithInference(source, options)).table;
}
