import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assertError, assertOk, call, mlflow, openTestServer, type TestServer } from './test-helpers/server.js';

const ADULT = fileURLToPath(new URL('../data/readers/fixtures/adult_train_head200.csv', import.meta.url));
const api = (path: string) => `/api/2.0/trellis${path}`;

describe('POST /api/2.0/trellis/train', () => {
  let t: TestServer;
  before(async () => {
    t = await openTestServer();
    await t.ws.data.add('adult', ADULT, {}, { actor: 'tester' });
  });
  after(async () => t.close());

  it('trains on a dataset version, records the run, registers the model, and answers as trellis train --json', async () => {
    const res = await call(t.app, 'POST', api('/train'), {
      data: 'adult@1', target: 'income', params: [{ key: 'l2', value: '2' }], experiment: 'census', register: 'income',
    });
    assertOk(res);
    const out = res.json;
    assert.match(out.run_id, /^[0-9a-f]{32}$/);
    assert.deepEqual([out.model, out.version], ['income', '1']);
    assert.equal(out.warnings, undefined, 'clean data, no warnings');
    assert.deepEqual(Object.keys(out.metrics).sort(), ['accuracy', 'f1', 'log_loss', 'roc_auc']);
    const run = (await call(t.app, 'GET', mlflow(`/runs/get?run_id=${out.run_id}`))).json.run;
    assert.equal(run.info.status, 'FINISHED');
    assert.equal(run.info.user_id, 'anonymous');
    const params = Object.fromEntries(run.data.params.map((p: { key: string; value: string }) => [p.key, p.value]));
    assert.deepEqual([params.l2, params.data, params.task], ['2', 'adult@1', 'binary']);
    assert.equal(run.inputs.dataset_inputs[0].dataset.name, 'adult');
    const tags = Object.fromEntries(run.data.tags.map((p: { key: string; value: string }) => [p.key, p.value]));
    assert.equal(JSON.parse(tags['mlflow.log-model.history'])[0].artifact_path, 'model');
    const version = (await call(t.app, 'GET', mlflow('/model-versions/get?name=income&version=1'))).json.model_version;
    assert.equal(version.run_id, out.run_id);
  });

  it('cross-validates and searches as the CLI does', async () => {
    const res = await call(t.app, 'POST', api('/train'), {
      data: 'adult', target: 'income', cv: '3', search: { strategy: 'grid', space: ['l2=0.1,10'] }, experiment: 'census',
    });
    assertOk(res);
    assert.deepEqual([res.json.trials, res.json.cv.folds, res.json.objective.metric], [2, 3, 'roc_auc']);
    assert.deepEqual(res.json.metrics, {}, 'the final model used every row');
  });

  it('answers with the warnings the CLI prints: a numeric column a typo made categorical', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'trellis-train-warn-'));
    try {
      const rows = Array.from({ length: 100 }, (_, i) => `${i % 24},${(i % 24) * 3 + (i % 7)}`);
      rows[69] = '2O,12';
      writeFileSync(join(dir, 'hours.csv'), `hr,count\n${rows.join('\n')}\n`);
      await t.ws.data.add('hours', join(dir, 'hours.csv'), {}, { actor: 'tester' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const res = await call(t.app, 'POST', api('/train'), { data: 'hours@1', target: 'count' });
    assertOk(res);
    assert.equal(res.json.warnings.length, 1);
    assert.match(res.json.warnings[0], /^column 'hr' looks numeric but was read as text, so it is treated as categorical: 1 of 100 values is not a number, the first at line 71: "2O"/);
  });

  it('exclude leaves columns out of the model, recorded as a param; an unknown column is a 400 naming it', async () => {
    const res = await call(t.app, 'POST', api('/train'), { data: 'adult@1', target: 'income', exclude: ['fnlwgt', 'education-num'], experiment: 'census' });
    assertOk(res);
    const run = (await call(t.app, 'GET', mlflow(`/runs/get?run_id=${res.json.run_id}`))).json.run;
    const params = Object.fromEntries(run.data.params.map((p: { key: string; value: string }) => [p.key, p.value]));
    assert.equal(params.exclude, 'fnlwgt,education-num');
    const bad = await call(t.app, 'POST', api('/train'), { data: 'adult@1', target: 'income', exclude: ['fnlwgtt'] });
    assertError(bad, 400, 'INVALID_PARAMETER_VALUE', "'exclude' names 'fnlwgtt', not a column of the data");
    assertError(await call(t.app, 'POST', api('/train'), { data: 'adult@1', target: 'income', exclude: [3] }), 400, 'INVALID_PARAMETER_VALUE', 'exclude');
  });

  it('never reads a file of the server: data names a dataset version', async () => {
    assertError(await call(t.app, 'POST', api('/train'), { data: ADULT, target: 'income' }), 404, 'RESOURCE_DOES_NOT_EXIST');
    assertError(await call(t.app, 'POST', api('/train'), { data: '../../etc/passwd', target: 'income' }), 404, 'RESOURCE_DOES_NOT_EXIST');
  });

  it('refuses bad input with a 400 naming the field, and records nothing', async () => {
    const runs = async () => (await call(t.app, 'POST', mlflow('/runs/search'), { experiment_ids: ['0'] })).json.runs?.length ?? 0;
    const before = await runs();
    assertError(await call(t.app, 'POST', api('/train'), { target: 'income' }), 400, 'INVALID_PARAMETER_VALUE', "'data'");
    assertError(await call(t.app, 'POST', api('/train'), { data: 'adult' }), 400, 'INVALID_PARAMETER_VALUE', "'target'");
    assertError(await call(t.app, 'POST', api('/train'), { data: 'adult', target: 'income', algo: 'svm' }), 400, 'INVALID_PARAMETER_VALUE', "'algo'");
    assertError(await call(t.app, 'POST', api('/train'), { data: 'adult', target: 'income', cv: '1' }), 400, 'INVALID_PARAMETER_VALUE', 'at least 2 folds');
    assertError(await call(t.app, 'POST', api('/train'), { data: 'adult', target: 'income', search: { strategy: 'annealing', space: ['l2=1'] } }), 400, 'INVALID_PARAMETER_VALUE', "'search.strategy'");
    assertError(await call(t.app, 'POST', api('/train'), { data: 'adult', target: 'income', search: { strategy: 'grid' } }), 400, 'INVALID_PARAMETER_VALUE', "'search.space'");
    assertError(await call(t.app, 'POST', api('/train'), { data: 'adult', target: 'income', params: [{ key: 'depth', value: '3' }] }), 400, 'INVALID_PARAMETER_VALUE', "Unknown parameter 'depth'");
    assertError(await call(t.app, 'POST', api('/train'), { data: 'adult', target: 'nothing' }), 400, 'INVALID_PARAMETER_VALUE', "'nothing'");
    assertError(await call(t.app, 'POST', api('/train'), { data: 'adult', target: 'income', params: 'l2=1' }), 400, 'INVALID_PARAMETER_VALUE', "'params'");
    assert.equal(await runs(), before);
  });
});
