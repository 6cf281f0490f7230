// Replays, over a real socket, the HTTP requests the MLflow 2.12 Python client makes for the calls
// a typical script makes, in that script's order, and checks each response the way the client
// reads it (test-helpers/mlflow-client-calls.ts says how).
//
// Why a replay and not the client itself: no MLflow client can be installed on the machines this
// suite runs on — PyPI is out of reach, and Debian ships no `python3-mlflow` (`apt-cache policy
// python3-mlflow` lists no candidate). The requests below follow the 2.12 client's
// `mlflow/store/tracking/rest_store.py`, `mlflow/store/model_registry/rest_store.py`,
// `mlflow/utils/rest_utils.py` (`call_endpoint`: a GET sends the message as query parameters,
// anything else as a JSON body), `mlflow/store/artifact/http_artifact_repo.py` (artifacts through
// `/api/2.0/mlflow-artifacts/artifacts`) and `mlflow/tracking/client.py`, with the field names and
// types of `service.proto` and `model_registry.proto`.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../src/api/server.js';
import { Workspace } from '../src/workspace/workspace.js';
import {
  CLIENT_VERSION, ReplayClient, Responses, expectOk, expectRestError, guessMimeType, parsed, pyUrlencode, quotePlus,
} from './test-helpers/mlflow-client-calls.js';

/** How many distinct client calls the replay covers; the last test checks the count. */
const EXPECTED_CALLS = 60;

let dir: string;
let ws: Workspace;
let app: FastifyInstance;
let c: ReplayClient;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'trellis-mlflow-replay-'));
  ws = await Workspace.open({ store: `sqlite:${dir}/t.db`, artifacts: `file:${dir}/a` });
  app = await buildServer(ws, { version: '9.9.9-test' });
  await app.listen({ host: '127.0.0.1', port: 0 });
  c = new ReplayClient((app.server.address() as AddressInfo).port);
});

after(async () => {
  await app.close();
  await ws.close();
  await rm(dir, { recursive: true, force: true });
});

const now = () => Date.now();
const USER = 'alice';

/** State the script carries from call to call. */
const s = {
  expId: '', exp2Id: '', runId: '', artifactUri: '', run2Id: '', run3Id: '',
};

/** The proxy path of a run's artifact root: `mlflow-artifacts:/1/<run>/artifacts` → `1/<run>/artifacts`. */
const artifactRoot = () => s.artifactUri.replace(/^mlflow-artifacts:\/*/, '');

/** `mlflow.start_run()`'s tags (`resolve_tags()`), as `CreateRun.tags`. */
function startRunTags(extra: Record<string, string> = {}) {
  return Object.entries({ 'mlflow.user': USER, 'mlflow.source.name': 'train.py', 'mlflow.source.type': 'LOCAL', ...extra })
    .map(([key, value]) => ({ key, value }));
}

async function getRun(api: string, runId: string) {
  const res = await c.endpoint(api, 'GET', '/mlflow/runs/get', { run_uuid: runId, run_id: runId });
  return parsed(res, Responses.GetRun, api).run;
}

describe(`MLflow ${CLIENT_VERSION} Python client, replayed`, () => {
  it('query strings are encoded as python-requests encodes them', () => {
    assert.equal(quotePlus("name LIKE 'replay-%'"), 'name+LIKE+%27replay-%25%27');
    assert.equal(pyUrlencode({ order_by: ['name ASC', 'version_number DESC'], max_results: 5, flag: true }), 'order_by=name+ASC&order_by=version_number+DESC&max_results=5&flag=True');
  });

  it('experiments: set_experiment, create, get, get-by-name, search with paging, tag, rename, delete, restore', async () => {
    // mlflow.set_experiment("replay-exp"): look it up by name (missing → None), create, then get.
    const missing = await c.endpoint('mlflow.set_experiment', 'GET', '/mlflow/experiments/get-by-name', { experiment_name: 'replay-exp' });
    expectRestError(missing, 'RESOURCE_DOES_NOT_EXIST', 'get_experiment_by_name (missing)', 404);
    const created = parsed(await c.endpoint('MlflowClient.create_experiment', 'POST', '/mlflow/experiments/create', {
      name: 'replay-exp', tags: [{ key: 'team', value: 'ml' }],
    }), Responses.CreateExperiment, 'create_experiment');
    assert.match(created.experiment_id, /^\d+$/);
    s.expId = created.experiment_id;
    const got = parsed(await c.endpoint('MlflowClient.get_experiment', 'GET', '/mlflow/experiments/get', { experiment_id: s.expId }), Responses.GetExperiment, 'get_experiment');
    assert.equal(got.experiment.experiment_id, s.expId);
    assert.equal(got.experiment.name, 'replay-exp');
    assert.equal(got.experiment.lifecycle_stage, 'active');
    assert.equal(typeof got.experiment.artifact_location, 'string');
    assert.deepEqual(got.experiment.tags, [{ key: 'team', value: 'ml' }]);

    // mlflow.set_experiment's race path and scripts that create unconditionally match on this code.
    const dup = await c.endpoint('MlflowClient.create_experiment', 'POST', '/mlflow/experiments/create', { name: 'replay-exp' });
    expectRestError(dup, 'RESOURCE_ALREADY_EXISTS', 'create_experiment (duplicate)');

    const byName = parsed(await c.endpoint('MlflowClient.get_experiment_by_name', 'GET', '/mlflow/experiments/get-by-name', { experiment_name: 'replay-exp' }),
      Responses.GetExperiment, 'get_experiment_by_name');
    assert.equal(byName.experiment.experiment_id, s.expId);

    const absent = await c.endpoint('MlflowClient.get_experiment', 'GET', '/mlflow/experiments/get', { experiment_id: '987654' });
    expectRestError(absent, 'RESOURCE_DOES_NOT_EXIST', 'get_experiment (missing)');

    // Workspace-style names: slashes, spaces, '+' and non-ASCII all go through urlencode.
    const odd = '/Shared/replay exp+1 ü';
    const oddId = parsed(await c.endpoint('MlflowClient.create_experiment', 'POST', '/mlflow/experiments/create', { name: odd }),
      Responses.CreateExperiment, 'create_experiment (odd name)').experiment_id;
    const oddByName = parsed(await c.endpoint('MlflowClient.get_experiment_by_name', 'GET', '/mlflow/experiments/get-by-name', { experiment_name: odd }),
      Responses.GetExperiment, 'get_experiment_by_name (odd name)');
    assert.equal(oddByName.experiment.experiment_id, oddId);
    assert.equal(oddByName.experiment.name, odd);

    expectOk(await c.endpoint('MlflowClient.set_experiment_tag', 'POST', '/mlflow/experiments/set-experiment-tag', {
      experiment_id: s.expId, key: 'owner', value: USER,
    }), 'set_experiment_tag');

    s.exp2Id = parsed(await c.endpoint('MlflowClient.create_experiment', 'POST', '/mlflow/experiments/create', { name: 'replay-exp-2' }),
      Responses.CreateExperiment, 'create_experiment 2').experiment_id;

    // MlflowClient.search_experiments(filter_string=..., order_by=[...], max_results=1), paged.
    const page1 = parsed(await c.endpoint('MlflowClient.search_experiments', 'POST', '/mlflow/experiments/search', {
      view_type: 'ACTIVE_ONLY', max_results: 1, order_by: ['name ASC'], filter: "name LIKE 'replay-%'",
    }), Responses.SearchExperiments, 'search_experiments page 1');
    assert.deepEqual(page1.experiments.map((e: { name: string }) => e.name), ['replay-exp']);
    assert.equal(typeof page1.next_page_token, 'string', 'a further page is announced by next_page_token');
    const page2 = parsed(await c.endpoint('MlflowClient.search_experiments', 'POST', '/mlflow/experiments/search', {
      view_type: 'ACTIVE_ONLY', max_results: 1, order_by: ['name ASC'], filter: "name LIKE 'replay-%'", page_token: page1.next_page_token,
    }), Responses.SearchExperiments, 'search_experiments page 2');
    assert.deepEqual(page2.experiments.map((e: { name: string }) => e.name), ['replay-exp-2']);
    // The client keeps paging while the token is present and non-empty.
    if (page2.next_page_token) {
      const page3 = parsed(await c.endpoint('MlflowClient.search_experiments', 'POST', '/mlflow/experiments/search', {
        view_type: 'ACTIVE_ONLY', max_results: 1, order_by: ['name ASC'], filter: "name LIKE 'replay-%'", page_token: page2.next_page_token,
      }), Responses.SearchExperiments, 'search_experiments page 3');
      assert.equal(page3.experiments, undefined);
      assert.ok(!page3.next_page_token);
    }
    // mlflow.search_experiments() with its defaults: max_results is the page size, 1000.
    const all = parsed(await c.endpoint('mlflow.search_experiments', 'POST', '/mlflow/experiments/search', { view_type: 'ALL', max_results: 1000 }),
      Responses.SearchExperiments, 'mlflow.search_experiments');
    assert.ok(all.experiments.length >= 4, 'Default, replay-exp, replay-exp-2 and the odd name');

    expectOk(await c.endpoint('MlflowClient.rename_experiment', 'POST', '/mlflow/experiments/update', { experiment_id: s.exp2Id, new_name: 'replay-exp-2b' }), 'rename_experiment');
    expectOk(await c.endpoint('MlflowClient.delete_experiment', 'POST', '/mlflow/experiments/delete', { experiment_id: s.exp2Id }), 'delete_experiment');
    const deleted = parsed(await c.endpoint('MlflowClient.get_experiment', 'GET', '/mlflow/experiments/get', { experiment_id: s.exp2Id }), Responses.GetExperiment, 'get deleted');
    assert.equal(deleted.experiment.lifecycle_stage, 'deleted');
    assert.equal(deleted.experiment.name, 'replay-exp-2b');
    // mlflow.set_experiment() finds a deleted experiment by name and refuses it by its lifecycle_stage.
    const deletedByName = parsed(await c.endpoint('mlflow.set_experiment', 'GET', '/mlflow/experiments/get-by-name', { experiment_name: 'replay-exp-2b' }),
      Responses.GetExperiment, 'get_experiment_by_name (deleted)');
    assert.equal(deletedByName.experiment.lifecycle_stage, 'deleted');
    expectOk(await c.endpoint('MlflowClient.restore_experiment', 'POST', '/mlflow/experiments/restore', { experiment_id: s.exp2Id }), 'restore_experiment');
    const restored = parsed(await c.endpoint('MlflowClient.get_experiment', 'GET', '/mlflow/experiments/get', { experiment_id: s.exp2Id }), Responses.GetExperiment, 'get restored');
    assert.equal(restored.experiment.lifecycle_stage, 'active');
  });

  it('a run: start_run, log_param, log_metric, log_batch, log_input, set/delete tag, end_run, update_run, get_run', async () => {
    // mlflow.start_run(run_name="r1") → CreateRun.
    const t0 = now();
    const created = parsed(await c.endpoint('mlflow.start_run', 'POST', '/mlflow/runs/create', {
      experiment_id: s.expId, user_id: USER, start_time: t0, tags: startRunTags(), run_name: 'r1',
    }), Responses.CreateRun, 'start_run');
    const info = created.run.info;
    assert.match(info.run_id, /^[0-9a-f]{32}$/);
    assert.equal(info.experiment_id, s.expId);
    assert.equal(info.status, 'RUNNING');
    assert.equal(info.run_name, 'r1');
    assert.equal(info.lifecycle_stage, 'active');
    assert.equal(Number(info.start_time), t0);
    assert.match(info.artifact_uri, /^mlflow-artifacts:/, 'the client resolves mlflow-artifacts: to the proxy');
    s.runId = info.run_id;
    s.artifactUri = info.artifact_uri;

    expectOk(await c.endpoint('mlflow.log_param', 'POST', '/mlflow/runs/log-parameter', { run_uuid: s.runId, run_id: s.runId, key: 'alpha', value: '0.5' }), 'log_param');
    // Logging a param again with another value is refused; scripts that re-run see this error.
    const changed = await c.endpoint('mlflow.log_param', 'POST', '/mlflow/runs/log-parameter', { run_uuid: s.runId, run_id: s.runId, key: 'alpha', value: '0.7' });
    expectRestError(changed, 'INVALID_PARAMETER_VALUE', 'log_param (changed value)', 400);
    expectOk(await c.endpoint('mlflow.log_param', 'POST', '/mlflow/runs/log-parameter', { run_uuid: s.runId, run_id: s.runId, key: 'alpha', value: '0.5' }), 'log_param (same value again)');
    for (let step = 0; step < 5; step++) {
      expectOk(await c.endpoint('mlflow.log_metric', 'POST', '/mlflow/runs/log-metric', {
        run_uuid: s.runId, run_id: s.runId, key: 'loss', value: 1 / (step + 1), timestamp: t0 + step, step,
      }), `log_metric step ${step}`);
    }
    // mlflow.log_metrics / log_params / set_tags all go through LogBatch; NaN travels as "NaN".
    expectOk(await c.endpoint('mlflow.log_metrics', 'POST', '/mlflow/runs/log-batch', {
      run_id: s.runId,
      metrics: [{ key: 'acc', value: 0.9, timestamp: t0, step: 0 }, { key: 'weird', value: 'NaN', timestamp: t0, step: 0 }],
    }), 'log_metrics');
    expectOk(await c.endpoint('mlflow.log_params', 'POST', '/mlflow/runs/log-batch', {
      run_id: s.runId, params: [{ key: 'layers', value: '3' }, { key: 'optimizer', value: 'adam' }],
    }), 'log_params');
    expectOk(await c.endpoint('MlflowClient.log_batch', 'POST', '/mlflow/runs/log-batch', {
      run_id: s.runId,
      metrics: [{ key: 'f1', value: 0.75, timestamp: t0, step: 1 }],
      params: [{ key: 'seed', value: '42' }],
      tags: [{ key: 'stage', value: 'dev' }, { key: 'scratch', value: 'x' }],
    }), 'log_batch');
    expectOk(await c.endpoint('mlflow.log_input', 'POST', '/mlflow/runs/log-inputs', {
      run_id: s.runId,
      datasets: [{
        tags: [{ key: 'mlflow.data.context', value: 'training' }],
        dataset: {
          name: 'iris', digest: 'a1b2c3d4', source_type: 'local', source: '{"uri": "/data/iris.csv"}',
          schema: '{"mlflow_colspec": [{"type": "double", "name": "x"}]}', profile: '{"num_rows": 150}',
        },
      }],
    }), 'log_input');
    expectOk(await c.endpoint('mlflow.set_tag', 'POST', '/mlflow/runs/set-tag', { run_uuid: s.runId, run_id: s.runId, key: 'release', value: 'candidate' }), 'set_tag');
    expectOk(await c.endpoint('MlflowClient.delete_tag', 'POST', '/mlflow/runs/delete-tag', { run_id: s.runId, key: 'scratch' }), 'delete_tag');
    const noSuchTag = await c.endpoint('MlflowClient.delete_tag', 'POST', '/mlflow/runs/delete-tag', { run_id: s.runId, key: 'never-set' });
    expectRestError(noSuchTag, 'RESOURCE_DOES_NOT_EXIST', 'delete_tag (missing)');

    // mlflow.end_run() → set_terminated → UpdateRun with status and end_time.
    const end = now();
    const ended = parsed(await c.endpoint('mlflow.end_run', 'POST', '/mlflow/runs/update', {
      run_uuid: s.runId, run_id: s.runId, status: 'FINISHED', end_time: end,
    }), Responses.UpdateRun, 'end_run');
    assert.equal(ended.run_info.status, 'FINISHED');
    assert.equal(Number(ended.run_info.end_time), end);

    // MlflowClient.update_run(run_id, name="r1-final"): no status, no end_time.
    const renamed = parsed(await c.endpoint('MlflowClient.update_run', 'POST', '/mlflow/runs/update', {
      run_uuid: s.runId, run_id: s.runId, run_name: 'r1-final',
    }), Responses.UpdateRun, 'update_run');
    assert.equal(renamed.run_info.run_name, 'r1-final');
    assert.equal(renamed.run_info.status, 'FINISHED', 'a rename leaves the status alone');

    const run = await getRun('MlflowClient.get_run', s.runId);
    assert.equal(run.info.run_id, s.runId);
    assert.equal(run.info.run_name, 'r1-final');
    assert.equal(run.info.status, 'FINISHED');
    const metrics = Object.fromEntries(run.data.metrics.map((m: { key: string; value: unknown }) => [m.key, m.value]));
    assert.deepEqual(metrics, { loss: 0.2, acc: 0.9, weird: 'NaN', f1: 0.75 });
    const params = Object.fromEntries(run.data.params.map((p: { key: string; value: string }) => [p.key, p.value]));
    assert.deepEqual(params, { alpha: '0.5', layers: '3', optimizer: 'adam', seed: '42' });
    const tags = Object.fromEntries(run.data.tags.map((p: { key: string; value: string }) => [p.key, p.value]));
    assert.equal(tags.stage, 'dev');
    assert.equal(tags.release, 'candidate');
    assert.equal(tags['mlflow.user'], USER);
    assert.equal(tags.scratch, undefined);
    assert.equal(tags['mlflow.runName'], 'r1-final', 'the run name and the mlflow.runName tag are one value');
    assert.equal(run.inputs.dataset_inputs[0].dataset.name, 'iris');
    assert.deepEqual(run.inputs.dataset_inputs[0].tags, [{ key: 'mlflow.data.context', value: 'training' }]);

    // mlflow.set_tag("mlflow.runName", …) renames the run, as MLflow's server does.
    expectOk(await c.endpoint('mlflow.set_tag', 'POST', '/mlflow/runs/set-tag', { run_uuid: s.runId, run_id: s.runId, key: 'mlflow.runName', value: 'r1' }), 'set_tag mlflow.runName');
    assert.equal((await getRun('MlflowClient.get_run', s.runId)).info.run_name, 'r1');

    const missing = await c.endpoint('MlflowClient.get_run', 'GET', '/mlflow/runs/get', { run_uuid: 'f'.repeat(32), run_id: 'f'.repeat(32) });
    expectRestError(missing, 'RESOURCE_DOES_NOT_EXIST', 'get_run (missing)');
  });

  it('search_runs with filter, order_by and page tokens; get_metric_history, whole and paged', async () => {
    for (const [name, acc] of [['r2', 0.7], ['r3', 0.4]] as const) {
      const t = now();
      const run = parsed(await c.endpoint('MlflowClient.create_run', 'POST', '/mlflow/runs/create', {
        experiment_id: s.expId, user_id: USER, start_time: t, tags: [{ key: 'mlflow.user', value: USER }], run_name: name,
      }), Responses.CreateRun, `create_run ${name}`).run;
      expectOk(await c.endpoint('MlflowClient.log_metric', 'POST', '/mlflow/runs/log-metric', {
        run_uuid: run.info.run_id, run_id: run.info.run_id, key: 'acc', value: acc, timestamp: t, step: 0,
      }), `log_metric ${name}`);
      expectOk(await c.endpoint('MlflowClient.set_terminated', 'POST', '/mlflow/runs/update', {
        run_uuid: run.info.run_id, run_id: run.info.run_id, status: 'FAILED', end_time: now(),
      }), `set_terminated ${name}`);
      if (name === 'r2') s.run2Id = run.info.run_id;
      else s.run3Id = run.info.run_id;
    }

    // mlflow.start_run() with no experiment set: the Default experiment, id "0".
    const inDefault = parsed(await c.endpoint('mlflow.start_run', 'POST', '/mlflow/runs/create', {
      experiment_id: '0', user_id: USER, start_time: now(), tags: startRunTags(),
    }), Responses.CreateRun, 'start_run in Default').run.info;
    assert.equal(inDefault.experiment_id, '0');
    assert.equal(typeof inDefault.run_name, 'string', 'the server names a run the client did not name');
    assert.ok(inDefault.run_name.length > 0);

    const search = (body: Record<string, unknown>, api = 'MlflowClient.search_runs') => c.endpoint(api, 'POST', '/mlflow/runs/search', {
      experiment_ids: [s.expId], filter: 'metrics.acc > 0.5', run_view_type: 'ACTIVE_ONLY', max_results: 1, order_by: ['metrics.acc DESC'], ...body,
    });
    const p1 = parsed(await search({}), Responses.SearchRuns, 'search_runs page 1');
    assert.deepEqual(p1.runs.map((r: { info: { run_id: string } }) => r.info.run_id), [s.runId]);
    assert.equal(typeof p1.next_page_token, 'string');
    assert.ok(p1.next_page_token.length > 0);
    const p2 = parsed(await search({ page_token: p1.next_page_token }), Responses.SearchRuns, 'search_runs page 2');
    assert.deepEqual(p2.runs.map((r: { info: { run_id: string } }) => r.info.run_id), [s.run2Id]);
    if (p2.next_page_token) {
      const p3 = parsed(await search({ page_token: p2.next_page_token }), Responses.SearchRuns, 'search_runs page 3');
      assert.equal(p3.runs, undefined);
      assert.ok(!p3.next_page_token, 'the last page has no token');
    }

    // mlflow.search_runs(): filter_string defaults to "" (sent, since the field is set), 10000 a page.
    const all = parsed(await search({ filter: '', max_results: 10000, order_by: undefined }, 'mlflow.search_runs'), Responses.SearchRuns, 'mlflow.search_runs');
    assert.equal(all.runs.length, 3);
    assert.ok(!all.next_page_token);
    const byName = parsed(await search({ filter: "attributes.run_name = 'r3' and attributes.status = 'FAILED'", max_results: 1000 }, 'mlflow.search_runs'),
      Responses.SearchRuns, 'search_runs by name');
    assert.deepEqual(byName.runs.map((r: { info: { run_id: string } }) => r.info.run_id), [s.run3Id]);

    // MlflowClient.get_metric_history against a non-Databricks server: one unpaged GET.
    const hist = parsed(await c.endpoint('MlflowClient.get_metric_history', 'GET', '/mlflow/metrics/get-history', {
      run_uuid: s.runId, run_id: s.runId, metric_key: 'loss',
    }), Responses.GetMetricHistory, 'get_metric_history');
    assert.deepEqual(hist.metrics.map((m: { step: number }) => Number(m.step)), [0, 1, 2, 3, 4]);
    assert.ok(!hist.next_page_token);
    // The paged form (max_results, page_token), as the client pages it against Databricks.
    const steps: number[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const page = parsed(await c.endpoint('RestStore.get_metric_history (paged)', 'GET', '/mlflow/metrics/get-history', {
        run_uuid: s.runId, run_id: s.runId, metric_key: 'loss', max_results: 2, ...(token ? { page_token: token } : {}),
      }), Responses.GetMetricHistory, `get_metric_history page ${pages + 1}`);
      steps.push(...(page.metrics ?? []).map((m: { step: number }) => Number(m.step)));
      token = page.next_page_token || undefined;
      pages++;
    } while (token && pages < 10);
    assert.deepEqual(steps, [0, 1, 2, 3, 4]);
    assert.ok(pages >= 3, `paged in pages of 2, got ${pages} page(s)`);
    const noMetric = parsed(await c.endpoint('MlflowClient.get_metric_history', 'GET', '/mlflow/metrics/get-history', {
      run_uuid: s.runId, run_id: s.runId, metric_key: 'never-logged',
    }), Responses.GetMetricHistory, 'get_metric_history (no such metric)');
    assert.equal(noMetric.metrics, undefined, 'an unknown metric has an empty history');
  });

  it('delete_run and restore_run', async () => {
    expectOk(await c.endpoint('MlflowClient.delete_run', 'POST', '/mlflow/runs/delete', { run_id: s.run3Id }), 'delete_run');
    assert.equal((await getRun('MlflowClient.get_run', s.run3Id)).info.lifecycle_stage, 'deleted');
    const active = parsed(await c.endpoint('MlflowClient.search_runs', 'POST', '/mlflow/runs/search', {
      experiment_ids: [s.expId], filter: '', run_view_type: 'ACTIVE_ONLY', max_results: 1000,
    }), Responses.SearchRuns, 'search_runs after delete');
    assert.equal(active.runs.length, 2);
    const deletedOnly = parsed(await c.endpoint('MlflowClient.search_runs', 'POST', '/mlflow/runs/search', {
      experiment_ids: [s.expId], filter: '', run_view_type: 'DELETED_ONLY', max_results: 1000,
    }), Responses.SearchRuns, 'search_runs DELETED_ONLY');
    assert.deepEqual(deletedOnly.runs.map((r: { info: { run_id: string } }) => r.info.run_id), [s.run3Id]);
    expectOk(await c.endpoint('MlflowClient.restore_run', 'POST', '/mlflow/runs/restore', { run_id: s.run3Id }), 'restore_run');
    assert.equal((await getRun('MlflowClient.get_run', s.run3Id)).info.lifecycle_stage, 'active');
  });

  const FILES: Record<string, string> = {
    'notes.txt': 'trained on iris\n',
    'metrics.json': '{"acc": 0.9}',
    'model/MLmodel': 'artifact_path: model\nflavors:\n  python_function: {}\n',
    'model/conda.yaml': 'name: env\n',
    'model/model.pkl': '\u0000\u0001binary\u00ff',
    'plots/loss curve (v1).txt': 'a space and parentheses in the name',
    'empty.txt': '',
  };
  /** `requests.utils.requote_uri`: the client's URL path with spaces as %20, `()` left as they are. */
  const urlPath = (p: string) => p.split('/').map((seg) => seg.replace(/ /g, '%20')).join('/');

  it('artifacts: log_artifact (PUT), log_model record, list_artifacts, download_artifacts (GET)', async () => {
    // MlflowClient.log_artifact resolves the run's artifact repository with a GetRun first.
    assert.equal((await getRun('MlflowClient.log_artifact', s.runId)).info.artifact_uri, s.artifactUri);
    for (const [path, content] of Object.entries(FILES)) {
      const headers: Record<string, string> = { 'Content-Type': guessMimeType(path) };
      if (content === '') headers['Transfer-Encoding'] = 'chunked';
      const res = await c.raw('MlflowClient.log_artifact', 'PUT', `/api/2.0/mlflow-artifacts/artifacts/${artifactRoot()}/${urlPath(path)}`,
        Buffer.from(content, 'latin1'), headers);
      assert.equal(res.status, 200, `PUT ${path}: ${res.status} ${res.text}`);
    }
    // mlflow.<flavor>.log_model records the model on the run once its files are up.
    const modelJson = JSON.stringify({
      artifact_path: 'model', flavors: { python_function: { loader_module: 'mlflow.sklearn' } }, run_id: s.runId,
      utc_time_created: '2024-04-20 10:00:00.000000', model_uuid: '0123456789abcdef0123456789abcdef', mlflow_version: CLIENT_VERSION,
    });
    expectOk(await c.endpoint('mlflow.log_model', 'POST', '/mlflow/runs/log-model', { run_id: s.runId, model_json: modelJson }), 'log_model');
    const withModel = await getRun('MlflowClient.get_run', s.runId);
    const history = withModel.data.tags.find((t: { key: string }) => t.key === 'mlflow.log-model.history');
    assert.ok(history && JSON.parse(history.value)[0].artifact_path === 'model', 'the model is recorded in mlflow.log-model.history');

    // HttpArtifactRepository.list_artifacts: GET …/mlflow-artifacts/artifacts?path=<root>[/<dir>].
    const list = async (sub?: string) => {
      const q = pyUrlencode({ path: sub ? `${artifactRoot()}/${sub}` : artifactRoot() });
      const res = await c.raw('MlflowClient.list_artifacts', 'GET', `/api/2.0/mlflow-artifacts/artifacts?${q}`);
      const body = parsed(res, Responses.ListArtifacts, `list_artifacts ${sub ?? '/'}`);
      // The client reads f["path"] and f["is_dir"] unconditionally, and f.get("file_size").
      for (const f of body.files ?? []) {
        assert.equal(typeof f.path, 'string');
        assert.equal(typeof f.is_dir, 'boolean', `is_dir is read with f["is_dir"]: ${JSON.stringify(f)}`);
        assert.ok(!f.path.includes('/'), `entries are relative to the listed directory: ${f.path}`);
      }
      return (body.files ?? []) as { path: string; is_dir: boolean; file_size?: number }[];
    };
    const root = await list();
    assert.deepEqual(root.map((f) => [f.path, f.is_dir]).sort(), [['empty.txt', false], ['metrics.json', false], ['model', true], ['notes.txt', false], ['plots', true]]);
    assert.equal(Number(root.find((f) => f.path === 'empty.txt')!.file_size ?? 0), 0);
    assert.deepEqual((await list('plots')).map((f) => f.path), ['loss curve (v1).txt']);
    assert.equal(Number(root.find((f) => f.path === 'notes.txt')!.file_size), FILES['notes.txt']!.length);
    const model = await list('model');
    assert.deepEqual(model.map((f) => f.path).sort(), ['MLmodel', 'conda.yaml', 'model.pkl']);

    // download_artifacts(run_id, "model"): GetRun, list the directory, then GET each file.
    await getRun('MlflowClient.download_artifacts', s.runId);
    for (const f of await list('model')) {
      const res = await c.raw('MlflowClient.download_artifacts', 'GET', `/api/2.0/mlflow-artifacts/artifacts/${artifactRoot()}/model/${f.path}`);
      assert.equal(res.status, 200, `GET model/${f.path}`);
      assert.deepEqual(res.body, Buffer.from(FILES[`model/${f.path}`]!, 'latin1'), `model/${f.path} comes back byte for byte`);
    }
    // download_artifacts(run_id, "notes.txt"): `_is_directory` lists the path first; a file lists
    // as nothing (anything else would send the client into it as a directory), then the GET.
    assert.deepEqual(await list('notes.txt'), [], 'listing a file path lists nothing');
    assert.deepEqual(await list('no-such-dir'), [], 'listing a missing path lists nothing');
    const notes = await c.raw('MlflowClient.download_artifacts', 'GET', `/api/2.0/mlflow-artifacts/artifacts/${artifactRoot()}/notes.txt`);
    assert.equal(notes.status, 200);
    assert.equal(notes.text, FILES['notes.txt']);
    const json = await c.raw('MlflowClient.download_artifacts', 'GET', `/api/2.0/mlflow-artifacts/artifacts/${artifactRoot()}/metrics.json`);
    assert.equal(json.text, FILES['metrics.json'], 'a .json artifact is stored as sent, not re-parsed');
    const spaced = await c.raw('MlflowClient.download_artifacts', 'GET', `/api/2.0/mlflow-artifacts/artifacts/${artifactRoot()}/${urlPath('plots/loss curve (v1).txt')}`);
    assert.equal(spaced.status, 200);
    assert.equal(spaced.text, FILES['plots/loss curve (v1).txt']);
    const empty = await c.raw('MlflowClient.download_artifacts', 'GET', `/api/2.0/mlflow-artifacts/artifacts/${artifactRoot()}/empty.txt`);
    assert.equal(empty.status, 200);
    assert.equal(empty.body.length, 0);
    const gone = await c.raw('MlflowClient.download_artifacts', 'GET', `/api/2.0/mlflow-artifacts/artifacts/${artifactRoot()}/nope.txt`);
    assert.equal(gone.status, 404, '`augmented_raise_for_status` turns this into an error naming the file');
  });

  const M = 'replay-model';
  const mv = (api: string, method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, body: Record<string, unknown>) =>
    c.endpoint(api, method, `/mlflow${path}`, body as never);

  it('registry: registered models — create, get, search with paging, update, tags', async () => {
    const created = parsed(await mv('MlflowClient.create_registered_model', 'POST', '/registered-models/create', {
      name: M, tags: [{ key: 'task', value: 'classification' }], description: 'iris classifier',
    }), Responses.RegisteredModel, 'create_registered_model').registered_model;
    assert.equal(created.name, M);
    assert.equal(created.description, 'iris classifier');
    assert.deepEqual(created.tags, [{ key: 'task', value: 'classification' }]);
    expectRestError(await mv('MlflowClient.create_registered_model', 'POST', '/registered-models/create', { name: M }),
      'RESOURCE_ALREADY_EXISTS', 'create_registered_model (duplicate)');

    const got = parsed(await mv('MlflowClient.get_registered_model', 'GET', '/registered-models/get', { name: M }), Responses.RegisteredModel, 'get_registered_model');
    assert.equal(got.registered_model.name, M);
    expectRestError(await mv('MlflowClient.get_registered_model', 'GET', '/registered-models/get', { name: 'no-such-model' }),
      'RESOURCE_DOES_NOT_EXIST', 'get_registered_model (missing)');

    parsed(await mv('MlflowClient.create_registered_model', 'POST', '/registered-models/create', { name: `${M}-other` }), Responses.RegisteredModel, 'create other');
    // MlflowClient.search_registered_models(filter_string, max_results=1, order_by=[...]): a GET.
    const q = { filter: "name LIKE 'replay-%'", max_results: 1, order_by: ['name ASC'] };
    const p1 = parsed(await mv('MlflowClient.search_registered_models', 'GET', '/registered-models/search', q), Responses.SearchRegisteredModels, 'search_registered_models page 1');
    assert.deepEqual(p1.registered_models.map((m: { name: string }) => m.name), [M]);
    assert.ok(p1.next_page_token, 'a further page is announced');
    const p2 = parsed(await mv('MlflowClient.search_registered_models', 'GET', '/registered-models/search', { ...q, page_token: p1.next_page_token }),
      Responses.SearchRegisteredModels, 'search_registered_models page 2');
    assert.deepEqual(p2.registered_models.map((m: { name: string }) => m.name), [`${M}-other`]);
    // With the client's defaults: max_results=100 and nothing else.
    const defaults = parsed(await mv('MlflowClient.search_registered_models', 'GET', '/registered-models/search', { max_results: 100 }),
      Responses.SearchRegisteredModels, 'search_registered_models defaults');
    assert.equal(defaults.registered_models.length, 2);

    const updated = parsed(await mv('MlflowClient.update_registered_model', 'PATCH', '/registered-models/update', { name: M, description: 'iris, v2' }),
      Responses.RegisteredModel, 'update_registered_model');
    assert.equal(updated.registered_model.description, 'iris, v2');
    expectOk(await mv('MlflowClient.set_registered_model_tag', 'POST', '/registered-models/set-tag', { name: M, key: 'owner', value: USER }), 'set_registered_model_tag');
    expectOk(await mv('MlflowClient.delete_registered_model_tag', 'DELETE', '/registered-models/delete-tag', { name: M, key: 'task' }), 'delete_registered_model_tag');
    const tagged = parsed(await mv('MlflowClient.get_registered_model', 'GET', '/registered-models/get', { name: M }), Responses.RegisteredModel, 'get after tags');
    assert.deepEqual(tagged.registered_model.tags, [{ key: 'owner', value: USER }]);
  });

  it('registry: model versions — register_model, create_model_version, get, latest, search, update, stages, tags', async () => {
    // mlflow.register_model("runs:/<run>/model", M): CreateRegisteredModel (exists: carries on),
    // GetRun to resolve the runs: URI, then CreateModelVersion with the run's artifact location.
    expectRestError(await mv('mlflow.register_model', 'POST', '/registered-models/create', { name: M }), 'RESOURCE_ALREADY_EXISTS', 'register_model: model exists');
    const run = await getRun('mlflow.register_model', s.runId);
    const v1 = parsed(await mv('mlflow.register_model', 'POST', '/model-versions/create', {
      name: M, source: `${run.info.artifact_uri}/model`, run_id: s.runId,
    }), Responses.ModelVersion, 'register_model').model_version;
    assert.equal(v1.version, '1');
    assert.equal(v1.status, 'READY', 'READY at once, so the client does not poll');
    assert.equal(v1.run_id, s.runId);
    assert.equal(v1.current_stage, 'None');

    // MlflowClient.create_model_version(name, source="runs:/<run>/model", run_id, tags, description).
    const v2 = parsed(await mv('MlflowClient.create_model_version', 'POST', '/model-versions/create', {
      name: M, source: `runs:/${s.runId}/model`, run_id: s.runId, tags: [{ key: 'quality', value: 'good' }], description: 'second',
    }), Responses.ModelVersion, 'create_model_version (runs:/ source)').model_version;
    assert.equal(v2.version, '2');
    assert.equal(v2.status, 'READY');
    assert.deepEqual(v2.tags, [{ key: 'quality', value: 'good' }]);

    const got = parsed(await mv('MlflowClient.get_model_version', 'GET', '/model-versions/get', { name: M, version: '1' }), Responses.ModelVersion, 'get_model_version');
    assert.equal(got.model_version.version, '1');
    assert.equal(got.model_version.name, M);
    expectRestError(await mv('MlflowClient.get_model_version', 'GET', '/model-versions/get', { name: M, version: '99' }),
      'RESOURCE_DOES_NOT_EXIST', 'get_model_version (missing)');

    // get_latest_versions: POST first (the proto's first endpoint), stages omitted when None.
    const latest = parsed(await mv('MlflowClient.get_latest_versions', 'POST', '/registered-models/get-latest-versions', { name: M }),
      Responses.ModelVersions, 'get_latest_versions');
    assert.deepEqual(latest.model_versions.map((v: { version: string }) => v.version), ['2']);

    const search = parsed(await mv('MlflowClient.search_model_versions', 'GET', '/model-versions/search', { filter: `name='${M}'`, max_results: 10000 }),
      Responses.SearchModelVersions, 'search_model_versions');
    assert.deepEqual(search.model_versions.map((v: { version: string }) => v.version).sort(), ['1', '2']);
    const byRun = parsed(await mv('MlflowClient.search_model_versions', 'GET', '/model-versions/search', {
      filter: `run_id = '${s.runId}'`, max_results: 1, order_by: ['version_number DESC'],
    }), Responses.SearchModelVersions, 'search_model_versions by run, paged');
    assert.deepEqual(byRun.model_versions.map((v: { version: string }) => v.version), ['2']);
    assert.ok(byRun.next_page_token, 'a further page is announced');

    const upd = parsed(await mv('MlflowClient.update_model_version', 'PATCH', '/model-versions/update', { name: M, version: '1', description: 'first, reviewed' }),
      Responses.ModelVersion, 'update_model_version');
    assert.equal(upd.model_version.description, 'first, reviewed');

    const staged = parsed(await mv('MlflowClient.transition_model_version_stage', 'POST', '/model-versions/transition-stage', {
      name: M, version: '1', stage: 'Staging', archive_existing_versions: false,
    }), Responses.ModelVersion, 'transition_model_version_stage').model_version;
    assert.equal(staged.current_stage, 'Staging');
    parsed(await mv('MlflowClient.transition_model_version_stage', 'POST', '/model-versions/transition-stage', {
      name: M, version: '2', stage: 'production', archive_existing_versions: true,
    }), Responses.ModelVersion, 'transition to production');
    const inProd = parsed(await mv('MlflowClient.get_latest_versions', 'POST', '/registered-models/get-latest-versions', { name: M, stages: ['Production'] }),
      Responses.ModelVersions, 'get_latest_versions Production');
    assert.deepEqual(inProd.model_versions.map((v: { version: string; current_stage: string }) => [v.version, v.current_stage]), [['2', 'Production']]);
    // Without stages: the newest version of every stage that has one (models:/M/latest picks the highest).
    const perStage = parsed(await mv('MlflowClient.get_latest_versions', 'POST', '/registered-models/get-latest-versions', { name: M }),
      Responses.ModelVersions, 'get_latest_versions, every stage');
    assert.deepEqual(perStage.model_versions.map((v: { version: string; current_stage: string }) => `${v.version}:${v.current_stage}`).sort(), ['1:Staging', '2:Production']);

    expectOk(await mv('MlflowClient.set_model_version_tag', 'POST', '/model-versions/set-tag', { name: M, version: '1', key: 'validated', value: 'true' }), 'set_model_version_tag');
    expectOk(await mv('MlflowClient.delete_model_version_tag', 'DELETE', '/model-versions/delete-tag', { name: M, version: '2', key: 'quality' }), 'delete_model_version_tag');
    const v1Tags = parsed(await mv('MlflowClient.get_model_version', 'GET', '/model-versions/get', { name: M, version: '1' }), Responses.ModelVersion, 'tags v1');
    assert.deepEqual(v1Tags.model_version.tags, [{ key: 'validated', value: 'true' }]);
    const v2Tags = parsed(await mv('MlflowClient.get_model_version', 'GET', '/model-versions/get', { name: M, version: '2' }), Responses.ModelVersion, 'tags v2');
    assert.equal(v2Tags.model_version.tags, undefined);
  });

  /** ModelsArtifactRepository: resolve the version, ask for its download URI, fetch MLmodel and the rest. */
  async function loadModel(api: string, resolveVersion: (api: string) => Promise<string>): Promise<void> {
    const version = await resolveVersion(api);
    const uri = parsed(await mv(api, 'GET', '/model-versions/get-download-uri', { name: M, version }), Responses.GetModelVersionDownloadUri, `${api}: download uri`).artifact_uri as string;
    assert.match(uri, /^mlflow-artifacts:\//, `${api}: a URI the client can open: ${uri}`);
    const root = uri.replace(/^mlflow-artifacts:\/*/, '');
    const listed = parsed(await c.raw(api, 'GET', `/api/2.0/mlflow-artifacts/artifacts?${pyUrlencode({ path: root })}`), Responses.ListArtifacts, `${api}: list`);
    const names = (listed.files as { path: string }[]).map((f) => f.path).sort();
    assert.deepEqual(names, ['MLmodel', 'conda.yaml', 'model.pkl']);
    for (const name of names) {
      const res = await c.raw(api, 'GET', `/api/2.0/mlflow-artifacts/artifacts/${root}/${name}`);
      assert.equal(res.status, 200, `${api}: GET ${name}`);
      assert.deepEqual(res.body, Buffer.from(FILES[`model/${name}`]!, 'latin1'));
    }
  }

  it('registry: aliases — set, get by alias, load_model by alias and by stage, the missing-alias error, delete', async () => {
    expectOk(await mv('MlflowClient.set_registered_model_alias', 'POST', '/registered-models/alias', { name: M, alias: 'champion', version: '1' }), 'set_registered_model_alias');
    const byAlias = parsed(await mv('MlflowClient.get_model_version_by_alias', 'GET', '/registered-models/alias', { name: M, alias: 'champion' }),
      Responses.ModelVersion, 'get_model_version_by_alias').model_version;
    assert.equal(byAlias.version, '1');
    assert.deepEqual(byAlias.aliases, ['champion']);
    const model = parsed(await mv('MlflowClient.get_registered_model', 'GET', '/registered-models/get', { name: M }), Responses.RegisteredModel, 'aliases on the model');
    assert.deepEqual(model.registered_model.aliases, [{ alias: 'champion', version: '1' }]);

    // mlflow.pyfunc.load_model("models:/M@champion"): the alias, the version's download URI, then
    // the files through the artifact proxy (list the directory, GET each file).
    await loadModel('mlflow.pyfunc.load_model (models:/M@alias)', async (api) =>
      parsed(await mv(api, 'GET', '/registered-models/alias', { name: M, alias: 'champion' }), Responses.ModelVersion, `${api}: alias`).model_version.version);
    // mlflow.pyfunc.load_model("models:/M/Production"): the newest version in that stage.
    await loadModel('mlflow.pyfunc.load_model (models:/M/Production)', async (api) => {
      const latest = parsed(await mv(api, 'POST', '/registered-models/get-latest-versions', { name: M, stages: ['Production'] }), Responses.ModelVersions, `${api}: latest`);
      return latest.model_versions[0].version;
    });

    // MLflow's server answers an unknown alias with 400 INVALID_PARAMETER_VALUE
    // ("Registered model alias … not found."); the client raises it as a RestException.
    const none = await mv('MlflowClient.get_model_version_by_alias', 'GET', '/registered-models/alias', { name: M, alias: 'nobody' });
    expectRestError(none, 'INVALID_PARAMETER_VALUE', 'get_model_version_by_alias (missing)', 400);
    assert.match(none.json.message, /nobody/, 'the message names the alias');

    expectOk(await mv('MlflowClient.delete_registered_model_alias', 'DELETE', '/registered-models/alias', { name: M, alias: 'champion' }), 'delete_registered_model_alias');
    const after = parsed(await mv('MlflowClient.get_registered_model', 'GET', '/registered-models/get', { name: M }), Responses.RegisteredModel, 'alias gone');
    assert.equal(after.registered_model.aliases, undefined);
  });

  it('registry: download URI, copy_model_version and register_model from a models:/ URI, rename, delete', async () => {
    const uri = parsed(await mv('MlflowClient.get_model_version_download_uri', 'GET', '/model-versions/get-download-uri', { name: M, version: '1' }),
      Responses.GetModelVersionDownloadUri, 'get_model_version_download_uri').artifact_uri;
    assert.equal(uri, `${s.artifactUri}/model`);

    // MlflowClient.copy_model_version("models:/M/1", "M-copy"): GetModelVersion of the source,
    // CreateRegisteredModel (an existing one is fine), then CreateModelVersion with source
    // "models:/M/1" and the source version's run, tags and description.
    const src = parsed(await mv('MlflowClient.copy_model_version', 'GET', '/model-versions/get', { name: M, version: '1' }), Responses.ModelVersion, 'copy: get source').model_version;
    parsed(await mv('MlflowClient.copy_model_version', 'POST', '/registered-models/create', { name: `${M}-copy` }), Responses.RegisteredModel, 'copy: create model');
    const copy = parsed(await mv('MlflowClient.copy_model_version', 'POST', '/model-versions/create', {
      name: `${M}-copy`, source: `models:/${M}/1`, run_id: src.run_id, tags: src.tags, run_link: src.run_link ?? '', description: src.description,
    }), Responses.ModelVersion, 'copy_model_version').model_version;
    assert.equal(copy.version, '1');
    // MLflow keeps the source as sent and resolves it into a separate storage location; Trellis
    // keeps the resolved location as the source. The client reads neither back (it asks for the
    // download URI, checked below), so either is accepted.
    assert.ok([`models:/${M}/1`, uri].includes(copy.source), `copy source: ${copy.source}`);
    assert.equal(copy.status, 'READY');
    // The copy must resolve to the files of the version it was copied from, not to itself.
    const copyUri = parsed(await mv('MlflowClient.get_model_version_download_uri', 'GET', '/model-versions/get-download-uri', { name: `${M}-copy`, version: '1' }),
      Responses.GetModelVersionDownloadUri, 'download uri of the copy').artifact_uri;
    assert.equal(copyUri, uri);

    // mlflow.register_model("models:/M/2", "M-reg"): the models: URI is sent as the source, no run.
    parsed(await mv('mlflow.register_model', 'POST', '/registered-models/create', { name: `${M}-reg` }), Responses.RegisteredModel, 'register from models: create');
    const reg = parsed(await mv('mlflow.register_model', 'POST', '/model-versions/create', { name: `${M}-reg`, source: `models:/${M}/2` }),
      Responses.ModelVersion, 'register_model (models:/ source)').model_version;
    assert.equal(reg.version, '1');
    assert.ok([`models:/${M}/2`, `runs:/${s.runId}/model`, `${s.artifactUri}/model`].includes(reg.source), `registered source: ${reg.source}`);

    const renamed = parsed(await mv('MlflowClient.rename_registered_model', 'POST', '/registered-models/rename', { name: `${M}-copy`, new_name: `${M}-renamed` }),
      Responses.RegisteredModel, 'rename_registered_model').registered_model;
    assert.equal(renamed.name, `${M}-renamed`);
    expectRestError(await mv('MlflowClient.get_registered_model', 'GET', '/registered-models/get', { name: `${M}-copy` }), 'RESOURCE_DOES_NOT_EXIST', 'old name gone');

    expectOk(await mv('MlflowClient.delete_model_version', 'DELETE', '/model-versions/delete', { name: M, version: '2' }), 'delete_model_version');
    expectRestError(await mv('MlflowClient.get_model_version', 'GET', '/model-versions/get', { name: M, version: '2' }), 'RESOURCE_DOES_NOT_EXIST', 'deleted version');
    expectOk(await mv('MlflowClient.delete_registered_model', 'DELETE', '/registered-models/delete', { name: `${M}-renamed` }), 'delete_registered_model');
    expectRestError(await mv('MlflowClient.get_registered_model', 'GET', '/registered-models/get', { name: `${M}-renamed` }), 'RESOURCE_DOES_NOT_EXIST', 'deleted model');
  });

  it(`covers ${EXPECTED_CALLS} distinct client calls, every request answered as the client needs`, () => {
    const apis = c.apis();
    const seen = c.calls.length;
    console.log(`MLflow ${CLIENT_VERSION} client replay: ${apis.length} distinct client calls, ${seen} requests\n  ${apis.join('\n  ')}`);
    assert.equal(apis.length, EXPECTED_CALLS, `the replay covers ${apis.length} calls: ${apis.join(', ')}`);
    // The client retries these statuses with backoff for minutes before giving up: an answer the
    // client should see at once must never be one of them.
    const retried = c.calls.filter((x) => [408, 429, 500, 502, 503, 504].includes(x.status));
    assert.deepEqual(retried, [], 'no request is answered with a status the client retries');
  });
});
