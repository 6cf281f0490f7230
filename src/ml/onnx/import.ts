/**
 * ONNX model file → Trellis model whose estimator is the ONNX graph (`kind: 'onnx'`), predicting
 * through onnxruntime with `predictAsync`. The signature comes from the graph inputs: each input
 * [N] or [N, 1] is one table column named as the input; an input [N, F] is F columns, named
 * `input[0]`…`input[F-1]` unless `columns` names them. Task, classes and which outputs hold the
 * prediction and the probabilities are given, or read from a model Trellis exported, or inferred
 * from the outputs (and from `classlabels_*` attributes of `ai.onnx.ml` classifiers).
 */
import { TrellisError, invalid } from '../../core/errors.js';
import { sha256Hex } from '../../core/hash.js';
import { encodeBase64 } from '../../numeric/sketches/base64.js';
import type { ColumnType } from '../../data/table.js';
import { MODEL_FORMAT, ONNX_INPUT_TYPES, loadModel, type OnnxEstimator, type OnnxInput, type OnnxInputType, type Task, type TrellisModel } from '../model.js';
import { META } from './export.js';
import { DT_NAMES, decodeModel, textOf, type ModelProto, type ValueInfoProto } from './proto.js';
import { createSession } from './runtime.js';

export interface OnnxImportOptions {
  task?: Task;
  classes?: string[];
  /** The name of what the model predicts (for people; default: the exporter's, or 'target'). */
  target?: string;
  /** The graph output holding the prediction (a value, or a class label). */
  prediction?: string;
  /** The graph output holding class probabilities: [N, classes], or [N, 1] / [N] for P(second class). */
  probabilities?: string;
  /** Column names for an input with several columns: input name → one name per column. */
  columns?: Record<string, string[]>;
}

const refused = (detail: string) => new TrellisError('TRELLIS_MODEL_INVALID', { detail });

interface TensorInfo {
  name: string;
  type: string;
  shape: (number | string)[];
}

function tensorInfo(v: ValueInfoProto, what: string): TensorInfo | string {
  const t = v.type;
  if (!t?.tensorType) {
    const kind = t?.sequenceType ? 'a sequence' : t?.mapType ? 'a map' : t?.optionalType ? 'an optional' : t?.sparseTensorType ? 'a sparse tensor' : 'of no declared type';
    return `${what} '${v.name}' is ${kind}; only dense tensors are supported`;
  }
  const type = DT_NAMES[t.tensorType.elemType ?? 0] ?? `type ${t.tensorType.elemType}`;
  const shape = (t.tensorType.shape?.dim ?? []).map((d, k) => (d.dimValue && d.dimValue > 0 ? d.dimValue : d.dimParam || `d${k}`));
  return { name: v.name, type, shape };
}

const columnTypeOf = (t: OnnxInputType): ColumnType => (t === 'string' ? 'string' : t === 'bool' ? 'boolean' : t === 'float' || t === 'double' ? 'float' : 'integer');
/** The number of values per row of a tensor [N, …], or null when a dimension is free. */
const perRow = (s: (number | string)[]) => s.slice(1).reduce<number | null>((a, d) => (a === null || typeof d !== 'number' ? null : a * d), 1);

export async function importOnnx(bytes: Uint8Array, o: OnnxImportOptions = {}): Promise<TrellisModel> {
  let m: ModelProto;
  try {
    m = decodeModel(bytes);
  } catch (e) {
    throw refused(`it is not an ONNX model (${(e as Error).message})`);
  }
  const graph = m.graph;
  if (!m.irVersion || !graph || !graph.node?.length || !graph.output?.length) throw refused('it is not an ONNX model (no IR version, graph, nodes or outputs)');
  const meta = new Map((m.metadataProps ?? []).map((p) => [p.key ?? '', p.value ?? '']));
  const ours = meta.get(META.format) === MODEL_FORMAT;
  const json = <T>(key: string): T | undefined => {
    const v = meta.get(key);
    if (!ours || v === undefined) return undefined;
    try {
      return JSON.parse(v) as T;
    } catch {
      return undefined;
    }
  };

  // Inputs: graph inputs that are not initializers (before IR 4 initializers were listed as inputs).
  const initialized = new Set((graph.initializer ?? []).map((t) => t.name));
  const declaredTypes = new Map((json<{ name: string; type: ColumnType }[]>(META.inputs) ?? []).map((i) => [i.name, i.type]));
  const inputs: OnnxInput[] = [];
  const signature: { name: string; type: ColumnType }[] = [];
  for (const v of graph.input ?? []) {
    if (initialized.has(v.name)) continue;
    const info = tensorInfo(v, 'input');
    if (typeof info === 'string') throw refused(info);
    if (!(ONNX_INPUT_TYPES as readonly string[]).includes(info.type)) throw refused(`input '${info.name}' holds ${info.type}, which Trellis cannot feed from a table`);
    const type = info.type as OnnxInputType;
    if (info.shape.length < 1 || info.shape.length > 2) throw refused(`input '${info.name}' has shape [${info.shape.join(', ')}]; only [N] and [N, columns] inputs map to table columns`);
    const width = info.shape.length === 1 ? 1 : info.shape[1];
    let columns = o.columns?.[info.name];
    if (columns) {
      if (typeof width === 'number' && columns.length !== width) throw invalid(`columns for input '${info.name}' name ${columns.length} columns, the input has ${width}`);
    } else if (typeof width !== 'number') {
      throw invalid(`Input '${info.name}' has a free number of columns (${width}); name them with the columns option`);
    } else columns = width === 1 ? [info.name] : Array.from({ length: width }, (_, j) => `${info.name}[${j}]`);
    inputs.push({ name: info.name, type, shape: info.shape, columns });
    for (const c of columns) signature.push({ name: c, type: declaredTypes.get(c) ?? columnTypeOf(type) });
  }
  if (!inputs.length) throw refused('the graph has no inputs to feed');
  for (const name of Object.keys(o.columns ?? {})) {
    if (!inputs.some((i) => i.name === name)) throw invalid(`columns names input '${name}', which the graph does not have; its inputs are ${inputs.map((i) => i.name).join(', ')}`);
  }
  if (o.classes && new Set(o.classes).size !== o.classes.length) throw invalid(`The classes must be distinct, got ${o.classes.join(', ')}`);

  const outputs = new Map<string, TensorInfo>();
  for (const v of graph.output) {
    const info = tensorInfo(v, 'output');
    if (typeof info !== 'string') outputs.set(info.name, info);
  }
  const outputNamed = (name: string, what: string) => {
    const t = outputs.get(name);
    if (!t) throw invalid(`The ONNX graph has no tensor output '${name}' for the ${what}; its outputs are ${graph.output!.map((x) => x.name).join(', ')}`);
    return t;
  };
  const isFloat = (t: TensorInfo) => t.type === 'float' || t.type === 'double';

  // Probabilities: given, ours, or the one float output with two or more columns.
  let proba: TensorInfo | undefined;
  if (o.probabilities) proba = outputNamed(o.probabilities, 'probabilities');
  else if (ours && outputs.has('probabilities')) proba = outputs.get('probabilities');
  else if (o.task !== 'regression') {
    const wide = [...outputs.values()].filter((t) => isFloat(t) && t.shape.length === 2 && (typeof t.shape[1] !== 'number' || t.shape[1] >= 2));
    proba = wide.length === 1 ? wide[0] : wide.find((t) => /prob/i.test(t.name));
  }
  const labels = o.classes ?? json<string[]>(META.classes) ?? classLabels(m);
  const classCount = (proba ? perRow(proba.shape) : null) ?? labels?.length;
  const task: Task = o.task ?? (ours ? (meta.get(META.task) as Task) : undefined)
    ?? (proba || labels ? (classCount === 1 || classCount === 2 ? 'binary' : 'multiclass') : 'regression');
  if (task === 'regression') proba = undefined;

  let prediction: TensorInfo | undefined;
  if (o.prediction) prediction = outputNamed(o.prediction, 'prediction');
  else if (ours && outputs.has('prediction')) prediction = outputs.get('prediction');
  else {
    const single = [...outputs.values()].filter((t) => t !== proba && perRow(t.shape) === 1);
    prediction = task === 'regression' ? single.find((t) => t.type !== 'string' && t.type !== 'bool') : single.find((t) => !isFloat(t));
  }
  if (task === 'binary' && !proba) {
    // A binary model with a float output of one value per row: the probability of the second class.
    const p1 = [...outputs.values()].filter((t) => t !== prediction && isFloat(t) && perRow(t.shape) === 1);
    if (p1.length === 1) proba = p1[0];
  }
  if (task === 'regression' && !prediction) throw invalid(`Cannot tell which ONNX output is the prediction; name it (outputs: ${[...outputs.keys()].join(', ')})`);
  if (task !== 'regression' && !proba && !prediction) throw invalid(`Cannot tell which ONNX output holds the ${task} prediction; name the probabilities or the label output (outputs: ${[...outputs.keys()].join(', ')})`);
  if (prediction && task === 'regression' && (prediction.type === 'string' || prediction.type === 'bool')) throw invalid(`ONNX output '${prediction.name}' holds ${prediction.type}; a regression prediction must be numeric`);

  let classes: string[] | undefined;
  if (task !== 'regression') {
    const width = proba ? perRow(proba.shape) : null;
    classes = labels;
    if (!classes) {
      if (width === null || width < 2) throw invalid(`Name the classes of this ${task} model: the ONNX graph does not list them`);
      classes = Array.from({ length: width }, (_, k) => String(k));
    }
    if (task === 'binary' && classes.length !== 2) throw invalid(`A binary model has two classes, got ${classes.length} (${classes.join(', ')})`);
    if (task === 'multiclass' && classes.length < 3) throw invalid(`A multiclass model has at least three classes, got ${classes.length}; use the binary task for two`);
    if (proba && width !== null && width !== classes.length && !(task === 'binary' && width === 1)) {
      throw invalid(`ONNX output '${proba.name}' has ${width} probabilities per row, but there are ${classes.length} classes`);
    }
    if (proba && !isFloat(proba)) throw invalid(`ONNX output '${proba.name}' holds ${proba.type}, not probabilities`);
  }

  const session = await createSession(bytes);
  await session.release();

  const estimator: OnnxEstimator = {
    kind: 'onnx', onnx: encodeBase64(bytes), sha256: sha256Hex(bytes), inputs,
    outputs: { ...(prediction ? { prediction: prediction.name } : {}), ...(proba ? { probabilities: proba.name } : {}) },
  };
  const opsets = (m.opsetImport ?? []).map((x) => `${x.domain || 'ai.onnx'}:${x.version}`);
  const model: TrellisModel = {
    format: MODEL_FORMAT, task, target: o.target ?? meta.get(META.target) ?? 'target', ...(classes ? { classes } : {}),
    features: { format: 'trellis.features/v1', inputs: signature, steps: [], outputs: [] },
    estimator,
    metadata: {
      source: 'onnx', producer: [m.producerName, m.producerVersion].filter(Boolean).join(' ') || null,
      ir_version: m.irVersion, opsets, sha256: estimator.sha256,
    },
  };
  return loadModel(JSON.stringify(model));
}

/** Class labels from `ai.onnx.ml` classifier nodes (LinearClassifier, TreeEnsembleClassifier, ZipMap, …). */
function classLabels(m: ModelProto): string[] | undefined {
  for (const n of m.graph?.node ?? []) {
    for (const a of n.attribute ?? []) {
      if (a.name === 'classlabels_strings' && a.strings?.length) return a.strings.map(textOf);
      if ((a.name === 'classlabels_ints' || a.name === 'classlabels_int64s') && a.ints?.length) return a.ints.map(String);
    }
  }
  return undefined;
}
