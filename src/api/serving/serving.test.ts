/**
 * `trellis serve`'s engine and HTTP surface on a real workspace (SQLite and the local artifact
 * folder) with models trained on Adult census rows: the OIP routes, routing to canaries, sticky
 * A/B arms and shadows, hot swap when the alias or the deployment moves, a model whose bytes
 * changed refused at load, and the access every route declares.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { ServingEngine, type EngineEvent, type Served } from '../../serving/engine.js';
import { ServingMetrics } from '../../serving/metrics.js';
import { Workspace } from '../../workspace/workspace.js';
import { buildServingApp, servingRoutes } from './app.js';
import { workspaceSource } from './source.js';
import { ADULT, ROW, authorizeGoodToken, columns } from './test-helpers/adult.js';

const who = { actor: 'alice' };

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

describe('trellis serve: the engine and its HTTP routes', () => {
  let dir: string;
  let ws: Workspace;
  let engine: ServingEngine;
  let app: FastifyInstance;
  const events: EngineEvent[] = [];
  const served: Served[] = [];

  const infer = (endpoint: string, rows: Record<string, unknown>[], headers: Record<string, string> = {}) =>
    app.inject({ method: 'POST', url: `/v2/models/${endpoint}/infer`, headers: { 'content-type': 'application/json', ...headers }, payload: { inputs: columns(rows) } });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-serve-'));
    ws = await Workspace.open({ store: `sqlite:${join(dir, 't.db')}`, artifacts: `file:${join(dir, 'a')}` });
    await ws.training.train({ data: ADULT, target: 'income', algo: 'linear', register: 'income' }, who);
    await ws.training.train({ data: ADULT, target: 'income', algo: 'gbdt', params: { trees: '5' }, register: 'income' }, who);
    await ws.training.train({ data: ADULT, target: 'income', algo: 'linear', params: { l2: '50' }, register: 'income' }, who);
    await ws.registry.setAlias('income', 'champion', '1', who);
    await ws.deployments.create('income', { model: 'income@champion' }, who);
    engine = new ServingEngine({ source: workspaceSource(ws), endpoints: ['income'], pollMs: 60_000, onEvent: (e) => events.push(e), onServed: (s) => served.push(s), random: () => 0.5 });
    await engine.start();
    app = await buildServingApp({ engine });
  });
  after(async () => {
    await app?.close();
    await engine?.stop();
    await ws?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers health, server and model metadata, and an inference with its version, route and request id', async () => {
    assert.deepEqual((await app.inject('/v2/health/live')).json(), { live: true });
    assert.deepEqual((await app.inject('/v2/health/ready')).json(), { ready: true });
    const meta = (await app.inject('/v2/models/income')).json<{ name: string; versions: string[]; inputs: { name: string; datatype: string }[]; outputs: { name: string }[] }>();
    assert.equal(meta.name, 'income');
    assert.deepEqual(meta.versions, ['1']);
    assert.deepEqual(meta.inputs.map((i) => i.name), Object.keys(ROW));
    assert.equal(meta.inputs.find((i) => i.name === 'age')?.datatype, 'INT64');
    assert.deepEqual(meta.outputs.map((o) => o.name), ['predict', 'proba']);
    assert.deepEqual((await app.inject('/v2/models/income/ready')).json(), { name: 'income', ready: true });
    const res = await infer('income', [ROW, { ...ROW, age: 52, 'capital-gain': 15024 }], { 'x-request-id': 'req-1' });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.headers['x-request-id'], 'req-1');
    assert.equal(res.headers['x-model-version'], 'income/1');
    assert.equal(res.headers['x-route'], 'primary');
    assert.equal(res.headers['x-model-endpoint'], 'income');
    const body = res.json<{ model_name: string; model_version: string; outputs: { name: string; shape: number[]; data: unknown[]; parameters?: { classes: string } }[] }>();
    assert.equal(body.model_name, 'income');
    assert.equal(body.model_version, '1');
    const proba = body.outputs.find((o) => o.name === 'proba')!;
    assert.deepEqual(proba.shape, [2, 2]);
    assert.equal(proba.parameters?.classes, '<=50K,>50K');
    // The same answer as the model predicting in process.
    const direct = await engine.loadedModel('income').predict([ROW, { ...ROW, age: 52, 'capital-gain': 15024 }]);
    assert.deepEqual(proba.data, Array.from(direct.proba!));
    assert.ok(/^[0-9a-f-]{36}$/.test(String((await app.inject('/v2/health/live')).headers['x-request-id'])), 'a generated request id');
    assert.equal(served.at(-1)?.requestId, 'req-1');
    assert.equal(served.at(-1)?.version, '1');
  });

  it('answers the KServe v1 and MLflow routes from the same model', async () => {
    const v1 = await app.inject({ method: 'POST', url: '/v1/models/income:predict', headers: { 'content-type': 'application/json' }, payload: { instances: [ROW] } });
    assert.equal(v1.statusCode, 200, v1.body);
    const label = v1.json<{ predictions: string[] }>().predictions[0]!;
    assert.ok(['<=50K', '>50K'].includes(label));
    const mlflow = await app.inject({ method: 'POST', url: '/invocations', headers: { 'content-type': 'application/json' }, payload: { dataframe_split: { columns: Object.keys(ROW), data: [Object.values(ROW)] } } });
    assert.equal(mlflow.statusCode, 200, mlflow.body);
    assert.deepEqual(mlflow.json<{ predictions: string[] }>().predictions, [label]);
    assert.equal(mlflow.headers['x-model-version'], 'income/1');
  });

  it('refuses bad requests with the OIP error shape and the right status, and stays up', async () => {
    const cases: [string, () => Promise<{ statusCode: number; body: string }>, number, RegExp][] = [
      ['unknown model', () => infer('nope', [ROW]), 404, /nope/],
      ['unknown version', () => app.inject({ method: 'POST', url: '/v2/models/income/versions/9/infer', headers: { 'content-type': 'application/json' }, payload: { inputs: columns([ROW]) } }), 404, /version 9/],
      ['not JSON', () => app.inject({ method: 'POST', url: '/v2/models/income/infer', headers: { 'content-type': 'application/json' }, payload: '{"inputs": [' }), 400, /JSON/],
      ['text/plain', () => app.inject({ method: 'POST', url: '/v2/models/income/infer', headers: { 'content-type': 'text/plain' }, payload: 'hello' }), 400, /Content-Type/],
      ['a missing column', () => app.inject({ method: 'POST', url: '/v2/models/income/infer', headers: { 'content-type': 'application/json' }, payload: { inputs: columns([ROW]).filter((c) => c.name !== 'age') } }), 400, /age/],
      ['a string for a number', () => infer('income', [{ ...ROW, age: 'old' }]), 400, /age/],
      ['an unknown route', () => app.inject('/v2/nothing'), 404, /No route/],
    ];
    for (const [what, call, status, message] of cases) {
      const r = await call();
      assert.equal(r.statusCode, status, `${what}: ${r.body}`);
      const err = (JSON.parse(r.body) as { error: string }).error;
      assert.match(err, message, what);
    }
    const big = await buildServingApp({ engine, maxBodyBytes: 1000 });
    const r = await big.inject({ method: 'POST', url: '/v2/models/income/infer', headers: { 'content-type': 'application/json' }, payload: { inputs: columns(Array(50).fill(ROW)) } });
    assert.equal(r.statusCode, 413);
    assert.match(r.json<{ error: string }>().error, /larger than the limit of 1000 bytes/);
    await big.close();
    assert.equal((await infer('income', [ROW])).statusCode, 200);
  });

  it('sends a canary its share, keeps sticky A/B arms stable, and copies requests to a shadow without returning its answer', async () => {
    await ws.deployments.create('split', { model: 'income/1', canary: { model: 'income/2', share: 30 }, shadow: 'income/3' }, who);
    await ws.deployments.create('ab', { ab: [{ model: 'income/1', share: 50 }, { model: 'income/2', share: 50 }], stickyKey: 'header:x-user' }, who);
    const draws = [0.1, 0.29, 0.31, 0.99];
    const seq = new ServingEngine({ source: workspaceSource(ws), pollMs: 60_000, random: () => draws.shift()!, onServed: (s) => served.push(s) });
    await seq.start();
    const a2 = await buildServingApp({ engine: seq });
    const routes: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await a2.inject({ method: 'POST', url: '/v2/models/split/infer', headers: { 'content-type': 'application/json' }, payload: { inputs: columns([ROW]) } });
      routes.push(`${r.headers['x-route']}=${r.headers['x-model-version']}`);
    }
    assert.deepEqual(routes, ['canary=income/2', 'canary=income/2', 'primary=income/1', 'primary=income/1']);
    await new Promise((r) => setTimeout(r, 50));
    const shadows = served.filter((s) => s.shadow && s.endpoint === 'split');
    assert.equal(shadows.length, 4, 'every request copied to the shadow');
    assert.ok(shadows.every((s) => s.version === '3' && s.route === 'shadow' && s.result));

    const arms = new Map<string, Set<string>>();
    for (let u = 0; u < 40; u++) {
      for (let rep = 0; rep < 2; rep++) {
        const r = await a2.inject({ method: 'POST', url: '/v2/models/ab/infer', headers: { 'content-type': 'application/json', 'x-user': `user-${u}` }, payload: { inputs: columns([ROW]) } });
        assert.equal(r.statusCode, 200, r.body);
        const set = arms.get(`user-${u}`) ?? new Set<string>();
        set.add(String(r.headers['x-route']));
        arms.set(`user-${u}`, set);
      }
    }
    assert.ok([...arms.values()].every((s) => s.size === 1), 'a user keeps its arm');
    const counts = [...arms.values()].map((s) => [...s][0]);
    assert.ok(counts.includes('arm:a') && counts.includes('arm:b'), `both arms used: ${counts.join(',')}`);
    // Another engine (another replica) assigns every user the same arm.
    const replica = new ServingEngine({ source: workspaceSource(ws), pollMs: 60_000 });
    await replica.start();
    for (const [user, s] of arms) {
      const r = await replica.infer({ endpoint: 'ab', records: [ROW], requestId: 'x', headers: { 'x-user': user } });
      assert.equal(r.route, [...s][0]);
    }
    await replica.stop();
    await a2.close();
    await seq.stop();
  });

  it('swaps to the version an alias moves to, and keeps serving the old one when the new one fails its digest', async () => {
    await ws.registry.setAlias('income', 'champion', '2', who);
    await engine.refresh();
    assert.equal((await infer('income', [ROW])).headers['x-model-version'], 'income/2');
    assert.ok(events.some((e) => e.kind === 'switched' && e.endpoint === 'income'));
    // Version 3's model.json is pointed at other, intact bytes (version 1's) after registration:
    // the store's own hash check passes, the version's recorded digest must not.
    const refOf = async (version: string) => {
      const v = await ws.registry.getVersion('income', version);
      return filesUnder(join(dir, 'a', 'refs')).find((f) => f.endsWith('model.json') && f.includes(v.runId!));
    };
    const file = await refOf('3');
    assert.ok(file, 'the model file of version 3');
    copyFileSync((await refOf('1'))!, file);
    await ws.registry.setAlias('income', 'champion', '3', who);
    await engine.refresh();
    const failed = events.find((e) => e.kind === 'load_failed' && e.model === 'income/3');
    assert.ok(failed && failed.kind === 'load_failed' && /digest|sha256|changed/i.test(failed.error), JSON.stringify(events));
    const r = await infer('income', [ROW]);
    assert.equal(r.statusCode, 200);
    assert.equal(r.headers['x-model-version'], 'income/2', 'still on the version it had');
    assert.equal(engine.ready(), true);
  });

  it('serves the model on traffic as an ES module with an ETag, 304 when unchanged, a new one after a promotion', async () => {
    const first = await app.inject('/v1/models/income/module.js');
    assert.equal(first.statusCode, 200);
    assert.match(String(first.headers['content-type']), /text\/javascript/);
    const etag = String(first.headers.etag);
    assert.match(etag, /^"sha256-[0-9a-f]{64}"$/);
    assert.equal(first.headers['x-model-version'], 'income/2');
    assert.match(first.body, /export function predict\(/);
    const again = await app.inject({ url: '/v1/models/income/module.js', headers: { 'if-none-match': etag } });
    assert.equal(again.statusCode, 304);
    assert.equal(again.body, '');
    // The module predicts what the endpoint answers.
    const mod = (await import(`data:text/javascript;base64,${Buffer.from(first.body).toString('base64')}`)) as { predict(r: object): { prediction: string; proba: number[] } };
    const served = (await infer('income', [ROW])).json<{ outputs: { name: string; data: unknown[] }[] }>();
    assert.deepEqual(mod.predict(ROW).proba, served.outputs.find((o) => o.name === 'proba')!.data);
    await ws.registry.setAlias('income', 'champion', '1', who);
    await engine.refresh();
    const moved = await app.inject({ url: '/v1/models/income/module.js', headers: { 'if-none-match': etag } });
    assert.equal(moved.statusCode, 200);
    assert.notEqual(moved.headers.etag, etag);
    assert.equal(moved.headers['x-model-version'], 'income/1');
    assert.equal((await app.inject('/v1/models/nope/module.js')).statusCode, 404);
  });

  it('counts requests, errors and latency per endpoint, version and route on /metrics', async () => {
    const metrics = new ServingMetrics({ dropped: () => 7 });
    const m = new ServingEngine({ source: workspaceSource(ws), endpoints: ['ab'], pollMs: 60_000, onServed: (x) => metrics.served(x), onEvent: (e) => metrics.event(e) });
    await m.start();
    const a4 = await buildServingApp({ engine: m, metrics });
    for (let i = 0; i < 3; i++) {
      await a4.inject({ method: 'POST', url: '/v2/models/ab/infer', headers: { 'content-type': 'application/json', 'x-user': `u${i}` }, payload: { inputs: columns([ROW]) } });
    }
    await a4.inject({ method: 'POST', url: '/v2/models/ab/infer', headers: { 'content-type': 'application/json' }, payload: { inputs: columns([{ ...ROW, age: 'old' }]) } });
    const res = await a4.inject('/metrics');
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /text\/plain/);
    const text = res.body;
    const ok = [...text.matchAll(/^trellis_requests_total\{endpoint="ab",model="income",version="(\d)",route="(arm:[ab])",outcome="ok"\} (\d+)$/gm)];
    assert.equal(ok.reduce((t, x) => t + Number(x[3]), 0), 3, text.split('\n').filter((l) => l.startsWith('trellis_requests_total')).join('\n'));
    assert.match(text, /^trellis_request_duration_seconds_count\{endpoint="ab",model="income",version="\d",route="arm:[ab]"\} \d+$/m);
    assert.match(text, /^trellis_prediction_log_dropped_total 7$/m);
    assert.match(text, /^trellis_model_load_seconds_count\{model="income\/[12]"\} 1$/m);
    assert.match(text, /^trellis_requests_in_flight\{protocol="rest"\} 0$/m);
    await a4.close();
    await m.stop();
  });

  it('declares the access of every route; with authorisation, invoke routes refuse an unknown caller and public ones answer', async () => {
    const secured = new ServingEngine({
      source: workspaceSource(ws), endpoints: ['ab'], pollMs: 60_000,
      authorize: authorizeGoodToken,
    });
    await secured.start();
    const a3 = await buildServingApp({ engine: secured });
    const routes = servingRoutes(a3).filter((r) => r.method !== 'HEAD');
    assert.ok(routes.length >= 10, `routes: ${routes.length}`);
    for (const r of routes) {
      const url = r.url.replace(':call', 'ab:predict').replace(':name', 'ab').replace(':version', '2');
      const res = await a3.inject({ method: r.method as 'GET', url, headers: { 'content-type': 'application/json', 'x-trellis-endpoint': 'ab' }, payload: r.method === 'POST' ? { inputs: columns([ROW]), instances: [ROW] } : undefined });
      if ('public' in r.access) assert.ok(res.statusCode < 400, `${r.method} ${r.url}: ${res.statusCode}`);
      else {
        assert.equal(res.statusCode, 401, `${r.method} ${r.url}: ${res.statusCode} ${res.body}`);
        assert.ok(res.headers['www-authenticate']);
        const bad = await a3.inject({ method: r.method as 'GET', url, headers: { authorization: 'Bearer bad', 'x-trellis-endpoint': 'ab' } });
        assert.equal(bad.statusCode, 403, `${r.method} ${r.url}`);
      }
    }
    const ok = await a3.inject({ method: 'POST', url: '/v2/models/ab/infer', headers: { 'content-type': 'application/json', authorization: 'Bearer good' }, payload: { inputs: columns([ROW]) } });
    assert.equal(ok.statusCode, 200);
    await a3.close();
    await secured.stop();
  });
});
