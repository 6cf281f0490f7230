/**
 * Deny by default, as a property of the router: every route the server registers is found from the
 * router itself and called without credentials, with wrong, revoked and expired tokens, and as
 * principals without the permission; none may answer with data. Then the same routes as an
 * administrator, to show the checks let the rightful caller through.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { createTestDatabase } from '../store/test-helpers/postgres.js';
import { Workspace } from '../workspace/workspace.js';
import { guardedRoutes, installAccessControl, type Access } from './access.js';
import { buildServer } from './server.js';
import { assertOk, call, createExperiment, createRun, mlflow, storeRoot, toRes, type Method, type Res } from './test-helpers/server.js';

const admin = [{ role: 'admin' as const, scopeType: 'global' as const, scopeId: '' }];
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
const basic = (user: string, t: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${t}`).toString('base64')}` });

const backends: [string, (dir: string) => Promise<{ store: string; drop?: () => Promise<void> }>][] = [
  ['sqlite', async (dir) => ({ store: `sqlite:${dir}/t.db` })],
  ['postgres', async () => {
    const db = await createTestDatabase();
    return { store: db.uri, drop: db.drop };
  }],
];

for (const [backend, openStore] of backends) describe(`access control on every route (${backend})`, () => {
  let dir: string;
  let drop: (() => Promise<void>) | undefined;
  let ws: Workspace;
  let open: FastifyInstance;
  let app: FastifyInstance;
  let expId: string;
  let runId: string;
  let artifactPath: string;
  const tokens: Record<string, string> = {};
  let markers: string[];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trellis-access-'));
    const { store, drop: dropStore } = await openStore(dir);
    drop = dropStore;
    ws = await Workspace.open({ store, artifacts: `file:${dir}/a` });
    // Seeded through a server with auth off, as a loopback developer would.
    open = await buildServer(ws, { version: 't' });
    expId = await createExperiment(open, 'secret-exp');
    const run = await createRun(open, expId, { run_name: 'secret-run' });
    runId = run.runId;
    assertOk(await call(open, 'POST', mlflow('/runs/log-parameter'), { run_id: runId, key: 'secret-param', value: 'hush' }));
    artifactPath = `${storeRoot(run.artifactUri)}/model/model.json`;
    assertOk(await call(open, 'PUT', `/api/2.0/mlflow-artifacts/artifacts/${artifactPath}`, '{"secret-bytes":1}', { 'content-type': 'application/octet-stream' }));
    assertOk(await call(open, 'POST', mlflow('/registered-models/create'), { name: 'secret-model' }));
    assertOk(await call(open, 'POST', mlflow('/model-versions/create'), { name: 'secret-model', source: `runs:/${runId}/model`, run_id: runId }));
    assertOk(await call(open, 'POST', '/api/2.0/trellis/datasets/versions?name=secretds&format=csv', 'a,b\n1,2\n3,4\n', { 'content-type': 'text/csv' }));
    markers = ['secret-exp', 'secret-run', 'secret-param', 'secret-model', 'secretds', 'secret-bytes', runId];

    const who = { actor: 'setup' };
    await ws.identities.createPrincipal('root', 'user', admin, who);
    await ws.identities.createPrincipal('nobody', 'user', [], who);
    const carolExp = await createExperiment(open, 'carol-exp');
    await ws.identities.createPrincipal('carol', 'user', [{ role: 'contributor', scopeType: 'experiment', scopeId: carolExp }, { role: 'viewer', scopeType: 'model', scopeId: 'carol-model' }], who);
    for (const u of ['root', 'nobody', 'carol']) tokens[u] = (await ws.identities.createToken(u, {}, who)).token;
    const revoked = await ws.identities.createToken('root', {}, who);
    await ws.identities.revokeToken(revoked.info.id, who);
    tokens.revoked = revoked.token;
    tokens.expired = (await ws.identities.createToken('root', { expires: '1s' }, who)).token;
    const root = tokens.root!;
    tokens.forged = root.slice(0, -4) + (root.endsWith('AAAA') ? 'BBBB' : 'AAAA');

    await new Promise((r) => setTimeout(r, 1_100));
    const authenticator = ws.identities.authenticator({ failuresAllowed: 1_000_000 });
    await authenticator.prepare(who);
    app = await buildServer(ws, { version: 't', auth: { authenticator } });
    await app.ready();
  });

  after(async () => {
    await app?.close();
    await open?.close();
    await ws?.close();
    await drop?.();
    await rm(dir, { recursive: true, force: true });
  });

  const routes = () => guardedRoutes(app).filter((r) => r.method !== 'HEAD');

  /** A request to `r` with parameters naming the seeded objects, as its transport expects them. */
  async function send(r: { method: string; url: string }, headers: Record<string, string>): Promise<Res> {
    const params: Record<string, string> = {
      experiment_id: expId, run_id: runId, name: 'secret-model', version: '1', key: 'secret-param', value: 'v', alias: 'champion',
      experiment_name: 'secret-exp', new_name: 'renamed', source: `runs:/${runId}/model`, metric_key: 'm', path: 'model', a: 'secretds@1', b: 'secretds@1',
      against: 'secretds', data: 'secretds', target: 'b', subject: 'x', user: 'root', id: 'abcdefabcdef', model: 'secret-model', pipeline: 'p', step: 's', stage: 'Production',
    };
    const url = r.url.replace('*', artifactPath);
    if (url.endsWith('/datasets/versions') && r.method === 'POST') {
      return toRes(await app.inject({ method: 'POST', url: `${url}?name=secretds&format=csv`, payload: 'a,b\n9,9\n', headers: { ...headers, 'content-type': 'text/csv' } }));
    }
    if (r.url.includes('*') && r.method === 'PUT') {
      return toRes(await app.inject({ method: 'PUT', url, payload: 'overwritten', headers: { ...headers, 'content-type': 'application/octet-stream' } }));
    }
    if (r.method === 'GET') return toRes(await app.inject({ method: 'GET', url: `${url}?${new URLSearchParams(params)}`, headers }));
    return call(app, r.method as Method, url, params, headers);
  }

  const isPublic = (a: Access) => 'public' in a;

  it('registers well over a hundred routes, each with its access declared', () => {
    const all = routes();
    assert.ok(all.length > 100, `${all.length} routes`);
    const publicOnes = all.filter((r) => isPublic(r.access)).map((r) => `${r.method} ${r.url}`).sort();
    assert.deepEqual(publicOnes, ['GET /', 'GET /ajax-api/2.0/trellis/openapi.json', 'GET /api/2.0/trellis/openapi.json', 'GET /health', 'GET /version']);
  });

  it('answers 401 on every route but the public ones without credentials, or with a wrong, forged, revoked or expired token', async () => {
    const cases: [string, Record<string, string>][] = [
      ['none', {}], ['garbage', bearer('not-a-token')], ['forged', bearer(tokens.forged!)], ['revoked', bearer(tokens.revoked!)],
      ['expired', bearer(tokens.expired!)], ['basic, wrong user', basic('nobody', tokens.root!)], ['unknown scheme', { authorization: `Token ${tokens.root}` }],
    ];
    for (const r of routes()) {
      if (isPublic(r.access)) continue;
      for (const [what, headers] of cases) {
        const res = await send(r, headers);
        assert.equal(res.status, 401, `${what}: ${r.method} ${r.url} answered ${res.status} ${res.body.slice(0, 200)}`);
        assert.equal(res.json?.error_code, 'UNAUTHENTICATED');
        assert.match(String(res.headers['www-authenticate']), /^Bearer realm="trellis", Basic/);
        for (const t of Object.values(tokens)) assert.ok(!res.body.includes(t), 'an error never repeats a token');
      }
    }
  });

  it('gives a principal without the permission no data on any route, and changes nothing', async () => {
    const before = (await ws.audit.events({ limit: 100_000 })).length;
    for (const who of ['nobody', 'carol']) {
      for (const r of routes()) {
        if (isPublic(r.access)) continue;
        const res = await send(r, bearer(tokens[who]!));
        const label = `${who}: ${r.method} ${r.url} answered ${res.status} ${res.body.slice(0, 300)}`;
        if ('filtered' in r.access || 'signedIn' in r.access) {
          assert.ok(res.status < 500, label);
          if (res.status < 300) for (const m of markers) assert.ok(!res.body.includes(m), `${label}: it shows ${m}`);
        } else {
          assert.ok([400, 403, 404].includes(res.status), label);
          if (res.status === 403) assert.equal(res.json?.trellis_code, 'TRELLIS_PERMISSION_DENIED', label);
        }
      }
    }
    const events = await ws.audit.events({ limit: 100_000 });
    assert.equal(events.length, before, `no change was recorded: ${JSON.stringify(events.slice(before).map((e) => [e.actor, e.action]))}`);
    assertOk(await call(open, 'GET', mlflow(`/registered-models/get?name=secret-model`)));
    const art = await open.inject({ method: 'GET', url: `/api/2.0/mlflow-artifacts/artifacts/${artifactPath}` });
    assert.equal(art.body, '{"secret-bytes":1}', 'the artifact was not overwritten');
  });

  it('lets the administrator through on every route', async () => {
    // Read-only routes first, then writes, so that a delete does not turn later reads into 404s.
    const order = (m: string) => (m === 'GET' ? 0 : m === 'DELETE' ? 2 : 1);
    for (const r of [...routes()].sort((x, y) => order(x.method) - order(y.method))) {
      const res = await send(r, bearer(tokens.root!));
      // A 403 of another kind (a frozen artifact) is the route's own answer, not the access check's.
      assert.ok(!['TRELLIS_UNAUTHENTICATED', 'TRELLIS_PERMISSION_DENIED'].includes(res.json?.trellis_code), `root: ${r.method} ${r.url} answered ${res.status} ${res.body.slice(0, 300)}`);
    }
  });
});

describe('a route without an access declaration', () => {
  it('stops the server from starting, naming the route', async () => {
    const app = Fastify();
    installAccessControl(app);
    assert.throws(() => app.get('/unguarded', async () => ({ secret: 1 })), /GET \/unguarded declares no access/);
    await app.close();
  });
});
