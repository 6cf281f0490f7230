/**
 * A model version loaded for serving: its document read through the registry (checked against the
 * sha256 recorded when the version was created), parsed and checked once, and the predict path it
 * takes — in process for Trellis trees and linear models (the record path for a few rows, the
 * table path for blocks), onnxruntime for imported ONNX graphs. Requests to an ONNX model are
 * checked and encoded one by one, then run together in micro-batches (micro-batch.ts): one
 * request's bad input fails that request alone. Trellis models stay on the direct path: in process,
 * a row costs the same alone or in a batch.
 */
import { createHash } from 'node:crypto';
import { loadModel, predict, type Predictions, type TrellisModel } from '../ml/model.js';
import { concatFeeds, onnxBatchable, onnxFeeds, predictAsync, runOnnx, slicePredictions, type OnnxFeeds } from '../ml/onnx/predict-async.js';
import type { ModelVersion } from '../store/ports/registry.js';
import { MicroBatcher } from './micro-batch.js';
import type { InputColumn } from './types.js';

export interface LoadedModel {
  /** `name/version`. */
  key: string;
  name: string;
  version: string;
  model: TrellisModel;
  signature: InputColumn[];
  sha256: string;
  bytes: number;
  /** Time to read, verify and parse, in ms. */
  loadMs: number;
  loadedAt: number;
  predict(records: Record<string, unknown>[]): Promise<Predictions>;
}

/** Reads the bytes of a version's `model.json`, verified against its recorded digest. */
export type ReadModel = (v: ModelVersion) => Promise<Buffer>;

/** How ONNX requests are batched; `false` runs each request on its own. */
export interface BatchOptions {
  maxRows: number;
  maxDelayMs: number;
}

export const DEFAULT_BATCH: BatchOptions = { maxRows: 256, maxDelayMs: 2 };

export async function loadVersion(v: ModelVersion, read: ReadModel, batch: BatchOptions | false = DEFAULT_BATCH): Promise<LoadedModel> {
  const started = performance.now();
  const bytes = await read(v);
  const model = loadModel(bytes);
  const onnx = model.estimator.kind === 'onnx';
  return {
    key: `${v.name}/${v.version}`,
    name: v.name,
    version: v.version,
    model,
    signature: model.features.inputs.map((i) => ({ name: i.name, type: i.type })),
    sha256: createHash('sha256').update(bytes).digest('hex'),
    bytes: bytes.length,
    loadMs: performance.now() - started,
    loadedAt: Date.now(),
    // The in-process path is synchronous: no promise hop beyond the one the caller awaits.
    predict: onnx ? onnxPredict(model, batch) : (records) => Promise.resolve(predict(model, records)),
  };
}

/** An ONNX model's predict: micro-batched when its graph takes any number of rows. */
function onnxPredict(model: TrellisModel, batch: BatchOptions | false): LoadedModel['predict'] {
  if (!batch || !onnxBatchable(model)) return (records) => predictAsync(model, records);
  const batcher = new MicroBatcher<OnnxFeeds, Predictions, Predictions>({
    ...batch,
    run: async (parts) => runOnnx(model, await concatFeeds(model, parts)),
    slice: slicePredictions,
  });
  return async (records) => {
    const feeds = await onnxFeeds(model, records);
    return batcher.add(feeds, feeds.rows);
  };
}
