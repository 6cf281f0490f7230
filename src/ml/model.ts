/**
 * The Trellis model format: one JSON document (`trellis.model/v1`) holding the signature, the
 * fitted feature transforms and the estimator, with large arrays as base64 little-endian float64.
 * Loading it runs no code: every field is checked, and a document that fails a check is refused
 * with the reason. `predict` works the same on one record and on a batch.
 */
import { TrellisError } from '../core/errors.js';
import { encodeFloat64Base64, decodeFloat64Base64 } from '../numeric/sketches/base64.js';
import { tableFromRows, type Table } from '../data/table.js';
import { applyFeatures, type FeaturePipeline } from './features.js';

export const MODEL_FORMAT = 'trellis.model/v1';

export type Task = 'regression' | 'binary' | 'multiclass';

/** A linear model over the feature matrix: one row of weights per output (1, or k classes). */
export interface LinearEstimator {
  kind: 'linear';
  outputs: number;
  /** outputs × features, row-major, base64 float64. */
  weights: string;
  /** outputs values, base64 float64. */
  intercepts: string;
}

export type Estimator = LinearEstimator;

export interface TrellisModel {
  format: typeof MODEL_FORMAT;
  task: Task;
  target: string;
  /** Class labels, for classifiers, in the order of the probability columns. */
  classes?: string[];
  features: FeaturePipeline;
  estimator: Estimator;
  /** Free-form facts for people: trainer, params, metrics. */
  metadata?: Record<string, unknown>;
}

export interface Predictions {
  /** Regression: the value; classification: the index of the predicted class. */
  prediction: Float64Array;
  /** Classifiers: n × classes, row-major. */
  proba?: Float64Array;
  classes?: string[];
}

const corrupt = (detail: string) => new TrellisError('TRELLIS_MODEL_INVALID', { detail });

export function linearEstimator(weights: Float64Array, intercepts: Float64Array): LinearEstimator {
  return { kind: 'linear', outputs: intercepts.length, weights: encodeFloat64Base64(weights), intercepts: encodeFloat64Base64(intercepts) };
}

/** Parses and checks a model document; never evaluates anything in it. */
export function loadModel(json: string | Buffer): TrellisModel {
  let doc: unknown;
  try {
    doc = JSON.parse(typeof json === 'string' ? json : json.toString('utf8'));
  } catch (e) {
    throw corrupt(`it is not JSON (${(e as Error).message})`);
  }
  const m = doc as TrellisModel;
  if (!m || typeof m !== 'object') throw corrupt('it is not a JSON object');
  if (m.format !== MODEL_FORMAT) throw corrupt(`'format' is ${JSON.stringify(m.format)}, expected '${MODEL_FORMAT}'`);
  if (!['regression', 'binary', 'multiclass'].includes(m.task)) throw corrupt(`'task' is ${JSON.stringify(m.task)}`);
  if (typeof m.target !== 'string') throw corrupt("'target' must be a string");
  const f = m.features;
  if (!f || f.format !== 'trellis.features/v1' || !Array.isArray(f.inputs) || !Array.isArray(f.steps) || !Array.isArray(f.outputs)) throw corrupt("'features' is not a trellis.features/v1 pipeline");
  if (f.steps.length !== f.inputs.length) throw corrupt("'features' has a different number of steps and inputs");
  if (m.task !== 'regression' && (!Array.isArray(m.classes) || m.classes.length < 2)) throw corrupt("a classifier needs at least two 'classes'");
  const e = m.estimator;
  if (!e || e.kind !== 'linear') throw corrupt(`unknown estimator ${JSON.stringify(e?.kind)}`);
  let w: Float64Array;
  let b: Float64Array;
  try {
    w = decodeFloat64Base64(e.weights);
    b = decodeFloat64Base64(e.intercepts);
  } catch {
    throw corrupt('the estimator arrays are not valid base64 float64');
  }
  const outputs = m.task === 'multiclass' ? m.classes!.length : 1;
  if (e.outputs !== outputs || b.length !== outputs) throw corrupt(`the estimator has ${b.length} outputs, the task needs ${outputs}`);
  if (w.length !== outputs * f.outputs.length) throw corrupt(`the estimator has ${w.length} weights, expected ${outputs} × ${f.outputs.length}`);
  if (![...w, ...b].every(Number.isFinite)) throw corrupt('the estimator holds a non-finite weight');
  return m;
}

/** Predictions for a table, or for records (one object per row). */
export function predict(model: TrellisModel, input: Table | Record<string, unknown>[]): Predictions {
  const table = Array.isArray(input) ? tableFromRows(input) : input;
  const x = applyFeatures(model.features, table);
  const p = model.features.outputs.length;
  const n = table.rowCount;
  const e = model.estimator;
  const w = decodeFloat64Base64(e.weights);
  const b = decodeFloat64Base64(e.intercepts);
  const k = e.outputs;
  const z = new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    for (let o = 0; o < k; o++) {
      let s = b[o]!;
      for (let j = 0; j < p; j++) s += w[o * p + j]! * x[i * p + j]!;
      z[i * k + o] = s;
    }
  }
  if (model.task === 'regression') return { prediction: z };
  const classes = model.classes!;
  const c = classes.length;
  const proba = new Float64Array(n * c);
  const prediction = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    if (model.task === 'binary') {
      const p1 = 1 / (1 + Math.exp(-z[i]!));
      proba[i * 2] = 1 - p1;
      proba[i * 2 + 1] = p1;
    } else {
      let max = -Infinity;
      for (let o = 0; o < c; o++) max = Math.max(max, z[i * c + o]!);
      let sum = 0;
      for (let o = 0; o < c; o++) sum += proba[i * c + o] = Math.exp(z[i * c + o]! - max);
      for (let o = 0; o < c; o++) proba[i * c + o]! /= sum;
    }
    let best = 0;
    for (let o = 1; o < c; o++) if (proba[i * c + o]! > proba[i * c + best]!) best = o;
    prediction[i] = best;
  }
  return { prediction, proba, classes };
}
