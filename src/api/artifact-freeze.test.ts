/**
 * Stored bytes bound to their digests: a model version records the sha256 of its files; the
 * artifact proxy refuses to change them (or anything in a deleted run) and audits every write and
 * delete with the bytes' sha256; a file changed on disk is refused when the version is loaded.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFile, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadModelRef } from '../cli/refs.js';
import { runCli } from '../cli/test-helpers/run-cli.js';
import { isTrellisError } from '../core/errors.js';
import { assertError, assertOk, call, createExperiment, createRun, mlflow, openTestServer, storeRoot, type TestServer } from './test-helpers/server.js';

const proxy = (path: string) => `/api/2.0/mlflow-artifacts/artifacts/${path}`;
const trellis = (path: string) => `/api/2.0/trellis${path}`;
const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const MODEL = '{"format":"not-a-real-model"}';

let t: TestServer;
before(async () => { t = await openTestServer(); });
after(async () => { await t.close(); });

async function put(path: string, body: string): Promise<{ status: number; body: string }> {
  const r = await t.app.inject({ method: 'PUT', url: proxy(path), payload: body, headers: { 'content-type': 'application/octet-stream' } });
  return { status: r.statusCode, body: r.body };
}

/** A run with `model/model.json` and `model/MLmodel`, registered as version 1 of `name`. */
async function registered(name: string): Promise<{ runId: string; root: string }> {
  const run = await createRun(t.app);
  const root = storeRoot(run.artifactUri);
  assert.equal((await put(`${root}/model/model.json`, MODEL)).status, 200);
  assert.equal((await put(`${root}/model/MLmodel`, 'flavors: {}\n')).status, 200);
  assertOk(await call(t.app, 'POST', mlflow('/registered-models/create'), { name }));
  const v = await call(t.app, 'POST', mlflow('/model-versions/create'), { name, source: `runs:/${run.runId}/model`, run_id: run.runId });
  assertOk(v);
  assert.deepEqual(Object.keys((v.json as { model_version: object }).model_version).includes('files'), false, 'the MLflow shape is unchanged');
  return { runId: run.runId, root };
}

describe('a model version records the digests of its files', () => {
  test("Trellis's route answers them; MLflow's model version JSON stays as it was", async () => {
    await registered('digested');
    const files = await call(t.app, 'GET', trellis('/model-versions/files?name=digested&version=1'));
    assertOk(files);
    assert.deepEqual(files.json, { files: [
      { path: 'MLmodel', sha256: sha('flavors: {}\n'), size: 12 },
      { path: 'model.json', sha256: sha(MODEL), size: MODEL.length },
    ] });
    const file = await t.app.inject({ method: 'GET', url: trellis('/model-versions/file?name=digested&version=1&path=model.json') });
    assert.equal(file.statusCode, 200);
    assert.equal(file.body, MODEL);
  });
});

describe('the artifact proxy freezes the files a model version was registered from', () => {
  test('PUT and DELETE there are refused naming the version; the bytes stay; the rest of the run still takes files', async () => {
    const { root } = await registered('frozen');
    const attack = await call(t.app, 'PUT', proxy(`${root}/model/model.json`), '{"format":"evil"}', { 'content-type': 'application/octet-stream' });
    assertError(attack, 403, 'PERMISSION_DENIED', 'model frozen version 1 was registered from');
    for (const path of [`${root}/model/extra.bin`]) assert.equal((await put(path, 'x')).status, 403, path);
    for (const path of [`${root}/model/model.json`, `${root}/model`, root]) {
      const del = await t.app.inject({ method: 'DELETE', url: proxy(path) });
      assert.equal(del.statusCode, 403, `${path}: ${del.body}`);
      assert.match(del.body, /TRELLIS_ARTIFACT_FROZEN|model frozen version 1/);
    }
    assert.equal((await t.ws.registry.readVersionFile(await t.ws.registry.getVersion('frozen', '1'), 'model.json')).toString(), MODEL);
    assert.equal((await put(`${root}/notes/after.txt`, 'later')).status, 200, 'files outside the model directory can still be added');
  });

  test('every write and delete through the proxy is an audit event with the path, the sha256 and the actor', async () => {
    const run = await createRun(t.app);
    const root = storeRoot(run.artifactUri);
    assert.equal((await put(`${root}/plots/a.txt`, 'alpha')).status, 200);
    const del = await t.app.inject({ method: 'DELETE', url: proxy(`${root}/plots/a.txt`) });
    assert.equal(del.statusCode, 200, del.body);
    const events = await t.ws.audit.events({ entityType: 'artifact', entityId: `${root}/plots/a.txt` });
    assert.deepEqual(events.map((e) => [e.action, e.actor]), [['put_artifact', 'anonymous'], ['delete_artifact', 'anonymous']]);
    assert.deepEqual(events[0]!.after, { path: `${root}/plots/a.txt`, runId: run.runId, sha256: sha('alpha'), size: 5 });
    assert.deepEqual(events[1]!.before, { path: `${root}/plots/a.txt`, runId: run.runId, sha256: sha('alpha'), size: 5 });
    assert.equal((await t.ws.audit.verify()).ok, true);
  });

  test("a deleted run's artifacts are refused; a finished run still takes files, as MLflow's does", async () => {
    const run = await createRun(t.app);
    const root = storeRoot(run.artifactUri);
    assertOk(await call(t.app, 'POST', mlflow('/runs/update'), { run_id: run.runId, status: 'FINISHED' }));
    assert.equal((await put(`${root}/late.txt`, 'late')).status, 200);
    assertOk(await call(t.app, 'POST', mlflow('/runs/delete'), { run_id: run.runId }));
    const refused = await put(`${root}/later.txt`, 'later');
    assert.equal(refused.status, 400, refused.body);
    assert.match(refused.body, /must be in the 'active' state/);
    assert.equal((await t.app.inject({ method: 'DELETE', url: proxy(`${root}/late.txt`) })).statusCode, 400);
  });
});

describe("an experiment's artifact_location", () => {
  test("cannot lie inside another experiment's or a run's artifacts", async () => {
    const exp = await createExperiment(t.app, 'owner-exp');
    const run = await createRun(t.app, exp);
    const create = (name: string, location: string) => call(t.app, 'POST', mlflow('/experiments/create'), { name, artifact_location: location });
    assertError(await create('nested-run', `${run.artifactUri}/sub`), 400, 'INVALID_PARAMETER_VALUE', `inside the artifacts of run ${run.runId}`);
    assertError(await create('nested-exp', `mlflow-artifacts:/${exp}/elsewhere`), 400, 'INVALID_PARAMETER_VALUE', `experiment ${exp}`);
    assertError(await create('future-exp', 'mlflow-artifacts:/987654/x'), 400, 'INVALID_PARAMETER_VALUE', 'experiment 987654');
    assertOk(await create('custom', 'mlflow-artifacts:/team/custom'));
    assertError(await create('inside-custom', 'mlflow-artifacts:/team/custom/deeper'), 400, 'INVALID_PARAMETER_VALUE', "('custom')");
  });
});

describe('a file changed on disk after registration', () => {
  test('is refused by every load of the version with TRELLIS_MODEL_DIGEST_MISMATCH', async () => {
    const { root } = await registered('tampered');
    // Point the model's ref at other, intact bytes: the store's own hash check passes, the version's must not.
    assert.equal((await put(`${root}/elsewhere/model.json`, '{"format":"evil"}')).status, 200);
    await copyFile(join(t.dir, 'a', 'refs', root, 'elsewhere', 'model.json'), join(t.dir, 'a', 'refs', root, 'model', 'model.json'));
    const v = await t.ws.registry.getVersion('tampered', '1');
    await assert.rejects(t.ws.registry.readVersionFile(v, 'model.json'), (e: unknown) => {
      assert.ok(isTrellisError(e, 'TRELLIS_MODEL_DIGEST_MISMATCH'), String(e));
      assert.match(e.message, new RegExp(`Model tampered version 1: file 'model.json'.*expected sha256 ${sha(MODEL).slice(0, 12)}.*found ${sha('{"format":"evil"}').slice(0, 12)}`));
      return true;
    });
    await assert.rejects(loadModelRef(t.ws, 'tampered@1'), (e: unknown) => isTrellisError(e, 'TRELLIS_MODEL_DIGEST_MISMATCH'));
    const res = await call(t.app, 'GET', trellis('/model-versions/file?name=tampered&version=1&path=model.json'));
    assertError(res, 500, 'DATA_LOSS', 'does not match the digest recorded');
    // The other file is intact and still loads.
    assert.equal((await t.ws.registry.readVersionFile(v, 'MLmodel')).toString(), 'flavors: {}\n');
  });

  test('trellis predict and export refuse it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'trellis-digest-cli-'));
    try {
      const g = ['--store', `sqlite:${join(dir, 't.db')}`, '--artifacts', `file:${join(dir, 'a')}`];
      const data = fileURLToPath(new URL('../data/readers/fixtures/adult_train_head200.csv', import.meta.url));
      const ok = (args: string[]) => { const r = runCli([...g, ...args]); assert.equal(r.code, 0, `${args.join(' ')}\n${r.stderr}`); return r; };
      ok(['data', 'add', 'adult', data]);
      ok(['train', '--data', 'adult@1', '--target', 'income', '--register', 'income', '--experiment', 'census']);
      ok(['train', '--data', 'adult@1', '--target', 'income', '--register', 'other', '--experiment', 'census']);
      const show = JSON.parse(ok(['--json', 'models', 'show', 'income@1']).stdout) as { selected: { source: string } };
      const refs = join(dir, 'a', 'refs');
      // The model's ref now names the dataset's bytes: intact as far as the store can tell.
      const datasetRef = join(refs, 'datasets', 'adult', (await readdir(join(refs, 'datasets', 'adult')))[0]!);
      await copyFile(datasetRef, join(refs, storeRoot(show.selected.source), 'model.json'));
      for (const args of [['predict', '--model', 'income@1', '--input', 'adult@1'], ['export', 'onnx', 'income@1', join(dir, 'm.onnx')]]) {
        const r = runCli([...g, ...args]);
        assert.notEqual(r.code, 0, args.join(' '));
        assert.match(r.stderr, /Model income version 1: file 'model\.json' does not match the digest recorded/, r.stderr);
      }
      ok(['predict', '--model', 'other@1', '--input', 'adult@1']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
