/**
 * Bounded input at the HTTP edge: long strings, long lists, complex searches, deep JSON and forged
 * page tokens are 400s that name the parameter, never 500s; errors quote a short prefix of what was
 * sent, never all of it; names of experiments, models and datasets follow one set of rules.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LIMITS } from '../store/limits.js';
import { assertError, assertOk, call, createExperiment, createRun, mlflow, openTestServer, type TestServer } from './test-helpers/server.js';

const trellis = (path: string): string => `/api/2.0/trellis${path}`;
const token = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64');
const huge = 'x'.repeat(10 * 1024 * 1024);

describe('bounded input', () => {
  let s: TestServer;
  let expId: string;
  let runId: string;
  before(async () => {
    s = await openTestServer();
    expId = await createExperiment(s.app, 'bounds');
    ({ runId } = await createRun(s.app, expId));
    // Runs with metrics, so that searches touch real rows.
    for (let i = 0; i < 3; i++) {
      const r = await createRun(s.app, expId);
      assertOk(await call(s.app, 'POST', mlflow('/runs/log-batch'), {
        run_id: r.runId, metrics: Array.from({ length: 70 }, (_, k) => ({ key: `m${k}`, value: k, timestamp: 1 })),
      }));
    }
    assertOk(await call(s.app, 'POST', mlflow('/registered-models/create'), { name: 'bounded-model' }));
  });
  after(() => s.close());

  describe('searches', () => {
    it('refuses a filter of more than the clause limit, naming filter', async () => {
      const filter = Array.from({ length: 70 }, (_, i) => `metrics.m${i} > -1`).join(' AND ');
      const res = await call(s.app, 'POST', mlflow('/runs/search'), { experiment_ids: [expId], filter });
      assertError(res, 400, 'INVALID_PARAMETER_VALUE', `more than ${LIMITS.filterClauses} clauses`);
      assert.ok(res.json.message.includes("'filter'"), res.body);
      assert.ok(res.body.length < 2000, 'the filter is quoted, not echoed');
      // At the limit it runs.
      const ok = Array.from({ length: LIMITS.filterClauses }, (_, i) => `metrics.m${i} > -1`).join(' AND ');
      const got = await call(s.app, 'POST', mlflow('/runs/search'), { experiment_ids: [expId], filter: ok });
      assertOk(got);
      assert.equal(got.json.runs.length, 3);
    });

    it('refuses more order_by keys than the limit on every search', async () => {
      const orderBy = Array.from({ length: 64 }, (_, i) => `metrics.m${i}`);
      assertError(await call(s.app, 'POST', mlflow('/runs/search'), { experiment_ids: [expId], order_by: orderBy }), 400, 'INVALID_PARAMETER_VALUE', "'order_by'");
      assertError(await call(s.app, 'POST', mlflow('/experiments/search'), { order_by: orderBy.map(() => 'name') }), 400, 'INVALID_PARAMETER_VALUE', "'order_by'");
      const q = orderBy.map(() => 'order_by=name').join('&');
      assertError(await call(s.app, 'GET', mlflow(`/registered-models/search?${q}`)), 400, 'INVALID_PARAMETER_VALUE', "'order_by'");
      assertError(await call(s.app, 'GET', mlflow(`/model-versions/search?${q}`)), 400, 'INVALID_PARAMETER_VALUE', "'order_by'");
      const ok = Array.from({ length: LIMITS.orderByKeys }, (_, i) => `metrics.m${i} DESC`);
      assertOk(await call(s.app, 'POST', mlflow('/runs/search'), { experiment_ids: [expId], order_by: ok }));
    });

    it('refuses 50,000 experiment_ids, naming the parameter', async () => {
      const ids = Array.from({ length: 50_000 }, (_, i) => String(i));
      assertError(await call(s.app, 'POST', mlflow('/runs/search'), { experiment_ids: ids }), 400, 'INVALID_PARAMETER_VALUE', "'experiment_ids'");
      assertOk(await call(s.app, 'POST', mlflow('/runs/search'), { experiment_ids: ids.slice(0, LIMITS.experimentIds) }));
    });

    it('refuses an IN list of more values than the limit', async () => {
      const list = Array.from({ length: LIMITS.filterInValues + 1 }, (_, i) => `'r${i}'`).join(',');
      assertError(await call(s.app, 'POST', mlflow('/runs/search'), { experiment_ids: [expId], filter: `attributes.run_id IN (${list})` }), 400, 'INVALID_PARAMETER_VALUE', 'IN lists');
    });

    for (const [label, tok] of [
      ['offset 1e308', token({ offset: 1e308 })],
      ['a negative offset', token({ offset: -1 })],
      ['a fractional offset', token({ offset: 1.5 })],
      ['an offset beyond the limit', token({ offset: LIMITS.pageOffset + 1 })],
      ['an offset that is a string', token({ offset: '5' })],
      ['no offset', token({})],
      ['JSON null', token(null)],
      ['not base64', '!!!not base64!!!'],
      ['not JSON', Buffer.from('not json').toString('base64')],
      ['a megabyte', 'A'.repeat(1024 * 1024)],
    ] as const) {
      it(`refuses a page token with ${label} on every search, naming page_token`, async () => {
        const searches = [
          call(s.app, 'POST', mlflow('/runs/search'), { experiment_ids: [expId], page_token: tok }),
          call(s.app, 'POST', mlflow('/experiments/search'), { page_token: tok }),
          call(s.app, 'GET', mlflow(`/registered-models/search?page_token=${encodeURIComponent(tok)}`)),
          call(s.app, 'GET', mlflow(`/model-versions/search?page_token=${encodeURIComponent(tok)}`)),
          call(s.app, 'GET', mlflow(`/metrics/get-history?run_id=${runId}&metric_key=m1&max_results=5&page_token=${encodeURIComponent(tok)}`)),
        ];
        for (const res of await Promise.all(searches)) {
          assertError(res, 400, 'INVALID_PARAMETER_VALUE', 'page_token');
          assert.ok(res.body.length < 1000, res.body.slice(0, 300));
        }
      });
    }

    it('still pages with the tokens it issues', async () => {
      const p1 = await call(s.app, 'POST', mlflow('/runs/search'), { experiment_ids: [expId], max_results: 2 });
      assertOk(p1);
      const p2 = await call(s.app, 'POST', mlflow('/runs/search'), { experiment_ids: [expId], max_results: 2, page_token: p1.json.next_page_token });
      assertOk(p2);
      assert.equal(p1.json.runs.length + p2.json.runs.length, 4);
    });
  });

  describe('string fields', () => {
    const cases: [string, string, string, Record<string, unknown>, string][] = [
      ['registered model description', 'POST', '/registered-models/create', { name: 'long-desc', description: huge }, 'description'],
      ['model update description', 'PATCH', '/registered-models/update', { name: 'bounded-model', description: huge }, 'description'],
      ['run name on create', 'POST', '/runs/create', { experiment_id: '0', run_name: huge }, 'run_name'],
      ['a 251-character run name', 'POST', '/runs/create', { experiment_id: '0', run_name: 'r'.repeat(251) }, 'run_name'],
      ['run name on update', 'POST', '/runs/update', { run_id: '', run_name: huge }, 'run_name'],
      ['run_link', 'POST', '/model-versions/create', { name: 'bounded-model', source: 'runs:/x/model', run_link: huge }, 'run_link'],
      ['model version source', 'POST', '/model-versions/create', { name: 'bounded-model', source: huge }, 'source'],
      ['experiment name', 'POST', '/experiments/create', { name: huge }, 'name'],
      ['experiment tag value', 'POST', '/experiments/set-experiment-tag', { experiment_id: '0', key: 'k', value: huge }, 'value'],
      ['param value', 'POST', '/runs/log-parameter', { run_id: '', key: 'k', value: huge }, 'value'],
      ['tag key', 'POST', '/runs/set-tag', { run_id: '', key: huge, value: 'v' }, 'key'],
      ['model_json', 'POST', '/runs/log-model', { run_id: '', model_json: huge }, 'model_json'],
    ];
    for (const [label, method, path, body, param] of cases) {
      it(`refuses a 10 MB ${label} with a 400 naming '${param}'`, async () => {
        const b = { ...body };
        if (b.run_id === '') b.run_id = runId;
        const res = await call(s.app, method as 'POST', mlflow(path), b);
        assertError(res, 400, 'INVALID_PARAMETER_VALUE', param);
        assert.ok(res.body.length < 1000, `the value is not echoed: ${res.body.length} bytes`);
      });
    }

    it('refuses a 10 MB dataset source, name and tag in log-inputs, naming the field', async () => {
      const dataset = { name: 'd', digest: 'abc', source_type: 'local', source: 'file:///x.csv' };
      for (const [field, bad] of [['source', { source: huge }], ['name', { name: 'n'.repeat(501) }], ['digest', { digest: 'd'.repeat(37) }], ['schema', { schema: huge }]] as const) {
        const res = await call(s.app, 'POST', mlflow('/runs/log-inputs'), { run_id: runId, datasets: [{ dataset: { ...dataset, ...bad } }] });
        assertError(res, 400, 'INVALID_PARAMETER_VALUE', `datasets[0].dataset.${field}`);
        assert.ok(res.body.length < 1000);
      }
      const tag = await call(s.app, 'POST', mlflow('/runs/log-inputs'), { run_id: runId, datasets: [{ dataset, tags: [{ key: 'k', value: 'v'.repeat(501) }] }] });
      assertError(tag, 400, 'INVALID_PARAMETER_VALUE', 'datasets[0].tags[0].value');
      assertOk(await call(s.app, 'POST', mlflow('/runs/log-inputs'), { run_id: runId, datasets: [{ dataset, tags: [{ key: 'k', value: 'v'.repeat(500) }] }] }));
    });

    it('keeps values at their limits', async () => {
      assertOk(await call(s.app, 'POST', mlflow('/registered-models/create'), { name: 'at-limit', description: 'd'.repeat(LIMITS.descriptionLength) }));
      assertOk(await call(s.app, 'POST', mlflow('/runs/create'), { experiment_id: expId, run_name: 'r'.repeat(LIMITS.runNameLength) }));
      assertOk(await call(s.app, 'POST', mlflow('/experiments/set-experiment-tag'), { experiment_id: expId, key: 'big', value: 'v'.repeat(LIMITS.experimentTagValueBytes) }));
    });
  });

  describe('echoed values', () => {
    const id = 'a'.repeat(1_500_000);
    for (const [label, method, url, body] of [
      ['runs/get', 'GET', mlflow(`/runs/get?run_id=${'a'.repeat(200)}`), undefined],
      ['runs/get (long)', 'POST', mlflow('/runs/delete'), { run_id: id }],
      ['experiments/get', 'GET', mlflow(`/experiments/get?experiment_id=${'9'.repeat(200)}`), undefined],
      ['registered-models/get', 'GET', mlflow(`/registered-models/get?name=${'n'.repeat(5000)}`), undefined],
      ['model-versions/get', 'GET', mlflow(`/model-versions/get?name=${'n'.repeat(5000)}&version=1`), undefined],
      ['get-by-name', 'GET', mlflow(`/experiments/get-by-name?experiment_name=${'n'.repeat(5000)}`), undefined],
      ['alias', 'GET', mlflow(`/registered-models/alias?name=bounded-model&alias=${'z'.repeat(5000)}`), undefined],
      ['datasets/get', 'GET', trellis(`/datasets/get?name=${'n'.repeat(5000)}`), undefined],
      ['filter', 'POST', mlflow('/experiments/search'), { filter: `name = ${'q'.repeat(50_000)}` }],
      ['order_by', 'POST', mlflow('/experiments/search'), { order_by: [`${'q'.repeat(5000)} ASC`] }],
      ['stage', 'POST', mlflow('/model-versions/transition-stage'), { name: 'bounded-model', version: '1', stage: 'S'.repeat(5000) }],
      ['tag key', 'POST', mlflow('/runs/delete-tag'), { run_id: runId, key: 'k'.repeat(5000) }],
    ] as const) {
      it(`quotes at most a short prefix of the value (${label})`, async () => {
        const res = await call(s.app, method, url, body);
        assert.ok(res.status >= 400 && res.status < 500, `${res.status} ${res.body.slice(0, 300)}`);
        assert.ok(res.body.length < 1000, `${res.body.length} bytes: ${res.body.slice(0, 300)}`);
      });
    }
  });

  describe('JSON nesting', () => {
    it('refuses a body nested deeper than the limit, naming the field, before anything recurses into it', async () => {
      for (const depth of [LIMITS.jsonDepth + 1, 5000, 200_000]) {
        const body = `{"filter":${'['.repeat(depth)}${']'.repeat(depth)}}`;
        const res = await call(s.app, 'POST', mlflow('/runs/search'), body, { 'content-type': 'application/json' });
        assertError(res, 400, 'INVALID_PARAMETER_VALUE', "'filter'");
        const obj = `{"tags":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`;
        assertError(await call(s.app, 'POST', mlflow('/experiments/create'), obj, { 'content-type': 'application/json' }), 400, 'INVALID_PARAMETER_VALUE');
        assertError(await call(s.app, 'POST', trellis('/pipelines/versions'), obj, { 'content-type': 'application/json' }), 400, 'INVALID_PARAMETER_VALUE');
      }
      // Within the limit, a wrong type is still a plain type error.
      const shallow = `{"filter":${'['.repeat(10)}${']'.repeat(10)}}`;
      assertError(await call(s.app, 'POST', mlflow('/runs/search'), shallow, { 'content-type': 'application/json' }), 400, 'INVALID_PARAMETER_VALUE', "'filter'");
    });
  });

  describe('names', () => {
    const bad = ['a\u200bb', 'a\u202eb', 'a\u2066b', 'a\u200eb', 'a\ufeffb', 'a\u2060b', 'tab\there', '.', '..'];
    it('refuses invisible, bidirectional and control characters and dot names in experiment, model and dataset names', async () => {
      for (const name of bad) {
        assertError(await call(s.app, 'POST', mlflow('/experiments/create'), { name }), 400, 'INVALID_PARAMETER_VALUE', "'name'");
        assertError(await call(s.app, 'POST', mlflow('/experiments/update'), { experiment_id: expId, new_name: name }), 400, 'INVALID_PARAMETER_VALUE', "'new_name'");
        assertError(await call(s.app, 'POST', mlflow('/registered-models/create'), { name }), 400, 'INVALID_PARAMETER_VALUE', "'name'");
        assertError(await call(s.app, 'POST', mlflow('/registered-models/rename'), { name: 'bounded-model', new_name: name }), 400, 'INVALID_PARAMETER_VALUE', "'new_name'");
        assertError(await call(s.app, 'GET', trellis(`/datasets/versions?name=${encodeURIComponent(name)}`)), 400, 'INVALID_PARAMETER_VALUE', "'name'");
      }
      assertError(await call(s.app, 'GET', trellis('/datasets/versions?name=a%2Fb')), 400, 'INVALID_PARAMETER_VALUE', "'name'");
    });

    it('normalises to NFC, trims, and refuses a name that differs from an existing one only by case', async () => {
      const id = await createExperiment(s.app, '  Ma\u0301rketing ');
      const got = await call(s.app, 'GET', mlflow(`/experiments/get?experiment_id=${id}`));
      assert.equal(got.json.experiment.name, 'M\u00e1rketing');
      assertError(await call(s.app, 'POST', mlflow('/experiments/create'), { name: 'm\u00c1RKETING' }), 400, 'RESOURCE_ALREADY_EXISTS', "'M\u00e1rketing'");
      assertError(await call(s.app, 'POST', mlflow('/registered-models/create'), { name: 'Bounded-Model' }), 400, 'RESOURCE_ALREADY_EXISTS', "'bounded-model'");
      // Experiment and model names may hold '/', as MLflow's do.
      assertOk(await call(s.app, 'POST', mlflow('/registered-models/create'), { name: 'team/model' }));
    });
  });
});
