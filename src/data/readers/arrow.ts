/**
 * Arrow IPC (the file format, also called Feather v2, and the stream format) into a table, one
 * record batch at a time. Types follow the schema: integers → integer, floats and decimals →
 * float, Bool → boolean, Utf8 and dictionaries → string, Timestamp/Date → datetime (ms, UTC);
 * nested columns are kept as JSON text, binary as hex. NaN counts as null.
 */
import { RecordBatchReader, Type, util, type Data, type DataType, type Vector } from 'apache-arrow';
import { TrellisError, isTrellisError } from '../../core/errors.js';
import type { ColumnType, Table } from '../table.js';
import type { ReadResult } from './files.js';
import { sourceChunks, sourceName, sourceSize, type DataSource } from './source.js';
import { TypedColumn, typedResult } from './typed-column.js';

export interface ArrowOptions {
  /** Read only these columns, in this order. */
  readonly columns?: readonly string[];
  /** Stop after this many rows. */
  readonly maxRows?: number;
}

function formatError(file: string, detail: string, cause?: unknown): TrellisError {
  return new TrellisError('TRELLIS_DATA_FORMAT', { file, format: 'Arrow IPC', detail }, { cause });
}

export function arrowColumnType(type: DataType): ColumnType {
  switch (type.typeId) {
    case Type.Int: case Type.Int8: case Type.Int16: case Type.Int32: case Type.Int64:
    case Type.Uint8: case Type.Uint16: case Type.Uint32: case Type.Uint64:
    case Type.Time: case Type.Duration:
      return 'integer';
    case Type.Float: case Type.Float16: case Type.Float32: case Type.Float64: case Type.Decimal:
      return 'float';
    case Type.Bool:
      return 'boolean';
    case Type.Date: case Type.DateDay: case Type.DateMillisecond: case Type.Timestamp:
    case Type.TimestampSecond: case Type.TimestampMillisecond: case Type.TimestampMicrosecond: case Type.TimestampNanosecond:
      return 'datetime';
    default:
      return 'string';
  }
}

/** Primitive number arrays whose values can be copied without a per-value getter. */
function isPlainNumeric(type: DataType): boolean {
  if (type.typeId === Type.Int || (type.typeId >= Type.Int8 && type.typeId <= Type.Uint32)) {
    return (type as unknown as { bitWidth: number }).bitWidth <= 32;
  }
  const precision = (type as unknown as { precision?: number }).precision;
  return (type.typeId === Type.Float || type.typeId === Type.Float32 || type.typeId === Type.Float64) && precision !== 0;
}

function pushData(col: TypedColumn, data: Data, vector: Vector, base: number, count: number): void {
  const type = data.type;
  if (isPlainNumeric(type) && data.values && count > 0) {
    const values = data.values as ArrayLike<number> & { subarray(s: number, e: number): ArrayLike<number> };
    const off = data.offset;
    if (data.nullCount === 0) {
      col.pushNumbers(values, off, off + count);
      return;
    }
    const bitmap = data.nullBitmap;
    col.reserve(count);
    for (let i = 0; i < count; i++) {
      const j = off + i;
      // The validity bitmap has a bit for every value of the array.
      if ((bitmap[j >> 3]! >> (j & 7)) & 1) col.push(values[j]);
      else col.pushNull();
    }
    return;
  }
  col.reserve(count);
  const decimalScale = type.typeId === Type.Decimal ? (type as unknown as { scale: number }).scale : -1;
  const isBinary = type.typeId === Type.Binary || type.typeId === Type.LargeBinary || type.typeId === Type.FixedSizeBinary;
  for (let i = 0; i < count; i++) {
    const v: unknown = vector.get(base + i);
    if (v === null || v === undefined) col.pushNull();
    else if (decimalScale >= 0) col.push(util.bigNumToNumber(v as never, decimalScale));
    else if (isBinary) col.push(Buffer.from(v as Uint8Array).toString('hex'));
    else if (typeof v === 'object' && 'toJSON' in v) col.push((v as { toJSON(): unknown }).toJSON());
    else col.push(v);
  }
}

export async function readArrowWithInference(source: DataSource, options: ArrowOptions = {}): Promise<ReadResult> {
  const path = sourceName(source);
  const size = await sourceSize(source);
  if (size === 0) throw new TrellisError('TRELLIS_DATA_EMPTY', { file: path, detail: 'the file is empty' });
  const maxRows = options.maxRows ?? Infinity;
  let cols: TypedColumn[] | undefined;
  let rows = 0;
  const stream = sourceChunks(source, 1 << 20);
  try {
    const reader = await RecordBatchReader.from(stream);
    for await (const batch of reader) {
      if (!cols) {
        const names = options.columns ?? batch.schema.fields.map((f) => f.name);
        cols = names.map((name) => {
          const field = batch.schema.fields.find((f) => f.name === name);
          if (!field) {
            throw new TrellisError('TRELLIS_DATA_COLUMN_NOT_FOUND', { name, columns: `${batch.schema.fields.map((f) => f.name).join(', ')} (in ${path})` });
          }
          return new TypedColumn(name, arrowColumnType(field.type as DataType));
        });
      }
      const take = Math.min(batch.numRows, maxRows - rows);
      for (const col of cols) {
        const vector = batch.getChild(col.name)!;
        let base = 0;
        for (const data of vector.data as Data[]) {
          const n = Math.min(data.length, take - base);
          if (n <= 0) break;
          pushData(col, data, vector, base, n);
          base += n;
        }
      }
      rows += take;
      if (rows >= maxRows) break;
    }
    if (!cols) {
      // A stream with a schema and no batches is an empty table; without a schema it is not Arrow.
      if (!reader.schema?.fields.length) throw formatError(path, 'truncated or not an Arrow IPC file or stream: it holds no schema');
      const names = options.columns ?? reader.schema.fields.map((f) => f.name);
      cols = names.map((name) => {
        const field = reader.schema?.fields.find((f) => f.name === name);
        return new TypedColumn(name, field ? arrowColumnType(field.type as DataType) : 'string');
      });
    }
  } catch (e) {
    if (isTrellisError(e)) throw e;
    throw formatError(path, `truncated or not an Arrow IPC file or stream (${(e as Error).message})`, e);
  } finally {
    await stream.return(undefined);
  }
  return typedResult(cols);
}

export async function readArrow(source: DataSource, options: ArrowOptions = {}): Promise<Table> {
  return (await readArrowWithInference(source, options)).table;
}
