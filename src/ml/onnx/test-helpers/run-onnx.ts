/**
 * For the ONNX tests: run an exported file the way any ONNX client would (one [N, 1] tensor per
 * input column: float64 with NaN for a missing value, or string with "" for one), independently of
 * Trellis's own ONNX import, and compare numbers with NaN equal to NaN.
 */
import * as ort from 'onnxruntime-node';
import { column, valueAt, type Table } from '../../../data/table.js';
import type { TrellisModel } from '../../model.js';
import { DT, decodeModel, encodeModel, tensorValueInfo } from '../proto.js';

export interface OnnxRun {
  prediction: (number | string)[];
  probabilities?: Float64Array;
  /** Any other fetched output, as numbers. */
  values: Record<string, Float64Array>;
}

export function feedsFor(model: TrellisModel, table: Table): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const input of model.features.inputs) {
    if (feeds[input.name]) continue;
    const c = column(table, input.name);
    const n = table.rowCount;
    if (input.type === 'string') {
      feeds[input.name] = new ort.Tensor('string', Array.from({ length: n }, (_, i) => {
        const v = valueAt(c, i);
        return v === null ? '' : String(v);
      }), [n, 1]);
    } else {
      const x = new Float64Array(n);
      for (let i = 0; i < n; i++) x[i] = c.type === 'string' || !c.valid[i] ? Number.NaN : c.values[i]!;
      feeds[input.name] = new ort.Tensor('float64', x, [n, 1]);
    }
  }
  return feeds;
}

export async function runOnnx(bytes: Uint8Array, model: TrellisModel, table: Table): Promise<OnnxRun> {
  const session = await ort.InferenceSession.create(bytes, { logSeverityLevel: 3 });
  try {
    const out = await session.run(feedsFor(model, table));
    const values: Record<string, Float64Array> = {};
    for (const [k, t] of Object.entries(out)) if (t.type !== 'string') values[k] = Float64Array.from(t.data as ArrayLike<number>);
    return {
      prediction: out.prediction ? Array.from(out.prediction.data as ArrayLike<number | string>) : [],
      probabilities: out.probabilities ? Float64Array.from(out.probabilities.data as ArrayLike<number>) : undefined,
      values,
    };
  } finally {
    await session.release();
  }
}

/** The exported graph cut after the feature transforms: its one output is the feature matrix. */
export function featureMatrixGraph(bytes: Uint8Array, width: number): Uint8Array {
  const m = decodeModel(bytes);
  const nodes = m.graph!.node!;
  // The estimator is the last MatMul or TreeEnsemble: transforms come first and may use MatMul too.
  const consumer = nodes.filter((n) => n.opType === 'MatMul' || n.opType === 'TreeEnsemble').at(-1)!;
  const matrix = consumer.input[0]!;
  m.graph!.output = [tensorValueInfo(matrix, DT.DOUBLE, ['N', width])];
  return encodeModel(m);
}

/** The largest absolute difference, with NaN only equal to NaN (a NaN against a number is Infinity). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (Number.isNaN(x) || Number.isNaN(y)) {
      if (!(Number.isNaN(x) && Number.isNaN(y))) return Number.POSITIVE_INFINITY;
      continue;
    }
    max = Math.max(max, Math.abs(x - y));
  }
  return max;
}
