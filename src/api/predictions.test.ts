/**
 * The prediction log over the main REST API: feedback needs `invoke` on the endpoint, the log
 * needs `read` on every model its deployment routes to; bad bodies and parameters are 400s naming
 * the field, an unknown request a 404; pages continue where the last one stopped.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { PredictionEntry } from '../store/ports/predictions.js';
import { Workspace } from '../workspace/workspace.js';
import { buildServer } from './server.js';
import { assertError, assertOk, call, type Res } from './test-helpers/server.js';

const who = { actor: 'setup' };
const FEEDBACK = '/api/2.0/trellis/predictions/feedback';
const LIST = '/api/2.0/trellis/predictions/list';
const entry = (requestId: string, time: number, rows = 1): PredictionEntry => ({
  requestId, endpoint: 'churn', time, model: 'churn', version: '1', route: 'primary', shadow: false, latencyMs: 1,
  inputs: Array.from({ length: rows }, (_, i) => ({ x: i })), predictions: Array.from({ length: rows }, () => 'yes'),
});

describe('prediction log routes', () => {
  let dir: string;
  let ws: Workspace;
  let app: FastifyInstance;
  const tokens: Record<string, string> = {};
  const as = (user: string) => ({ authorization: `Bearer ${tokens[user]}` });
  const list = (user: string, q: Record<string, string>) => call(app, 'GET', `${LIST}?${new URLSearchParams(q)}`, undefined, as(user));
  const feedback = (user: string, body: unknown) => call(app, 'POST', FEEDBACK, body, as(user));

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trellis-pred-routes-'));
    ws = await Workspace.open({ store: `sqlite:${dir}/t.db`, artifacts: `file:${dir}/a` });
    const exp = await ws.tracking.createExperiment('e', {}, who);
    const run = await ws.tracking.createRun({ experimentId: exp, userId: 'setup' }, who);
    await ws.tracking.logArtifact(run.info.runId, 'model/model.json', '{}');
    for (const m of ['churn', 'churn-b']) {
      await ws.registry.createModel({ name: m }, who);
      await ws.registry.createVersion({ name: m, source: `runs:/${run.info.runId}/model`, runId: run.info.runId }, who);
    }
    await ws.deployments.create('churn', { model: 'churn/1', canary: { model: 'churn-b/1', share: 20 } }, who);
    await ws.predictions.append([entry('r1', 1000, 2), entry('r2', 2000), entry('r3', 3000), entry('r4', 4000), entry('r5', 5000)]);
    const principals: [string, { role: 'admin' | 'viewer' | 'invoker' | 'deployer'; scopeType: 'global' | 'model' | 'endpoint'; scopeId: string }[]][] = [
      ['root', [{ role: 'admin', scopeType: 'global', scopeId: '' }]],
      ['invoker', [{ role: 'invoker', scopeType: 'endpoint', scopeId: 'churn' }]],
      ['other-invoker', [{ role: 'invoker', scopeType: 'endpoint', scopeId: 'other' }]],
      ['both-viewer', [{ role: 'viewer', scopeType: 'model', scopeId: 'churn' }, { role: 'viewer', scopeType: 'model', scopeId: 'churn-b' }]],
      ['half-viewer', [{ role: 'viewer', scopeType: 'model', scopeId: 'churn' }]],
    ];
    for (const [name, grants] of principals) {
      await ws.identities.createPrincipal(name, 'user', grants, who);
      tokens[name] = (await ws.identities.createToken(name, {}, who)).token;
    }
    const authenticator = ws.identities.authenticator({ failuresAllowed: 1_000_000 });
    await authenticator.prepare(who);
    app = await buildServer(ws, { version: 't', auth: { authenticator } });
  });

  after(async () => {
    await app?.close();
    await ws?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const denied = (res: Res) => assertError(res, 403, 'PERMISSION_DENIED');

  it('takes feedback from a principal who may invoke the endpoint, and no one else', async () => {
    const ok = await feedback('invoker', { endpoint: 'CHURN', request_id: 'r1', labels: ['no', 1.5] });
    assertOk(ok);
    assert.deepEqual(ok.json, { request_id: 'r1', rows: 2 });
    denied(await feedback('other-invoker', { endpoint: 'churn', request_id: 'r1', labels: ['no', 'no'] }));
    denied(await feedback('both-viewer', { endpoint: 'churn', request_id: 'r1', labels: ['no', 'no'] }));
    assert.equal((await call(app, 'POST', FEEDBACK, { endpoint: 'churn', request_id: 'r1', labels: ['a', 'b'] })).status, 401);
    const labelled = await list('root', { endpoint: 'churn', with_labels: 'true' });
    assert.deepEqual(labelled.json.predictions.map((e: { request_id: string; labels: unknown }) => [e.request_id, e.labels]), [['r1', ['no', 1.5]]]);
  });

  it('shows the log to a principal who may read every model the endpoint routes to, and no one else', async () => {
    const res = await list('both-viewer', { endpoint: 'churn', since: '2000', until: '5000' });
    assertOk(res);
    assert.deepEqual(res.json.predictions.map((e: { request_id: string }) => e.request_id), ['r2', 'r3', 'r4']);
    assert.deepEqual(Object.keys(res.json.predictions[0]).sort(), ['endpoint', 'inputs', 'latency_ms', 'model', 'predictions', 'request_id', 'route', 'shadow', 'time', 'version']);
    denied(await list('half-viewer', { endpoint: 'churn' }));
    denied(await list('invoker', { endpoint: 'churn' }));
    assert.equal((await call(app, 'GET', `${LIST}?endpoint=churn`)).status, 401);
  });

  it('pages through the log with next_page_token', async () => {
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const res = await list('root', { endpoint: 'churn', max_results: '2', ...(token ? { page_token: token } : {}) });
      assertOk(res);
      seen.push(...res.json.predictions.map((e: { request_id: string }) => e.request_id));
      token = res.json.next_page_token;
      pages++;
    } while (token);
    assert.deepEqual(seen, ['r1', 'r2', 'r3', 'r4', 'r5']);
    assert.equal(pages, 3);
  });

  it('refuses bad feedback and bad list parameters with 400s naming the field, an unknown request with 404', async () => {
    assertError(await feedback('root', { endpoint: 'churn', request_id: 'nope', labels: ['x'] }), 404, 'RESOURCE_DOES_NOT_EXIST', "No logged request 'nope' on endpoint 'churn'");
    assertError(await feedback('root', { endpoint: 'churn', request_id: 'r2', labels: ['x', 'y'] }), 400, 'INVALID_PARAMETER_VALUE', "Request 'r2' had 1 row; give one label (got 2)");
    // JSON has no infinity, but a number too large for a double parses as one.
    const inf = await call(app, 'POST', FEEDBACK, '{"endpoint":"churn","request_id":"r2","labels":[1e999]}', { ...as('root'), 'content-type': 'application/json' });
    assertError(inf, 400, 'INVALID_PARAMETER_VALUE', 'Label 1 is Infinity: a label is a string, a finite number or null');
    assertError(await feedback('root', { endpoint: 'churn', request_id: 'r2', labels: [{ a: 1 }] }), 400, 'INVALID_PARAMETER_VALUE', 'Label 1 is {"a":1}');
    assertError(await feedback('root', { endpoint: 'churn', request_id: 'r2' }), 400, 'INVALID_PARAMETER_VALUE', "'labels'");
    assertError(await feedback('root', { endpoint: 'churn', request_id: 'r2', labels: 'yes' }), 400, 'INVALID_PARAMETER_VALUE', "'labels'");
    assertError(await feedback('root', { endpoint: 'churn', labels: ['yes'] }), 400, 'INVALID_PARAMETER_VALUE', "'request_id'");
    assertError(await feedback('root', { request_id: 'r2', labels: ['yes'] }), 400, 'INVALID_PARAMETER_VALUE', "'endpoint'");
    assertError(await list('root', { endpoint: 'churn', max_results: '0' }), 400, 'INVALID_PARAMETER_VALUE', "'max_results': give 1 to 1000");
    assertError(await list('root', { endpoint: 'churn', since: '5', until: '5' }), 400, 'INVALID_PARAMETER_VALUE', "'since' (5) must be before 'until' (5)");
    assertError(await list('root', { endpoint: 'churn', since: 'yesterday' }), 400, 'INVALID_PARAMETER_VALUE', "'since'");
    assertError(await list('root', { endpoint: 'churn', page_token: 'garbage' }), 400, 'INVALID_PARAMETER_VALUE', "'page_token'");
    assertError(await list('root', { endpoint: 'nowhere' }), 404, 'RESOURCE_DOES_NOT_EXIST', "No deployment named 'nowhere'");
    // The refused feedback left r2 without labels.
    const r2 = (await list('root', { endpoint: 'churn', since: '2000', until: '2001' })).json.predictions[0];
    assert.equal(r2.labels, undefined);
  });
});
