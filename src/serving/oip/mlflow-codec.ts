/**
 * The MLflow scoring protocol (`POST /invocations`, as `mlflow models serve` takes it since MLflow
 * 2.0): a JSON object with exactly one of `dataframe_split` ({columns, data, index?}),
 * `dataframe_records`, `instances` and `inputs` (rows, or a columnar object), plus optional
 * `params`; or a `text/csv` body with a header line. The answer is `{"predictions": [...]}`, as
 * `predictionsResponse` in v1-codec.ts writes it.
 */
import { isTrellisError } from '../../core/errors.js';
import { readCsvBatches, type CsvBatch } from '../../data/readers/csv.js';
import {
  assembleRecords, checkBatch, columnOrder, describeValue, invalid, isPlainObject, own, recordsFromColumnObject,
  recordsFromObjects, recordsFromRows,
} from './tabular.js';
import { parseJsonObject, recordsFromInstances, type RowsOptions } from './v1-codec.js';
import type { InputColumn } from '../types.js';

const FORMATS = ['dataframe_split', 'dataframe_records', 'instances', 'inputs'] as const;

export interface MlflowRequest {
  records: Record<string, unknown>[];
  /** The request's `params` (model parameters), passed through unchecked. */
  params?: Record<string, unknown>;
}

/** Decodes an `/invocations` body by its Content-Type (application/json or text/csv, UTF-8). */
export async function decodeMlflowRequest(body: Buffer, contentType: string | undefined, o: RowsOptions): Promise<MlflowRequest> {
  const [mime = '', ...rest] = (contentType ?? '').split(';').map((s) => s.trim());
  for (const p of rest) {
    const [k = '', v = ''] = p.split('=').map((s) => s.trim().toLowerCase());
    if (k !== 'charset') throw invalid(`Content-Type parameter '${k}' is not supported; only charset=utf-8 is`);
    if (v.replace(/^"|"$/g, '') !== 'utf-8') throw invalid(`Content-Type charset '${v}' is not supported; the scoring server reads UTF-8 only`);
  }
  switch (mime.toLowerCase()) {
    case 'application/json': return decodeJson(body, o);
    case 'text/csv': return { records: await decodeCsv(body, o) };
    default: throw invalid(`Content-Type '${contentType ?? ''}' is not supported for /invocations; use application/json or text/csv`);
  }
}

function decodeJson(body: Buffer, o: RowsOptions): MlflowRequest {
  const doc = parseJsonObject(body, 'scoring request');
  const present = FORMATS.filter((k) => own(doc, k) !== undefined);
  if (present.length !== 1) {
    throw invalid(`The scoring request must have exactly one of ${FORMATS.join(', ')}; it has ${present.length ? present.join(', ') : 'none'} (keys: ${Object.keys(doc).join(', ') || 'none'})`);
  }
  const format = present[0]!;
  const value = doc[format];
  const out: MlflowRequest = { records: recordsFor(format, value, o) };
  const params = own(doc, 'params');
  if (params !== undefined) {
    if (!isPlainObject(params)) throw invalid(`'params' must be an object, got ${describeValue(params)}`);
    out.params = Object.fromEntries(Object.entries(params));
  }
  return out;
}

function recordsFor(format: (typeof FORMATS)[number], value: unknown, o: RowsOptions): Record<string, unknown>[] {
  switch (format) {
    case 'dataframe_split': {
      if (!isPlainObject(value)) throw invalid(`'dataframe_split' must be an object {columns, data, index?}, got ${describeValue(value)}`);
      const columns = own(value, 'columns');
      const data = own(value, 'data');
      const index = own(value, 'index');
      if (columns !== undefined && !Array.isArray(columns)) throw invalid(`'dataframe_split.columns' must be an array of column names, got ${describeValue(columns)}`);
      if (!Array.isArray(data)) throw invalid(`'dataframe_split.data' must be an array of rows, got ${describeValue(data)}`);
      if (index !== undefined && (!Array.isArray(index) || index.length !== data.length)) {
        throw invalid(`'dataframe_split.index' must be an array with one entry per row (${data.length}), got ${describeValue(index)}`);
      }
      if (columns) columnOrder(columns, o.signature, 'dataframe_split.columns');
      return recordsFromRows(data, columns as string[] | undefined, o.signature, o.maxBatch, 'dataframe_split.data');
    }
    case 'dataframe_records':
      if (!Array.isArray(value)) throw invalid(`'dataframe_records' must be an array of records, got ${describeValue(value)}`);
      return recordsFromObjects(value, o.signature, o.maxBatch, 'dataframe_records');
    case 'instances':
      return recordsFromInstances(value, o, 'instances');
    case 'inputs':
      return isPlainObject(value) ? recordsFromColumnObject(value, o.signature, o.maxBatch, 'inputs') : recordsFromInstances(value, o, 'inputs');
  }
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const BOOLEAN = /^(true|false|1|0)$/i;

/** A CSV cell as the column's type reads it (the cell's text when it is not of that type, to be refused by name). */
function csvCell(col: InputColumn, text: string | null): unknown {
  if (text === null) return null;
  const t = text.trim();
  if ((col.type === 'integer' || col.type === 'float') && NUMBER.test(t)) return Number(t);
  if (col.type === 'boolean' && BOOLEAN.test(t)) return t === '1' || t.toLowerCase() === 'true';
  return text;
}

async function decodeCsv(body: Buffer, o: RowsOptions): Promise<Record<string, unknown>[]> {
  let batch: CsvBatch | undefined;
  try {
    for await (const b of readCsvBatches({ bytes: body, name: 'the CSV body' }, { maxRows: o.maxBatch + 1, batchSize: o.maxBatch + 1 })) batch = b;
  } catch (e) {
    if (isTrellisError(e)) throw invalid(e.message);
    throw e;
  }
  if (!batch) throw invalid('The CSV body has a header but no rows');
  const rows = batch.lines.length;
  checkBatch(rows, o.maxBatch, 'the CSV body');
  const order = columnOrder(batch.header, o.signature, 'The CSV header');
  const columns = new Array<unknown[]>(o.signature.length);
  order.forEach((j, k) => { columns[j] = batch.columns[k]!.map((text) => csvCell(o.signature[j]!, text)); });
  return assembleRecords(o.signature, columns, rows, (j, i) => `CSV line ${batch.lines[i]} column '${o.signature[j]!.name}'`);
}
