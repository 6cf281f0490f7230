/**
 * The traversal corpus on every route that takes a path or a URI. Each entry is sent both raw (as a
 * hostile client with a raw socket would) and percent-encoded (as an HTTP library would), and must
 * be refused with 400 INVALID_PARAMETER_VALUE. Sentinel files beside and inside the store root must
 * come through untouched, unlisted and unread, and nothing may appear outside the root.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { assertError, assertOk, call, createRun, mlflow, openTestServer, rawCall, storeRoot, type Method, type Res, type TestServer } from './test-helpers/server.js';

const CORPUS = ['../', '%2e%2e%2f', '%252e%252e%252f', '..%5c', '..\\', '/etc/passwd', 'file:///etc/passwd', 'a;x=1', 'a#frag', '%00'];
/** Entries refused wherever they appear in a path, not only at its start. */
const ANYWHERE = CORPUS.filter((c) => !c.startsWith('/') && !c.startsWith('file:'));
const SENTINEL = 'SENTINEL: must never be read, listed or overwritten';

let t: TestServer;
let runId: string;
let root: string;
let outsideBefore: string[];
let storeTopBefore: string[];
const responses: Res[] = [];

async function snapshot(dir: string, skip?: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    const p = join(e.parentPath ?? (e as unknown as { path: string }).path, e.name);
    if (!skip || !p.startsWith(skip)) out.push(p);
  }
  return out.sort();
}

before(async () => {
  t = await openTestServer();
  const run = await createRun(t.app);
  runId = run.runId;
  root = storeRoot(run.artifactUri);
  await writeFile(join(t.dir, 'sentinel.txt'), SENTINEL);
  await writeFile(join(t.dir, 'a', 'sentinel.txt'), SENTINEL);
  const res = await t.app.inject({ method: 'PUT', url: `/api/2.0/mlflow-artifacts/artifacts/${root}/ok.txt`, payload: 'fine' });
  assert.equal(res.statusCode, 200);
  outsideBefore = await snapshot(t.dir, join(t.dir, 'a'));
  storeTopBefore = await readdir(join(t.dir, 'a'));
});

after(async () => {
  assert.equal(await readFile(join(t.dir, 'sentinel.txt'), 'utf8'), SENTINEL);
  assert.equal(await readFile(join(t.dir, 'a', 'sentinel.txt'), 'utf8'), SENTINEL);
  await t.close();
});

/** The corpus as path values: raw, percent-encoded, and (for relative entries) below a real directory. */
function pathVariants(base: string): { label: string; raw: string }[] {
  const out: { label: string; raw: string }[] = [];
  for (const c of CORPUS) {
    out.push({ label: c, raw: c }, { label: `encoded ${c}`, raw: encodeURIComponent(c) });
  }
  for (const c of ANYWHERE) out.push({ label: `${base}/${c}`, raw: `${base}/${c}` });
  out.push({ label: 'deep escape', raw: `${base}/../../../../sentinel.txt` }, { label: 'encoded deep escape', raw: `${base}/..%2f..%2f..%2f..%2fsentinel.txt` });
  return out;
}

async function refused(res: Res, what: string): Promise<void> {
  responses.push(res);
  assert.equal(res.status, 400, `${what}: expected 400, got ${res.status} ${res.body}`);
  assertError(res, 400, 'INVALID_PARAMETER_VALUE');
}

describe('traversal corpus', () => {
  const proxyFile = (p: string) => `/api/2.0/mlflow-artifacts/artifacts/${p}`;

  for (const method of ['GET', 'PUT', 'DELETE'] as Method[]) {
    test(`artifact proxy ${method} /artifacts/<path>`, async () => {
      for (const v of pathVariants(root)) {
        await refused(await rawCall(t.app, method, proxyFile(v.raw), method === 'PUT' ? 'PWNED' : undefined), `${method} ${v.label}`);
      }
    });
  }

  test('artifact proxy list ?path=', async () => {
    for (const v of pathVariants(root)) {
      await refused(await rawCall(t.app, 'GET', `/api/2.0/mlflow-artifacts/artifacts?path=${v.raw}`), v.label);
    }
  });

  test('artifacts/list ?path= and get-artifact ?path=', async () => {
    for (const v of pathVariants('model')) {
      await refused(await rawCall(t.app, 'GET', mlflow(`/artifacts/list?run_id=${runId}&path=${v.raw}`)), `list ${v.label}`);
      await refused(await rawCall(t.app, 'GET', `/get-artifact?run_id=${runId}&path=${v.raw}`), `get-artifact ${v.label}`);
    }
  });

  test('experiments/create artifact_location', async () => {
    const values = [...CORPUS, ...ANYWHERE.map((c) => `mlflow-artifacts:/${c}`), ...ANYWHERE.map((c) => `mlflow-artifacts:/x/${c}`)];
    for (const [i, location] of values.entries()) {
      await refused(await call(t.app, 'POST', mlflow('/experiments/create'), { name: `trav-${i}`, artifact_location: location }), location);
    }
    const search = await call(t.app, 'POST', mlflow('/experiments/search'), { filter: "name LIKE 'trav-%'", view_type: 'ALL' });
    assert.deepEqual(search.json, {}, 'no experiment was created');
  });

  test('model-versions/create source', async () => {
    assertOk(await call(t.app, 'POST', mlflow('/registered-models/create'), { name: 'trav-model' }));
    const values = [
      ...CORPUS,
      ...ANYWHERE.map((c) => `runs:/${runId}/${c}`),
      ...ANYWHERE.map((c) => `mlflow-artifacts:/${root}/${c}`),
      `runs:/${runId}/../../../sentinel.txt`,
      `mlflow-artifacts:/${root}/../../../../sentinel.txt`,
    ];
    for (const source of values) {
      await refused(await call(t.app, 'POST', mlflow('/model-versions/create'), { name: 'trav-model', source, run_id: runId }), source);
      await refused(await call(t.app, 'POST', mlflow('/model-versions/create'), { name: 'trav-model', source }), `${source} without run_id`);
    }
    assert.equal('latest_versions' in (await call(t.app, 'GET', mlflow('/registered-models/get?name=trav-model'))).json.registered_model, false);
  });

  test('nothing outside the store was read, written or listed', async () => {
    assert.ok(responses.length > 250, `ran ${responses.length} refused requests`);
    for (const r of responses) assert.ok(!r.body.includes('SENTINEL') && !r.body.includes('PWNED'), r.body);
    assert.deepEqual(await snapshot(t.dir, join(t.dir, 'a')), outsideBefore, 'no file appeared beside the store');
    assert.deepEqual(await readdir(join(t.dir, 'a')), storeTopBefore, 'nothing new at the store root');
    const listed = await call(t.app, 'GET', '/api/2.0/mlflow-artifacts/artifacts');
    assert.deepEqual(listed.json.files.map((f: { path: string }) => f.path), ['0']);
    const ok = await t.app.inject({ method: 'GET', url: `/api/2.0/mlflow-artifacts/artifacts/${root}/ok.txt` });
    assert.equal(ok.body, 'fine', 'the legitimate artifact is intact');
  });
});
