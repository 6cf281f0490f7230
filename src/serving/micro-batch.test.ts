import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fitFeatures } from '../ml/features.js';
import { MODEL_FORMAT, linearEstimator, loadModel, type TrellisModel } from '../ml/model.js';
import { tableFromRows } from '../data/table.js';
import { exportOnnx } from '../ml/onnx/export.js';
import { importOnnx } from '../ml/onnx/import.js';
import { concatFeeds, onnxFeeds, predictAsync, runOnnx } from '../ml/onnx/predict-async.js';
import type { ModelVersion } from '../store/ports/registry.js';
import { MicroBatcher } from './micro-batch.js';
import { loadVersion } from './model-runtime.js';

/** A promise and the functions that settle it. */
function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A batcher over number arrays whose runs wait until the test releases them; it records each run's items. */
function controlled(maxRows: number, maxDelayMs: number) {
  const runs: { items: number[][]; done: ReturnType<typeof deferred<void>> }[] = [];
  const waiting: { n: number; resolve: () => void }[] = [];
  const batcher = new MicroBatcher<number[], number[], number[]>({
    maxRows, maxDelayMs,
    run: async (items) => {
      const done = deferred<void>();
      runs.push({ items, done });
      for (const w of waiting.filter((x) => runs.length >= x.n)) w.resolve();
      await done.promise;
      if (items.some((i) => i.includes(-1))) throw new Error('the runtime failed');
      return items.flat().map((x) => x * 10);
    },
    slice: (r, start, end) => r.slice(start, end),
  });
  const add = (rows: number[]) => batcher.add(rows, rows.length);
  /** Resolves once `n` runs have started. */
  const runsStarted = (n: number) => new Promise<void>((resolve) => (runs.length >= n ? resolve() : waiting.push({ n, resolve })));
  return { batcher, runs, add, runsStarted };
}

describe('micro-batching', () => {
  it('runs a lone request at once, however long the delay allowed', async () => {
    // An hour of delay: the request would hang the test if it waited for the timer.
    const b = new MicroBatcher<number[], number[], number[]>({ maxRows: 64, maxDelayMs: 3_600_000, run: async (items) => items.flat(), slice: (r, s, e) => r.slice(s, e) });
    assert.deepEqual(await b.add([1, 2], 2), [1, 2]);
    assert.deepEqual(await b.add([3], 1), [3]);
  });

  it('coalesces requests that arrive while a batch runs into one run, each getting its own rows in order', async () => {
    const c = controlled(64, 3_600_000);
    const first = c.add([1]);
    assert.equal(c.runs.length, 1);
    const rest = [c.add([2, 3]), c.add([4]), c.add([5, 6, 7]), c.add([8])];
    // Queued behind the run in flight, not run one by one.
    assert.equal(c.runs.length, 1);
    c.runs[0]!.done.resolve();
    assert.deepEqual(await first, [10]);
    await c.runsStarted(2);
    assert.equal(c.runs.length, 2);
    assert.deepEqual(c.runs[1]!.items, [[2, 3], [4], [5, 6, 7], [8]]);
    c.runs[1]!.done.resolve();
    assert.deepEqual(await Promise.all(rest), [[20, 30], [40], [50, 60, 70], [80]]);
  });

  it('sends the queue once it holds maxRows rows, and never puts more than maxRows rows in a batch', async () => {
    const c = controlled(4, 3_600_000);
    const all = [c.add([1])];
    // 1 + 2 queued: under 4 rows, they wait.
    all.push(c.add([2]), c.add([3, 4]));
    assert.equal(c.runs.length, 1);
    // 5 rows queued: the first three requests (4 rows) go at once, the last stays queued.
    all.push(c.add([5, 6]));
    assert.equal(c.runs.length, 2);
    assert.deepEqual(c.runs[1]!.items, [[2], [3, 4]]);
    // A request larger than maxRows runs alone.
    all.push(c.add([7, 8, 9, 10, 11]));
    assert.deepEqual(c.runs.slice(2).map((r) => r.items), [[[5, 6]], [[7, 8, 9, 10, 11]]]);
    for (const r of c.runs) r.done.resolve();
    assert.deepEqual(await Promise.all(all), [[10], [20], [30, 40], [50, 60], [70, 80, 90, 100, 110]]);
  });

  it('sends a queued request after maxDelayMs even while a batch is still in flight', async () => {
    const c = controlled(64, 1);
    const first = c.add([1]);
    const second = c.add([2]);
    await c.runsStarted(2);
    // The first run has not finished: the timer sent the second.
    assert.deepEqual(c.runs.map((r) => r.items), [[[1]], [[2]]]);
    c.runs[1]!.done.resolve();
    assert.deepEqual(await second, [20]);
    c.runs[0]!.done.resolve();
    assert.deepEqual(await first, [10]);
  });

  it("fails every request of a batch with the runtime's error, and the next batch runs", async () => {
    const c = controlled(64, 3_600_000);
    const first = c.add([1]);
    const failing = [c.add([2]), c.add([-1])];
    const later = deferred<number[]>();
    c.runs[0]!.done.resolve();
    await first;
    await c.runsStarted(2);
    void c.add([3]).then(later.resolve, later.reject);
    c.runs[1]!.done.resolve();
    for (const f of failing) await assert.rejects(f, /the runtime failed/);
    await c.runsStarted(3);
    c.runs[2]!.done.resolve();
    assert.deepEqual(await later.promise, [30]);
  });

  it('refuses bounds that are not numbers of rows or milliseconds', () => {
    const run = async () => [];
    const slice = () => [];
    assert.throws(() => new MicroBatcher({ maxRows: 0, maxDelayMs: 1, run, slice }), /maxRows must be a whole number of 1 or more, got 0/);
    assert.throws(() => new MicroBatcher({ maxRows: 8, maxDelayMs: Number.NaN, run, slice }), /maxDelayMs must be a number of 0 or more, got NaN/);
  });
});

const PYTHON = '/usr/bin/python3';
/**
 * Written with python3-onnx (as in src/ml/onnx/import.test.ts): a graph with an int64 and a string
 * input, and a regression whose input takes exactly one row.
 */
const BUILD = String.raw`
import sys
import onnx
from onnx import helper, TensorProto as T
vi = helper.make_tensor_value_info
g = helper.make_graph(
    [helper.make_node('LabelEncoder', ['city'], ['code'], domain='ai.onnx.ml', keys_strings=['paris', 'rome'], values_floats=[1.0, 2.0], default_float=0.0),
     helper.make_node('Cast', ['count'], ['count_f'], to=T.FLOAT), helper.make_node('Mul', ['count_f', 'code'], ['y'])],
    'mixed', [vi('count', T.INT64, ['N', 1]), vi('city', T.STRING, ['N', 1])], [vi('y', T.FLOAT, ['N', 1])])
m = helper.make_model(g, opset_imports=[helper.make_opsetid('', 13), helper.make_opsetid('ai.onnx.ml', 3)], producer_name='numpy-test')
m.ir_version = 8
onnx.checker.check_model(m)
onnx.save(m, sys.argv[1] + '/mixed.onnx')
g = helper.make_graph([helper.make_node('MatMul', ['X', 'W'], ['y'])], 'fixed', [vi('X', T.FLOAT, [1, 2])], [vi('y', T.FLOAT, [1, 1])],
    [helper.make_tensor('W', T.FLOAT, [2, 1], [2.0, -1.0])])
m = helper.make_model(g, opset_imports=[helper.make_opsetid('', 13)], producer_name='numpy-test')
m.ir_version = 8
onnx.checker.check_model(m)
onnx.save(m, sys.argv[1] + '/fixed.onnx')
`;
const hasOnnx = spawnSync(PYTHON, ['-c', 'import onnx'], { encoding: 'utf8' });
const pythonSkip = hasOnnx.status === 0 ? false : `${PYTHON} with the onnx module is not available`;

const version = { name: 'm', version: '1' } as ModelVersion;
const serve = (m: object) => loadVersion(version, async () => Buffer.from(JSON.stringify(m)));

describe('micro-batched ONNX models answer as unbatched ones', () => {
  const rows = Array.from({ length: 90 }, (_, i) => ({ x: i % 10 === 0 ? null : (i * 7) % 23, colour: ['red', 'green', 'blue'][i % 3]!, when: new Date(Date.UTC(2020, 0, 1) + i * 3_600_000 * 7) }));
  const features = fitFeatures(tableFromRows(rows), [
    { column: 'x', kind: 'numeric', impute: 'mean', scale: 'standard' },
    { column: 'colour', kind: 'onehot', unseen: 'ignore' },
    { column: 'when', kind: 'datetime', parts: ['hour', 'weekday'] },
  ]);
  const p = features.outputs.length;
  const multi: TrellisModel = {
    format: MODEL_FORMAT, task: 'multiclass', target: 'kind', classes: ['a', 'b', 'c'], features,
    estimator: linearEstimator(Float64Array.from({ length: 3 * p }, (_, j) => Math.sin(j + 1)), Float64Array.of(0.1, 0, -0.1)),
  };

  it('a classifier exported by Trellis and imported back: 30 concurrent requests of 1 to 5 rows', async () => {
    const imported = await importOnnx(exportOnnx(multi));
    const m = loadModel(JSON.stringify(imported));
    const loaded = await serve(imported);
    const requests = Array.from({ length: 30 }, (_, i) => rows.slice(i * 3, i * 3 + 1 + (i % 5)));
    const want = await Promise.all(requests.map((r) => predictAsync(m, r)));
    const got = await Promise.all(requests.map((r) => loaded.predict(r)));
    assert.deepEqual(got, want);
    // One run over the stacked feeds gives what the requests got one by one.
    const parts = await Promise.all(requests.map((r) => onnxFeeds(m, r)));
    const whole = await runOnnx(m, await concatFeeds(m, parts));
    assert.deepEqual(whole, await predictAsync(m, requests.flat()));
  });

  it('a bad request among concurrent ones fails alone, naming its field', async () => {
    const loaded = await serve(await importOnnx(exportOnnx(multi)));
    const good = rows.slice(0, 4).map((r) => [r]);
    const results = await Promise.allSettled([...good.map((r) => loaded.predict(r)), loaded.predict([{ x: 1, when: new Date() }]), loaded.predict([{ x: 'lots', colour: 'red', when: new Date() }])]);
    assert.deepEqual(results.slice(0, 4).map((r) => r.status), ['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']);
    assert.match(String((results[4] as PromiseRejectedResult).reason), /missing the feature 'colour' \(string\)/);
    assert.match(String((results[5] as PromiseRejectedResult).reason), /Feature 'x' expects numbers; row 1 has "lots"/);
  });

  describe('a graph written by python3-onnx, with int64 and string inputs', { skip: pythonSkip }, () => {
    let dir: string;
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'trellis-batch-'));
      const r = spawnSync(PYTHON, ['-c', BUILD, dir], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    it('batched and unbatched predictions are equal; a null in an int64 input fails its request alone', async () => {
      const imported = await importOnnx(new Uint8Array(readFileSync(join(dir, 'mixed.onnx'))));
      const m = loadModel(JSON.stringify(imported));
      const loaded = await serve(imported);
      const cities = ['rome', 'paris', 'oslo'];
      const requests = Array.from({ length: 32 }, (_, i) => Array.from({ length: 1 + (i % 3) }, (_, k) => ({ count: i + k, city: cities[(i + k) % 3]! })));
      const want = await Promise.all(requests.map((r) => predictAsync(m, r)));
      const settled = await Promise.allSettled([...requests.map((r) => loaded.predict(r)), loaded.predict([{ count: 1, city: 'rome' }, { count: null, city: 'rome' }])]);
      assert.deepEqual(settled.slice(0, 32).map((s) => (s.status === 'fulfilled' ? s.value : s.reason)), want);
      assert.deepEqual(Array.from(want[4]!.prediction), [4, 0]);
      assert.match(String((settled[32] as PromiseRejectedResult).reason), /Feature 'count' is null in row 1; the ONNX input 'count' is int64/);
    });

    it('a graph whose input takes exactly one row is not batched: concurrent requests each run alone', async () => {
      const loaded = await serve(await importOnnx(new Uint8Array(readFileSync(join(dir, 'fixed.onnx'))), { columns: { X: ['a', 'b'] } }));
      const got = await Promise.all(Array.from({ length: 6 }, (_, i) => loaded.predict([{ a: i, b: 1 }])));
      assert.deepEqual(got.map((p) => Array.from(p.prediction)), [[-1], [1], [3], [5], [7], [9]]);
    });
  });
});
