/**
 * `predictAsync`: predictions for every kind of model. Trellis's own estimators answer through the
 * synchronous `predict`; an ONNX estimator runs in onnxruntime, whose `run` is asynchronous. Inputs
 * are checked against the model's signature first, with errors that name the field.
 */
import type { Tensor } from 'onnxruntime-node';
import { TrellisError } from '../../core/errors.js';
import { describeBadValues } from '../../data/bad-values.js';
import { column, tableFromRows, valueAt, type Column, type ColumnType, type Table } from '../../data/table.js';
import { predict, type OnnxEstimator, type OnnxInput, type Predictions, type TrellisModel } from '../model.js';
import { onnxRuntime, sessionFor } from './runtime.js';

export async function predictAsync(model: TrellisModel, input: Table | Record<string, unknown>[]): Promise<Predictions> {
  if (model.estimator.kind !== 'onnx') return predict(model, input);
  const feeds = await onnxFeeds(model, input);
  return runOnnx(model, feeds);
}

/** The rows of an ONNX model's input, checked against its signature and encoded as its graph's input tensors. */
export interface OnnxFeeds {
  rows: number;
  tensors: Record<string, Tensor>;
}

/** Checks and encodes rows for an ONNX model without running it: the errors {@link predictAsync} gives for bad input. */
export async function onnxFeeds(model: TrellisModel, input: Table | Record<string, unknown>[]): Promise<OnnxFeeds> {
  const e = onnxEstimator(model);
  const table = Array.isArray(input) ? tableFromRows(input) : input;
  const types = new Map(model.features.inputs.map((i) => [i.name, i.type]));
  const ort = await onnxRuntime();
  const tensors: Record<string, Tensor> = {};
  for (const i of e.inputs) tensors[i.name] = inputTensor(ort, i, types, table);
  return { rows: table.rowCount, tensors };
}

/** Runs encoded rows through the model's graph. */
export async function runOnnx(model: TrellisModel, feeds: OnnxFeeds): Promise<Predictions> {
  const e = onnxEstimator(model);
  const session = await sessionFor(e);
  const fetches = [e.outputs.prediction, e.outputs.probabilities].filter((x): x is string => !!x);
  const out = await session.run(feeds.tensors, fetches);
  return predictions(model, e, out, feeds.rows);
}

/** Whether the graph takes any number of rows in one run (no input has a fixed batch dimension). */
export function onnxBatchable(model: TrellisModel): boolean {
  return model.estimator.kind === 'onnx' && model.estimator.inputs.every((i) => typeof i.shape[0] !== 'number');
}

/** Feeds of several requests as one: each input's tensors stacked along the rows, in order. */
export async function concatFeeds(model: TrellisModel, parts: readonly OnnxFeeds[]): Promise<OnnxFeeds> {
  if (parts.length === 1) return parts[0]!;
  const e = onnxEstimator(model);
  const ort = await onnxRuntime();
  const rows = parts.reduce((n, p) => n + p.rows, 0);
  const tensors: Record<string, Tensor> = {};
  for (const i of e.inputs) {
    const pieces = parts.map((p) => p.tensors[i.name]!);
    const dims = i.shape.length === 1 ? [rows] : [rows, i.columns.length];
    const first = pieces[0]!;
    if (first.type === 'string') {
      tensors[i.name] = new ort.Tensor('string', pieces.flatMap((t) => t.data as string[]), dims);
      continue;
    }
    const data = first.data as Float32Array;
    const Typed = data.constructor as new (n: number) => Float32Array;
    const joined = new Typed(pieces.reduce((n, t) => n + t.size, 0));
    let at = 0;
    for (const t of pieces) {
      joined.set(t.data as Float32Array, at);
      at += t.size;
    }
    tensors[i.name] = new ort.Tensor(first.type as 'float32', joined, dims);
  }
  return { rows, tensors };
}

/** Rows [start, end) of predictions made for a batch. */
export function slicePredictions(p: Predictions, start: number, end: number): Predictions {
  const out: Predictions = { prediction: p.prediction.slice(start, end) };
  if (p.proba && p.classes) out.proba = p.proba.slice(start * p.classes.length, end * p.classes.length);
  if (p.classes) out.classes = p.classes;
  return out;
}

function onnxEstimator(model: TrellisModel): OnnxEstimator {
  if (model.estimator.kind !== 'onnx') throw bad(`The model's estimator is '${model.estimator.kind}', not an ONNX graph`);
  return model.estimator;
}

const bad = (detail: string) => new TrellisError('TRELLIS_INVALID_PARAMETER', { detail });

/** Which data column types may fill a column declared with a type (as in features.ts, plus integer ↔ float). */
const ACCEPTS: Record<ColumnType, ColumnType[]> = {
  integer: ['integer', 'float'], float: ['float', 'integer'], boolean: ['boolean'], datetime: ['datetime'],
  string: ['string', 'integer', 'float', 'boolean', 'datetime'],
};

const TENSOR_TYPE = {
  float: 'float32', double: 'float64', int8: 'int8', int16: 'int16', int32: 'int32', int64: 'int64',
  uint8: 'uint8', uint16: 'uint16', uint32: 'uint32', uint64: 'uint64', bool: 'bool', string: 'string',
} as const;

function inputTensor(ort: typeof import('onnxruntime-node'), i: OnnxInput, types: Map<string, ColumnType>, table: Table): Tensor {
  const n = table.rowCount;
  const batch = i.shape[0];
  if (typeof batch === 'number' && batch !== n) throw bad(`ONNX input '${i.name}' takes exactly ${batch} rows, got ${n}`);
  const width = i.columns.length;
  const cols = i.columns.map((name): Column => {
    const declared = types.get(name) ?? 'float';
    let c: Column;
    try {
      c = column(table, name);
    } catch {
      throw bad(`Input is missing the feature '${name}' (${declared})`);
    }
    const allNull = c.type === 'string' ? c.codes.every((v) => v < 0) : c.valid.every((v) => v === 0);
    if (!ACCEPTS[declared].includes(c.type) && !allNull) {
      // The values that are actually wrong, with their rows or lines, not merely the first of the column.
      const wrong = describeBadValues(`Feature '${name}'`, c, declared === 'integer' ? 'float' : declared);
      throw bad(wrong ?? `Feature '${name}' must be ${declared}, got ${c.type} values`);
    }
    return c;
  });
  const dims = i.shape.length === 1 ? [n] : [n, width];
  const kind = TENSOR_TYPE[i.type];
  if (kind === 'string') {
    const data = new Array<string>(n * width);
    cols.forEach((c, j) => {
      for (let r = 0; r < n; r++) {
        const v = valueAt(c, r);
        data[r * width + j] = v === null ? '' : String(v);
      }
    });
    return new ort.Tensor('string', data, dims);
  }
  const numbers = new Float64Array(n * width);
  cols.forEach((c, j) => {
    for (let r = 0; r < n; r++) {
      const v = c.type === 'string' || !c.valid[r] ? Number.NaN : c.values[r]!;
      if (kind !== 'float32' && kind !== 'float64') {
        if (Number.isNaN(v)) throw bad(`Feature '${c.name}' is null in row ${r}; the ONNX input '${i.name}' is ${i.type} and has no missing value`);
        if (!Number.isInteger(v)) throw bad(`Feature '${c.name}' is ${v} in row ${r}; the ONNX input '${i.name}' takes whole numbers (${i.type})`);
      }
      numbers[r * width + j] = v;
    }
  });
  switch (kind) {
    case 'float32': return new ort.Tensor(kind, Float32Array.from(numbers), dims);
    case 'float64': return new ort.Tensor(kind, numbers, dims);
    case 'int64': return new ort.Tensor(kind, BigInt64Array.from(numbers, (v) => BigInt(v)), dims);
    case 'uint64': return new ort.Tensor(kind, BigUint64Array.from(numbers, (v) => BigInt(v)), dims);
    case 'int32': return new ort.Tensor(kind, Int32Array.from(numbers), dims);
    case 'int16': return new ort.Tensor(kind, Int16Array.from(numbers), dims);
    case 'int8': return new ort.Tensor(kind, Int8Array.from(numbers), dims);
    case 'uint32': return new ort.Tensor(kind, Uint32Array.from(numbers), dims);
    case 'uint16': return new ort.Tensor(kind, Uint16Array.from(numbers), dims);
    case 'uint8':
    case 'bool': return new ort.Tensor(kind, Uint8Array.from(numbers), dims);
  }
}

function numbersOf(t: Tensor): Float64Array {
  return Float64Array.from(t.data as ArrayLike<number | bigint>, (v) => Number(v));
}

function predictions(model: TrellisModel, e: OnnxEstimator, out: Record<string, Tensor>, n: number): Predictions {
  const sized = (name: string, per: number) => {
    const t = out[name]!;
    if (t.size !== n * per) throw new TrellisError('TRELLIS_MODEL_INVALID', { detail: `ONNX output '${name}' has ${t.size} values for ${n} rows, expected ${n * per}` });
    return t;
  };
  if (model.task === 'regression') return { prediction: numbersOf(sized(e.outputs.prediction!, 1)) };
  const classes = model.classes!;
  const c = classes.length;
  const prediction = new Float64Array(n);
  if (e.outputs.probabilities) {
    const t = out[e.outputs.probabilities]!;
    let proba = numbersOf(t);
    if (model.task === 'binary' && t.size === n) {
      // One column: the probability of the second class.
      proba = Float64Array.from({ length: 2 * n }, (_, k) => (k % 2 ? proba[(k - 1) / 2]! : 1 - proba[k / 2]!));
    } else sized(e.outputs.probabilities, c);
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let o = 1; o < c; o++) if (proba[i * c + o]! > proba[i * c + best]!) best = o;
      prediction[i] = best;
    }
    return { prediction, proba, classes };
  }
  const labels = sized(e.outputs.prediction!, 1).data as ArrayLike<string | number | bigint>;
  const index = new Map(classes.map((k, i) => [k, i]));
  for (let i = 0; i < n; i++) {
    const k = index.get(String(labels[i]));
    if (k === undefined) throw new TrellisError('TRELLIS_MODEL_INVALID', { detail: `ONNX output '${e.outputs.prediction}' gave the label '${String(labels[i])}', which is not one of the classes ${classes.join(', ')}` });
    prediction[i] = k;
  }
  return { prediction, classes };
}
