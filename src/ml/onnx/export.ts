/**
 * Trellis model → ONNX model, feature transforms included, with standard `ai.onnx` (opset 17) and
 * `ai.onnx.ml` operators, so the file runs in any ONNX runtime. The graph computes in float64, as
 * Trellis does, so its outputs agree with `predict` to rounding. docs/onnx.md has the full mapping:
 *
 * - inputs: one per model input column, named as the column, shape [N, 1]: `tensor(double)` for
 *   integer, float, boolean (0/1) and datetime (ms since the epoch, UTC) columns, with NaN for a
 *   missing value; `tensor(string)` for string columns, with "" for a missing value;
 * - transforms: each step becomes a small subgraph (Where/IsNaN, Sub/Div, LabelEncoder, Equal,
 *   datetime arithmetic) and the results are concatenated into the feature matrix;
 * - estimators: linear as MatMul + Add; tree ensembles as `ai.onnx.ml` TreeEnsemble (opset 5),
 *   which has BRANCH_MEMBER for categorical set splits and honours missing-value routing;
 * - outputs: `prediction` [N] (the value, or the class label as a string) and, for classifiers,
 *   `probabilities` [N, classes] in the order of `model.classes`.
 */
import { invalid } from '../../core/errors.js';
import { decodeBase64, decodeFloat64Base64 } from '../../numeric/sketches/base64.js';
import { MISSING, type FittedFeature } from '../features.js';
import { MODEL_FORMAT, ensembleOf, type TrellisModel, type TreeEstimator } from '../model.js';
import {
  DT, GraphBuilder, attr, doubleTensor, encodeModel, stringTensor, tensorValueInfo, uint8Tensor, type ValueInfoProto,
} from './proto.js';

export const ONNX_OPSET = 17;
/** ai.onnx.ml opset: 3 is enough without trees; TreeEnsemble needs 5 (and IR version 10). */
export const ONNX_ML_OPSET_LINEAR = 3;
export const ONNX_ML_OPSET_TREES = 5;
const ML = 'ai.onnx.ml';

/** Model metadata keys that let the importer restore task, classes and input types. */
export const META = { format: 'trellis.format', task: 'trellis.task', target: 'trellis.target', classes: 'trellis.classes', inputs: 'trellis.inputs' } as const;

export function exportOnnx(model: TrellisModel): Uint8Array {
  const e = model.estimator;
  // A model imported from ONNX already is one: hand back its bytes unchanged.
  if (e.kind === 'onnx') return decodeBase64(e.onnx);
  const g = new GraphBuilder();
  const f = model.features;
  const inputs: ValueInfoProto[] = [];
  const seen = new Map<string, string>();
  const columns: string[] = [];
  f.steps.forEach((step, k) => {
    const input = f.inputs[k]!;
    const elem = input.type === 'string' ? DT.STRING : DT.DOUBLE;
    const had = seen.get(input.name);
    if (had === undefined) {
      inputs.push(tensorValueInfo(input.name, elem, ['N', 1]));
      seen.set(input.name, input.type);
    } else if (had !== input.type) throw invalid(`Column '${input.name}' is declared both ${had} and ${input.type}; it cannot be one ONNX input`);
    columns.push(stepGraph(g, step, input.name, input.type));
  });
  const x = g.op('Concat', columns, [attr.int('axis', 1)]);

  let z: string;
  let usesTrees = false;
  if (e.kind === 'linear') {
    const w = decodeFloat64Base64(e.weights);
    const b = decodeFloat64Base64(e.intercepts);
    const p = f.outputs.length;
    const k = e.outputs;
    const wt = new Float64Array(p * k);
    for (let o = 0; o < k; o++) for (let j = 0; j < p; j++) wt[j * k + o] = w[o * p + j]!;
    z = g.op('Add', [g.op('MatMul', [x, g.doubles('weights', wt, [p, k])]), g.doubles('intercepts', b, [k])]);
  } else {
    usesTrees = true;
    z = treeGraph(g, x, e);
  }

  const outputs: ValueInfoProto[] = [];
  if (model.task === 'regression') {
    g.op('Reshape', [z, g.int64s('flat', [-1])], [], { output: 'prediction' });
    outputs.push(tensorValueInfo('prediction', DT.DOUBLE, ['N']));
  } else {
    const classes = model.classes!;
    const link = e.kind === 'trees' ? e.link : model.task === 'binary' ? 'logistic' : 'softmax';
    let proba: string;
    // The same cases as predict() in model.ts: for a binary task any link but identity is logistic,
    // for a multiclass one any link but identity is softmax.
    if (model.task === 'binary') {
      const p1 = link === 'identity' ? g.op('Clip', [z, g.scalar(0), g.scalar(1)]) : g.op('Sigmoid', [z]);
      const p0 = g.op('Sub', [g.scalar(1), p1]);
      proba = g.op('Concat', [p0, p1], [attr.int('axis', 1)], { output: 'probabilities' });
    } else if (link === 'identity') proba = g.op('Identity', [z], [], { output: 'probabilities' });
    else proba = g.op('Softmax', [z], [attr.int('axis', 1)], { output: 'probabilities' });
    const best = g.op('ArgMax', [proba], [attr.int('axis', 1), attr.int('keepdims', 0)]);
    g.op('Gather', [g.constant('classes', (n) => stringTensor(n, classes)), best], [attr.int('axis', 0)], { output: 'prediction' });
    outputs.push(tensorValueInfo('prediction', DT.STRING, ['N']), tensorValueInfo('probabilities', DT.DOUBLE, ['N', classes.length]));
  }

  const metadata: Record<string, string> = {
    [META.format]: MODEL_FORMAT, [META.task]: model.task, [META.target]: model.target,
    [META.inputs]: JSON.stringify([...seen].map(([name, type]) => ({ name, type }))),
  };
  if (model.classes) metadata[META.classes] = JSON.stringify(model.classes);
  return encodeModel({
    irVersion: usesTrees ? 10 : 8,
    opsetImport: [{ domain: '', version: ONNX_OPSET }, { domain: ML, version: usesTrees ? ONNX_ML_OPSET_TREES : ONNX_ML_OPSET_LINEAR }],
    producerName: 'trellis',
    docString: `Trellis ${model.task} model of '${model.target}'`,
    graph: { name: 'trellis', node: g.nodes, initializer: g.initializers, input: inputs, output: outputs },
    metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
  });
}

// ---------------------------------------------------------------------------------------------
// Feature steps: each returns a double tensor [N, width] of the feature matrix's columns.

const toDouble = (g: GraphBuilder, v: string) => g.op('Cast', [v], [attr.int('to', DT.DOUBLE)]);
/** floor(a / b) for a constant b. */
const floorDiv = (g: GraphBuilder, a: string, b: number) => g.op('Floor', [g.op('Div', [a, g.scalar(b)])]);
const mul = (g: GraphBuilder, a: string, b: number) => g.op('Mul', [a, g.scalar(b)]);
const add = (g: GraphBuilder, a: string, b: number) => g.op('Add', [a, g.scalar(b)]);
const sub = (g: GraphBuilder, a: string, b: string) => g.op('Sub', [a, b]);

function stepGraph(g: GraphBuilder, s: FittedFeature, input: string, type: string): string {
  switch (s.kind) {
    case 'numeric': {
      if (type === 'string' || type === 'datetime') throw invalid(`Feature '${s.column}' is a numeric step on a ${type} column, which the ONNX export does not support`);
      let x = input;
      if (s.fill !== null) x = g.op('Where', [g.op('IsNaN', [x]), g.scalar(s.fill), x]);
      // (x - 0) / 1 is x exactly, so identity steps add no nodes.
      if (s.center !== 0) x = g.op('Sub', [x, g.scalar(s.center)]);
      if (s.scale !== 1) x = g.op('Div', [x, g.scalar(s.scale)]);
      return x === input ? g.op('Identity', [x]) : x;
    }
    case 'onehot':
    case 'ordinal': {
      const idx = categoryIndex(g, s, input, type);
      if (s.kind === 'onehot') {
        const width = s.categories.length + (s.fill === MISSING ? 1 : 0) + (s.unseen === 'other' ? 1 : 0);
        const slots = g.doubles('slots', Array.from({ length: width }, (_, j) => j), [1, width]);
        return toDouble(g, g.op('Equal', [idx, slots]));
      }
      return g.op('Where', [g.op('Less', [idx, g.scalar(0)]), g.scalar(Number.NaN), idx]);
    }
    case 'datetime':
      if (type !== 'datetime') throw invalid(`Feature '${s.column}' takes datetime parts of a ${type} column, which the ONNX export does not support`);
      return g.op('Concat', datetimeParts(g, input, s.parts), [attr.int('axis', 1)]);
    case 'bucketize': {
      if (type === 'string' || type === 'datetime') throw invalid(`Feature '${s.column}' bucketizes a ${type} column, which the ONNX export does not support`);
      const nan = g.op('IsNaN', [input]);
      let count: string;
      if (s.boundaries.length) {
        const ge = toDouble(g, g.op('GreaterOrEqual', [input, g.doubles('boundaries', s.boundaries, [1, s.boundaries.length])]));
        count = g.op('ReduceSum', [ge, g.int64s('axis', [1])], [attr.int('keepdims', 1)]);
      } else count = toDouble(g, nan);
      return g.op('Where', [nan, g.scalar(Number.NaN), count]);
    }
  }
}

/**
 * The category index of each row as double [N, 1], with -1 for "no category" (a one-hot of all
 * zeros, an ordinal NaN). Codes as in features.ts: the categories, then MISSING, then OTHER.
 * Unseen categories under the 'error' policy cannot raise an error in a graph: they get -1.
 */
function categoryIndex(g: GraphBuilder, s: Extract<FittedFeature, { kind: 'onehot' | 'ordinal' }>, input: string, type: string): string {
  const k = s.categories.length;
  const missingSlot = s.fill === MISSING ? k : null;
  const otherSlot = s.unseen === 'other' ? k + (missingSlot === null ? 0 : 1) : -1;
  const missingIdx = s.fill === null ? -1 : s.fill === MISSING ? k : s.categories.indexOf(s.fill);
  if (type === 'string') {
    const keys = [...s.categories];
    const values = keys.map((_, i) => i);
    // "" stands for a missing string; a category that is literally "" keeps its own code.
    if (!keys.includes('')) { keys.push(''); values.push(missingIdx); }
    if (missingSlot !== null && !keys.includes(MISSING)) { keys.push(MISSING); values.push(missingSlot); }
    const code = g.op('LabelEncoder', [input], [attr.strings('keys_strings', keys), attr.ints('values_int64s', values), attr.int('default_int64', otherSlot)], { domain: ML });
    return toDouble(g, code);
  }
  if (type === 'datetime') throw invalid(`Feature '${s.column}' encodes a datetime column as categories, which the ONNX export does not support`);
  // A numeric column's categories are the texts of its values ('3', '1.5', 'true'): match the numbers.
  const numbers = s.categories.map((c) => (type === 'boolean' ? (c === 'true' ? 1 : c === 'false' ? 0 : Number.NaN) : String(Number(c)) === c ? Number(c) : Number.NaN));
  const hits = toDouble(g, g.op('Equal', [input, g.doubles('categories', numbers, [1, k])]));
  const oneBased = g.op('MatMul', [hits, g.doubles('codes', numbers.map((_, i) => i + 1), [k, 1])]);
  const found = g.op('Where', [g.op('Equal', [oneBased, g.scalar(0)]), g.scalar(otherSlot), add(g, oneBased, -1)]);
  return g.op('Where', [g.op('IsNaN', [input]), g.scalar(missingIdx), found]);
}

/** Datetime parts (UTC) of ms since the epoch, by the civil-from-days algorithm, all in float64. */
function datetimeParts(g: GraphBuilder, ms: string, parts: readonly string[]): string[] {
  const DAY = 86_400_000;
  const days = floorDiv(g, ms, DAY);
  const z = add(g, days, 719_468);
  const era = floorDiv(g, z, 146_097);
  const doe = sub(g, z, mul(g, era, 146_097));
  const yoe = floorDiv(g, sub(g, g.op('Add', [sub(g, doe, floorDiv(g, doe, 1460)), floorDiv(g, doe, 36_524)]), floorDiv(g, doe, 146_096)), 365);
  const doy = sub(g, doe, sub(g, g.op('Add', [mul(g, yoe, 365), floorDiv(g, yoe, 4)]), floorDiv(g, yoe, 100)));
  const mp = floorDiv(g, add(g, mul(g, doy, 5), 2), 153);
  const day = add(g, sub(g, doy, floorDiv(g, add(g, mul(g, mp, 153), 2), 5)), 1);
  const month = g.op('Where', [g.op('Less', [mp, g.scalar(10)]), add(g, mp, 3), add(g, mp, -9)]);
  const year = g.op('Add', [g.op('Add', [yoe, mul(g, era, 400)]), toDouble(g, g.op('LessOrEqual', [month, g.scalar(2)]))]);
  const out: string[] = [];
  for (const p of parts) {
    switch (p) {
      case 'year': out.push(year); break;
      case 'month': out.push(month); break;
      case 'day': out.push(day); break;
      case 'hour': out.push(floorDiv(g, sub(g, ms, mul(g, days, DAY)), 3_600_000)); break;
      case 'weekday': {
        const d = add(g, days, 4);
        out.push(sub(g, d, mul(g, floorDiv(g, d, 7), 7)));
        break;
      }
      case 'dayofyear': {
        // days − days_from_civil(year, 1, 1) + 1, where January counts in the previous March-based year.
        const y = add(g, year, -1);
        const era1 = floorDiv(g, y, 400);
        const yoe1 = sub(g, y, mul(g, era1, 400));
        const doe1 = add(g, sub(g, g.op('Add', [mul(g, yoe1, 365), floorDiv(g, yoe1, 4)]), floorDiv(g, yoe1, 100)), 306);
        const jan1 = add(g, g.op('Add', [mul(g, era1, 146_097), doe1]), -719_468);
        out.push(add(g, sub(g, days, jan1), 1));
        break;
      }
      default: throw invalid(`Unknown datetime part '${p}'`);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Tree ensembles

const BRANCH_LEQ = 0;
const BRANCH_MEMBER = 6;

/**
 * The ensemble as one `TreeEnsemble` node summing leaf weights into `outputs` targets, then scaled
 * (1/trees for a forest's mean) and shifted by the base score exactly as ensembleRaw() does. A tree
 * with vector leaves becomes one ONNX tree per output; a tree that is a single leaf gets a split
 * whose two branches hold that leaf's value, since an ONNX tree root must be a split.
 */
function treeGraph(g: GraphBuilder, x: string, e: TreeEstimator): string {
  const ens = ensembleOf(e);
  const roots: number[] = [];
  const modes: number[] = [];
  const featureIds: number[] = [];
  const splits: number[] = [];
  const trueIds: number[] = [];
  const trueLeafs: number[] = [];
  const falseIds: number[] = [];
  const falseLeafs: number[] = [];
  const missingTrue: number[] = [];
  const members: number[] = [];
  const leafTargets: number[] = [];
  const leafWeights: number[] = [];
  for (const t of ens.trees) {
    const targets = t.output >= 0 ? [t.output] : Array.from({ length: ens.outputs }, (_, j) => j);
    for (const target of targets) {
      const column = t.output >= 0 ? 0 : target;
      const leaf = (i: number) => {
        leafTargets.push(target);
        leafWeights.push(t.value[i * t.width + column]!);
        return leafWeights.length - 1;
      };
      roots.push(modes.length);
      if (t.feature[0]! < 0) {
        modes.push(BRANCH_LEQ); featureIds.push(0); splits.push(0); missingTrue.push(1);
        trueLeafs.push(1); trueIds.push(leaf(0)); falseLeafs.push(1); falseIds.push(leaf(0));
        continue;
      }
      // Interior nodes in depth-first order; children are patched once their index is known.
      const stack: [node: number, parent: number, isTrue: boolean][] = [[0, -1, false]];
      while (stack.length) {
        const [n, parent, isTrue] = stack.pop()!;
        let ref: number;
        let isLeaf: number;
        if (t.feature[n]! < 0) {
          ref = leaf(n);
          isLeaf = 1;
        } else {
          ref = modes.length;
          isLeaf = 0;
          const set = t.categories?.[n];
          featureIds.push(t.feature[n]!);
          missingTrue.push(t.missingLeft[n] ? 1 : 0);
          trueIds.push(-1); trueLeafs.push(0); falseIds.push(-1); falseLeafs.push(0);
          if (set && set.length) {
            modes.push(BRANCH_MEMBER);
            splits.push(0);
            members.push(...set, Number.NaN);
          } else {
            // An empty category set sends every present value right: x <= -Infinity never holds for a code.
            modes.push(BRANCH_LEQ);
            splits.push(set ? Number.NEGATIVE_INFINITY : t.threshold[n]!);
          }
          stack.push([t.right[n]!, ref, false], [t.left[n]!, ref, true]);
        }
        if (parent >= 0) {
          if (isTrue) { trueIds[parent] = ref; trueLeafs[parent] = isLeaf; } else { falseIds[parent] = ref; falseLeafs[parent] = isLeaf; }
        }
      }
    }
  }
  const attributes = [
    attr.int('aggregate_function', 1), attr.int('post_transform', 0), attr.int('n_targets', ens.outputs),
    attr.ints('tree_roots', roots), attr.tensor('nodes_modes', uint8Tensor('modes', modes)),
    attr.ints('nodes_featureids', featureIds), attr.tensor('nodes_splits', doubleTensor('splits', splits)),
    attr.ints('nodes_truenodeids', trueIds), attr.ints('nodes_trueleafs', trueLeafs),
    attr.ints('nodes_falsenodeids', falseIds), attr.ints('nodes_falseleafs', falseLeafs),
    attr.ints('nodes_missing_value_tracks_true', missingTrue),
    attr.ints('leaf_targetids', leafTargets), attr.tensor('leaf_weights', doubleTensor('weights', leafWeights)),
  ];
  if (members.length) attributes.push(attr.tensor('membership_values', doubleTensor('members', members)));
  let z = g.op('TreeEnsemble', [x], attributes, { domain: ML });
  if (ens.aggregation === 'mean') z = g.op('Mul', [z, g.scalar(1 / ens.trees.length)]);
  return g.op('Add', [z, g.doubles('base_score', ens.baseScore, [ens.outputs])]);
}
