import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { assertError, assertOk, call, createRun, mlflow, openTestServer, storeRoot, type TestServer } from './test-helpers/server.js';

let t: TestServer;
before(async () => { t = await openTestServer(); });
after(async () => { await t.close(); });

async function createModel(name: string, versions = 0): Promise<string> {
  assertOk(await call(t.app, 'POST', mlflow('/registered-models/create'), { name }));
  const { runId } = await createRun(t.app);
  for (let i = 0; i < versions; i++) {
    assertOk(await call(t.app, 'POST', mlflow('/model-versions/create'), { name, source: `runs:/${runId}/model`, run_id: runId }));
  }
  return runId;
}

describe('registered models', () => {
  test('create, get, rename, update (PATCH body), tags (DELETE body), delete (DELETE body)', async () => {
    const created = await call(t.app, 'POST', mlflow('/registered-models/create'), {
      name: 'm-crud', description: 'first', tags: [{ key: 'team', value: 'ml' }],
    });
    assertOk(created);
    const m = created.json.registered_model;
    assert.equal(m.name, 'm-crud');
    assert.equal(m.description, 'first');
    assert.equal(typeof m.creation_timestamp, 'number');
    assert.equal(typeof m.last_updated_timestamp, 'number');
    assert.deepEqual(m.tags, [{ key: 'team', value: 'ml' }]);
    assert.equal('latest_versions' in m, false);

    assert.equal((await call(t.app, 'GET', mlflow('/registered-models/get?name=m-crud'))).json.registered_model.name, 'm-crud');
    const renamed = await call(t.app, 'POST', mlflow('/registered-models/rename'), { name: 'm-crud', new_name: 'm-crud2' });
    assert.equal(renamed.json.registered_model.name, 'm-crud2');
    const updated = await call(t.app, 'PATCH', mlflow('/registered-models/update'), { name: 'm-crud2', description: 'second' });
    assertOk(updated);
    assert.equal(updated.json.registered_model.description, 'second');

    assertOk(await call(t.app, 'POST', mlflow('/registered-models/set-tag'), { name: 'm-crud2', key: 'stage', value: 'dev' }));
    assert.deepEqual((await call(t.app, 'DELETE', mlflow('/registered-models/delete-tag'), { name: 'm-crud2', key: 'team' })).json, {});
    assert.deepEqual((await call(t.app, 'GET', mlflow('/registered-models/get?name=m-crud2'))).json.registered_model.tags, [{ key: 'stage', value: 'dev' }]);

    assert.deepEqual((await call(t.app, 'DELETE', mlflow('/registered-models/delete'), { name: 'm-crud2' })).json, {});
    assertError(await call(t.app, 'GET', mlflow('/registered-models/get?name=m-crud2')), 404, 'RESOURCE_DOES_NOT_EXIST');
  });

  test('search with filter and page tokens; legacy list; /preview prefix', async () => {
    for (const n of ['srch-a', 'srch-b', 'srch-c']) await createModel(n);
    const first = await call(t.app, 'GET', mlflow(`/registered-models/search?filter=${encodeURIComponent("name LIKE 'srch-%'")}&max_results=2&order_by=name+DESC`));
    assertOk(first);
    assert.deepEqual(first.json.registered_models.map((m: { name: string }) => m.name), ['srch-c', 'srch-b']);
    const second = await call(t.app, 'GET', mlflow(`/registered-models/search?filter=${encodeURIComponent("name LIKE 'srch-%'")}&max_results=2&order_by=name+DESC&page_token=${first.json.next_page_token}`));
    assert.deepEqual(second.json.registered_models.map((m: { name: string }) => m.name), ['srch-a']);
    assert.equal(second.json.next_page_token, undefined);

    const list = await call(t.app, 'GET', mlflow('/registered-models/list?max_results=1'));
    assert.equal(list.json.registered_models.length, 1);
    assert.equal(typeof list.json.next_page_token, 'string');

    const preview = await call(t.app, 'GET', '/api/2.0/preview/mlflow/registered-models/get?name=srch-a');
    assert.equal(preview.json.registered_model.name, 'srch-a');
    assertOk(await call(t.app, 'POST', '/api/2.0/preview/mlflow/registered-models/create', { name: 'via-preview' }));
    // Tracking routes are not under /preview.
    assertError(await call(t.app, 'GET', '/api/2.0/preview/mlflow/experiments/get?experiment_id=0'), 404, 'ENDPOINT_NOT_FOUND');
  });
});

describe('model versions', () => {
  test('create from runs:/, get, update, search, stages, download uri, tags, delete', async () => {
    const runId = await createModel('mv');
    const created = await call(t.app, 'POST', mlflow('/model-versions/create'), {
      name: 'mv', source: `runs:/${runId}/model`, run_id: runId, description: 'v1', tags: [{ key: 'k', value: 'v' }], run_link: 'http://x',
    });
    assertOk(created);
    const v = created.json.model_version;
    assert.equal(v.version, '1', 'versions are strings on the wire');
    assert.equal(v.name, 'mv');
    assert.equal(v.current_stage, 'None');
    assert.equal(v.status, 'READY');
    assert.equal(v.run_id, runId);
    assert.equal(v.run_link, 'http://x');
    assert.equal(v.source, `mlflow-artifacts:/0/${runId}/artifacts/model`);
    assert.deepEqual(v.tags, [{ key: 'k', value: 'v' }]);
    assertOk(await call(t.app, 'POST', mlflow('/model-versions/create'), { name: 'mv', source: `mlflow-artifacts:/0/${runId}/artifacts/model` }));

    assert.equal((await call(t.app, 'GET', mlflow('/model-versions/get?name=mv&version=2'))).json.model_version.version, '2');
    const upd = await call(t.app, 'PATCH', mlflow('/model-versions/update'), { name: 'mv', version: '2', description: 'second' });
    assert.equal(upd.json.model_version.description, 'second');

    const staged = await call(t.app, 'POST', mlflow('/model-versions/transition-stage'), { name: 'mv', version: '1', stage: 'production', archive_existing_versions: false });
    assert.equal(staged.json.model_version.current_stage, 'Production');
    const archived = await call(t.app, 'POST', mlflow('/model-versions/transition-stage'), { name: 'mv', version: 2, stage: 'Production', archive_existing_versions: 'TRUE' });
    assert.equal(archived.json.model_version.current_stage, 'Production');
    assert.equal((await call(t.app, 'GET', mlflow('/model-versions/get?name=mv&version=1'))).json.model_version.current_stage, 'Archived');

    const latestAll = await call(t.app, 'POST', mlflow('/registered-models/get-latest-versions'), { name: 'mv' });
    assert.deepEqual(latestAll.json.model_versions.map((x: { version: string; current_stage: string }) => [x.version, x.current_stage]), [['1', 'Archived'], ['2', 'Production']]);
    const latestProd = await call(t.app, 'GET', mlflow('/registered-models/get-latest-versions?name=mv&stages=Production&stages=Staging'));
    assert.deepEqual(latestProd.json.model_versions.map((x: { version: string }) => x.version), ['2']);
    const model = (await call(t.app, 'GET', mlflow('/registered-models/get?name=mv'))).json.registered_model;
    assert.equal(model.latest_versions.length, 2);

    const uri = await call(t.app, 'GET', mlflow('/model-versions/get-download-uri?name=mv&version=1'));
    assert.deepEqual(uri.json, { artifact_uri: `mlflow-artifacts:/0/${runId}/artifacts/model` });

    const search = await call(t.app, 'GET', mlflow(`/model-versions/search?filter=${encodeURIComponent("name = 'mv'")}&max_results=1`));
    assert.equal(search.json.model_versions.length, 1);
    assert.equal(typeof search.json.next_page_token, 'string');
    const rest = await call(t.app, 'GET', mlflow(`/model-versions/search?filter=${encodeURIComponent("name = 'mv'")}&max_results=1&page_token=${search.json.next_page_token}`));
    assert.equal(rest.json.model_versions.length, 1);
    assert.equal(rest.json.next_page_token, undefined);

    assertOk(await call(t.app, 'POST', mlflow('/model-versions/set-tag'), { name: 'mv', version: '2', key: 'x', value: 'y' }));
    assertOk(await call(t.app, 'DELETE', mlflow('/model-versions/delete-tag'), { name: 'mv', version: '1', key: 'k' }));
    assert.deepEqual((await call(t.app, 'GET', mlflow('/model-versions/get?name=mv&version=2'))).json.model_version.tags, [{ key: 'x', value: 'y' }]);
    assert.equal('tags' in (await call(t.app, 'GET', mlflow('/model-versions/get?name=mv&version=1'))).json.model_version, false);

    assert.deepEqual((await call(t.app, 'DELETE', mlflow('/model-versions/delete'), { name: 'mv', version: '1' })).json, {});
    assertError(await call(t.app, 'GET', mlflow('/model-versions/get?name=mv&version=1')), 404, 'RESOURCE_DOES_NOT_EXIST');
  });

  test('aliases: set, get, delete (DELETE body); the model and version list them', async () => {
    await createModel('al', 2);
    assert.deepEqual((await call(t.app, 'POST', mlflow('/registered-models/alias'), { name: 'al', alias: 'champion', version: '2' })).json, {});
    const got = await call(t.app, 'GET', mlflow('/registered-models/alias?name=al&alias=champion'));
    assert.equal(got.json.model_version.version, '2');
    assert.deepEqual(got.json.model_version.aliases, ['champion']);
    assert.deepEqual((await call(t.app, 'GET', mlflow('/registered-models/get?name=al'))).json.registered_model.aliases, [{ alias: 'champion', version: '2' }]);
    assert.deepEqual((await call(t.app, 'DELETE', mlflow('/registered-models/alias'), { name: 'al', alias: 'champion' })).json, {});
    // MLflow answers an unknown alias with 400 INVALID_PARAMETER_VALUE, not 404.
    assertError(await call(t.app, 'GET', mlflow('/registered-models/alias?name=al&alias=champion')), 400, 'INVALID_PARAMETER_VALUE',
      'Registered model alias champion not found');
    assertError(await call(t.app, 'GET', mlflow('/registered-models/alias?name=al&alias=missing')), 400, 'INVALID_PARAMETER_VALUE');
    assertError(await call(t.app, 'GET', mlflow('/registered-models/alias?name=nope&alias=champion')), 404, 'RESOURCE_DOES_NOT_EXIST');
  });

  test('create from models:/<name>/<version> and models:/<name>@<alias> copies the source and run of that version', async () => {
    const runId = await createModel('orig');
    const root = storeRoot((await call(t.app, 'GET', mlflow(`/runs/get?run_id=${runId}`))).json.run.info.artifact_uri);
    const put = await t.app.inject({ method: 'PUT', url: `/api/2.0/mlflow-artifacts/artifacts/${root}/model/MLmodel`, payload: 'flavors: {}\n' });
    assert.equal(put.statusCode, 200, put.body);
    const original = await call(t.app, 'POST', mlflow('/model-versions/create'), { name: 'orig', source: `runs:/${runId}/model`, run_id: runId });
    assertOk(original);
    assertOk(await call(t.app, 'POST', mlflow('/registered-models/create'), { name: 'copy' }));

    // What MlflowClient.copy_model_version sends: the original's run id beside the models:/ source.
    const copied = await call(t.app, 'POST', mlflow('/model-versions/create'), { name: 'copy', source: 'models:/orig/1', run_id: runId });
    assertOk(copied);
    assert.equal(copied.json.model_version.name, 'copy');
    assert.equal(copied.json.model_version.version, '1');
    assert.equal(copied.json.model_version.source, original.json.model_version.source);
    assert.equal(copied.json.model_version.source, `mlflow-artifacts:/${root}/model`);
    assert.equal(copied.json.model_version.run_id, runId);

    // What mlflow.register_model('models:/orig/1', ...) sends: no run id.
    assertOk(await call(t.app, 'POST', mlflow('/registered-models/alias'), { name: 'orig', alias: 'champion', version: '1' }));
    const byAlias = await call(t.app, 'POST', mlflow('/model-versions/create'), { name: 'copy', source: 'models:/orig@champion' });
    assertOk(byAlias);
    assert.equal(byAlias.json.model_version.version, '2');
    assert.equal(byAlias.json.model_version.source, original.json.model_version.source);
    assert.equal(byAlias.json.model_version.run_id, runId);

    const uri = await call(t.app, 'GET', mlflow('/model-versions/get-download-uri?name=copy&version=1'));
    assert.deepEqual(uri.json, { artifact_uri: `mlflow-artifacts:/${root}/model` });
    const file = await t.app.inject({ method: 'GET', url: `/api/2.0/mlflow-artifacts/artifacts/${storeRoot(uri.json.artifact_uri)}/MLmodel` });
    assert.equal(file.statusCode, 200, file.body);
    assert.equal(file.body, 'flavors: {}\n');
  });

  test('models:/ sources that name nothing, or more than this registry holds, are refused', async () => {
    const runId = await createModel('src', 1);
    const other = await createRun(t.app);
    assertOk(await call(t.app, 'POST', mlflow('/registered-models/create'), { name: 'dst' }));
    const create = (source: string, extra: Record<string, string> = {}) => call(t.app, 'POST', mlflow('/model-versions/create'), { name: 'dst', source, ...extra });
    assertError(await create('models:/src/9'), 404, 'RESOURCE_DOES_NOT_EXIST', 'version=9');
    assertError(await create('models:/nope/1'), 404, 'RESOURCE_DOES_NOT_EXIST');
    assertError(await create('models:/src@missing'), 400, 'INVALID_PARAMETER_VALUE');
    assertError(await create('models:/src'), 400, 'INVALID_PARAMETER_VALUE', 'models:/<name>/<version>');
    assertError(await create('models:/src/Production'), 400, 'INVALID_PARAMETER_VALUE');
    assertError(await create('models://elsewhere/src/1'), 400, 'INVALID_PARAMETER_VALUE');
    assertError(await create('models:/src/1', { run_id: other.runId }), 400, 'INVALID_PARAMETER_VALUE', `run ${runId}`);
    assertError(await create('models:/src/../../etc/1'), 400, 'INVALID_PARAMETER_VALUE');
    assert.equal((await call(t.app, 'GET', mlflow('/registered-models/get?name=dst'))).json.registered_model.latest_versions, undefined);
  });

  test('50 concurrent alias moves leave exactly the last audited value', async () => {
    await createModel('race', 5);
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) =>
      call(t.app, 'POST', mlflow('/registered-models/alias'), { name: 'race', alias: 'champion', version: String((i % 5) + 1) })));
    for (const r of results) assertOk(r);
    const final = (await call(t.app, 'GET', mlflow('/registered-models/alias?name=race&alias=champion'))).json.model_version.version;
    const events = await t.ws.audit.events({ entityType: 'registered_model', entityId: 'race', action: 'set_alias', limit: 1000 });
    const last = events[events.length - 1]!;
    assert.equal((last.after as { version: string }).version, final);
    const model = (await call(t.app, 'GET', mlflow('/registered-models/get?name=race'))).json.registered_model;
    assert.deepEqual(model.aliases, [{ alias: 'champion', version: final }]);
    assert.deepEqual((await call(t.app, 'GET', '/api/2.0/trellis/audit/verify')).json.ok, true);
  });
});

describe('trellis routes', () => {
  test('history after moving champion 1 → 2 → 3', async () => {
    await createModel('hist', 3);
    for (const version of ['1', '2', '3']) {
      assertOk(await call(t.app, 'POST', mlflow('/registered-models/alias'), { name: 'hist', alias: 'champion', version }));
    }
    assertOk(await call(t.app, 'POST', mlflow('/registered-models/alias'), { name: 'hist', alias: 'challenger', version: '3' }));
    const res = await call(t.app, 'GET', '/api/2.0/trellis/registered-models/history?name=hist&alias=champion');
    assertOk(res);
    const h = res.json.history;
    assert.deepEqual(h.map((x: { version: string }) => x.version), ['1', '2', '3']);
    for (const x of h) {
      assert.equal(x.kind, 'alias');
      assert.equal(x.label, 'champion');
      assert.equal(x.set_by, 'anonymous');
      assert.equal(typeof x.from, 'number');
    }
    assert.equal(h[0].to, h[1].from);
    assert.equal(h[0].ended_by, 'anonymous');
    assert.equal(h[1].to, h[2].from);
    assert.equal('to' in h[2], false, 'the current holder has no end');
    assert.equal('ended_by' in h[2], false);

    const all = await call(t.app, 'GET', '/api/2.0/trellis/registered-models/history?name=hist');
    assert.equal(all.json.history.length, 4);
    assertError(await call(t.app, 'GET', '/api/2.0/trellis/registered-models/history?name=nope'), 404, 'RESOURCE_DOES_NOT_EXIST');
    assertError(await call(t.app, 'GET', '/api/2.0/trellis/registered-models/history'), 400, 'INVALID_PARAMETER_VALUE');
  });

  test('audit verify walks the chain in pages and names a tampered event', async () => {
    // More events than one verification page holds.
    for (let i = 0; i < 1100; i++) await t.ws.tracking.setExperimentTag('0', 'tick', String(i), { actor: 'test' });
    const ok = await call(t.app, 'GET', '/api/2.0/trellis/audit/verify');
    assertOk(ok);
    assert.equal(ok.json.ok, true);
    assert.ok(ok.json.checked > 1100, String(ok.json.checked));
    assert.equal('first_bad' in ok.json, false);

    const db = new Database(join(t.dir, 't.db'));
    try {
      db.prepare('UPDATE audit_events SET actor = ? WHERE seq = 1050').run('mallory');
    } finally {
      db.close();
    }
    const bad = await call(t.app, 'GET', '/api/2.0/trellis/audit/verify');
    assertOk(bad);
    assert.equal(bad.json.ok, false);
    assert.equal(bad.json.checked, 1049);
    assert.deepEqual(bad.json.first_bad, { seq: 1050, problem: 'altered', detail: 'its content no longer matches its hash' });
  });
});
