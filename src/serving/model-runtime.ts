/**
 * A model version loaded for serving: its document read through the registry, then — in the
 * serving engine's loading worker (model-loader.ts), off the thread that answers requests — checked
 * against the sha256 recorded when the version was created, parsed, checked and decoded once, and
 * adopted here as it was decoded; and the predict path it takes — in process for Trellis trees and
 * linear models (the record path for a few rows, the table path for blocks), onnxruntime for
 * imported ONNX graphs. Requests to an ONNX model are checked and encoded one by one, then run
 * together in micro-batches (micro-batch.ts): one request's bad input fails that request alone.
 * Trellis models stay on the direct path: in process, a row costs the same alone or in a batch.
 */
import { predict, type Predictions, type TrellisModel } from '../ml/model.js';
import { concatFeeds, onnxBatchable, onnxFeeds, predictAsync, runOnnx, slicePredictions, type OnnxFeeds } from '../ml/onnx/predict-async.js';
import type { ModelVersion } from '../store/ports/registry.js';
import { MicroBatcher } from './micro-batch.js';
import { loadHere, type ModelBytes, type ModelLoader } from './model-loader.js';
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
  /** The thread that verified, parsed and decoded it (the loading worker's, when loaded through one). */
  loadedIn: number;
  loadedAt: number;
  predict(records: Record<string, unknown>[]): Promise<Predictions>;
}

/**
 * Reads a version's `model.json`: its bytes, already verified against the version's recorded digest,
 * or (the registry's `readVersionFileUnverified`) with the digest they must have, for the loader
 * to check. The bytes are the loader's from then on: their buffer moves to the loading worker.
 */
export type ReadModel = (v: ModelVersion) => Promise<Buffer | ModelBytes>;

/** How ONNX requests are batched; `false` runs each request on its own. */
export interface BatchOptions {
  maxRows: number;
  maxDelayMs: number;
}

export const DEFAULT_BATCH: BatchOptions = { maxRows: 256, maxDelayMs: 2 };

/**
 * Reads and loads a version: through `loader`'s worker (the serving engine's), or in this thread
 * without one. A version whose bytes do not match their recorded digest, or whose document is not a
 * valid model, is refused with the registry's and the model format's errors.
 */
export async function loadVersion(v: ModelVersion, read: ReadModel, batch: BatchOptions | false = DEFAULT_BATCH, loader?: ModelLoader): Promise<LoadedModel> {
  const started = performance.now();
  const got = await read(v);
  const file: ModelBytes = Buffer.isBuffer(got) ? { bytes: got } : got;
  const size = file.bytes.length;
  const { model, sha256, threadId } = loader ? await loader.load(file, `${v.name}/${v.version}`) : loadHere(file);
  const onnx = model.estimator.kind === 'onnx';
  return {
    key: `${v.name}/${v.version}`,
    name: v.name,
    version: v.version,
    model,
    signature: model.features.inputs.map((i) => ({ name: i.name, type: i.type })),
    sha256,
    bytes: size,
    loadMs: performance.now() - started,
    loadedIn: threadId,
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
