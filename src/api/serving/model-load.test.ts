/**
 * Models load in the serving engine's worker thread (model-loader.ts) on a real workspace (SQLite
 * and the local artifact folder): verified against the sha256 recorded for the version, parsed,
 * checked and decoded there, adopted by the serving thread as they were decoded; refused with the
 * errors a load in the serving thread gives; a worker that dies fails its load and is replaced.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { threadId, type Worker } from 'node:worker_threads';
import { workspaceSource } from './source.js';
import { isTrellisError } from '../../core/errors.js';
import { readTable } from '../../data/readers/index.js';
import { rowAt } from '../../data/table.js';
import { ensembleOf, loadModel, predict, type TreeEstimator } from '../../ml/model.js';
import { exportOnnx } from '../../ml/onnx/export.js';
import { importOnnx } from '../../ml/onnx/import.js';
import { predictAsync } from '../../ml/onnx/predict-async.js';
import type { ModelVersion } from '../../store/ports/registry.js';
import { Workspace } from '../../workspace/workspace.js';
import { ServingEngine, type EngineEvent } from '../../serving/engine.js';
import { ModelLoader } from '../../serving/model-loader.js';
import { loadVersion } from '../../serving/model-runtime.js';

const ADULT = fileURLToPath(new URL('../../data/readers/fixtures/adult_train_head200.csv', import.meta.url));
const who = { actor: 'alice' };

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

/** The error a promise rejects with. */
async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  assert.fail('expected the promise to reject');
}

describe('models load in a worker thread', () => {
  let dir: string;
  let ws: Workspace;
  let loader: ModelLoader;
  let rows: Record<string, unknown>[];
  const version = (ref: string) => ws.registry.resolve(ref);
  const read = (v: ModelVersion) => workspaceSource(ws).read(v);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-model-load-'));
    ws = await Workspace.open({ store: `sqlite:${join(dir, 't.db')}`, artifacts: `file:${join(dir, 'a')}` });
    await ws.training.train({ data: ADULT, target: 'income', algo: 'gbdt', params: { trees: '20' }, register: 'income' }, who);
    await ws.training.train({ data: ADULT, target: 'income', algo: 'linear', register: 'income' }, who);
    await ws.training.train({ data: ADULT, target: 'income', algo: 'gbdt', params: { trees: '5' }, register: 'income' }, who);
    // A version whose model.json is not a model: registered as any run's files are.
    const exp = await ws.tracking.createExperiment('broken', {}, who);
    const run = await ws.tracking.createRun({ experimentId: exp, userId: 'alice' }, who);
    await ws.tracking.logArtifact(run.info.runId, 'model/model.json', '{"format": "trellis.model/v1", "task": "binary", "target": "y", "features": {"format": "trellis.features/v1", "inputs": [], "steps": [], "outputs": []}, "classes": ["a", "b"], "estimator": {"kind": "trees", "algorithm": "gbdt", "outputs": 1, "aggregation": "sum", "link": "logistic", "baseScore": [0], "trees": [{"output": 0, "width": 1, "feature": "%%%%", "threshold": "", "left": "", "right": "", "missingLeft": "", "value": "", "cover": ""}]}}');
    await ws.registry.createModel({ name: 'broken' }, who);
    await ws.registry.createVersion({ name: 'broken', source: `runs:/${run.info.runId}/model`, runId: run.info.runId }, who);
    const table = await readTable(ADULT);
    rows = Array.from({ length: 50 }, (_, i) => rowAt(table, i));
    loader = new ModelLoader();
  });
  after(async () => {
    await loader?.close();
    await ws?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('loads a tree ensemble and a linear model in the worker; they predict as loadModel + predict do in this thread', async () => {
    for (const ref of ['income/1', 'income/2']) {
      const v = await version(ref);
      const loaded = await loadVersion(v, read, undefined, loader);
      assert.notEqual(loaded.loadedIn, threadId, `${ref}: loaded in another thread`);
      const bytes = await ws.registry.readVersionFile(v, 'model.json');
      const here = loadModel(bytes);
      assert.deepEqual(await loaded.predict(rows), predict(here, rows), ref);
      assert.deepEqual(loaded.signature, here.features.inputs.map((i) => ({ name: i.name, type: i.type })));
      assert.equal(loaded.bytes, bytes.length);
      // The digest the worker computed is the one the registry recorded for the file.
      const recorded = (await ws.registry.versionFiles(v.name, v.version))!.find((f) => f.path === 'model.json')!;
      assert.equal(loaded.sha256, recorded.sha256);
    }
    assert.equal(loader.started, 1, 'one worker for every load');
  });

  it('the serving thread neither parses nor decodes the document: it adopts what the worker sent', async () => {
    const v = await version('income/1');
    const file = await ws.registry.readVersionFileUnverified(v, 'model.json');
    const text = file.bytes.toString('utf8');
    const doc = JSON.parse(text) as { estimator: TreeEstimator };
    // Every base64 array of the document: decoding one here would read its characters one by one.
    const encoded = new Set(doc.estimator.trees.flatMap((t) => [t.feature, t.threshold, t.left, t.right, t.missingLeft, t.value, t.cover]));
    const bytes = file.bytes;
    const parse = JSON.parse;
    const charCodeAt = String.prototype.charCodeAt; // eslint-disable-line @typescript-eslint/unbound-method
    let parsed = 0;
    let decoded = 0;
    const spy = () => {
      JSON.parse = (s: string, ...rest: never[]) => {
        if (typeof s === 'string' && s.length >= text.length) parsed++;
        return parse(s, ...rest) as unknown;
      };
      String.prototype.charCodeAt = function (this: string, i: number) {
        if (encoded.has(this)) decoded++;
        return charCodeAt.call(this, i);
      };
    };
    spy();
    let loaded;
    try {
      loaded = await loadVersion(v, async () => file, undefined, loader);
    } finally {
      JSON.parse = parse;
      String.prototype.charCodeAt = charCodeAt;
    }
    assert.equal(parsed, 0, 'JSON.parse was not given the document in this thread');
    assert.equal(decoded, 0, 'no tree array was decoded in this thread');
    assert.notEqual(loaded.loadedIn, threadId);
    // The bytes moved to the worker: the buffer handed over is empty here now.
    assert.equal(bytes.byteLength, 0, 'the document bytes were transferred, not copied');
    // The trees the model predicts with were adopted as sent: views of the one buffer the worker
    // laid them out in and moved here (a decode in this thread gives each array a buffer of its own).
    const trees = ensembleOf(loaded.model.estimator as TreeEstimator).trees;
    assert.equal(trees.length, doc.estimator.trees.length);
    const buffers = new Set(trees.flatMap((t) => [t.feature, t.threshold, t.left, t.right, t.missingLeft, t.value, t.cover].map((a) => a.buffer)));
    assert.equal(buffers.size, 1);
    assert.ok(trees.every((t) => t.threshold instanceof Float64Array && t.feature instanceof Int32Array && t.missingLeft instanceof Uint8Array));
    // The spies work: a load in this thread trips both.
    spy();
    try {
      await loadVersion(v, read);
    } finally {
      JSON.parse = parse;
      String.prototype.charCodeAt = charCodeAt;
    }
    assert.ok(parsed > 0 && decoded > 0, `a load without the worker parses (${parsed}) and decodes (${decoded}) here`);
  });

  it('refuses bytes that do not match the recorded sha256, with the error the registry gives', async () => {
    // Version 3's model.json is pointed at other, intact bytes (version 1's) after registration: the
    // store's own hash check passes, the version's recorded digest must not.
    const refOf = async (ref: string) => {
      const v = await version(ref);
      return filesUnder(join(dir, 'a', 'refs')).find((f) => f.endsWith('model.json') && f.includes(v.runId!))!;
    };
    copyFileSync(await refOf('income/1'), await refOf('income/3'));
    const v = await version('income/3');
    const want = await failure(ws.registry.readVersionFile(v, 'model.json'));
    assert.ok(isTrellisError(want, 'TRELLIS_MODEL_DIGEST_MISMATCH'), String(want));
    const got = await failure(loadVersion(v, read, undefined, loader));
    assert.ok(isTrellisError(got, 'TRELLIS_MODEL_DIGEST_MISMATCH'), String(got));
    assert.equal(got.message, want.message);
    assert.match(got.message, /does not match the digest recorded when the version was created/);
    // Bytes with no recorded digest at all are refused the same way.
    const none = await failure(loader.load({ bytes: Buffer.from('{}'), expected: null, mismatch: (actual) => new Error(`refused: ${actual.slice(0, 12)}`) }, 'x/1'));
    assert.equal(none.message, 'refused: 44136fa355b3');
  });

  it('refuses a document that is not a valid model, with the message loadModel gives', async () => {
    const docs = [
      'not json',
      '[1, 2]',
      JSON.stringify({ format: 'trellis.model/v0' }),
      (await ws.registry.readVersionFile(await version('broken/1'), 'model.json')).toString('utf8'),
    ];
    for (const doc of docs) {
      const want = await failure((async () => loadModel(doc))());
      assert.ok(isTrellisError(want, 'TRELLIS_MODEL_INVALID'), String(want));
      const got = await failure(loader.load({ bytes: Buffer.from(doc) }, 'x/1'));
      assert.ok(isTrellisError(got, 'TRELLIS_MODEL_INVALID'), `${doc.slice(0, 30)}: ${String(got)}`);
      assert.equal(got.message, want.message);
    }
    // Through the engine: the endpoint is not ready, and says why.
    await ws.deployments.create('broken', { model: 'broken/1' }, who);
    const events: EngineEvent[] = [];
    const engine = new ServingEngine({ source: workspaceSource(ws), endpoints: ['broken'], pollMs: 60_000, onEvent: (e) => events.push(e) });
    await engine.start();
    try {
      const failed = events.find((e) => e.kind === 'load_failed');
      assert.ok(failed?.kind === 'load_failed' && /The model file is refused: tree 0 has arrays that are not valid base64 float64/.test(failed.error), JSON.stringify(events));
      assert.equal(engine.ready(), false);
    } finally {
      await engine.stop();
    }
  });

  it('loads an ONNX model in the worker: it predicts as the model loaded in this thread', async () => {
    const linear = loadModel(await ws.registry.readVersionFile(await version('income/2'), 'model.json'));
    const document = JSON.stringify(await importOnnx(exportOnnx(linear)));
    const loaded = await loadVersion({ name: 'onnx', version: '1' } as ModelVersion, async () => Buffer.from(document), false, loader);
    assert.notEqual(loaded.loadedIn, threadId);
    assert.equal(loaded.model.estimator.kind, 'onnx');
    assert.deepEqual(await loaded.predict(rows), await predictAsync(loadModel(document), rows));
  });

  it('a worker that dies fails the load it had with a clear error, and the next load starts another', { timeout: 60_000 }, async () => {
    const own = new ModelLoader();
    try {
      const v = await version('income/1');
      await loadVersion(v, read, undefined, own);
      const file = await ws.registry.readVersionFileUnverified(v, 'model.json');
      // The worker stops, as a crash would stop it (the loader keeps it to itself), before it can
      // answer the load sent to it: the loader learns of it only by its exit.
      void (own as unknown as { worker: Worker }).worker.terminate();
      const inFlight = own.load(file, 'income/1');
      const e = await failure(inFlight);
      assert.ok(isTrellisError(e, 'TRELLIS_INTERNAL'), String(e));
      assert.match(e.message, /the model-loading worker stopped while loading income\/1 \(it exited with code 1\); the next load starts a new one/);
      const loaded = await loadVersion(await version('income/2'), read, undefined, own);
      assert.notEqual(loaded.loadedIn, threadId);
      assert.equal(own.started, 2);
    } finally {
      await own.close();
    }
  });

  it('keeps the process alive while a load is in flight, and not once it is idle', () => {
    // A script whose only pending work is the load: it must finish it, print, and then exit by itself.
    const script = `
      import { ModelLoader } from ${JSON.stringify(new URL('../../serving/model-loader.ts', import.meta.url).href)};
      const loader = new ModelLoader();
      const doc = ${JSON.stringify(JSON.stringify({ format: 'trellis.model/v1' }))};
      const e = await loader.load({ bytes: Buffer.from(doc) }).catch((e) => e);
      console.log('answered: ' + e.code);
    `;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'answered: TRELLIS_MODEL_INVALID');
  });
});
