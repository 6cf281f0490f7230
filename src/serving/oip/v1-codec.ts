/**
 * KServe v1 / TensorFlow Serving's predict format: `{"instances": [...]}` (rows: objects of column
 * values, arrays of values in signature order, or bare values for a one-column model) or
 * `{"inputs": {column: [values]}}` (columns), answered with `{"predictions": [...]}`. The
 * MLflow scoring protocol answers the same way.
 */
import type { InferResult, InputColumn } from '../types.js';
import {
  describeValue, invalid, isPlainObject, own, recordsFromColumnObject, recordsFromObjects, recordsFromRows,
} from './tabular.js';

export interface RowsOptions {
  signature: InputColumn[];
  maxBatch: number;
}

export function parseJsonObject(body: Buffer, what: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch (e) {
    throw invalid(`The ${what} is not valid JSON: ${(e as Error).message}`);
  }
  if (!isPlainObject(doc)) throw invalid(`The ${what} must be a JSON object, got ${describeValue(doc)}`);
  return doc;
}

/**
 * Records from a list of rows as TF Serving's row format allows: all objects, all arrays (values
 * in signature order), or all bare values when the model has one column.
 */
export function recordsFromInstances(list: unknown, o: RowsOptions, what: string): Record<string, unknown>[] {
  if (!Array.isArray(list)) throw invalid(`'${what}' must be an array of rows, got ${describeValue(list)}`);
  if (list.length && list.every(isPlainObject)) return recordsFromObjects(list, o.signature, o.maxBatch, what);
  if (list.some(isPlainObject)) throw invalid(`'${what}' mixes objects with other rows; send every row the same way`);
  if (o.signature.length === 1 && !list.some(Array.isArray)) return recordsFromRows(list.map((v: unknown) => [v]), undefined, o.signature, o.maxBatch, what);
  return recordsFromRows(list, undefined, o.signature, o.maxBatch, what);
}

/** Decodes a KServe v1 / TF Serving predict request: exactly one of `instances` and `inputs`. */
export function decodeV1(body: Buffer, o: RowsOptions): { records: Record<string, unknown>[] } {
  const doc = parseJsonObject(body, 'predict request');
  const instances = own(doc, 'instances');
  const inputs = own(doc, 'inputs');
  if ((instances === undefined) === (inputs === undefined)) throw invalid("The predict request needs exactly one of 'instances' (rows) and 'inputs' (columns)");
  if (instances !== undefined) return { records: recordsFromInstances(instances, o, 'instances') };
  if (isPlainObject(inputs)) return { records: recordsFromColumnObject(inputs, o.signature, o.maxBatch, 'inputs') };
  return { records: recordsFromInstances(inputs, o, 'inputs') };
}

/** `{"predictions": [...]}`: class labels for classifiers, values for regression. */
export function predictionsResponse(result: InferResult): { predictions: (string | number)[] } {
  const p = result.predictions;
  if (result.task === 'regression') return { predictions: Array.from(p.prediction) };
  const classes = p.classes ?? [];
  return { predictions: Array.from(p.prediction, (k) => classes[k] ?? k) };
}
