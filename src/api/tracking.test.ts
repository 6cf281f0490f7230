import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { buildServer } from './server.js';
import { assertOk, call, createExperiment, createRun, mlflow, openTestServer, type TestServer } from './test-helpers/server.js';

let t: TestServer;
before(async () => { t = await openTestServer(); });
after(async () => { await t.close(); });

describe('experiments', () => {
  test('create, get, get-by-name, rename, tags, delete and restore', async () => {
    const created = await call(t.app, 'POST', mlflow('/experiments/create'), {
      name: 'exp-a', tags: [{ key: 'team', value: 'ml' }], unknown_field: 'ignored',
    });
    assertOk(created);
    const id = created.json.experiment_id;
    assert.equal(typeof id, 'string');

    const got = await call(t.app, 'GET', mlflow(`/experiments/get?experiment_id=${id}`));
    assertOk(got);
    const e = got.json.experiment;
    assert.deepEqual(Object.keys(e).sort(), ['artifact_location', 'creation_time', 'experiment_id', 'last_update_time', 'lifecycle_stage', 'name', 'tags']);
    assert.equal(e.name, 'exp-a');
    assert.equal(e.artifact_location, `mlflow-artifacts:/${id}`);
    assert.equal(e.lifecycle_stage, 'active');
    assert.equal(typeof e.creation_time, 'number');
    assert.deepEqual(e.tags, [{ key: 'team', value: 'ml' }]);

    const byName = await call(t.app, 'GET', mlflow('/experiments/get-by-name?experiment_name=exp-a'));
    assert.equal(byName.json.experiment.experiment_id, id);

    assertOk(await call(t.app, 'POST', mlflow('/experiments/update'), { experiment_id: id, new_name: 'exp-a2' }));
    assertOk(await call(t.app, 'POST', mlflow('/experiments/set-experiment-tag'), { experiment_id: id, key: 'owner', value: 'ana' }));
    assertOk(await call(t.app, 'POST', mlflow('/experiments/delete-experiment-tag'), { experiment_id: id, key: 'team' }));
    const renamed = (await call(t.app, 'GET', mlflow(`/experiments/get?experiment_id=${id}`))).json.experiment;
    assert.equal(renamed.name, 'exp-a2');
    assert.deepEqual(renamed.tags, [{ key: 'owner', value: 'ana' }]);

    assert.deepEqual((await call(t.app, 'POST', mlflow('/experiments/delete'), { experiment_id: id })).json, {});
    const deleted = await call(t.app, 'GET', mlflow(`/experiments/get?experiment_id=${id}`));
    assert.equal(deleted.json.experiment.lifecycle_stage, 'deleted');
    const onlyDeleted = await call(t.app, 'POST', mlflow('/experiments/search'), { view_type: 'DELETED_ONLY' });
    assert.deepEqual(onlyDeleted.json.experiments.map((x: { name: string }) => x.name), ['exp-a2']);
    assertOk(await call(t.app, 'POST', mlflow('/experiments/restore'), { experiment_id: id }));
    assert.equal((await call(t.app, 'GET', mlflow(`/experiments/get?experiment_id=${id}`))).json.experiment.lifecycle_stage, 'active');
  });

  test('search by POST and GET, with filter, order_by, view_type numbers and page tokens', async () => {
    for (const n of ['page-1', 'page-2', 'page-3']) await createExperiment(t.app, n);
    const first = await call(t.app, 'POST', mlflow('/experiments/search'), {
      filter: "name LIKE 'page-%'", order_by: ['name ASC'], max_results: 2, view_type: 1,
    });
    assertOk(first);
    assert.deepEqual(first.json.experiments.map((e: { name: string }) => e.name), ['page-1', 'page-2']);
    assert.equal(typeof first.json.next_page_token, 'string');

    const q = new URLSearchParams({ filter: "name LIKE 'page-%'", max_results: '2', view_type: 'ACTIVE_ONLY', page_token: first.json.next_page_token });
    q.append('order_by', 'name ASC');
    const second = await call(t.app, 'GET', mlflow(`/experiments/search?${q}`));
    assertOk(second);
    assert.deepEqual(second.json.experiments.map((e: { name: string }) => e.name), ['page-3']);
    assert.equal('next_page_token' in second.json, false, 'no token when no rows remain');

    const none = await call(t.app, 'POST', mlflow('/experiments/search'), { filter: "name = 'nothing-matches'" });
    assert.deepEqual(none.json, {}, 'an empty search is literally {}');
  });

  test('legacy experiments/list and the ajax-api prefix', async () => {
    const list = await call(t.app, 'GET', mlflow('/experiments/list'));
    assertOk(list);
    assert.ok(list.json.experiments.some((e: { name: string }) => e.name === 'Default'));
    const paged = await call(t.app, 'GET', mlflow('/experiments/list?max_results=1&view_type=ALL'));
    assert.equal(paged.json.experiments.length, 1);
    assert.equal(typeof paged.json.next_page_token, 'string');

    const ajax = await call(t.app, 'GET', '/ajax-api/2.0/mlflow/experiments/get?experiment_id=0');
    assert.equal(ajax.json.experiment.name, 'Default');
  });
});

describe('runs', () => {
  test('create returns the full MLflow Run shape, defaulting to experiment 0', async () => {
    const res = await call(t.app, 'POST', mlflow('/runs/create'), {
      run_name: 'r1', start_time: 1700000000000, user_id: 'alice', tags: [{ key: 'k', value: 'v' }],
    });
    assertOk(res);
    const { info, data, inputs } = res.json.run;
    assert.equal(info.experiment_id, '0');
    assert.match(info.run_id, /^[0-9a-f]{32}$/);
    assert.equal(info.run_uuid, info.run_id);
    assert.equal(info.run_name, 'r1');
    assert.equal(info.user_id, 'alice');
    assert.equal(info.status, 'RUNNING');
    assert.equal(info.start_time, 1700000000000);
    assert.equal('end_time' in info, false, 'end_time is absent while running');
    assert.equal(info.artifact_uri, `mlflow-artifacts:/0/${info.run_id}/artifacts`);
    assert.equal(info.lifecycle_stage, 'active');
    assert.deepEqual(data.tags.sort((a: { key: string }, b: { key: string }) => a.key.localeCompare(b.key)), [
      { key: 'k', value: 'v' }, { key: 'mlflow.runName', value: 'r1' },
    ]);
    assert.deepEqual(inputs, {});
  });

  test('get by run_id and by run_uuid; update returns run_info and syncs the name', async () => {
    const { runId } = await createRun(t.app);
    assert.equal((await call(t.app, 'GET', mlflow(`/runs/get?run_uuid=${runId}`))).json.run.info.run_id, runId);
    const upd = await call(t.app, 'POST', mlflow('/runs/update'), { run_uuid: runId, status: 'FINISHED', end_time: 1700000100000, run_name: 'renamed' });
    assertOk(upd);
    assert.equal(upd.json.run_info.status, 'FINISHED');
    assert.equal(upd.json.run_info.end_time, 1700000100000);
    assert.equal(upd.json.run_info.run_name, 'renamed');
    const run = (await call(t.app, 'GET', mlflow(`/runs/get?run_id=${runId}`))).json.run;
    assert.ok(run.data.tags.some((x: { key: string; value: string }) => x.key === 'mlflow.runName' && x.value === 'renamed'));
    // Enum by number: 5 is KILLED.
    const killed = await call(t.app, 'POST', mlflow('/runs/update'), { run_id: runId, status: 5 });
    assert.equal(killed.json.run_info.status, 'KILLED');
  });

  test('metrics: NaN and infinities round-trip as strings; latest value by step', async () => {
    const { runId } = await createRun(t.app);
    for (const [value, step] of [['NaN', 0], ['Infinity', 1], ['-Infinity', 2], [0.5, 3], ['1.25', 4]] as const) {
      assertOk(await call(t.app, 'POST', mlflow('/runs/log-metric'), { run_id: runId, key: 'loss', value, timestamp: 1000 + step, step }));
    }
    assertOk(await call(t.app, 'POST', mlflow('/runs/log-metric'), { run_uuid: runId, key: 'nan_only', value: 'NaN', timestamp: '5' }));

    const hist = await call(t.app, 'GET', mlflow(`/metrics/get-history?run_id=${runId}&metric_key=loss`));
    assertOk(hist);
    assert.ok(hist.body.includes('"value":"NaN"') && hist.body.includes('"value":"Infinity"') && hist.body.includes('"value":"-Infinity"'));
    assert.deepEqual(hist.json.metrics.map((m: { value: unknown }) => m.value), ['NaN', 'Infinity', '-Infinity', 0.5, 1.25]);
    assert.deepEqual(hist.json.metrics[0], { key: 'loss', value: 'NaN', timestamp: 1000, step: 0 });

    const run = (await call(t.app, 'GET', mlflow(`/runs/get?run_id=${runId}`))).json.run;
    const byKey = Object.fromEntries(run.data.metrics.map((m: { key: string; value: unknown }) => [m.key, m]));
    assert.equal(byKey.loss.value, 1.25);
    assert.equal(byKey.loss.step, 4);
    assert.deepEqual(byKey.nan_only, { key: 'nan_only', value: 'NaN', timestamp: 5, step: 0 });

    const page = await call(t.app, 'GET', mlflow(`/metrics/get-history?run_id=${runId}&metric_key=loss&max_results=2`));
    assert.equal(page.json.metrics.length, 2);
    const rest = await call(t.app, 'GET', mlflow(`/metrics/get-history?run_id=${runId}&metric_key=loss&max_results=10&page_token=${encodeURIComponent(page.json.next_page_token)}`));
    assert.deepEqual(rest.json.metrics.map((m: { step: number }) => m.step), [2, 3, 4]);
    assert.equal(rest.json.next_page_token, undefined);
  });

  test('params, tags, log-batch, log-inputs and log-model', async () => {
    const { runId } = await createRun(t.app);
    assertOk(await call(t.app, 'POST', mlflow('/runs/log-parameter'), { run_id: runId, key: 'alpha', value: '0.5' }));
    assertOk(await call(t.app, 'POST', mlflow('/runs/log-parameter'), { run_uuid: runId, key: 'alpha', value: '0.5' }));
    assertOk(await call(t.app, 'POST', mlflow('/runs/set-tag'), { run_id: runId, key: 'color', value: 'red' }));
    assertOk(await call(t.app, 'POST', mlflow('/runs/set-tag'), { run_id: runId, key: 'gone', value: 'x' }));
    assertOk(await call(t.app, 'POST', mlflow('/runs/delete-tag'), { run_id: runId, key: 'gone' }));
    assertOk(await call(t.app, 'POST', mlflow('/runs/log-batch'), {
      run_id: runId,
      metrics: [{ key: 'acc', value: 0.9, timestamp: 10, step: 1 }, { key: 'acc', value: 'NaN', timestamp: 11 }],
      params: [{ key: 'depth', value: '3' }],
      tags: [{ key: 'color', value: 'blue' }],
    }));
    assertOk(await call(t.app, 'POST', mlflow('/runs/log-inputs'), {
      run_id: runId,
      datasets: [{
        tags: [{ key: 'mlflow.data.context', value: 'training' }],
        dataset: { name: 'wine', digest: 'a1b2', source_type: 'local', source: '{"uri": "/data/wine.csv"}', schema: '{}' },
      }],
    }));
    const modelJson = JSON.stringify({ artifact_path: 'model', flavors: { python_function: {} }, utc_time_created: '2024-01-01 00:00:00', run_id: runId });
    assertOk(await call(t.app, 'POST', mlflow('/runs/log-model'), { run_id: runId, model_json: modelJson }));
    assertOk(await call(t.app, 'POST', mlflow('/runs/log-model'), { run_id: runId, model_json: modelJson }));

    const run = (await call(t.app, 'GET', mlflow(`/runs/get?run_id=${runId}`))).json.run;
    const params = Object.fromEntries(run.data.params.map((p: { key: string; value: string }) => [p.key, p.value]));
    assert.deepEqual(params, { alpha: '0.5', depth: '3' });
    const tags = Object.fromEntries(run.data.tags.map((p: { key: string; value: string }) => [p.key, p.value]));
    assert.equal(tags.color, 'blue');
    assert.equal(tags.gone, undefined);
    assert.equal(JSON.parse(tags['mlflow.log-model.history']).length, 2);
    assert.deepEqual(run.data.metrics, [{ key: 'acc', value: 0.9, timestamp: 10, step: 1 }]);
    assert.deepEqual(run.inputs.dataset_inputs, [{
      tags: [{ key: 'mlflow.data.context', value: 'training' }],
      dataset: { name: 'wine', digest: 'a1b2', source_type: 'local', source: '{"uri": "/data/wine.csv"}', schema: '{}' },
    }]);
  });

  test('search runs: filter, order_by, view type, pagination; delete and restore', async () => {
    const expId = await createExperiment(t.app, 'search-runs');
    const ids: string[] = [];
    for (const [i, rmse] of [0.3, 0.1, 0.2].entries()) {
      const { runId } = await createRun(t.app, expId, { start_time: 1000 + i });
      await call(t.app, 'POST', mlflow('/runs/log-metric'), { run_id: runId, key: 'rmse', value: rmse, timestamp: 1 });
      ids.push(runId);
    }
    const first = await call(t.app, 'POST', mlflow('/runs/search'), {
      experiment_ids: [expId], filter: 'metrics.rmse < 0.25', order_by: ['metrics.rmse ASC'], max_results: 1,
    });
    assertOk(first);
    assert.deepEqual(first.json.runs.map((r: { info: { run_id: string } }) => r.info.run_id), [ids[1]]);
    const second = await call(t.app, 'POST', mlflow('/runs/search'), {
      experiment_ids: [expId], filter: 'metrics.rmse < 0.25', order_by: ['metrics.rmse ASC'], max_results: 1, page_token: first.json.next_page_token,
    });
    assert.deepEqual(second.json.runs.map((r: { info: { run_id: string } }) => r.info.run_id), [ids[2]]);
    assert.equal(second.json.next_page_token, undefined);

    assert.deepEqual((await call(t.app, 'POST', mlflow('/runs/delete'), { run_id: ids[0] })).json, {});
    const deletedRun = (await call(t.app, 'GET', mlflow(`/runs/get?run_id=${ids[0]}`))).json.run;
    assert.equal(deletedRun.info.lifecycle_stage, 'deleted');
    const active = await call(t.app, 'POST', mlflow('/runs/search'), { experiment_ids: [expId] });
    assert.equal(active.json.runs.length, 2);
    const deleted = await call(t.app, 'POST', mlflow('/runs/search'), { experiment_ids: [expId], run_view_type: 'DELETED_ONLY' });
    assert.deepEqual(deleted.json.runs.map((r: { info: { run_id: string } }) => r.info.run_id), [ids[0]]);
    const all = await call(t.app, 'POST', mlflow('/runs/search'), { experiment_ids: [expId], run_view_type: 3 });
    assert.equal(all.json.runs.length, 3);
    assertOk(await call(t.app, 'POST', mlflow('/runs/restore'), { run_id: ids[0] }));
    assert.equal((await call(t.app, 'POST', mlflow('/runs/search'), { experiment_ids: [expId] })).json.runs.length, 3);
    assert.deepEqual((await call(t.app, 'POST', mlflow('/runs/search'), { experiment_ids: [expId], filter: "params.none = 'x'" })).json, {});
  });

  test('search sends each run exactly as get does: NaN and infinities, inputs, empty data', async () => {
    const expId = await createExperiment(t.app, 'search-as-get');
    const full = (await createRun(t.app, expId, { start_time: 2000 })).runId;
    assertOk(await call(t.app, 'POST', mlflow('/runs/log-batch'), {
      run_id: full,
      metrics: [{ key: 'nan', value: 'NaN', timestamp: 1 }, { key: 'inf', value: 'Infinity', timestamp: 1 }, { key: 'ninf', value: '-Infinity', timestamp: 1 },
        { key: 'rmse', value: 0.1, timestamp: 2, step: 3 }, { key: 'big', value: 1e300, timestamp: 1700000000123 }],
      params: [{ key: 'quote', value: 'a "b" \\ \n é' }, { key: 'alpha', value: '0.5' }],
      tags: [{ key: 'team', value: 'blue' }],
    }));
    assertOk(await call(t.app, 'POST', mlflow('/runs/log-inputs'), {
      run_id: full, datasets: [{ dataset: { name: 'wine', digest: 'd1', source_type: 'local', source: '{}' }, tags: [{ key: 'mlflow.data.context', value: 'eval' }] }],
    }));
    const bare = (await createRun(t.app, expId, { start_time: 1000 })).runId;
    assertOk(await call(t.app, 'POST', mlflow('/runs/delete-tag'), { run_id: bare, key: 'mlflow.runName' }));
    const res = await call(t.app, 'POST', mlflow('/runs/search'), { experiment_ids: [expId] });
    assertOk(res);
    assert.match(String(res.headers['content-type']), /^application\/json; charset=utf-8$/);
    const gets = await Promise.all([full, bare].map(async (id) => (await call(t.app, 'GET', mlflow(`/runs/get?run_id=${id}`))).json.run));
    assert.deepEqual(res.json, { runs: gets });
    assert.deepEqual(res.json.runs[1].data, {}, 'a run with no data has an empty data message');
    const metrics = Object.fromEntries(res.json.runs[0].data.metrics.map((m: { key: string; value: unknown }) => [m.key, m.value]));
    assert.deepEqual(metrics, { big: 1e300, inf: 'Infinity', nan: 'NaN', ninf: '-Infinity', rmse: 0.1 });
    const page = await call(t.app, 'POST', mlflow('/runs/search'), { experiment_ids: [expId], max_results: 1 });
    assert.deepEqual(Object.keys(page.json), ['runs', 'next_page_token']);
  });
});

describe('transport', () => {
  test('a double-encoded JSON body is decoded twice; an empty body is {}', async () => {
    const res = await call(t.app, 'POST', mlflow('/experiments/create'), JSON.stringify(JSON.stringify({ name: 'double-encoded' })), { 'content-type': 'application/json' });
    assertOk(res);
    assert.equal((await call(t.app, 'GET', mlflow('/experiments/get-by-name?experiment_name=double-encoded'))).json.experiment.experiment_id, res.json.experiment_id);
    const empty = await call(t.app, 'POST', mlflow('/experiments/search'), '', { 'content-type': 'application/json' });
    assertOk(empty);
    assert.ok(Array.isArray(empty.json.experiments));
  });

  test('health and version are plain text', async () => {
    const health = await t.app.inject({ method: 'GET', url: '/health' });
    assert.equal(health.statusCode, 200);
    assert.equal(health.body, 'OK');
    assert.match(String(health.headers['content-type']), /^text\/plain/);
    const version = await t.app.inject({ method: 'GET', url: '/version' });
    assert.equal(version.body, '9.9.9-test');
    const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    const plain = await buildServer(t.ws);
    assert.equal((await plain.inject({ method: 'GET', url: '/version' })).body, pkg.version);
    await plain.close();
  });

  test('DELETE reads its JSON body, or the query string when there is no body', async () => {
    assertOk(await call(t.app, 'POST', mlflow('/registered-models/create'), { name: 'del-a' }));
    assertOk(await call(t.app, 'POST', mlflow('/registered-models/create'), { name: 'del-b' }));
    assertOk(await call(t.app, 'DELETE', mlflow('/registered-models/delete'), { name: 'del-a' }));
    assertOk(await call(t.app, 'DELETE', mlflow('/registered-models/delete?name=del-b')));
    assert.deepEqual((await call(t.app, 'GET', mlflow(`/registered-models/search?filter=${encodeURIComponent("name LIKE 'del-%'")}`))).json, {});
  });
});
