import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isTrellisError } from '../core/errors.js';
import { readTable } from '../data/readers/index.js';
import { rowAt, sliceRows, tableFromRows, type Table } from '../data/table.js';
import { exportJsModule, jsModuleEtag } from './export-js.js';
import { fitFeatures } from './features.js';
import type { Tree } from '../numeric/trees/tree.js';
import { MODEL_FORMAT, linearEstimator, predict, treeEstimator, type TrellisModel } from './model.js';
import { takeRows } from './prepare.js';
import { train } from './train.js';

const ADULT_TRAIN = fileURLToPath(new URL('../../test/data/adult_train.csv', import.meta.url));
const ADULT_TEST = fileURLToPath(new URL('../../test/data/adult_test.csv', import.meta.url));
const BIKE = fileURLToPath(new URL('../../examples/data/bike_sharing_hourly.csv', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';

type Rec = Record<string, unknown>;
interface Answer { prediction: number | string; proba?: number[] }
interface EdgeModule {
  predict(r: unknown): Answer;
  predictBatch(r: unknown): Answer[];
  handler(e: unknown): Promise<Record<string, unknown>>;
  metadata: Record<string, unknown>;
}

const dir = mkdtempSync(join(tmpdir(), 'trellis-export-js-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

async function load(text: string): Promise<EdgeModule> {
  const file = join(dir, `model-${files++}.mjs`);
  writeFileSync(file, text);
  return (await import(pathToFileURL(file).href)) as EdgeModule;
}

/** assert.throws matches a RegExp against `Name: message`; this matches the message alone. */
const withMessage = (re: RegExp) => (e: Error) => re.test(e.message);

const rows = (t: Table, from = 0, to = t.rowCount): Rec[] => Array.from({ length: to - from }, (_, i) => rowAt(t, from + i));

/** What predict() answers for records, in the module's shape. */
function expected(model: TrellisModel, records: Rec[]): Answer[] {
  const p = predict(model, records);
  return records.map((_, i) => {
    if (model.task === 'regression') return { prediction: p.prediction[i]! };
    const c = model.classes!.length;
    return { prediction: model.classes![p.prediction[i]!]!, proba: Array.from(p.proba!.subarray(i * c, (i + 1) * c)) };
  });
}

/** The outcome of predicting one record server-side: the answer, or the error's message. */
function serverOne(model: TrellisModel, r: Rec): Answer | string {
  try {
    return expected(model, [r])[0]!;
  } catch (e) {
    assert.ok(isTrellisError(e, 'TRELLIS_INVALID_PARAMETER'), String(e));
    return e.message;
  }
}

function moduleOne(mod: EdgeModule, r: Rec): Answer | string {
  try {
    return mod.predict(r);
  } catch (e) {
    assert.equal((e as Error).name, 'InputError', String(e));
    return (e as Error).message;
  }
}

/** The module predicts the batch, and every record alone, exactly as predict() does. */
async function assertSame(model: TrellisModel, records: Rec[]): Promise<EdgeModule> {
  const mod = await load(exportJsModule(model, { name: 'm', version: '1' }));
  assert.deepEqual(mod.predictBatch(records), expected(model, records));
  for (const r of records) assert.deepEqual(moduleOne(mod, r), serverOne(model, r));
  return mod;
}

/** Awkward values: nulls, absent keys, unseen categories, NaN. */
function roughen(records: Rec[], seed: number): Rec[] {
  return records.map((r, i) => {
    const out = { ...r };
    const keys = Object.keys(out);
    const k = keys[(i * 7 + seed) % keys.length]!;
    if (i % 5 === 1) out[k] = null;
    else if (i % 5 === 2) delete out[k];
    else if (i % 5 === 3) out[k] = typeof out[k] === 'string' ? 'never-seen' : typeof out[k] === 'number' ? Number.NaN : out[k];
    return out;
  });
}

let adultTrain: Table;
let adultTest: Rec[];
let bikeTrain: Table;
let bikeTest: Rec[];
before(async () => {
  adultTrain = sliceRows(await readTable(ADULT_TRAIN), 0, 6000);
  adultTest = roughen(rows(await readTable(ADULT_TEST), 0, 400), 3);
  const bike = await readTable(BIKE);
  // Every third hour, so that every season is in it.
  bikeTrain = takeRows(bike, Array.from({ length: 5000 }, (_, i) => i * 3));
  // An unseen 'category' in a datetime column is not a date: a null there instead.
  bikeTest = roughen(rows(bike, 12_000, 12_300), 1).map((r) => (r.dteday === 'never-seen' ? { ...r, dteday: null } : r));
});

describe('exportJsModule: predictions identical to predict()', () => {
  it('Adult census, binary: boosted trees with categorical splits and missing values, a forest, a linear model', async () => {
    const gbdt = (await train(adultTrain, 'income', 'gbdt', { trees: 40 })).model;
    // Category sets beyond one 32-bit word (native-country) and missing values ('?') are in play.
    assert.ok(gbdt.estimator.kind === 'trees' && gbdt.estimator.trees.some((t) => Object.values(t.categories ?? {}).some((set) => set.some((c) => c >= 32))));
    assert.ok(adultTest.some((r) => Object.values(r).includes(null)));
    const mod = await assertSame(gbdt, adultTest);
    assert.deepEqual(mod.metadata.classes, ['<=50K', '>50K']);
    await assertSame((await train(adultTrain, 'income', 'forest', { trees: 15 })).model, adultTest);
    await assertSame((await train(adultTrain, 'income', 'linear')).model, adultTest);
  });

  it('bike sharing, regression with a datetime feature: boosted trees, a forest, a linear model', async () => {
    const data = { ...bikeTrain, columns: bikeTrain.columns.filter((c) => !['instant', 'casual', 'registered'].includes(c.name)) };
    // Datetimes written as the table reader takes them: with a zone, a space, date only, a Date.
    const records = bikeTest.map((r, i) => (typeof r.dteday !== 'string' ? r
      : { ...r, dteday: i % 4 === 0 ? r.dteday.slice(0, 10) : i % 4 === 1 ? `${r.dteday.slice(0, 10)} 05:30:15.25+02:00` : i % 4 === 2 ? new Date(r.dteday) : r.dteday }));
    for (const algo of ['gbdt', 'forest', 'linear'] as const) {
      const model = (await train(data, 'cnt', algo, algo === 'linear' ? {} : { trees: 20 })).model;
      assert.ok(model.features.steps.some((s) => s.kind === 'datetime'));
      const mod = await assertSame(model, records);
      // Text that is not a date is refused by both, each naming the feature.
      const bad = [{ ...records[0], dteday: 'Jan 5' }];
      assert.throws(() => predict(model, bad), /Feature 'dteday' must be datetime/);
      assert.throws(() => mod.predictBatch(bad), withMessage(/^Feature 'dteday' must be an ISO-8601 date or datetime, got string \("Jan 5"\)$/));
    }
  });

  it('multiclass (the bike season): softmax boosting, a forest with vector leaves, a softmax linear model', async () => {
    const data = { ...bikeTrain, columns: bikeTrain.columns.filter((c) => !['instant', 'mnth', 'dteday'].includes(c.name)) };
    for (const algo of ['gbdt', 'forest', 'linear'] as const) {
      const model = (await train(data, 'season', algo, { task: 'multiclass', ...(algo === 'linear' ? {} : { trees: 12 }) })).model;
      assert.equal(model.classes!.length, 4);
      await assertSame(model, bikeTest);
    }
  });

  it('every transform and policy: imputation, scaling, one-hot and ordinal, unseen and missing categories, buckets, datetime parts', async () => {
    const base = Array.from({ length: 60 }, (_, i) => ({
      a: i % 7 === 0 ? null : i * 1.5 - 20, b: i % 9 === 0 ? null : (i * 37) % 11, flag: i % 3 === 0,
      color: i % 8 === 0 ? null : ['red', 'green', 'blue'][i % 3]!, size: ['S', 'M', 'L', 'XL'][i % 4]!, shape: i % 6 === 0 ? null : ['o', 'x'][i % 2]!,
      when: i % 10 === 0 ? null : new Date(Date.UTC(2020, i % 12, 1 + (i % 28), i % 24, 7)).toISOString(), n: i % 13,
    }));
    const features = fitFeatures(tableFromRows(base), [
      { column: 'a', kind: 'numeric', impute: 'median', scale: 'minmax' },
      { column: 'b', kind: 'numeric', impute: 'constant', fill: -3, scale: 'standard' },
      { column: 'flag', kind: 'numeric', impute: 'zero', scale: 'none' },
      { column: 'color', kind: 'onehot', unseen: 'other', impute: 'missing' },
      { column: 'size', kind: 'ordinal', unseen: 'other', impute: 'most_frequent' },
      { column: 'shape', kind: 'onehot', unseen: 'error', impute: 'most_frequent' },
      { column: 'when', kind: 'datetime', parts: ['year', 'month', 'day', 'hour', 'weekday', 'dayofyear'] },
      { column: 'n', kind: 'bucketize', quantiles: 4 },
    ]);
    const p = features.outputs.length;
    const w = Float64Array.from({ length: 3 * p }, (_, j) => Math.sin(j + 1) / 3);
    const model: TrellisModel = {
      format: MODEL_FORMAT, task: 'multiclass', target: 'y', classes: ['p', 'q', 'r'], features,
      estimator: linearEstimator(w, Float64Array.from([0.1, -0.2, 0.05])),
    };
    const records: Rec[] = [
      ...base.slice(0, 30),
      { ...base[1], color: 'purple', size: 'XXL', a: Number.NaN },
      { ...base[2], color: '__missing__', when: '2021-02-28 23:59' },
      { ...base[4], when: '0042-03-01T00:00:00Z' },
      { ...base[5], b: undefined, n: null },
    ];
    await assertSame(model, records);
    // A numeric-only copy takes the record path (no datetime parts): booleans as 0 and 1 too.
    const flat: TrellisModel = { ...model, features: { ...features, inputs: features.inputs.filter((i) => i.name !== 'when'), steps: features.steps.filter((s) => s.kind !== 'datetime'), outputs: features.outputs.filter((o) => !o.startsWith('when.')) } };
    flat.estimator = linearEstimator(w.subarray(0, 3 * flat.features.outputs.length), Float64Array.from([0, 0, 0]));
    await assertSame(flat, [...records.map(({ when: _, ...r }) => r), { ...base[3], flag: 1, when: undefined }]);
  });

  it('a wide model (200 inputs) with a tree deep enough that child offsets need 32 bits', async () => {
    const width = 200;
    const base = Array.from({ length: 40 }, (_, i) => Object.fromEntries(Array.from({ length: width }, (_, j) => [`c${j}`, ((i * 31 + j * 17) % 97) / 97])));
    const features = fitFeatures(tableFromRows(base), Array.from({ length: width }, (_, j) => ({ column: `c${j}`, kind: 'numeric' as const, impute: 'none' as const, scale: 'none' as const })));
    // A chain of m splits, each sending a row left to the next split and right to a leaf: in
    // preorder the first splits' right children lie beyond 32,767 nodes.
    const m = 20_000;
    const n = 2 * m + 1;
    const tree: Tree = {
      output: 0, width: 1, feature: new Int32Array(n).fill(-1), threshold: new Float64Array(n), left: new Int32Array(n).fill(-1), right: new Int32Array(n).fill(-1),
      missingLeft: new Uint8Array(n), value: new Float64Array(n), cover: new Float64Array(n).fill(1),
    };
    for (let i = 0; i < m; i++) {
      tree.feature[i] = (i * 7) % width;
      tree.threshold[i] = 0.98 - i / m;
      tree.missingLeft[i] = i % 2;
      tree.left[i] = i + 1 < m ? i + 1 : n - 1;
      tree.right[i] = m + i;
    }
    for (let i = m; i < n; i++) tree.value[i] = Math.cos(i) * 3;
    const model: TrellisModel = {
      format: MODEL_FORMAT, task: 'regression', target: 'y', features,
      estimator: treeEstimator({ algorithm: 'gbdt', outputs: 1, aggregation: 'sum', link: 'identity', baseScore: [0.25], trees: [tree, tree] }),
    };
    const text = exportJsModule(model, { name: 'deep', version: '1' });
    assert.match(text, /"feature":"i16:/);
    assert.match(text, /"right":"i32:/);
    await assertSame(model, [...base.slice(0, 20), { ...base[0], c3: null, c10: 0.9999 }]);
  });
});

describe('exportJsModule: bad input, as predict() refuses it', () => {
  it('names the feature for a missing feature, a wrong type, an unseen category, a non-finite number', async () => {
    const table = tableFromRows(Array.from({ length: 30 }, (_, i) => ({ x: i, ok: i % 2 === 0, kind: ['a', 'b', 'c'][i % 3]!, y: i % 2 })));
    const features = fitFeatures(table, [
      { column: 'x', kind: 'numeric' }, { column: 'ok', kind: 'numeric', scale: 'none' }, { column: 'kind', kind: 'onehot', unseen: 'error' },
    ]);
    const model: TrellisModel = {
      format: MODEL_FORMAT, task: 'binary', target: 'y', classes: ['0', '1'], features,
      estimator: linearEstimator(Float64Array.from([0.5, -1, 0.25, 0, -0.25, 0.125]), Float64Array.from([0.1])),
    };
    const good = { x: 3, ok: true, kind: 'a' };
    const mod = await assertSame(model, [good, { ...good, x: null }, { ...good, ok: 0 }]);
    const cases: [Rec[], RegExp][] = [
      [[{ ok: true, kind: 'a' }], /^Input is missing the feature 'x' \(integer\)$/],
      [[{ ...good, x: 'three' }], /^Feature 'x' must be integer, got string values \(e\.g\. "three"\)$/],
      [[{ ...good, ok: 2 }], /^Feature 'ok' must be boolean, got 2$/],
      [[{ ...good, kind: { nested: 1 } }], /^Feature 'kind' must be string, got object/],
      [[good, { ...good, kind: 'z' }], /^Feature 'kind' has the category 'z' in row 1, unseen in training \(policy: error\)$/],
      [[{ ...good, x: Infinity }], /^Feature 'x' is Infinity in row 0; only finite numbers are accepted$/],
    ];
    for (const [records, message] of cases) {
      assert.throws(() => predict(model, records), (e: Error) => message.test(e.message));
      assert.throws(() => mod.predictBatch(records), (e: Error) => e.name === 'InputError' && message.test(e.message));
    }
    assert.throws(() => mod.predict(null), withMessage(/^Record 0 must be an object of feature values, got null$/));
    assert.throws(() => mod.predictBatch({}), withMessage(/predictBatch takes an array of records/));
  });

  it('refuses an ONNX model, pointing to --format onnx', () => {
    const onnx = { format: MODEL_FORMAT, task: 'regression', target: 'y', features: { format: 'trellis.features/v1', inputs: [], steps: [], outputs: [] }, estimator: { kind: 'onnx' } } as unknown as TrellisModel;
    assert.throws(() => exportJsModule(onnx, { name: 'm', version: '1' }), /ONNX graph.*--format onnx/);
  });
});

describe('the generated module', () => {
  let model: TrellisModel;
  let text: string;
  let mod: EdgeModule;
  before(async () => {
    model = (await train(adultTrain, 'income', 'gbdt', { trees: 10 })).model;
    text = exportJsModule(model, { name: 'adult', version: '7' });
    mod = await load(text);
  });

  it('describes itself: name, version, task, classes, input signature, sha256 of the model document', async () => {
    const { createHash } = await import('node:crypto');
    assert.deepEqual(mod.metadata, {
      name: 'adult', version: '7', format: MODEL_FORMAT, task: 'binary', target: 'income', classes: ['<=50K', '>50K'],
      inputs: model.features.inputs, estimator: 'gbdt', sha256: createHash('sha256').update(JSON.stringify(model)).digest('hex'),
    });
    assert.ok(Object.isFrozen(mod.metadata));
  });

  it('uses no eval or Function, and has no imports', () => {
    assert.doesNotMatch(text, /\beval\s*\(|\bFunction\s*\(|\bimport\s*[({'"]|\brequire\s*\(/);
  });

  it('answers serverless events: a parsed body, a Lambda event with a JSON or base64 body, and 400 for bad input', async () => {
    const instances = adultTest.slice(0, 5);
    const want = expected(model, instances);
    assert.deepEqual(await mod.handler({ instances }), { predictions: want });
    const body = JSON.stringify({ instances });
    const ok = await mod.handler({ httpMethod: 'POST', body, isBase64Encoded: false });
    assert.equal(ok.statusCode, 200);
    assert.deepEqual(ok.headers, { 'content-type': 'application/json' });
    assert.deepEqual(JSON.parse(ok.body as string), { predictions: want });
    const b64 = await mod.handler({ body: Buffer.from(body).toString('base64'), isBase64Encoded: true });
    assert.deepEqual(JSON.parse(b64.body as string), { predictions: want });

    const bad = async (event: unknown, message: RegExp) => {
      const r = await mod.handler(event);
      assert.equal(r.statusCode, 400, JSON.stringify(r));
      assert.match(typeof r.body === 'string' ? (JSON.parse(r.body) as { error: string }).error : r.error as string, message);
    };
    await bad({ body: '{"instances": [' }, /^The request body is not JSON/);
    await bad({ body: '{"rows": []}' }, /needs 'instances'/);
    await bad({ body: '[1]' }, /must be a JSON object/);
    await bad({ httpMethod: 'GET', body: null }, /must be a JSON object \{"instances": \[records\]\}, got nothing$/);
    await bad({ instances: [{ ...instances[0], age: 'old' }] }, /^Feature 'age' must be integer, got string/);
    await bad({ body: JSON.stringify({ instances: [{ age: 30 }] }) }, /^Input is missing the feature 'workclass'/);
    await bad({ instances: 'all' }, /needs 'instances'/);
  });

  it('keeps names and categories as data: line breaks, U+2028 and </script> neither end a comment nor break a page', async () => {
    const kinds = ['plain', 'two\nlines', 'sep\u2028arator', '</script><script>alert(1)</script>'];
    const table = tableFromRows(Array.from({ length: 8 }, (_, i) => ({ kind: kinds[i % 4]!, x: i })));
    const features = fitFeatures(table, [{ column: 'kind', kind: 'onehot', unseen: 'error' }, { column: 'x', kind: 'numeric' }]);
    const odd: TrellisModel = {
      format: MODEL_FORMAT, task: 'regression', target: 'y', features,
      estimator: linearEstimator(Float64Array.from(features.outputs, (_, j) => j + 1), Float64Array.from([0])),
    };
    const name = 'm\nexport const injected = 1;\u2028export const also = 2;';
    const text = exportJsModule(odd, { name, version: '1\r\n2' });
    assert.doesNotMatch(text, /<\/script>|\u2028/);
    const m = await load(text) as EdgeModule & { injected?: number; also?: number };
    assert.equal(m.injected, undefined);
    assert.equal(m.also, undefined);
    assert.deepEqual([m.metadata.name, m.metadata.version], [name, '1\r\n2']);
    assert.deepEqual(m.predictBatch(kinds.map((kind) => ({ kind, x: 1 }))), expected(odd, kinds.map((kind) => ({ kind, x: 1 }))));
  });

  it('has a strong ETag from its sha256', () => {
    const etag = jsModuleEtag(text);
    assert.match(etag, /^"sha256-[0-9a-f]{64}"$/);
    assert.equal(jsModuleEtag(text), etag);
    assert.notEqual(jsModuleEtag(`${text} `), etag);
  });
});

/** Answers equal, or for `exact` false, labels equal and probabilities within 1e-12. */
function assertAnswers(got: Answer[], want: Answer[], exact: boolean, what: string): void {
  if (exact) {
    assert.deepEqual(got, want, what);
    return;
  }
  assert.equal(got.length, want.length, what);
  want.forEach((w, i) => {
    assert.equal(got[i]!.prediction, w.prediction, `${what}, row ${i}`);
    assert.ok(w.proba!.every((p, j) => Math.abs(p - got[i]!.proba![j]!) <= 1e-12), `${what}, row ${i}: ${JSON.stringify(got[i])} vs ${JSON.stringify(w)}`);
  });
}

describe('the generated module in a browser (headless Chromium)', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed` }, () => {
  let server: Server;
  let origin: string;
  const modules = new Map<string, string>();
  before(async () => {
    server = createServer((req, res) => {
      const text = modules.get(req.url ?? '');
      if (text !== undefined) {
        res.writeHead(200, { 'content-type': 'text/javascript', 'content-security-policy': "script-src 'self'" });
        res.end(text);
      } else {
        // A page whose policy forbids eval: the module must run without it.
        res.writeHead(200, { 'content-type': 'text/html', 'content-security-policy': "script-src 'self'" });
        res.end('<!doctype html><title>edge</title>');
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('predicts as predict() for Adult (boosted trees), bike sharing (regression with datetimes) and a multiclass forest', async () => {
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage();
      await page.goto(`${origin}/`);
      const bikeData = { ...bikeTrain, columns: bikeTrain.columns.filter((c) => !['instant', 'casual', 'registered'].includes(c.name)) };
      const cases: [TrellisModel, Rec[]][] = [
        [(await train(adultTrain, 'income', 'gbdt', { trees: 40 })).model, adultTest],
        [(await train(bikeData, 'cnt', 'gbdt', { trees: 20 })).model, bikeTest],
        [(await train(bikeData, 'season', 'forest', { task: 'multiclass', trees: 8 })).model, bikeTest],
      ];
      for (const [k, [model, records]] of cases.entries()) {
        modules.set(`/model-${k}.mjs`, exportJsModule(model, { name: `m${k}`, version: '1' }));
        const got = await page.evaluate(async ({ url, records }) => {
          const m = await import(url);
          const batch = m.predictBatch(records);
          const one = records.map((r: unknown) => {
            try {
              return m.predict(r);
            } catch (e) {
              return (e as Error).message;
            }
          });
          let refused = '';
          try {
            m.predictBatch([{}]);
          } catch (e) {
            refused = `${(e as Error).name}: ${(e as Error).message}`;
          }
          return { batch, one, refused, handled: await m.handler({ body: JSON.stringify({ instances: records.slice(0, 3) }) }) };
        }, { url: `${origin}/model-${k}.mjs`, records });
        const want = expected(model, records);
        // Sums (trees, weights) are exact in every engine; the logistic and softmax links call
        // Math.exp, which this browser's engine may round differently (by an ulp) from Node's.
        const exact = model.estimator.kind === 'trees' && model.estimator.link === 'identity';
        assertAnswers(got.batch, want, exact, `model ${k}`);
        records.forEach((r, i) => {
          const server = serverOne(model, r);
          if (typeof server === 'string') assert.equal(got.one[i], server);
          else assertAnswers([got.one[i]], [server], exact, `model ${k}, record ${i}`);
        });
        assert.match(got.refused, /^InputError: Input is missing the feature/);
        assertAnswers((JSON.parse(got.handled.body) as { predictions: Answer[] }).predictions, want.slice(0, 3), exact, `model ${k}, handler`);
      }
    } finally {
      await browser.close();
    }
  });
});
