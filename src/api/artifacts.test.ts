import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertError, assertOk, call, createRun, mlflow, openTestServer, storeRoot, type TestServer } from './test-helpers/server.js';

let t: TestServer;
let runId: string;
let root: string;
before(async () => {
  t = await openTestServer();
  const run = await createRun(t.app);
  runId = run.runId;
  root = storeRoot(run.artifactUri);
});
after(async () => { await t.close(); });

const proxy = (path: string, prefix = '/api/2.0/mlflow-artifacts') => `${prefix}/artifacts/${path}`;

async function put(path: string, payload: string | Buffer, contentType?: string): Promise<void> {
  const res = await t.app.inject({ method: 'PUT', url: proxy(path), payload, headers: contentType ? { 'content-type': contentType } : {} });
  assert.equal(res.statusCode, 200, res.body);
  assert.deepEqual(JSON.parse(res.body), {});
}

describe('artifact proxy', () => {
  test('PUT streams any content type; GET returns the same bytes with download headers', async () => {
    const bytes = Buffer.from(Array.from({ length: 70000 }, (_, i) => i % 256));
    await put(`${root}/model/weights.bin`, bytes, 'application/octet-stream');
    await put(`${root}/model/MLmodel`, 'flavors: {}\n', 'text/plain');
    await put(`${root}/model/meta.json`, '{"a":1}', 'application/json');
    await put(`${root}/report.html`, '<script>alert(1)</script>');

    const bin = await t.app.inject({ method: 'GET', url: proxy(`${root}/model/weights.bin`) });
    assert.equal(bin.statusCode, 200);
    assert.ok(bin.rawPayload.equals(bytes));
    assert.equal(bin.headers['content-disposition'], 'attachment; filename=weights.bin');
    assert.equal(bin.headers['x-content-type-options'], 'nosniff');
    assert.equal(bin.headers['content-type'], 'application/octet-stream');
    assert.equal(Number(bin.headers['content-length']), bytes.length);

    const json = await t.app.inject({ method: 'GET', url: proxy(`${root}/model/meta.json`) });
    assert.equal(json.headers['content-type'], 'application/json');
    assert.equal(json.body, '{"a":1}');
    // Uploaded HTML must never render in the server's origin.
    const html = await t.app.inject({ method: 'GET', url: proxy(`${root}/report.html`) });
    assert.match(String(html.headers['content-type']), /^text\/plain/);
  });

  test('list names entries relative to the listed directory; DELETE removes', async () => {
    await put(`${root}/listing/a.txt`, 'aaa');
    await put(`${root}/listing/sub/b.txt`, 'b');
    const listed = await call(t.app, 'GET', `/api/2.0/mlflow-artifacts/artifacts?path=${encodeURIComponent(`${root}/listing`)}`);
    assertOk(listed);
    assert.deepEqual(listed.json, { files: [{ path: 'a.txt', is_dir: false, file_size: 3 }, { path: 'sub', is_dir: true }] });
    const top = await call(t.app, 'GET', '/api/2.0/mlflow-artifacts/artifacts');
    assert.deepEqual(top.json.files, [{ path: '0', is_dir: true }]);

    const del = await t.app.inject({ method: 'DELETE', url: proxy(`${root}/listing/sub`) });
    assert.equal(del.statusCode, 200);
    assert.deepEqual(JSON.parse(del.body), {});
    const after = await call(t.app, 'GET', `/api/2.0/mlflow-artifacts/artifacts?path=${root}/listing`);
    assert.deepEqual(after.json, { files: [{ path: 'a.txt', is_dir: false, file_size: 3 }] });
    assertError(await call(t.app, 'GET', proxy(`${root}/listing/sub/b.txt`)), 404, 'RESOURCE_DOES_NOT_EXIST');
    assert.deepEqual((await call(t.app, 'GET', `/api/2.0/mlflow-artifacts/artifacts?path=${root}/nothing-here`)).json, {});
  });

  test('the ajax-api prefix, long paths, names that need quoting, multipart is 501', async () => {
    const long = `${root}/${'d'.repeat(120)}/${'e'.repeat(120)}/file with space é.txt`;
    await put(encodeURI(long), 'deep');
    const res = await t.app.inject({ method: 'GET', url: proxy(encodeURI(long), '/ajax-api/2.0/mlflow-artifacts') });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.body, 'deep');
    assert.equal(res.headers['content-disposition'], `attachment; filename="file with space _.txt"; filename*=UTF-8''file%20with%20space%20%C3%A9.txt`);
    for (const op of ['create', 'complete', 'abort']) {
      assertError(await call(t.app, 'POST', `/api/2.0/mlflow-artifacts/mpu/${op}/${root}/x`, { path: 'x' }), 501, 'NOT_IMPLEMENTED');
    }
  });

  test('a flipped byte in a stored blob is a 500 DATA_LOSS, never the altered bytes', async () => {
    const content = 'the original bytes of a model, which must not change';
    await put(`${root}/tamper/model.onnx`, content);
    const blobs = join(t.dir, 'a', 'blobs');
    let blob: string | undefined;
    for (const d of await readdir(blobs)) {
      for (const f of await readdir(join(blobs, d))) {
        if ((await readFile(join(blobs, d, f), 'utf8')) === content) blob = join(blobs, d, f);
      }
    }
    assert.ok(blob, 'found the blob');
    await chmod(blob, 0o644);
    const buf = await readFile(blob);
    buf.writeUInt8(buf.readUInt8(5) ^ 0x01, 5);
    await writeFile(blob, buf);

    const res = await call(t.app, 'GET', proxy(`${root}/tamper/model.onnx`));
    assertError(res, 500, 'DATA_LOSS', 'integrity');
    assert.ok(!res.body.includes('original'), 'no stored byte leaked');
    assertError(await call(t.app, 'GET', `/get-artifact?run_id=${runId}&path=tamper/model.onnx`), 500, 'DATA_LOSS', 'integrity');
  });
});

describe("Trellis's own folders through the proxy", () => {
  test("a dataset version's file and a pipeline package cannot be replaced or deleted; reading them still works", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'trellis-own-'));
    await writeFile(join(dir, 'rows.csv'), 'a,b\n1,2\n3,4\n');
    const v = (await t.ws.data.add('guarded', join(dir, 'rows.csv'), {}, { actor: 'tester' })).version;
    const before = await t.ws.data.load('guarded@1');
    for (const path of [v.artifactPath, 'pipelines/p/packages/x.json', `datasets/guarded/${'0'.repeat(64)}.csv`]) {
      const res = await t.app.inject({ method: 'PUT', url: proxy(path), payload: 'a,b\n9,9\n', headers: { 'content-type': 'text/csv' } });
      assert.equal(res.statusCode, 403, res.body);
      assert.equal((JSON.parse(res.body) as { error_code: string }).error_code, 'PERMISSION_DENIED');
      assert.match(res.body, /is not written through the artifact proxy/);
      const del = await t.app.inject({ method: 'DELETE', url: proxy(path) });
      assert.equal(del.statusCode, 403, path);
    }
    assert.deepEqual(await t.ws.data.load('guarded@1'), before, 'the version reads as it was added');
    assert.equal((await call(t.app, 'GET', proxy(v.artifactPath))).status, 200);
    // Nor can an experiment put its runs' artifacts there.
    assertError(await call(t.app, 'POST', mlflow('/experiments/create'), { name: 'squatter', artifact_location: 'mlflow-artifacts:/datasets/guarded' }),
      400, 'INVALID_PARAMETER_VALUE', "lies in Trellis's own folder 'datasets/'");
    await rm(dir, { recursive: true, force: true });
  });
});

describe('run-scoped artifact routes', () => {
  test('artifacts/list is relative to the run root and names root_uri', async () => {
    await put(`${root}/model/conda.yaml`, 'x: 1');
    const res = await call(t.app, 'GET', mlflow(`/artifacts/list?run_id=${runId}&path=model`));
    assertOk(res);
    assert.equal(res.json.root_uri, `mlflow-artifacts:/${root}`);
    const paths = res.json.files.map((f: { path: string }) => f.path);
    assert.ok(paths.includes('model/MLmodel') && paths.includes('model/conda.yaml'), paths.join(','));
    const top = await call(t.app, 'GET', mlflow(`/artifacts/list?run_uuid=${runId}`));
    assert.ok(top.json.files.some((f: { path: string; is_dir: boolean }) => f.path === 'model' && f.is_dir));
    assertError(await call(t.app, 'GET', mlflow('/artifacts/list?run_id=0123456789abcdef0123456789abcdef')), 404, 'RESOURCE_DOES_NOT_EXIST');
  });

  test('get-artifact downloads from the run root', async () => {
    const res = await t.app.inject({ method: 'GET', url: `/get-artifact?run_uuid=${runId}&path=model%2FMLmodel` });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.body, 'flavors: {}\n');
    assert.equal(res.headers['content-disposition'], 'attachment; filename=MLmodel');
    assertError(await call(t.app, 'GET', `/get-artifact?run_id=${runId}&path=model/absent`), 404, 'RESOURCE_DOES_NOT_EXIST');
  });
});
