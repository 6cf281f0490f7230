/**
 * Parquet written a block at a time with hyparquet-writer: one row group per block, Snappy
 * compressed, the footer at the end. Loaded only when a Parquet file is written.
 *
 * Types: integer → INT64, float → DOUBLE, boolean → BOOLEAN, datetime → INT64 TIMESTAMP_MILLIS,
 * string → UTF8; every column is nullable. The first block fixes each column's type.
 */
import { ByteWriter, ParquetWriter, schemaFromColumnData, type ColumnSource } from 'hyparquet-writer';
import { invalid } from '../../core/errors.js';
import { valueAt, type Column, type ColumnType } from '../table.js';
import type { BlockEncoder } from './encoder.js';

type ParquetType = NonNullable<ColumnSource['type']>;
const TYPES: Record<ColumnType, ParquetType> = { integer: 'INT64', float: 'DOUBLE', boolean: 'BOOLEAN', datetime: 'TIMESTAMP', string: 'STRING' };

/** A column's values as hyparquet-writer takes them for the file's type `type`. */
function data(c: Column, type: ColumnType, n: number): ColumnSource['data'] {
  if (type === 'string') return Array.from({ length: n }, (_, i) => { const v = valueAt(c, i); return v === null ? null : String(v); });
  if (c.type === 'string') throw invalid(`column '${c.name}' holds text in a later block, but ${type} values in the first: the Parquet file cannot change its type`);
  const { values, valid } = c;
  if (type === 'float') return Array.from({ length: n }, (_, i) => (valid[i] ? values[i]! : null));
  if (type === 'boolean') return Array.from({ length: n }, (_, i) => (valid[i] ? values[i] !== 0 : null));
  if (type === 'integer' && c.type !== 'integer') throw invalid(`column '${c.name}' holds ${c.type} values in a later block, but integers in the first: the Parquet file cannot change its type`);
  return Array.from({ length: n }, (_, i) => (valid[i] ? BigInt(values[i]!) : null));
}

export function parquetEncoder(): BlockEncoder {
  const out = new ByteWriter();
  let writer: ParquetWriter | undefined;
  let types: ColumnType[] = [];
  const take = (): Uint8Array => {
    const bytes = new Uint8Array(out.buffer, 0, out.index).slice();
    // The writer counts `offset` over the whole file; `index` is where the next bytes go in its buffer.
    out.index = 0;
    return bytes;
  };
  return {
    block(t) {
      const n = t.rowCount;
      if (!writer) {
        types = t.columns.map((c) => c.type);
        const schema = schemaFromColumnData({ columnData: t.columns.map((c, j) => ({ name: c.name, data: [], type: TYPES[types[j]!], nullable: true })) });
        writer = new ParquetWriter({ writer: out, schema });
      }
      // Synchronous: the byte writer has no flush to wait for.
      if (n) void writer.write({ columnData: t.columns.map((c, j) => ({ name: c.name, data: data(c, types[j]!, n) })), rowGroupSize: n });
      return take();
    },
    end() {
      writer ??= new ParquetWriter({ writer: out, schema: [{ name: 'root', num_children: 0 }] });
      void writer.finish();
      return take();
    },
  };
}
