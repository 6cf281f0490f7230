/**
 * A model version loaded for serving: its document read through the registry (checked against the
 * sha256 recorded when the version was created), parsed and checked once, and the predict path it
 * takes — in process for Trellis trees and linear models (the record path for a few rows, the
 * table path for blocks), onnxruntime for imported ONNX graphs.
 */
import { createHash } from 'node:crypto';
import { loadModel, predict, type Predictions, type TrellisModel } from '../ml/model.js';
import { predictAsync } from '../ml/onnx/predict-async.js';
import type { ModelVersion } from '../store/ports/registry.js';
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

export async function loadVersion(v: ModelVersion, read: ReadModel): Promise<LoadedModel> {
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
    predict: onnx ? (records) => predictAsync(model, records) : (records) => Promise.resolve(predict(model, records)),
  };
}
