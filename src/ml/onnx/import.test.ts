import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isTrellisError } from '../../core/errors.js';
import { tableFromRows } from '../../data/table.js';
import { fitFeatures } from '../features.js';
import { MODEL_FORMAT, linearEstimator, loadModel, predict, treeEstimator, type TrellisModel } from '../model.js';
import { exportOnnx } from './export.js';
import { importOnnx } from './import.js';
import { predictAsync } from './predict-async.js';
import { maxAbsDiff } from './test-helpers/run-onnx.js';

const PYTHON = '/usr/bin/python3';

/**
 * Four models written with Debian's python3-onnx (not by Trellis), and what numpy computes for
 * them on random inputs: a logistic model as MatMul/Add/Sigmoid in float64, an ai.onnx.ml
 * LinearClassifier (softmax, string labels) in float32, a TreeEnsembleRegressor in float32, and a
 * graph with an int64 and a string input.
 */
const BUILD = String.raw`
import json, sys
import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto as T
out = sys.argv[1]
rng = np.random.default_rng(7)
vi = helper.make_tensor_value_info
def save(graph, name, ml=False):
    ops = [helper.make_opsetid('', 13)] + ([helper.make_opsetid('ai.onnx.ml', 3)] if ml else [])
    m = helper.make_model(graph, opset_imports=ops, producer_name='numpy-test')
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, out + '/' + name + '.onnx')

W = rng.normal(size=(3, 1)); b = np.array([0.25])
save(helper.make_graph(
    [helper.make_node('MatMul', ['X', 'W'], ['xw']), helper.make_node('Add', ['xw', 'b'], ['z']), helper.make_node('Sigmoid', ['z'], ['p'])],
    'logit', [vi('X', T.DOUBLE, ['N', 3])], [vi('p', T.DOUBLE, ['N', 1])], [numpy_helper.from_array(W, 'W'), numpy_helper.from_array(b, 'b')]), 'logit')
X1 = rng.normal(size=(50, 3)) * 2
p1 = 1 / (1 + np.exp(-(X1 @ W + b)))

C = rng.normal(size=(3, 4)).astype(np.float32); c0 = rng.normal(size=3).astype(np.float32)
names = ['setosa', 'versicolor', 'virginica']
save(helper.make_graph(
    [helper.make_node('LinearClassifier', ['X'], ['label', 'scores'], domain='ai.onnx.ml', coefficients=C.ravel().tolist(), intercepts=c0.tolist(), classlabels_strings=names, post_transform='SOFTMAX')],
    'linear', [vi('X', T.FLOAT, ['N', 4])], [vi('label', T.STRING, ['N']), vi('scores', T.FLOAT, ['N', 3])]), 'classifier', ml=True)
X2 = rng.normal(size=(40, 4)).astype(np.float32)
s = X2.astype(np.float64) @ C.astype(np.float64).T + c0
e = np.exp(s - s.max(1, keepdims=True)); p2 = e / e.sum(1, keepdims=True)

save(helper.make_graph(
    [helper.make_node('TreeEnsembleRegressor', ['X'], ['y'], domain='ai.onnx.ml', n_targets=1,
        nodes_treeids=[0, 0, 0, 0, 0], nodes_nodeids=[0, 1, 2, 3, 4], nodes_featureids=[0, 0, 1, 0, 0],
        nodes_modes=['BRANCH_LEQ', 'LEAF', 'BRANCH_LEQ', 'LEAF', 'LEAF'], nodes_values=[0.5, 0, 2, 0, 0],
        nodes_truenodeids=[1, 0, 3, 0, 0], nodes_falsenodeids=[2, 0, 4, 0, 0],
        target_treeids=[0, 0, 0], target_nodeids=[1, 3, 4], target_ids=[0, 0, 0], target_weights=[1.5, 2.5, -1.0], base_values=[0.5])],
    'tree', [vi('X', T.FLOAT, ['N', 2])], [vi('y', T.FLOAT, ['N', 1])]), 'tree', ml=True)
X3 = rng.uniform(-1, 4, size=(60, 2)).astype(np.float32)
y3 = 0.5 + np.where(X3[:, 0] <= 0.5, 1.5, np.where(X3[:, 1] <= 2, 2.5, -1.0))

save(helper.make_graph(
    [helper.make_node('LabelEncoder', ['city'], ['code'], domain='ai.onnx.ml', keys_strings=['paris', 'rome'], values_floats=[1.0, 2.0], default_float=0.0),
     helper.make_node('Cast', ['count'], ['count_f'], to=T.FLOAT), helper.make_node('Mul', ['count_f', 'code'], ['y'])],
    'mixed', [vi('count', T.INT64, ['N', 1]), vi('city', T.STRING, ['N', 1])], [vi('y', T.FLOAT, ['N', 1])]), 'mixed', ml=True)

json.dump({'X1': X1.tolist(), 'p1': p1[:, 0].tolist(), 'X2': X2.astype(np.float64).tolist(), 'p2': p2.tolist(),
           'labels2': [names[k] for k in p2.argmax(1)], 'X3': X3.astype(np.float64).tolist(), 'y3': y3.tolist()}, open(out + '/expected.json', 'w'))
`;

const hasOnnx = spawnSync(PYTHON, ['-c', 'import onnx, numpy'], { encoding: 'utf8' });
const pythonSkip = hasOnnx.status === 0 ? false : `${PYTHON} with the onnx and numpy modules is not available (${(hasOnnx.stderr || String(hasOnnx.error)).trim().split('\n').at(-1)})`;

const records = (x: number[][], names: string[]) => x.map((r) => Object.fromEntries(r.map((v, j) => [names[j]!, v])));
const refused = (why: RegExp) => (e: unknown) => isTrellisError(e, 'TRELLIS_MODEL_INVALID') && why.test(e.message);

describe('ONNX import: models written by other tools', { skip: pythonSkip }, () => {
  let dir: string;
  let expected: { X1: number[][]; p1: number[]; X2: number[][]; p2: number[][]; labels2: string[]; X3: number[][]; y3: number[] };
  const file = (name: string) => new Uint8Array(readFileSync(join(dir, `${name}.onnx`)));
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-onnx-'));
    const r = spawnSync(PYTHON, ['-c', BUILD, dir], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a MatMul/Add/Sigmoid graph becomes a binary model that round-trips as JSON and predicts as numpy does', async () => {
    const imported = await importOnnx(file('logit'), { task: 'binary', classes: ['no', 'yes'], target: 'bought', columns: { X: ['a', 'b', 'c'] } });
    const m = loadModel(JSON.stringify(imported));
    assert.deepEqual(m.features.inputs, [{ name: 'a', type: 'float' }, { name: 'b', type: 'float' }, { name: 'c', type: 'float' }]);
    assert.equal(m.estimator.kind, 'onnx');
    assert.deepEqual(m.estimator.kind === 'onnx' && m.estimator.outputs, { probabilities: 'p' });
    const r = await predictAsync(m, records(expected.X1, ['a', 'b', 'c']));
    const p1 = Float64Array.from(expected.p1);
    assert.ok(maxAbsDiff(Float64Array.from(p1, (_, i) => r.proba![2 * i + 1]!), p1) <= 1e-12);
    assert.ok(maxAbsDiff(Float64Array.from(p1, (_, i) => r.proba![2 * i]!), p1.map((p) => 1 - p)) <= 1e-12);
    assert.deepEqual(Array.from(r.prediction), expected.p1.map((p) => (p > 0.5 ? 1 : 0)));
    assert.deepEqual(r.classes, ['no', 'yes']);
    assert.throws(() => predict(m, records(expected.X1, ['a', 'b', 'c'])), /ONNX graph run by onnxruntime.*predictAsync/);
  });

  it('an ai.onnx.ml LinearClassifier: task, classes and outputs read from the graph', async () => {
    const m = loadModel(JSON.stringify(await importOnnx(file('classifier'))));
    assert.equal(m.task, 'multiclass');
    assert.deepEqual(m.classes, ['setosa', 'versicolor', 'virginica']);
    assert.deepEqual(m.features.inputs.map((i) => i.name), ['X[0]', 'X[1]', 'X[2]', 'X[3]']);
    const r = await predictAsync(m, tableFromRows(records(expected.X2, ['X[0]', 'X[1]', 'X[2]', 'X[3]'])));
    // float32 inside the runtime.
    const diff = maxAbsDiff(r.proba!, Float64Array.from(expected.p2.flat()));
    assert.ok(diff <= 1e-5, String(diff));
    assert.deepEqual(Array.from(r.prediction, (k) => m.classes![k]), expected.labels2);
  });

  it('a TreeEnsembleRegressor becomes a regression model', async () => {
    const m = loadModel(JSON.stringify(await importOnnx(file('tree'), { columns: { X: ['x0', 'x1'] } })));
    assert.equal(m.task, 'regression');
    const r = await predictAsync(m, records(expected.X3, ['x0', 'x1']));
    assert.ok(maxAbsDiff(r.prediction, Float64Array.from(expected.y3)) <= 1e-5);
  });

  it('refuses input that does not fit the signature, naming the field', async () => {
    const m = loadModel(JSON.stringify(await importOnnx(file('logit'), { task: 'binary', classes: ['no', 'yes'], columns: { X: ['a', 'b', 'c'] } })));
    await assert.rejects(predictAsync(m, [{ a: 1, c: 3 }]), /missing the feature 'b' \(float\)/);
    await assert.rejects(importOnnx(file('logit'), { task: 'binary', classes: ['no', 'yes'], columns: { Y: ['a'] } }), /columns names input 'Y', which the graph does not have; its inputs are X/);
    await assert.rejects(importOnnx(file('logit'), { columns: { X: ['a', 'b'] } }), /columns for input 'X' name 2 columns, the input has 3/);
    // The cell that is wrong is named, not the first of the column.
    await assert.rejects(predictAsync(m, [{ a: 1, b: 6, c: 3 }, { a: 1, b: '2O', c: 3 }]), /Feature 'b' expects numbers; row 2 has "2O"/);
    const mixed = loadModel(JSON.stringify(await importOnnx(file('mixed'))));
    assert.deepEqual(mixed.features.inputs, [{ name: 'count', type: 'integer' }, { name: 'city', type: 'string' }]);
    const r = await predictAsync(mixed, [{ count: 3, city: 'rome' }, { count: 5, city: 'oslo' }, { count: 2, city: 'paris' }]);
    assert.deepEqual(Array.from(r.prediction), [6, 0, 2]);
    await assert.rejects(predictAsync(mixed, [{ count: 3, city: 'rome' }, { count: null, city: 'rome' }]), /Feature 'count' is null in row 1; the ONNX input 'count' is int64/);
    await assert.rejects(predictAsync(mixed, [{ count: 2.5, city: 'rome' }]), /Feature 'count' is 2\.5 in row 0; the ONNX input 'count' takes whole numbers/);
  });

  it('refuses a truncated file, garbage, and a graph onnxruntime cannot load, with the reason', async () => {
    const bytes = file('classifier');
    await assert.rejects(importOnnx(bytes.subarray(0, Math.floor(bytes.length / 2))), refused(/it is not an ONNX model \(.+\)/));
    await assert.rejects(importOnnx(new TextEncoder().encode('{"format":"trellis.model/v1"} but not protobuf at all')), refused(/it is not an ONNX model/));
    await assert.rejects(importOnnx(new Uint8Array(0)), refused(/not an ONNX model \(no IR version, graph/));
    // A well-formed file whose operator does not exist.
    const broken = new Uint8Array(bytes);
    const at = Buffer.from(broken).indexOf('LinearClassifier');
    broken.set(new TextEncoder().encode('LinearClassifiez'), at);
    await assert.rejects(importOnnx(broken), refused(/onnxruntime cannot load the ONNX graph: .*LinearClassifiez/));
  });
});

describe('ONNX import: files exported by Trellis', () => {
  const rows = Array.from({ length: 120 }, (_, i) => ({ x: i % 10 === 0 ? null : (i * 7) % 23, colour: ['red', 'green', 'blue'][i % 3]!, when: new Date(Date.UTC(2020, 0, 1) + i * 3_600_000 * 7) }));
  const table = tableFromRows(rows);
  const features = fitFeatures(table, [
    { column: 'x', kind: 'numeric', impute: 'mean', scale: 'standard' },
    { column: 'colour', kind: 'onehot', unseen: 'ignore' },
    { column: 'when', kind: 'datetime', parts: ['hour', 'weekday'] },
  ]);
  const p = features.outputs.length;
  const weights = Float64Array.from({ length: 3 * p }, (_, j) => Math.sin(j + 1));
  const multi: TrellisModel = { format: MODEL_FORMAT, task: 'multiclass', target: 'kind', classes: ['a', 'b', 'c'], features, estimator: linearEstimator(weights, Float64Array.of(0.1, 0, -0.1)) };

  it('reads task, classes, target and input types back, predicts as predict() does, and exports the same bytes', async () => {
    const bytes = exportOnnx(multi);
    const m = loadModel(JSON.stringify(await importOnnx(bytes)));
    assert.equal(m.task, 'multiclass');
    assert.deepEqual(m.classes, ['a', 'b', 'c']);
    assert.equal(m.target, 'kind');
    assert.deepEqual(m.features.inputs, features.inputs);
    const scored = [...rows.slice(0, 30), { x: null, colour: 'purple', when: null }];
    const want = predict(multi, scored);
    const got = await predictAsync(m, scored);
    assert.ok(maxAbsDiff(got.proba!, want.proba!) <= 1e-12);
    assert.deepEqual(Array.from(got.prediction), Array.from(want.prediction));
    assert.deepEqual(exportOnnx(m), bytes);
    // Through predictAsync a Trellis model answers exactly as predict does.
    assert.deepEqual(await predictAsync(multi, scored), want);
  });

  it('checks an ONNX model document on load: tampered bytes, a mangled signature', async () => {
    const doc = JSON.stringify(await importOnnx(exportOnnx(multi)));
    const bad = (text: string, why: RegExp) => assert.throws(() => loadModel(text), refused(why));
    const parsed = JSON.parse(doc);
    const flipped = Buffer.from(parsed.estimator.onnx, 'base64');
    flipped[flipped.length - 5]! ^= 1;
    bad(JSON.stringify({ ...parsed, estimator: { ...parsed.estimator, onnx: flipped.toString('base64') } }), /do not match their 'sha256'/);
    bad(JSON.stringify({ ...parsed, estimator: { ...parsed.estimator, onnx: '!!' } }), /not valid base64/);
    bad(JSON.stringify({ ...parsed, features: { ...parsed.features, inputs: parsed.features.inputs.slice(1) } }), /'features.inputs' do not match/);
    bad(JSON.stringify({ ...parsed, estimator: { ...parsed.estimator, inputs: [{ ...parsed.estimator.inputs[0], type: 'complex64' }, ...parsed.estimator.inputs.slice(1)] } }), /ONNX input "x" is malformed/);
    bad(JSON.stringify({ ...parsed, estimator: { ...parsed.estimator, outputs: {} } }), /names no output for a multiclass model/);
  });

  it('a binary tree model keeps its two-class probabilities', async () => {
    const t = {
      output: 0, width: 1, feature: Int32Array.of(0, -1, -1), threshold: Float64Array.of(0, 0, 0), left: Int32Array.of(1, -1, -1), right: Int32Array.of(2, -1, -1),
      missingLeft: Uint8Array.of(1, 0, 0), value: Float64Array.of(0, -1, 2), cover: Float64Array.of(2, 1, 1),
    };
    const binary: TrellisModel = { format: MODEL_FORMAT, task: 'binary', target: 'y', classes: ['n', 'y'], features, estimator: treeEstimator({ algorithm: 'gbdt', outputs: 1, aggregation: 'sum', link: 'logistic', baseScore: [0.3], trees: [t] }) };
    const m = await importOnnx(exportOnnx(binary));
    assert.equal(m.task, 'binary');
    const got = await predictAsync(m, rows);
    assert.ok(maxAbsDiff(got.proba!, predict(binary, rows).proba!) <= 1e-12);
  });
});

describe('onnxruntime loads lazily', { skip: process.platform === 'linux' ? false : 'reads /proc/self/maps' }, () => {
  it('importing Trellis, its CLI and the ONNX modules maps no onnxruntime library until a model runs', () => {
    const src = (p: string) => JSON.stringify(fileURLToPath(new URL(p, import.meta.url)));
    const code = `
      import { readFileSync } from 'node:fs';
      const mapped = () => readFileSync('/proc/self/maps', 'utf8').includes('libonnxruntime');
      for (const m of [${['../../index.ts', '../../cli/program.ts', './import.ts', './export.ts', './predict-async.ts'].map(src).join(', ')}]) await import(m);
      const before = mapped();
      await (await import(${src('./runtime.ts')})).onnxRuntime();
      console.log(JSON.stringify({ before, after: mapped() }));`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { before: false, after: true });
  });
});
