/** Bad input on the MLflow routes: the right error_code and status every time, never a 500. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { assertError, assertOk, call, createExperiment, createRun, mlflow, openTestServer, type Method, type TestServer } from './test-helpers/server.js';

let t: TestServer;
before(async () => { t = await openTestServer(); });
after(async () => { await t.close(); });

const CT_MESSAGE = (ct: string) => `Bad Request. Content-Type must be one of [application/json]. Got '${ct}'.`;

async function runMetrics(runId: string): Promise<unknown[]> {
  return (await call(t.app, 'GET', mlflow(`/runs/get?run_id=${runId}`))).json.run.data.metrics ?? [];
}

describe('missing and mistyped fields', () => {
  test('a missing required field names it', async () => {
    assertError(await call(t.app, 'POST', mlflow('/experiments/create'), {}), 400, 'INVALID_PARAMETER_VALUE',
      "Missing value for required parameter 'name'. See the API docs for more information about request parameters.");
    assertError(await call(t.app, 'POST', mlflow('/experiments/create'), { name: '' }), 400, 'INVALID_PARAMETER_VALUE', "parameter 'name'");
    assertError(await call(t.app, 'GET', mlflow('/runs/get')), 400, 'INVALID_PARAMETER_VALUE', "parameter 'run_id'");
    assertError(await call(t.app, 'POST', mlflow('/runs/log-metric'), { run_id: 'x', key: 'k', value: 1 }), 400, 'INVALID_PARAMETER_VALUE', "parameter 'timestamp'");
    assertError(await call(t.app, 'GET', mlflow('/metrics/get-history?run_id=x')), 400, 'INVALID_PARAMETER_VALUE', "parameter 'metric_key'");
    assertError(await call(t.app, 'POST', mlflow('/registered-models/alias'), { name: 'm', alias: 'a' }), 400, 'INVALID_PARAMETER_VALUE', "parameter 'version'");
  });

  test('a wrong type says what was sent', async () => {
    assertError(await call(t.app, 'POST', mlflow('/experiments/search'), { max_results: 'abc' }), 400, 'INVALID_PARAMETER_VALUE',
      "Invalid value abc for parameter 'max_results' supplied. Hint: Value was of type 'string'. See the API docs for more information about request parameters.");
    assertError(await call(t.app, 'GET', mlflow('/experiments/search?max_results=abc')), 400, 'INVALID_PARAMETER_VALUE', "parameter 'max_results'");
    assertError(await call(t.app, 'POST', mlflow('/runs/search'), { experiment_ids: 5 }), 400, 'INVALID_PARAMETER_VALUE',
      "Invalid value 5 for parameter 'experiment_ids' supplied. Hint: Value was of type 'number'.");
    assertError(await call(t.app, 'POST', mlflow('/runs/search'), { experiment_ids: [{}] }), 400, 'INVALID_PARAMETER_VALUE', "'experiment_ids[0]'");
    assertError(await call(t.app, 'POST', mlflow('/experiments/create'), { name: 123 }), 400, 'INVALID_PARAMETER_VALUE', "Hint: Value was of type 'number'");
    assertError(await call(t.app, 'POST', mlflow('/experiments/create'), { name: 'x', tags: 'a' }), 400, 'INVALID_PARAMETER_VALUE', "parameter 'tags'");
    assertError(await call(t.app, 'POST', mlflow('/experiments/create'), { name: 'x', tags: [{ value: 'v' }] }), 400, 'INVALID_PARAMETER_VALUE', "'tags[0].key'");
    assertError(await call(t.app, 'POST', mlflow('/experiments/search'), { view_type: 'SOMETIMES' }), 400, 'INVALID_PARAMETER_VALUE', "'view_type'");
    assertError(await call(t.app, 'POST', mlflow('/runs/search'), { run_view_type: 9 }), 400, 'INVALID_PARAMETER_VALUE', "'run_view_type'");
    assertError(await call(t.app, 'POST', mlflow('/runs/log-metric'), { run_id: 'x', key: 'k', value: 'lots', timestamp: 1 }), 400, 'INVALID_PARAMETER_VALUE', "'value'");
    assertError(await call(t.app, 'POST', mlflow('/runs/log-metric'), { run_id: 'x', key: 'k', value: 1, timestamp: 1.5 }), 400, 'INVALID_PARAMETER_VALUE', "'timestamp'");
    assertError(await call(t.app, 'POST', mlflow('/model-versions/transition-stage'), { name: 'm', version: '1', stage: 'Staging', archive_existing_versions: 'maybe' }),
      400, 'INVALID_PARAMETER_VALUE', "'archive_existing_versions'");
  });

  test('bad search input: filters, order_by, page tokens, max_results bounds', async () => {
    assertError(await call(t.app, 'POST', mlflow('/runs/search'), { experiment_ids: ['0'], filter: 'metrics.x <<< 1' }), 400, 'INVALID_PARAMETER_VALUE');
    assertError(await call(t.app, 'POST', mlflow('/runs/search'), { experiment_ids: ['0'], order_by: ['nonsense.key DESC'] }), 400, 'INVALID_PARAMETER_VALUE');
    assertError(await call(t.app, 'POST', mlflow('/runs/search'), { experiment_ids: ['0'], max_results: 50001 }), 400, 'INVALID_PARAMETER_VALUE', '50000');
    assertOk(await call(t.app, 'POST', mlflow('/runs/search'), { experiment_ids: ['0'], max_results: 50000 }));
    assertError(await call(t.app, 'POST', mlflow('/experiments/search'), { page_token: 'not-a-token' }), 400, 'INVALID_PARAMETER_VALUE');
    assertError(await call(t.app, 'GET', mlflow('/registered-models/search?max_results=1001')), 400, 'INVALID_PARAMETER_VALUE');
    assertError(await call(t.app, 'GET', mlflow('/registered-models/search?max_results=-1')), 400, 'INVALID_PARAMETER_VALUE');
  });
});

describe('unknown and duplicate entities', () => {
  test('unknown run, experiment, model, version are RESOURCE_DOES_NOT_EXIST (404); an unknown alias is INVALID_PARAMETER_VALUE (400), as in MLflow', async () => {
    assertError(await call(t.app, 'GET', mlflow('/runs/get?run_id=0123456789abcdef0123456789abcdef')), 404, 'RESOURCE_DOES_NOT_EXIST', 'Run with id=0123456789abcdef0123456789abcdef not found');
    assertError(await call(t.app, 'GET', mlflow('/experiments/get?experiment_id=424242')), 404, 'RESOURCE_DOES_NOT_EXIST', 'No Experiment with id=424242 exists');
    assertError(await call(t.app, 'GET', mlflow('/experiments/get?experiment_id=abc')), 404, 'RESOURCE_DOES_NOT_EXIST');
    assertError(await call(t.app, 'GET', mlflow('/experiments/get-by-name?experiment_name=nope')), 404, 'RESOURCE_DOES_NOT_EXIST', "Could not find experiment with name 'nope'");
    assertError(await call(t.app, 'POST', mlflow('/runs/create'), { experiment_id: '424242' }), 404, 'RESOURCE_DOES_NOT_EXIST');
    assertError(await call(t.app, 'GET', mlflow('/registered-models/get?name=nope')), 404, 'RESOURCE_DOES_NOT_EXIST', 'Registered Model with name=nope not found');
    assertOk(await call(t.app, 'POST', mlflow('/registered-models/create'), { name: 'known' }));
    assertError(await call(t.app, 'GET', mlflow('/model-versions/get?name=known&version=7')), 404, 'RESOURCE_DOES_NOT_EXIST');
    assertError(await call(t.app, 'GET', mlflow('/model-versions/get?name=known&version=abc')), 400, 'INVALID_PARAMETER_VALUE');
    assertError(await call(t.app, 'GET', mlflow('/registered-models/alias?name=known&alias=champion')), 400, 'INVALID_PARAMETER_VALUE');
    assertError(await call(t.app, 'POST', mlflow('/model-versions/create'), { name: 'nope', source: 'runs:/0123456789abcdef0123456789abcdef/model' }), 404, 'RESOURCE_DOES_NOT_EXIST');
  });

  test('duplicates are RESOURCE_ALREADY_EXISTS with status 400', async () => {
    await createExperiment(t.app, 'dup-exp');
    assertError(await call(t.app, 'POST', mlflow('/experiments/create'), { name: 'dup-exp' }), 400, 'RESOURCE_ALREADY_EXISTS', 'Experiment(name=dup-exp) already exists.');
    assertOk(await call(t.app, 'POST', mlflow('/registered-models/create'), { name: 'dup-model' }));
    assertError(await call(t.app, 'POST', mlflow('/registered-models/create'), { name: 'dup-model' }), 400, 'RESOURCE_ALREADY_EXISTS', 'Registered Model (name=dup-model) already exists.');
  });
});

describe('run invariants', () => {
  test('a changed param value is refused', async () => {
    const { runId } = await createRun(t.app);
    assertOk(await call(t.app, 'POST', mlflow('/runs/log-parameter'), { run_id: runId, key: 'lr', value: '0.1' }));
    const changed = await call(t.app, 'POST', mlflow('/runs/log-parameter'), { run_id: runId, key: 'lr', value: '0.2' });
    assertError(changed, 400, 'INVALID_PARAMETER_VALUE', 'Changing param values is not allowed');
    assert.equal(changed.json.trellis_code, 'TRELLIS_PARAM_CHANGED', 'Trellis\'s own code rides beside MLflow\'s');
  });

  test('writes to a deleted run are refused', async () => {
    const { runId } = await createRun(t.app);
    assertOk(await call(t.app, 'POST', mlflow('/runs/delete'), { run_id: runId }));
    const msg = `The run ${runId} must be in the 'active' state. Current state is deleted.`;
    assertError(await call(t.app, 'POST', mlflow('/runs/log-metric'), { run_id: runId, key: 'm', value: 1, timestamp: 1 }), 400, 'INVALID_PARAMETER_VALUE', msg);
    assertError(await call(t.app, 'POST', mlflow('/runs/set-tag'), { run_id: runId, key: 't', value: 'v' }), 400, 'INVALID_PARAMETER_VALUE', msg);
    assertError(await call(t.app, 'POST', mlflow('/runs/update'), { run_id: runId, status: 'FINISHED' }), 400, 'INVALID_PARAMETER_VALUE', msg);
    assertError(await call(t.app, 'POST', mlflow('/runs/log-batch'), { run_id: runId, tags: [{ key: 'a', value: 'b' }] }), 400, 'INVALID_PARAMETER_VALUE', msg);
    assertError(await call(t.app, 'POST', mlflow('/runs/log-inputs'), { run_id: runId, datasets: [] }), 400, 'INVALID_PARAMETER_VALUE', msg);
  });

  test('an over-limit batch writes nothing: 1001 metrics, or a body over 1 MB', async () => {
    const { runId } = await createRun(t.app);
    const metrics = Array.from({ length: 1001 }, (_, i) => ({ key: 'm', value: i, timestamp: i, step: i }));
    assertError(await call(t.app, 'POST', mlflow('/runs/log-batch'), { run_id: runId, metrics }), 400, 'INVALID_PARAMETER_VALUE', 'at most 1000 metrics');
    assert.deepEqual(await runMetrics(runId), []);

    const big = { run_id: runId, metrics: [{ key: 'm', value: 1, timestamp: 1 }], params: [{ key: 'p', value: 'v' }], padding: 'x'.repeat(1024 * 1024) };
    assertError(await call(t.app, 'POST', mlflow('/runs/log-batch'), big), 400, 'INVALID_PARAMETER_VALUE', 'at most 1048576 bytes');
    const run = (await call(t.app, 'GET', mlflow(`/runs/get?run_id=${runId}`))).json.run;
    assert.equal(run.data.metrics, undefined);
    assert.equal(run.data.params, undefined);
    // Far beyond every route's limit: still MLflow's 400, not Fastify's 413.
    assertError(await call(t.app, 'POST', mlflow('/runs/set-tag'), { run_id: runId, key: 'k', value: 'x'.repeat(17 * 1024 * 1024) }), 400, 'INVALID_PARAMETER_VALUE');
  });

  test('log-model requires MLflow\'s model_json fields', async () => {
    const { runId } = await createRun(t.app);
    assertError(await call(t.app, 'POST', mlflow('/runs/log-model'), { run_id: runId, model_json: '{"artifact_path":"m"}' }), 400, 'INVALID_PARAMETER_VALUE', 'missing mandatory fields');
    assertError(await call(t.app, 'POST', mlflow('/runs/log-model'), { run_id: runId, model_json: '{nope' }), 400, 'INVALID_PARAMETER_VALUE');
    assertError(await call(t.app, 'POST', mlflow('/runs/log-model'), { run_id: runId }), 400, 'INVALID_PARAMETER_VALUE', "'model_json'");
  });
});

describe('transport errors', () => {
  test('a non-JSON content type gets MLflow\'s exact message', async () => {
    for (const ct of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const res = await call(t.app, 'POST', mlflow('/experiments/create'), '{"name":"ct"}', { 'content-type': ct });
      assertError(res, 400, 'INVALID_PARAMETER_VALUE');
      assert.equal(res.json.message, CT_MESSAGE(ct));
    }
    assertError(await call(t.app, 'PATCH', mlflow('/registered-models/update'), '{"name":"x"}', { 'content-type': 'text/plain' }), 400, 'INVALID_PARAMETER_VALUE', CT_MESSAGE('text/plain'));
    assertError(await call(t.app, 'POST', mlflow('/experiments/create'), '{"name":"ct"}'), 400, 'INVALID_PARAMETER_VALUE', CT_MESSAGE(''));
    assertOk(await call(t.app, 'POST', mlflow('/experiments/create'), '{"name":"ct-ok"}', { 'content-type': 'application/json; charset=utf-8' }));
  });

  test('malformed JSON and non-object bodies are 400, never 500', async () => {
    for (const body of ['{"name": ', '{name: "x"}', '"{\\"name\\": "', '[1,2]', '42', '"just a string"', '\u0000']) {
      assertError(await call(t.app, 'POST', mlflow('/experiments/create'), body, { 'content-type': 'application/json' }), 400, 'INVALID_PARAMETER_VALUE');
    }
    assertError(await call(t.app, 'DELETE', mlflow('/registered-models/delete'), '{oops', { 'content-type': 'application/json' }), 400, 'INVALID_PARAMETER_VALUE');
  });

  test('an unexpected failure is a JSON INTERNAL_ERROR that keeps its details in the log', async () => {
    const other = await openTestServer();
    await other.ws.close(); // every store call now fails with a driver error
    const res = await call(other.app, 'GET', mlflow('/experiments/get?experiment_id=0'));
    assertError(res, 500, 'INTERNAL_ERROR', 'see the server log');
    assert.equal(res.json.trellis_code, 'TRELLIS_INTERNAL');
    assert.ok(!/database|sqlite/i.test(res.json.message), res.json.message);
    await other.close();
  });

  test('unknown routes and wrong methods are ENDPOINT_NOT_FOUND JSON', async () => {
    assertError(await call(t.app, 'GET', mlflow('/no-such-thing')), 404, 'ENDPOINT_NOT_FOUND');
    assertError(await call(t.app, 'GET', '/api/2.0/mlflow/experiments/create'), 404, 'ENDPOINT_NOT_FOUND');
    assertError(await call(t.app, 'POST', mlflow('/runs/get'), {}), 404, 'ENDPOINT_NOT_FOUND');
    assertError(await call(t.app, 'GET', '/api/2.0/mlflow/%zz'), 400, 'INVALID_PARAMETER_VALUE');
  });
});

/** Every MLflow route, hit with empty and wrongly typed input: 4xx JSON each time, never 5xx. */
const ROUTES: [Method, string][] = [
  ['POST', '/experiments/create'], ['GET', '/experiments/get'], ['GET', '/experiments/get-by-name'], ['POST', '/experiments/search'],
  ['GET', '/experiments/search'], ['GET', '/experiments/list'], ['POST', '/experiments/delete'], ['POST', '/experiments/restore'],
  ['POST', '/experiments/update'], ['POST', '/experiments/set-experiment-tag'], ['POST', '/experiments/delete-experiment-tag'],
  ['POST', '/runs/create'], ['GET', '/runs/get'], ['POST', '/runs/update'], ['POST', '/runs/delete'], ['POST', '/runs/restore'],
  ['POST', '/runs/log-metric'], ['POST', '/runs/log-parameter'], ['POST', '/runs/set-tag'], ['POST', '/runs/delete-tag'],
  ['POST', '/runs/log-batch'], ['POST', '/runs/log-inputs'], ['POST', '/runs/log-model'], ['POST', '/runs/search'],
  ['GET', '/metrics/get-history'], ['GET', '/artifacts/list'],
  ['POST', '/registered-models/create'], ['GET', '/registered-models/get'], ['GET', '/registered-models/search'], ['GET', '/registered-models/list'],
  ['POST', '/registered-models/rename'], ['PATCH', '/registered-models/update'], ['DELETE', '/registered-models/delete'],
  ['POST', '/registered-models/set-tag'], ['DELETE', '/registered-models/delete-tag'], ['POST', '/registered-models/get-latest-versions'],
  ['GET', '/registered-models/get-latest-versions'], ['POST', '/registered-models/alias'], ['DELETE', '/registered-models/alias'],
  ['GET', '/registered-models/alias'], ['POST', '/model-versions/create'], ['GET', '/model-versions/get'], ['PATCH', '/model-versions/update'],
  ['DELETE', '/model-versions/delete'], ['GET', '/model-versions/search'], ['POST', '/model-versions/transition-stage'],
  ['GET', '/model-versions/get-download-uri'], ['POST', '/model-versions/set-tag'], ['DELETE', '/model-versions/delete-tag'],
];

const FIELDS = ['name', 'run_id', 'run_uuid', 'experiment_id', 'experiment_ids', 'experiment_name', 'key', 'value', 'version', 'alias',
  'source', 'max_results', 'tags', 'metrics', 'params', 'datasets', 'stages', 'timestamp', 'step', 'filter', 'order_by', 'view_type',
  'run_view_type', 'new_name', 'stage', 'description', 'model_json', 'metric_key', 'page_token', 'archive_existing_versions', 'status',
  'end_time', 'start_time', 'artifact_location', 'run_link', 'user_id', 'run_name'];

describe('no 500 for any bad input', () => {
  test('every route, empty and wrongly typed', async () => {
    const { runId } = await createRun(t.app);
    const bodies: Record<string, unknown>[] = [
      {},
      Object.fromEntries(FIELDS.map((f) => [f, { nested: true }])),
      Object.fromEntries(FIELDS.map((f) => [f, [1, 'x', null]])),
      Object.fromEntries(FIELDS.map((f) => [f, ''])),
      Object.fromEntries(FIELDS.map((f) => [f, -1])),
      Object.fromEntries(FIELDS.map((f) => [f, 'x'.repeat(300)])),
      { run_id: runId, name: 'x', key: 'k', metrics: [{ key: 'k', value: {}, timestamp: 1 }], params: [5], tags: [{ key: 5 }], datasets: [{ dataset: 'x' }] },
      { run_id: runId, metrics: [{ key: '../../etc', value: 1, timestamp: 1 }], tags: [{ key: 'a'.repeat(300), value: 'v' }] },
      { run_id: runId, key: 'k', value: 1e308 * 10, timestamp: Number.MAX_SAFE_INTEGER + 2 },
    ];
    for (const [method, path] of ROUTES) {
      for (const body of bodies) {
        const res = method === 'GET'
          ? await call(t.app, 'GET', mlflow(`${path}?${new URLSearchParams(Object.entries(body).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]))}`))
          : await call(t.app, method, mlflow(path), body);
        assert.ok(res.status < 500, `${method} ${path} ${JSON.stringify(body).slice(0, 120)} → ${res.status} ${res.body}`);
        if (res.status !== 200) assert.equal(typeof res.json?.error_code, 'string', `${method} ${path}: ${res.body}`);
      }
    }
  });
});
