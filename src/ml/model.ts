/**
 * The Trellis model format: one JSON document (`trellis.model/v1`) holding the signature, the
 * fitted feature transforms and the estimator, with large arrays as base64 little-endian float64.
 * Loading it runs no code: every field is checked, and a document that fails a check is refused
 * with the reason. `predict` works the same on one record and on a batch.
 */
import { TrellisError } from '../core/errors.js';
import { encodeFloat64Base64, decodeFloat64Base64 } from '../numeric/sketches/base64.js';
import type { Table } from '../data/table.js';
import { checkTree, ensembleRaw, startEnsembleRaw, type Ensemble, type Tree } from '../numeric/trees/tree.js';
import { enableParallelPrediction } from '../numeric/trees/predict-pool.js';
import { decodeBase64 } from '../numeric/sketches/base64.js';
import { sha256Hex } from '../core/hash.js';
import { applyFeatures, type FeaturePipeline } from './features.js';

// Large batches share the tree walk with a second core.
enableParallelPrediction();

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

/** One tree of an ensemble, with its node arrays as base64 float64 (see numeric/trees/tree.ts). */
export interface EncodedTree {
  output: number;
  width: number;
  feature: string;
  threshold: string;
  left: string;
  right: string;
  missingLeft: string;
  value: string;
  cover: string;
  /** Node index → category codes sent left, for categorical splits. */
  categories?: Record<string, number[]>;
}

/**
 * A tree ensemble over the feature matrix. `link` turns the aggregated outputs into predictions:
 * `identity` (regression, or forests whose leaves already hold class probabilities), `logistic`
 * (binary boosting) or `softmax` (multiclass boosting).
 */
export interface TreeEstimator {
  kind: 'trees';
  algorithm: 'gbdt' | 'forest';
  outputs: number;
  aggregation: 'sum' | 'mean';
  link: 'identity' | 'logistic' | 'softmax';
  /** One per output, added after aggregation. */
  baseScore: number[];
  /** Feature-matrix columns the trees treat as categories (codes 0…k-1). */
  categorical?: number[];
  trees: EncodedTree[];
}

export type Estimator = LinearEstimator | TreeEstimator | OnnxEstimator;

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
export function loadModel(json: string | Uint8Array): TrellisModel {
  return adoptModel(checkModel(json));
}

/**
 * The arrays checking a document decoded, which prediction uses: every tree's node arrays, a linear
 * model's weights and intercepts, an ONNX model's graph bytes. {@link packDecoded} readies them to
 * be sent to another thread.
 */
export interface DecodedArrays {
  trees?: Tree[];
  linear?: { weights: Float64Array; intercepts: Float64Array };
  onnx?: Uint8Array;
}

/** A document parsed and checked, with the arrays that checking it decoded, not yet adopted. */
export interface CheckedModel {
  model: TrellisModel;
  decoded: DecodedArrays;
}

/**
 * `loadModel` up to, not including, keeping the decoded arrays for prediction: parses the document,
 * checks every field and decodes its arrays. Keeps nothing, so it may run in another thread (the
 * serving engine's loading worker), its result sent back and adopted there with {@link adoptModel}.
 */
export function checkModel(json: string | Uint8Array): CheckedModel {
  let doc: unknown;
  try {
    doc = JSON.parse(typeof json === 'string' ? json : Buffer.from(json.buffer, json.byteOffset, json.byteLength).toString('utf8'));
  } catch (e) {
    throw corrupt(`it is not JSON (${(e as Error).message})`);
  }
  const m = doc as TrellisModel;
  if (!m || typeof m !== 'object') throw corrupt('it is not a JSON object');
  if ((m.format as string) !== MODEL_FORMAT) throw corrupt(`'format' is ${JSON.stringify(m.format)}, expected '${MODEL_FORMAT}'`);
  if (!['regression', 'binary', 'multiclass'].includes(m.task)) throw corrupt(`'task' is ${JSON.stringify(m.task)}`);
  if (typeof m.target !== 'string') throw corrupt("'target' must be a string");
  const f = m.features;
  if (!f || f.format !== 'trellis.features/v1' || !Array.isArray(f.inputs) || !Array.isArray(f.steps) || !Array.isArray(f.outputs)) throw corrupt("'features' is not a trellis.features/v1 pipeline");
  // An ONNX model keeps its transforms inside its graph (see the ONNX block at the end of this file).
  if ((m.estimator as { kind?: unknown } | undefined)?.kind === 'onnx') return { model: m, decoded: { onnx: checkOnnxModel(m) } };
  if (f.steps.length !== f.inputs.length) throw corrupt("'features' has a different number of steps and inputs");
  if (m.task !== 'regression' && (!Array.isArray(m.classes) || m.classes.length < 2)) throw corrupt("a classifier needs at least two 'classes'");
  const e = m.estimator;
  const outputs = m.task === 'multiclass' ? m.classes!.length : 1;
  if (e?.kind === 'trees') return { model: m, decoded: { trees: checkTreeEstimator(e, outputs, f.outputs.length) } };
  if (!e || e.kind !== 'linear') throw corrupt(`unknown estimator ${JSON.stringify((e as { kind?: unknown })?.kind)}`);
  let w: Float64Array;
  let b: Float64Array;
  try {
    w = decodeFloat64Base64(e.weights);
    b = decodeFloat64Base64(e.intercepts);
  } catch {
    throw corrupt('the estimator arrays are not valid base64 float64');
  }
  if (e.outputs !== outputs || b.length !== outputs) throw corrupt(`the estimator has ${b.length} outputs, the task needs ${outputs}`);
  if (w.length !== outputs * f.outputs.length) throw corrupt(`the estimator has ${w.length} weights, expected ${outputs} × ${f.outputs.length}`);
  if (![...w, ...b].every(Number.isFinite)) throw corrupt('the estimator holds a non-finite weight');
  return { model: m, decoded: { linear: { weights: w, intercepts: b } } };
}

/**
 * The model of a {@link checkModel} result, its decoded arrays kept for prediction as they are
 * (nothing is parsed, checked or decoded again): in this thread, or after both were sent from the
 * thread that checked them.
 */
export function adoptModel({ model, decoded }: CheckedModel): TrellisModel {
  const e = model.estimator;
  if (e.kind === 'trees' && decoded.trees?.length === e.trees.length) remember(e, decoded.trees);
  else if (e.kind === 'linear' && decoded.linear) linearCache.set(e, decoded.linear);
  else if (e.kind === 'onnx' && decoded.onnx) onnxCache.set(e, decoded.onnx);
  else throw new Error(`adoptModel: the decoded arrays do not belong to this ${e.kind} estimator`);
  return model;
}

type Decoded = Float64Array | Int32Array | Uint8Array;

/**
 * Moves decoded arrays into one buffer, for a message that sends them to another thread: every
 * array is replaced by a view of the same type over the buffer returned, to be put in the
 * message's transfer list. The receiving thread then gets one buffer and views of it, which costs it
 * far less than a buffer per array (a model of 100 trees has a few thousand arrays).
 */
export function packDecoded(d: DecodedArrays): ArrayBuffer {
  const all: Decoded[] = [];
  const each = (f: (a: Decoded) => Decoded) => {
    if (d.onnx) d.onnx = f(d.onnx) as Uint8Array;
    if (d.linear) d.linear = { weights: f(d.linear.weights) as Float64Array, intercepts: f(d.linear.intercepts) as Float64Array };
    for (const t of d.trees ?? []) {
      t.feature = f(t.feature) as Int32Array;
      t.threshold = f(t.threshold) as Float64Array;
      t.left = f(t.left) as Int32Array;
      t.right = f(t.right) as Int32Array;
      t.missingLeft = f(t.missingLeft) as Uint8Array;
      t.value = f(t.value) as Float64Array;
      t.cover = f(t.cover) as Float64Array;
      // `map` keeps the holes of a sparse array: nodes without a category set.
      if (t.categories) t.categories = t.categories.map((c) => (c ? (f(c) as Int32Array) : c));
    }
  };
  // Each array starts on a multiple of 8 bytes, as a Float64Array must.
  const padded = (a: Decoded) => Math.ceil(a.byteLength / 8) * 8;
  each((a) => {
    all.push(a);
    return a;
  });
  const buffer = new ArrayBuffer(all.reduce((n, a) => n + padded(a), 0));
  let at = 0;
  each((a) => {
    const view = new (a.constructor as new (b: ArrayBuffer, offset: number, length: number) => Decoded)(buffer, at, a.length);
    view.set(a);
    at += padded(a);
    return view;
  });
  return buffer;
}

/** Predictions for a table, or for records (one object per row). */
export function predict(model: TrellisModel, input: Table | Record<string, unknown>[]): Predictions {
  return startPredict(model, input)();
}

/**
 * `predict` in two halves, for a caller with other work to do meanwhile (batch scoring reads and
 * writes other blocks): the features are computed and a large batch's tree walk starts on the
 * prediction worker at once; the function returned finishes the walk and gives the predictions.
 * `into`: a matrix to write a table's features into (see applyFeatures), untouched until then.
 */
export function startPredict(model: TrellisModel, input: Table | Record<string, unknown>[], into?: Float64Array): () => Predictions {
  if (model.estimator.kind === 'onnx') throw onnxIsAsync();
  const x = applyFeatures(model.features, input, into);
  const p = model.features.outputs.length;
  const n = Array.isArray(input) ? input.length : input.rowCount;
  const e = model.estimator;
  if (e.kind === 'trees') {
    const raw = startEnsembleRaw(ensembleOf(e), x, n, p);
    return () => linked(model, raw(), n);
  }
  const z = rawScores(model, x, n, p);
  return () => linked(model, z, n);
}

/** Predictions from the estimator's raw outputs (n × outputs): the link function, and the class chosen. */
function linked(model: TrellisModel, z: Float64Array, n: number): Predictions {
  if (model.task === 'regression') return { prediction: z };
  const classes = model.classes!;
  const c = classes.length;
  const proba = new Float64Array(n * c);
  const prediction = new Float64Array(n);
  const link = model.estimator.kind === 'trees' ? model.estimator.link : model.task === 'binary' ? 'logistic' : 'softmax';
  for (let i = 0; i < n; i++) {
    if (link === 'identity') {
      if (model.task === 'binary') {
        proba[i * 2 + 1] = Math.min(1, Math.max(0, z[i]!));
        proba[i * 2] = 1 - proba[i * 2 + 1]!;
      } else for (let o = 0; o < c; o++) proba[i * c + o] = z[i * c + o]!;
    } else if (model.task === 'binary') {
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

function encodeInts(a: ArrayLike<number>): string {
  return encodeFloat64Base64(Float64Array.from(a));
}

export function encodeTree(t: Tree): EncodedTree {
  const out: EncodedTree = {
    output: t.output, width: t.width, feature: encodeInts(t.feature), threshold: encodeFloat64Base64(t.threshold),
    left: encodeInts(t.left), right: encodeInts(t.right), missingLeft: encodeInts(t.missingLeft),
    value: encodeFloat64Base64(t.value), cover: encodeFloat64Base64(t.cover),
  };
  const cats = t.categories?.flatMap((s, i) => (s ? [[String(i), Array.from(s)] as const] : []));
  if (cats?.length) out.categories = Object.fromEntries(cats);
  return out;
}

export function decodeTree(e: EncodedTree): Tree {
  const ints = (s: string) => Int32Array.from(decodeFloat64Base64(s));
  const feature = ints(e.feature);
  const t: Tree = {
    output: e.output, width: e.width, feature, threshold: decodeFloat64Base64(e.threshold), left: ints(e.left), right: ints(e.right),
    missingLeft: Uint8Array.from(decodeFloat64Base64(e.missingLeft)), value: decodeFloat64Base64(e.value), cover: decodeFloat64Base64(e.cover),
  };
  if (e.categories) {
    t.categories = new Array(feature.length);
    for (const [k, v] of Object.entries(e.categories)) t.categories[Number(k)] = Int32Array.from(v);
  }
  return t;
}

export function treeEstimator(o: Omit<TreeEstimator, 'kind' | 'trees'> & { trees: Tree[] }): TreeEstimator {
  const e: TreeEstimator = { kind: 'trees', ...o, trees: o.trees.map(encodeTree) };
  // A model predicts right after training (evaluation, the bench): keep the trees it was made from
  // (copies, exactly what decoding gives back) rather than decode them again.
  remember(e, o.trees.map(copyTree));
  return e;
}

function copyTree(t: Tree): Tree {
  const c: Tree = {
    output: t.output, width: t.width, feature: t.feature.slice(), threshold: t.threshold.slice(), left: t.left.slice(), right: t.right.slice(),
    missingLeft: t.missingLeft.slice(), value: t.value.slice(), cover: t.cover.slice(),
  };
  if (t.categories?.some(Boolean)) c.categories = Array.from({ length: t.feature.length }, (_, i) => t.categories![i]?.slice());
  return c;
}

/** Checks the ensemble, decoding every tree: the decoded trees, for prediction. */
function checkTreeEstimator(e: TreeEstimator, outputs: number, features: number): Tree[] {
  if (e.algorithm !== 'gbdt' && e.algorithm !== 'forest') throw corrupt(`unknown tree algorithm ${JSON.stringify(e.algorithm)}`);
  if (e.aggregation !== 'sum' && e.aggregation !== 'mean') throw corrupt(`unknown aggregation ${JSON.stringify(e.aggregation)}`);
  if (!['identity', 'logistic', 'softmax'].includes(e.link)) throw corrupt(`unknown link ${JSON.stringify(e.link)}`);
  if (e.outputs !== outputs) throw corrupt(`the estimator has ${e.outputs} outputs, the task needs ${outputs}`);
  if (!Array.isArray(e.baseScore) || e.baseScore.length !== outputs || !e.baseScore.every(Number.isFinite)) throw corrupt(`'baseScore' must hold ${outputs} finite numbers`);
  if (!Array.isArray(e.trees) || e.trees.length === 0) throw corrupt('the ensemble has no trees');
  return e.trees.map((et, i) => {
    let t: Tree;
    try {
      t = decodeTree(et);
    } catch {
      throw corrupt(`tree ${i} has arrays that are not valid base64 float64`);
    }
    if (!(t.output === -1 ? t.width === outputs : t.width === 1 && t.output >= 0 && t.output < outputs)) throw corrupt(`tree ${i} writes to output ${t.output} with width ${t.width}; the model has ${outputs}`);
    const why = checkTree(t, features);
    if (why) throw corrupt(`tree ${i}: ${why}`);
    return t;
  });
}

const compiled = new WeakMap<TreeEstimator, Ensemble>();

function remember(e: TreeEstimator, trees: Tree[]): void {
  compiled.set(e, { outputs: e.outputs, aggregation: e.aggregation, baseScore: Float64Array.from(e.baseScore), trees });
}

/** The estimator's trees as typed arrays, decoded once per loaded model. */
export function ensembleOf(e: TreeEstimator): Ensemble {
  let c = compiled.get(e);
  if (!c) {
    c = { outputs: e.outputs, aggregation: e.aggregation, baseScore: Float64Array.from(e.baseScore), trees: e.trees.map(decodeTree) };
    compiled.set(e, c);
  }
  return c;
}

const linearCache = new WeakMap<LinearEstimator, { weights: Float64Array; intercepts: Float64Array }>();

/** The estimator's raw outputs (n × outputs) for a feature matrix: before the link function. */
export function rawScores(model: TrellisModel, x: Float64Array, n: number, p: number): Float64Array {
  const e = model.estimator;
  if (e.kind === 'onnx') throw onnxIsAsync();
  if (e.kind === 'trees') return ensembleRaw(ensembleOf(e), x, n, p);
  let lw = linearCache.get(e);
  if (!lw) {
    lw = { weights: decodeFloat64Base64(e.weights), intercepts: decodeFloat64Base64(e.intercepts) };
    linearCache.set(e, lw);
  }
  const { weights: w, intercepts: b } = lw;
  const k = e.outputs;
  const z = new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    for (let o = 0; o < k; o++) {
      let s = b[o]!;
      for (let j = 0; j < p; j++) s += w[o * p + j]! * x[i * p + j]!;
      z[i * k + o] = s;
    }
  }
  return z;
}

// ---------------------------------------------------------------------------------------------
// ONNX estimator: a model imported from an ONNX file (src/ml/onnx/import.ts), run by onnxruntime,
// whose `run` is asynchronous, so it predicts through predictAsync() in src/ml/onnx/predict-async.ts.
// Its `features` list the input columns (the signature) with no steps: the transforms are in the graph.

/** Element types an ONNX model input may have. */
export const ONNX_INPUT_TYPES = ['float', 'double', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64', 'bool', 'string'] as const;
export type OnnxInputType = (typeof ONNX_INPUT_TYPES)[number];

export interface OnnxInput {
  name: string;
  type: OnnxInputType;
  /** Dimensions: a number when fixed, a name when free (the batch). */
  shape: (number | string)[];
  /** The table columns that fill it, one per element of its last dimension. */
  columns: string[];
}

export interface OnnxEstimator {
  kind: 'onnx';
  /** The ONNX model file, base64. */
  onnx: string;
  /** sha256 of those bytes, hex: checked on load. */
  sha256: string;
  inputs: OnnxInput[];
  /** Graph outputs holding the prediction (a value or a class label) and the class probabilities. */
  outputs: { prediction?: string; probabilities?: string };
}

const onnxIsAsync = () => new TrellisError('TRELLIS_INVALID_PARAMETER', {
  detail: 'This model is an ONNX graph run by onnxruntime, which is asynchronous: predict with predictAsync() (src/ml/onnx/predict-async.ts)',
});

const COLUMN_TYPES: readonly string[] = ['integer', 'float', 'boolean', 'string', 'datetime'];

/** Checks an ONNX model's document: its graph's bytes, decoded and checked against their sha256. */
function checkOnnxModel(m: TrellisModel): Uint8Array {
  const e = m.estimator as OnnxEstimator;
  if (m.task !== 'regression' && (!Array.isArray(m.classes) || m.classes.length < 2)) throw corrupt("a classifier needs at least two 'classes'");
  if (typeof e.onnx !== 'string' || typeof e.sha256 !== 'string') throw corrupt("the ONNX estimator needs 'onnx' (base64) and 'sha256'");
  let bytes: Uint8Array;
  try {
    bytes = decodeBase64(e.onnx);
  } catch {
    throw corrupt("the ONNX estimator's 'onnx' is not valid base64");
  }
  if (bytes.length === 0 || sha256Hex(bytes) !== e.sha256) throw corrupt("the ONNX bytes do not match their 'sha256'");
  if (!Array.isArray(e.inputs) || e.inputs.length === 0) throw corrupt("the ONNX estimator has no 'inputs'");
  const columns: string[] = [];
  for (const i of e.inputs) {
    const ok = i && typeof i.name === 'string' && (ONNX_INPUT_TYPES as readonly string[]).includes(i.type)
      && Array.isArray(i.shape) && i.shape.every((d) => typeof d === 'string' || Number.isInteger(d))
      && Array.isArray(i.columns) && i.columns.length > 0 && i.columns.every((c) => typeof c === 'string');
    if (!ok) throw corrupt(`ONNX input ${JSON.stringify(i?.name)} is malformed`);
    columns.push(...i.columns);
  }
  if (new Set(columns).size !== columns.length) throw corrupt('two ONNX inputs read the same column');
  const f = m.features;
  if (f.steps.length !== 0 || f.outputs.length !== 0) throw corrupt("an ONNX model keeps its transforms in the graph: its 'features' have no steps");
  if (f.inputs.length !== columns.length || f.inputs.some((x, k) => x?.name !== columns[k] || !COLUMN_TYPES.includes(x.type))) throw corrupt("'features.inputs' do not match the columns of the ONNX inputs");
  const o = e.outputs;
  const named = (v: unknown) => v === undefined || (typeof v === 'string' && v.length > 0);
  if (!o || typeof o !== 'object' || !named(o.prediction) || !named(o.probabilities)) throw corrupt("the ONNX estimator's 'outputs' are malformed");
  if (m.task === 'regression' ? !o.prediction : !o.probabilities && !o.prediction) throw corrupt(`the ONNX estimator names no output for a ${m.task} model`);
  return bytes;
}

/** Graph bytes decoded by loading, until onnxruntime takes them. */
const onnxCache = new WeakMap<OnnxEstimator, Uint8Array>();

/**
 * The estimator's ONNX graph as bytes: the ones loading decoded, handed over once (onnxruntime
 * keeps its own copy, so they are not held beside it), or decoded again.
 */
export function takeOnnxBytes(e: OnnxEstimator): Uint8Array {
  const b = onnxCache.get(e);
  if (!b) return decodeBase64(e.onnx);
  onnxCache.delete(e);
  return b;
}
