import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readTable } from '../../data/readers/index.js';
import { dataset } from '../../data/readers/test-helpers/data-files.js';
import { selectColumns, sliceRows, tableFromRows, type Table } from '../../data/table.js';
import { SeededRandom } from '../../numeric/sketches/seeded-random.js';
import type { Tree } from '../../numeric/trees/tree.js';
import { applyFeatures, fitFeatures, type FeaturePipeline } from '../features.js';
import { MODEL_FORMAT, linearEstimator, loadModel, predict, treeEstimator, type TreeEstimator, type TrellisModel } from '../model.js';
import { train } from '../train.js';
import { exportOnnx } from './export.js';
import { importOnnx } from './import.js';
import { predictAsync } from './predict-async.js';
import { decodeModel } from './proto.js';
import { featureMatrixGraph, maxAbsDiff, runOnnx } from './test-helpers/run-onnx.js';

const ADULT_TRAIN = dataset('adult_train.csv');
const ADULT_TEST = dataset('adult_test.csv');
const BIKE = dataset('bike_sharing_hourly.csv');

/** Exports, runs the file in onnxruntime and checks it against predict(): returns the largest difference. */
async function agreement(model: TrellisModel, table: Table): Promise<number> {
  const m = loadModel(JSON.stringify(model));
  const bytes = exportOnnx(m);
  const want = predict(m, table);
  const got = await runOnnx(bytes, m, table);
  if (m.task === 'regression') return maxAbsDiff(got.prediction as number[], want.prediction);
  assert.deepEqual(got.prediction, Array.from(want.prediction, (k) => m.classes![k]), 'the predicted labels');
  return maxAbsDiff(got.probabilities!, want.proba!);
}

describe('ONNX export of linear models', () => {
  it('scores the Adult test set like predict(): a binary classifier with one-hot categories', async () => {
    const { model } = await train(sliceRows(await readTable(ADULT_TRAIN), 0, 6000), 'income', 'linear', { l2: 1, testSize: 0 });
    const test = sliceRows(await readTable(ADULT_TEST), 0, 5000);
    const diff = await agreement(model, test);
    assert.ok(diff <= 1e-9, `largest probability difference ${diff}`);
    const file = decodeModel(exportOnnx(model));
    assert.deepEqual(file.graph!.input!.map((i) => i.name), model.features.inputs.map((i) => i.name));
    assert.deepEqual(file.graph!.output!.map((o) => o.name), ['prediction', 'probabilities']);
    assert.deepEqual(file.opsetImport, [{ domain: '', version: 17 }, { domain: 'ai.onnx.ml', version: 3 }]);
  });

  it('an exported model imported back refuses a wrong cell, naming its row rather than the first value', async () => {
    const rows = Array.from({ length: 40 }, (_, i) => ({ x: i, c: i % 2 ? 'a' : 'b', y: 2 * i + (i % 2) }));
    const { model } = await train(tableFromRows(rows), 'y', 'linear', { testSize: 0 });
    const m = loadModel(JSON.stringify(await importOnnx(exportOnnx(model))));
    assert.equal((await predictAsync(m, [{ x: 6, c: 'a' }])).prediction.length, 1);
    await assert.rejects(predictAsync(m, [{ x: 6, c: 'a' }, { x: 7, c: 'b' }, { x: '2O', c: 'a' }]), /Feature 'x' expects numbers; row 3 has "2O"/);
  });

  it('scores bike sharing like predict(): a regressor with datetime parts of dteday', async () => {
    const bike = selectColumns(await readTable(BIKE), ['dteday', 'season', 'hr', 'weathersit', 'temp', 'hum', 'windspeed', 'cnt']);
    const { model } = await train(sliceRows(bike, 0, 12000), 'cnt', 'linear', { l2: 1, testSize: 0 });
    assert.ok(model.features.steps.some((s) => s.kind === 'datetime'));
    const test = sliceRows(bike, 12000);
    const diff = await agreement(model, test);
    // Counts run to about 1000 and MatMul sums in its own order: about 1e-10 apart, relative 1e-13.
    assert.ok(diff <= 1e-6, `largest prediction difference ${diff}`);
  });
});

describe('ONNX export of feature transforms', () => {
  const rng = new SeededRandom(11);
  const colours = ['red', 'green', 'blue', 'teal'];
  const row = (i: number, seen: boolean) => ({
    n: i % 7 === 0 ? null : rng.next() * 100 - 20,
    k: i % 9 === 0 ? null : Math.floor(rng.next() * 4),
    flag: i % 11 === 0 ? null : rng.next() < 0.5,
    colour: i % 8 === 0 ? null : seen ? colours[i % 3]! : colours[i % 4]!,
    shade: i % 6 === 0 ? null : seen ? colours[i % 2]! : colours[(i * 7) % 4]!,
    // 1890 … 2110, with leap days, month ends and times before 1970.
    when: i % 10 === 0 ? null : new Date(Date.UTC(1890, 0, 1) + Math.floor(rng.next() * 220 * 365.25 * 86_400_000)),
  });
  const fitRows = Array.from({ length: 300 }, (_, i) => row(i, true));
  const fitted = fitFeatures(tableFromRows(fitRows), [
    { column: 'n', kind: 'numeric', impute: 'median', scale: 'standard' },
    { column: 'n', kind: 'numeric', impute: 'none', scale: 'minmax' },
    { column: 'n', kind: 'bucketize', boundaries: [0, 10, 50] },
    { column: 'k', kind: 'numeric', impute: 'constant', fill: -1, scale: 'none' },
    { column: 'k', kind: 'onehot', unseen: 'other', impute: 'missing' },
    { column: 'flag', kind: 'onehot', unseen: 'ignore', impute: 'most_frequent' },
    { column: 'colour', kind: 'onehot', unseen: 'other', impute: 'missing' },
    { column: 'colour', kind: 'onehot', unseen: 'ignore', impute: 'most_frequent' },
    { column: 'colour', kind: 'ordinal', unseen: 'other', impute: 'missing' },
    { column: 'shade', kind: 'ordinal', unseen: 'missing', impute: 'none' },
    { column: 'shade', kind: 'onehot', unseen: 'ignore' },
    { column: 'when', kind: 'datetime', parts: ['year', 'month', 'day', 'hour', 'weekday', 'dayofyear'] },
  ]);

  async function onnxMatrix(features: FeaturePipeline, table: Table): Promise<Float64Array> {
    const p = features.outputs.length;
    const model: TrellisModel = { format: MODEL_FORMAT, task: 'regression', target: 'y', features, estimator: linearEstimator(new Float64Array(p), new Float64Array(1)) };
    const { values } = await runOnnx(featureMatrixGraph(exportOnnx(model), p), model, table);
    return Object.values(values)[0]!;
  }

  it('computes the same feature matrix as applyFeatures, with missing values and unseen categories', async () => {
    const table = tableFromRows(Array.from({ length: 400 }, (_, i) => row(i + 1000, false)));
    const want = applyFeatures(fitted, table);
    const got = await onnxMatrix(fitted, table);
    assert.equal(got.length, want.length);
    assert.equal(maxAbsDiff(got, want), 0);
    // The rows did exercise the interesting cases.
    const outputs = fitted.outputs;
    const at = (name: string) => outputs.indexOf(name);
    const p = outputs.length;
    const column = (j: number) => Array.from({ length: table.rowCount }, (_, i) => want[i * p + j]!);
    assert.ok(column(at('colour=__other__')).includes(1), 'an unseen colour went to __other__');
    assert.ok(column(at('colour=__missing__')).includes(1), 'a missing colour went to __missing__');
    assert.ok(column(at('shade')).some(Number.isNaN), 'an unseen or missing shade is NaN');
    assert.ok(column(at('when.year')).some((y) => y < 1970) && column(at('when.year')).some(Number.isNaN));
  });

  it("exports the 'error' unseen policy as 'ignore': an unseen category is all zeros", async () => {
    const features = fitFeatures(tableFromRows(fitRows), [{ column: 'colour', kind: 'onehot', unseen: 'error', impute: 'most_frequent' }]);
    const table = tableFromRows([{ colour: 'teal' }, { colour: 'green' }, { colour: null }]);
    assert.throws(() => applyFeatures(features, table), /unseen in training \(policy: error\)/);
    const got = await onnxMatrix(features, table);
    const mostFrequent = features.steps[0]!.kind === 'onehot' ? features.steps[0]!.fill : null;
    const k = features.outputs.length;
    assert.deepEqual(Array.from(got.subarray(0, k)), [0, 0, 0]);
    assert.deepEqual(Array.from(got.subarray(k, 2 * k)), features.outputs.map((o) => (o === 'colour=green' ? 1 : 0)));
    assert.deepEqual(Array.from(got.subarray(2 * k)), features.outputs.map((o) => (o === `colour=${mostFrequent}` ? 1 : 0)));
  });

  const checker = spawnSync('/usr/bin/python3', ['-c', 'import onnx'], { encoding: 'utf8' });
  it('writes a file the ONNX checker (python3-onnx, full shape inference) accepts', { skip: checker.status === 0 ? false : 'python3-onnx is not installed' }, () => {
    const p = fitted.outputs.length;
    const model: TrellisModel = { format: MODEL_FORMAT, task: 'multiclass', target: 'y', classes: ['a', 'b', 'c'], features: fitted, estimator: linearEstimator(new Float64Array(3 * p).fill(0.5), new Float64Array(3)) };
    const dir = mkdtempSync(join(tmpdir(), 'trellis-onnx-check-'));
    try {
      writeFileSync(join(dir, 'm.onnx'), exportOnnx(model));
      const script = 'import onnx, sys; m = onnx.load(sys.argv[1]); onnx.checker.check_model(m, full_check=True); print(m.ir_version, [(o.domain, o.version) for o in m.opset_import])';
      const r = spawnSync('/usr/bin/python3', ['-c', script, join(dir, 'm.onnx')], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.trim(), "8 [('', 17), ('ai.onnx.ml', 3)]");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses what it cannot express, naming the feature', () => {
    const features = fitFeatures(tableFromRows(fitRows.map((r) => ({ ...r, label: String(r.k) }))), [{ column: 'label', kind: 'bucketize', boundaries: [1] }]);
    const model: TrellisModel = { format: MODEL_FORMAT, task: 'regression', target: 'y', features, estimator: linearEstimator(new Float64Array(1), new Float64Array(1)) };
    assert.throws(() => exportOnnx(model), /Feature 'label' bucketizes a string column/);
  });
});

// ---------------------------------------------------------------------------------------------
// Tree ensembles built by hand: every structure the exporter must map.

type Spec = { leaf: number | number[] } | { f: number; t?: number; cats?: number[]; missingLeft: boolean; l: Spec; r: Spec };

/** A Tree from a nested description, in pre-order (children after their parent). */
function tree(spec: Spec, output = 0): Tree {
  const nodes: { f: number; t: number; cats?: number[]; ml: number; l: number; r: number; v: number[] }[] = [];
  const walk = (s: Spec): number => {
    const i = nodes.length;
    if ('leaf' in s) {
      nodes.push({ f: -1, t: 0, ml: 0, l: -1, r: -1, v: typeof s.leaf === 'number' ? [s.leaf] : s.leaf });
      return i;
    }
    nodes.push({ f: s.f, t: s.t ?? 0, cats: s.cats, ml: s.missingLeft ? 1 : 0, l: -1, r: -1, v: [] });
    nodes[i]!.l = walk(s.l);
    nodes[i]!.r = walk(s.r);
    return i;
  };
  walk(spec);
  const width = Math.max(...nodes.map((n) => n.v.length));
  return {
    output: width > 1 || output < 0 ? -1 : output, width,
    feature: Int32Array.from(nodes, (n) => n.f), threshold: Float64Array.from(nodes, (n) => n.t),
    left: Int32Array.from(nodes, (n) => n.l), right: Int32Array.from(nodes, (n) => n.r), missingLeft: Uint8Array.from(nodes, (n) => n.ml),
    value: Float64Array.from(nodes.flatMap((n) => (n.v.length ? n.v : new Array<number>(width).fill(0)))),
    cover: new Float64Array(nodes.length).fill(1),
    categories: nodes.map((n) => (n.cats ? Int32Array.from(n.cats) : undefined)),
  };
}

// The real-model tests run once the tree trainers exist (until then they throw "work in progress").
const small = tableFromRows(Array.from({ length: 60 }, (_, i) => ({ a: i, b: i % 3 === 0 ? 'x' : 'y', y: i % 2 === 0 ? 'even' : 'odd' })));
const wip = (e: unknown) => (/work in progress/.test((e as Error).message) ? 'the tree trainers are not there yet' : false);
const gbdtSkip = await train(small, 'y', 'gbdt', { trees: 2, testSize: 0 }).then(() => false, wip);
const forestSkip = await train(small, 'y', 'forest', { trees: 2, testSize: 0 }).then(() => false, wip);

describe('ONNX export of tree ensembles', () => {
  // x: a number with missing values kept; c: category codes 0…3 (unseen and missing → NaN); z: a number.
  const fitTable = tableFromRows(Array.from({ length: 40 }, (_, i) => ({ x: i % 5 === 0 ? null : i / 4, c: ['a', 'b', 'c', 'd'][i % 4]!, z: (i * 37) % 11 })));
  const features = fitFeatures(fitTable, [
    { column: 'x', kind: 'numeric', impute: 'none', scale: 'none' },
    { column: 'c', kind: 'ordinal', unseen: 'missing', impute: 'none' },
    { column: 'z', kind: 'numeric', impute: 'none', scale: 'none' },
  ]);
  // Values on the thresholds, missing values, unseen categories.
  const scoreTable = tableFromRows(Array.from({ length: 120 }, (_, i) => ({
    x: i % 7 === 0 ? null : [2.5, 0.3, 5, -1, 7.25][i % 5]! + (i % 3) * 0.5,
    c: i % 9 === 0 ? null : ['a', 'b', 'c', 'd', 'zz'][i % 5]!,
    z: i % 13 === 0 ? null : (i * 17) % 11,
  })));
  const model = (task: TrellisModel['task'], classes: string[] | undefined, e: Omit<TreeEstimator, 'kind' | 'trees'> & { trees: Tree[] }): TrellisModel => ({
    format: MODEL_FORMAT, task, target: 'y', ...(classes ? { classes } : {}), features, estimator: treeEstimator({ ...e, categorical: [1] }),
  });
  const L = (leaf: number | number[]): Spec => ({ leaf });

  // Numeric splits with missing values sent left and right, a categorical split (with missing left
  // and right), an empty category set, a split exactly on a value that occurs, and a single leaf.
  const numericAndCategorical = (k = 0): Tree[] => [
    tree({ f: 0, t: 2.5, missingLeft: true, l: { f: 1, cats: [0, 2], missingLeft: false, l: L(1 + k), r: L(-2) }, r: { f: 2, t: 4, missingLeft: false, l: L(0.5), r: L(3 - k) } }, k),
    tree({ f: 1, cats: [3], missingLeft: true, l: L(-0.75), r: { f: 0, t: 5.5, missingLeft: false, l: L(0.25 * k), r: { f: 1, cats: [], missingLeft: true, l: L(9), r: L(-1.5) } } }, k),
    tree(L(0.125 * (k + 1)), k),
  ];

  it('boosted regression: numeric and categorical splits, missing values both ways, base score', async () => {
    const m = model('regression', undefined, { algorithm: 'gbdt', outputs: 1, aggregation: 'sum', link: 'identity', baseScore: [0.5], trees: numericAndCategorical() });
    const diff = await agreement(m, scoreTable);
    assert.ok(diff <= 1e-12, String(diff));
    // The rows do reach different leaves: the predictions take several values.
    assert.ok(new Set(predict(m, scoreTable).prediction).size >= 6);
  });

  it('compares in float64: a value 1e-12 above a threshold goes right, at or below it left', async () => {
    const m = model('regression', undefined, { algorithm: 'gbdt', outputs: 1, aggregation: 'sum', link: 'identity', baseScore: [0], trees: [tree({ f: 0, t: 0.1, missingLeft: true, l: L(-1), r: L(2) })] });
    const table = tableFromRows([0.1, 0.1 + 1e-12, 0.1 - 1e-12, 1e300, -1e300].map((x) => ({ x, c: 'a', z: 0 })));
    assert.deepEqual(Array.from(predict(m, table).prediction), [-1, 2, -1, 2, -1]);
    assert.equal(await agreement(m, table), 0);
  });

  it('boosted binary classifier with the logistic link', async () => {
    const m = model('binary', ['no', 'yes'], { algorithm: 'gbdt', outputs: 1, aggregation: 'sum', link: 'logistic', baseScore: [-0.2], trees: numericAndCategorical() });
    assert.ok((await agreement(m, scoreTable)) <= 1e-12);
  });

  it('boosted multiclass classifier: one tree per output per round, softmax link', async () => {
    const trees = [0, 1, 2].flatMap((k) => numericAndCategorical(k));
    const m = model('multiclass', ['p', 'q', 'r'], { algorithm: 'gbdt', outputs: 3, aggregation: 'sum', link: 'softmax', baseScore: [0.1, -0.3, 0.2], trees });
    assert.ok((await agreement(m, scoreTable)) <= 1e-12);
  });

  it('forests: vector leaves averaged over trees, for multiclass, binary and regression', async () => {
    const leaf = (a: number, b: number) => L([a, b, 1 - a - b]);
    const vector = [
      tree({ f: 0, t: 2.5, missingLeft: false, l: leaf(0.7, 0.2), r: { f: 1, cats: [1, 3], missingLeft: true, l: leaf(0.1, 0.8), r: leaf(0.3, 0.3) } }),
      tree({ f: 2, t: 5, missingLeft: true, l: { f: 0, t: 1, missingLeft: true, l: leaf(0.5, 0.5), r: leaf(0, 0.4) }, r: leaf(0.2, 0.2) }),
      tree(leaf(0.6, 0.1)),
    ];
    const multi = model('multiclass', ['p', 'q', 'r'], { algorithm: 'forest', outputs: 3, aggregation: 'mean', link: 'identity', baseScore: [0, 0, 0], trees: vector });
    assert.ok((await agreement(multi, scoreTable)) <= 1e-12);
    const single = (v: (a: number, b: number) => Spec) => vector.map((t, i) => tree({ f: i, t: 2, missingLeft: i % 2 === 0, l: v(0.9, 0), r: { f: 1, cats: [2], missingLeft: false, l: v(0.1, 0), r: v(0.4, 0) } }, -1));
    const binary = model('binary', ['no', 'yes'], { algorithm: 'forest', outputs: 1, aggregation: 'mean', link: 'identity', baseScore: [0], trees: single((a) => L([a])) });
    assert.ok((await agreement(binary, scoreTable)) <= 1e-12);
    const regression = model('regression', undefined, { algorithm: 'forest', outputs: 1, aggregation: 'mean', link: 'identity', baseScore: [10], trees: single((a) => L(a * 100)) });
    assert.ok((await agreement(regression, scoreTable)) <= 1e-12);
  });

  it('scores the Adult test set like predict(): a GBDT trained by Trellis', { skip: gbdtSkip }, async () => {
    const { model: m } = await train(sliceRows(await readTable(ADULT_TRAIN), 0, 8000), 'income', 'gbdt', { trees: 40, testSize: 0, threads: 1 });
    const diff = await agreement(m, sliceRows(await readTable(ADULT_TEST), 0, 5000));
    assert.ok(diff <= 1e-9, `largest probability difference ${diff}`);
  });

  it('scores the Adult test set like predict(): a random forest trained by Trellis', { skip: forestSkip }, async () => {
    const { model: m } = await train(sliceRows(await readTable(ADULT_TRAIN), 0, 4000), 'income', 'forest', { trees: 15, maxDepth: 10, testSize: 0, threads: 1 });
    const diff = await agreement(m, sliceRows(await readTable(ADULT_TEST), 0, 5000));
    assert.ok(diff <= 1e-9, `largest probability difference ${diff}`);
  });
});
