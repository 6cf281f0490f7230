import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readTable } from '../data/readers/index.js';
import { dataset } from '../data/readers/test-helpers/data-files.js';
import { column, tableFromRows, type Column, type Table } from '../data/table.js';
import { rocAuc } from '../numeric/metrics/classification.js';
import { ensembleShap } from '../numeric/shap/tree-shap.js';
import { SeededRandom } from '../numeric/sketches/seeded-random.js';
import type { Tree } from '../numeric/trees/tree.js';
import { explain, explanationRow, labelsFor, matrixToInput, permutationImportance } from './explain.js';
import { applyFeatures, fitFeatures } from './features.js';
import { MODEL_FORMAT, ensembleOf, linearEstimator, loadModel, predict, rawScores, treeEstimator, type TrellisModel } from './model.js';
import { takeRows } from './prepare.js';
import { train } from './train.js';

const ADULT_TRAIN = dataset('adult_train.csv');
const ADULT_TEST = dataset('adult_test.csv');

/** A tree from nested nodes; a split's cover is the sum of its leaves' covers. */
type Node = { f: number; t?: number; cats?: number[]; ml?: boolean; l: Node; r: Node } | { v: number[]; c: number };
function tree(root: Node, output: number): Tree {
  const flat: { node: Node; l: number; r: number; cover: number }[] = [];
  const walk = (node: Node): number => {
    const i = flat.length;
    flat.push({ node, l: -1, r: -1, cover: 0 });
    if ('v' in node) flat[i]!.cover = node.c;
    else {
      flat[i]!.l = walk(node.l);
      flat[i]!.r = walk(node.r);
      flat[i]!.cover = flat[flat[i]!.l]!.cover + flat[flat[i]!.r]!.cover;
    }
    return i;
  };
  walk(root);
  const width = 'v' in root ? root.v.length : (function w(n: Node): number { return 'v' in n ? n.v.length : w(n.l); })(root);
  return {
    output, width, feature: Int32Array.from(flat, (x) => ('v' in x.node ? -1 : x.node.f)), threshold: Float64Array.from(flat, (x) => ('v' in x.node ? 0 : x.node.t ?? 0)),
    left: Int32Array.from(flat, (x) => x.l), right: Int32Array.from(flat, (x) => x.r), missingLeft: Uint8Array.from(flat, (x) => ('v' in x.node ? 0 : x.node.ml ? 1 : 0)),
    value: Float64Array.from(flat.flatMap((x) => ('v' in x.node ? x.node.v : new Array<number>(width).fill(0)))), cover: Float64Array.from(flat, (x) => x.cover),
    categories: flat.map((x) => ('v' in x.node || !x.node.cats ? undefined : Int32Array.from(x.node.cats))),
  };
}

// Inputs: a (number), color (category codes 0…2), when (datetime → year, month, day, hour, weekday), unused.
const rng = new SeededRandom(4);
const records = Array.from({ length: 60 }, (_, i) => ({
  a: i % 7 === 0 ? null : Math.round((rng.next() * 4 - 2) * 100) / 100,
  color: ['red', 'green', 'blue'][Math.floor(rng.next() * 3)]!,
  when: new Date(Date.UTC(2020 + (i % 3), i % 12, 1 + (i % 28), i % 24)),
  unused: rng.next(),
  y: i % 2 ? 'yes' : 'no',
}));
const table = tableFromRows(records);
const features = fitFeatures(table, [
  { column: 'a', kind: 'numeric', impute: 'none', scale: 'none' },
  { column: 'color', kind: 'ordinal', unseen: 'missing', impute: 'none' },
  { column: 'when', kind: 'datetime' },
  { column: 'unused', kind: 'numeric', impute: 'none', scale: 'none' },
]);
// Matrix columns: 0 a, 1 color, 2 when.year, 3 when.month, 4 when.day, 5 when.hour, 6 when.weekday, 7 unused.
const leaf = (v: number | number[], c: number): Node => ({ v: typeof v === 'number' ? [v] : v, c });

function boosted(): TrellisModel {
  const trees = [
    tree({ f: 0, t: 0, ml: true, l: { f: 2, t: 2020.5, l: leaf(-1, 10), r: { f: 1, cats: [0, 2], l: leaf(0.5, 4), r: leaf(2, 6) } }, r: { f: 3, t: 6, l: leaf(1, 8), r: { f: 0, t: 1, l: leaf(-0.5, 3), r: leaf(3, 5) } } }, 0),
    tree({ f: 5, t: 11, l: { f: 1, cats: [1], ml: true, l: leaf(0.7, 12), r: leaf(-0.2, 9) }, r: { f: 6, t: 3, l: leaf(0.1, 7), r: { f: 2, t: 2021.5, l: leaf(-1.5, 3), r: leaf(0.4, 6) } } }, 0),
  ];
  const model: TrellisModel = {
    format: MODEL_FORMAT, task: 'binary', target: 'y', classes: ['no', 'yes'], features,
    estimator: treeEstimator({ algorithm: 'gbdt', outputs: 1, aggregation: 'sum', link: 'logistic', baseScore: [-0.3], categorical: [1], trees }),
  };
  return loadModel(JSON.stringify(model));
}

function sumsTo(e: ReturnType<typeof explain>, raw: ArrayLike<number>, tol = 1e-9): void {
  const k = e.outputs.length;
  const m = e.columns.length;
  for (let i = 0; i < e.rows; i++) {
    for (let o = 0; o < k; o++) {
      let s = e.expected[o]!;
      for (let c = 0; c < m; c++) s += e.values[(i * k + o) * m + c]!;
      assert.ok(Math.abs(s - raw[i * k + o]!) < tol, `row ${i} output ${o}: ${s} vs ${raw[i * k + o]}`);
    }
  }
}

describe('explain: tree models', () => {
  it('gives log-odds contributions per input column that add up to the margin, summing the datetime parts', () => {
    const model = boosted();
    const e = explain(model, table);
    assert.equal(e.method, 'tree-path-dependent');
    assert.equal(e.space, 'log-odds');
    assert.deepEqual(e.outputs, ['yes']);
    assert.deepEqual(e.columns, ['a', 'color', 'when', 'unused']);
    const p = features.outputs.length;
    const x = applyFeatures(features, table);
    sumsTo(e, rawScores(model, x, table.rowCount, p));
    // 'when' is the sum of its five matrix columns' SHAP values, computed on the matrix directly.
    const matrix = ensembleShap(ensembleOf(model.estimator as Parameters<typeof ensembleOf>[0]), x, table.rowCount, p);
    for (let i = 0; i < table.rowCount; i++) {
      let when = 0;
      for (let j = 2; j <= 6; j++) when += matrix.values[i * p + j]!;
      assert.ok(Math.abs(e.values[i * 4 + 2]! - when) < 1e-12);
      assert.equal(e.values[i * 4 + 0], matrix.values[i * p + 0]);
      assert.equal(e.values[i * 4 + 3], 0, 'a column no tree splits on has no contribution');
    }
    assert.deepEqual(e.globalImportance.at(-1), { column: 'unused', importance: 0, perOutput: [0] });
    assert.ok(e.globalImportance[0]!.importance >= e.globalImportance[1]!.importance);
    const row = explanationRow(e, 3);
    assert.deepEqual(Object.keys(row), ['yes']);
    assert.equal(row.yes!.when, e.values[3 * 4 + 2]);
  });

  it('explains a multiclass forest with vector leaves in probability space, adding up to predict()', () => {
    const trees = [
      tree({ f: 0, t: 0, ml: false, l: { f: 1, cats: [2], l: leaf([0.8, 0.1, 0.1], 5), r: leaf([0.2, 0.5, 0.3], 9) }, r: { f: 3, t: 6, l: leaf([0.1, 0.1, 0.8], 4), r: leaf([0.3, 0.3, 0.4], 7) } }, -1),
      tree({ f: 2, t: 2020.5, l: leaf([0.6, 0.2, 0.2], 10), r: { f: 0, t: -1, ml: true, l: leaf([0, 1, 0], 3), r: leaf([0.25, 0.25, 0.5], 8) } }, -1),
    ];
    const model = loadModel(JSON.stringify({
      format: MODEL_FORMAT, task: 'multiclass', target: 'y', classes: ['x', 'y', 'z'], features,
      estimator: treeEstimator({ algorithm: 'forest', outputs: 3, aggregation: 'mean', link: 'identity', baseScore: [0, 0, 0], categorical: [1], trees }),
    }));
    const e = explain(model, table);
    assert.equal(e.space, 'probability');
    assert.deepEqual(e.outputs, ['x', 'y', 'z']);
    sumsTo(e, predict(model, table).proba!);
    // Each row's contributions sum to zero across classes: the probabilities and their expectations both sum to one.
    for (let i = 0; i < table.rowCount; i++) {
      for (let c = 0; c < 4; c++) assert.ok(Math.abs(e.values[(i * 3) * 4 + c]! + e.values[(i * 3 + 1) * 4 + c]! + e.values[(i * 3 + 2) * 4 + c]!) < 1e-12);
    }
  });

  it('explains a trained GBDT (and forest) on Adult, adding up to the raw output', async (t) => {
    const adult = await readTable(ADULT_TRAIN);
    const rows = takeRows(adult, Array.from({ length: 3000 }, (_, i) => i * 10));
    for (const [algo, params, space] of [['gbdt', { trees: 30 }, 'log-odds'], ['forest', { trees: 20, max_depth: 8 }, 'probability']] as const) {
      let model: TrellisModel;
      try {
        model = (await train(rows, 'income', algo, params)).model;
      } catch (err) {
        // The tree trainers are not written yet: this test runs once they are.
        if (/work in progress/.test((err as Error).message)) { t.skip(`${algo} trainer not available yet`); return; }
        throw err;
      }
      const sample = takeRows(rows, Array.from({ length: 400 }, (_, i) => i));
      const e = explain(model, sample);
      assert.equal(e.space, space);
      const x = applyFeatures(model.features, sample);
      sumsTo(e, rawScores(model, x, sample.rowCount, model.features.outputs.length));
      assert.ok(e.globalImportance[0]!.importance > 0);
    }
  });
});

/** The table's row `i`, repeated once per background row, with `name` taken from the background. */
function withColumnFrom(rows: Table, i: number, background: Table, name: string): Table {
  const repeated = takeRows(rows, new Array<number>(background.rowCount).fill(i));
  return { rowCount: background.rowCount, columns: repeated.columns.map((c): Column => (c.name === name ? column(background, name) : c)) };
}

describe('explain: linear models on Adult', async () => {
  const adult = await readTable(ADULT_TRAIN);
  const noise = new SeededRandom(17);
  // A pure-noise column the model is trained with: it should matter to nothing.
  const withNoise = (t: Table): Table => ({ rowCount: t.rowCount, columns: [...t.columns, { name: 'noise', type: 'float', values: Float64Array.from({ length: t.rowCount }, () => noise.next()), valid: new Uint8Array(t.rowCount).fill(1) }] });
  const trainRows = withNoise(takeRows(adult, Array.from({ length: 6000 }, (_, i) => i * 5)));
  const { model } = await train(trainRows, 'income', 'linear');
  const test = withNoise(takeRows(await readTable(ADULT_TEST), Array.from({ length: 4000 }, (_, i) => i * 4)));

  it('gives log-odds contributions that add up to the margin and equal the interventional Shapley values per input column', () => {
    const rows = takeRows(test, Array.from({ length: 20 }, (_, i) => i));
    const background = takeRows(trainRows, Array.from({ length: 300 }, (_, i) => i * 20));
    const e = explain(model, rows, { background });
    assert.equal(e.method, 'linear-interventional');
    assert.equal(e.space, 'log-odds');
    assert.deepEqual(e.outputs, ['>50K']);
    const p = model.features.outputs.length;
    const f = (t: Table) => rawScores(model, applyFeatures(model.features, t), t.rowCount, p);
    const margin = f(rows);
    sumsTo(e, margin);
    // With independent features, an input column's Shapley value for an additive model is
    // f(x) − mean over the background z of f(x with that column set to z's value).
    const m = e.columns.length;
    for (const name of ['marital-status', 'age', 'occupation', 'noise']) {
      const c = e.columns.indexOf(name);
      for (let i = 0; i < rows.rowCount; i++) {
        const swapped = f(withColumnFrom(rows, i, background, name));
        const want = margin[i]! - swapped.reduce((a, b) => a + b, 0) / swapped.length;
        assert.ok(Math.abs(e.values[i * m + c]! - want) < 1e-9, `${name} row ${i}: ${e.values[i * m + c]} vs ${want}`);
      }
    }
    // One-hot columns map back to their input column.
    const owner = matrixToInput(model.features);
    assert.equal(owner.length, p);
    assert.ok(model.features.outputs.every((name, j) => name === e.columns[owner[j]!] || name.startsWith(`${e.columns[owner[j]!]}=`)));
  });

  it('ranks an informative column far above a pure-noise column by permutation importance, deterministically', () => {
    const { rows, y } = labelsFor(model, test);
    assert.equal(rows.rowCount, 4000);
    const pi = permutationImportance(model, rows, y, { repeats: 3, seed: 7 });
    assert.equal(pi.metric, 'roc_auc');
    const proba = predict(model, rows).proba!;
    const p1 = Float64Array.from(y, (_, i) => proba[i * 2 + 1]!);
    assert.ok(Math.abs(pi.baseline - rocAuc(y, p1)) < 1e-15);
    const by = new Map(pi.columns.map((c) => [c.column, c]));
    const marital = by.get('marital-status')!;
    const noiseCol = by.get('noise')!;
    assert.ok(marital.importance > 0.05, `marital-status: ${marital.importance}`);
    assert.ok(Math.abs(noiseCol.importance) < 0.005, `noise: ${noiseCol.importance}`);
    assert.ok(marital.importance > noiseCol.importance + 10 * (marital.std + noiseCol.std));
    assert.equal(pi.columns[0]!.column, 'marital-status');
    assert.equal(marital.scores.length, 3);
    assert.ok(Math.abs(marital.importance - (pi.baseline - marital.scores.reduce((a, b) => a + b, 0) / 3)) < 1e-12);
    assert.deepEqual(permutationImportance(model, rows, y, { repeats: 3, seed: 7 }), pi);
    // Log loss points the other way; the drop stays positive for an informative column.
    const ll = permutationImportance(model, takeRows(rows, Array.from({ length: 1000 }, (_, i) => i)), y.subarray(0, 1000), { metric: 'log_loss', repeats: 2 });
    assert.ok(ll.columns.find((c) => c.column === 'marital-status')!.importance > 0.02);
    console.log(`permutation importance (ROC AUC drop, baseline ${pi.baseline.toFixed(4)}): ${pi.columns.slice(0, 4).map((c) => `${c.column} ${c.importance.toFixed(4)}±${c.std.toFixed(4)}`).join(', ')}; noise ${noiseCol.importance.toFixed(5)}`);
  });
});

describe('explain: input checks', () => {
  it('refuses empty input, a metric that does not fit the task, and labels the model does not know', () => {
    const bin = loadModel(JSON.stringify({
      format: MODEL_FORMAT, task: 'binary', target: 'y', classes: ['no', 'yes'], features: fitFeatures(table, [{ column: 'unused', kind: 'numeric' }]),
      estimator: linearEstimator(Float64Array.of(1), Float64Array.of(0)),
    }));
    assert.throws(() => explain(bin, takeRows(table, [])), /no rows to explain/);
    assert.throws(() => explain(bin, table, { background: takeRows(table, []) }), /background has no rows/);
    const { rows, y } = labelsFor(bin, table);
    assert.throws(() => permutationImportance(bin, rows, y, { metric: 'rmse' }), /'rmse' does not apply to a binary model; use one of roc_auc, accuracy, log_loss/);
    assert.throws(() => permutationImportance(bin, rows, y, { repeats: 0 }), /repeats must be a positive integer/);
    assert.throws(() => permutationImportance(bin, rows, y.subarray(1)), /59 labels for 60 rows/);
    assert.throws(() => labelsFor(bin, tableFromRows([{ unused: 1, y: 'maybe' }])), /'maybe' in row 0, not one of the model's classes \(no, yes\)/);
    assert.throws(() => labelsFor(bin, tableFromRows([{ unused: 1 }])), /no target column 'y'/);
    assert.throws(() => permutationImportance(bin, tableFromRows([{ unused: 1, y: 'no' }, { unused: 2, y: 'no' }]), [0, 0]), /ROC AUC needs rows of both classes/);
  });
});
