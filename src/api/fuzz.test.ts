/**
 * A route fuzzer: every route the server registers (read from the router's own table), sent bad
 * input — wrong types for every known parameter, huge strings, deep JSON, long lists, forged page
 * tokens, unknown ids, empty and non-JSON bodies — must answer below 500. A 5xx here is a bug: bad
 * input is the client's error and gets a 4xx that names it.
 *
 * The parameter names are read from the route modules (every `require…('x')` / `optional…('x')`
 * and raw body field), so a new parameter is fuzzed without touching this file. Deterministic: the
 * values rotate by position, no randomness, so a failure reproduces.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { assertOk, call, createExperiment, createRun, mlflow, openTestServer, type TestServer } from './test-helpers/server.js';

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'PUT';
interface Route { method: Method; url: string }

/**
 * The routes of `app`, from Fastify's own route table: `printRoutes()` prints its radix tree, one
 * node per line, indented four columns per level, with the methods of a complete route in
 * parentheses; a route's path is its nodes' text joined. One entry per method, with the
 * `/ajax-api` and `/preview` aliases of a route left out (they share its handler).
 */
function registeredRoutes(app: FastifyInstance): Route[] {
  const stack: string[] = [];
  const out: Route[] = [];
  for (const line of app.printRoutes().split('\n')) {
    const m = /^(.*?)(?:├── |└── )(.*?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    stack.length = depth;
    stack.push(m[2]!);
    const url = stack.join('');
    for (const method of (m[3] ?? '').split(',').map((x) => x.trim()).filter(Boolean)) {
      if (method === 'HEAD' || method === 'OPTIONS') continue;
      out.push({ method: method as Method, url });
    }
  }
  return out.filter((r) => !r.url.startsWith('/ajax-api/') && !r.url.includes('/preview/'));
}

/** Every parameter name the route modules read. */
function knownParameters(): string[] {
  const dir = join(fileURLToPath(new URL('.', import.meta.url)), 'routes');
  const names = new Set(['run_id', 'run_uuid', 'path']);
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.ts') && !x.endsWith('.test.ts'))) {
    const src = readFileSync(join(dir, f), 'utf8');
    for (const m of src.matchAll(/\b(?:require|optional)[A-Za-z]*\('([a-z_]+)'/g)) names.add(m[1]!);
    for (const m of src.matchAll(/\b(?:b|body)\.([a-z_]+)\b/g)) names.add(m[1]!);
    for (const m of src.matchAll(/rawQueryValue\(req, '([a-z_]+)'\)/g)) names.add(m[1]!);
  }
  return [...names].sort();
}

const token = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64');
const deepArray = (n: number): unknown => {
  let v: unknown = 1;
  for (let i = 0; i < n; i++) v = [v];
  return v;
};

/** Bad values of every JSON type; strings also stand for themselves in a query string. */
const BAD: unknown[] = [
  123, -1, 1.5, 1e308, true, {}, [], ['x', 1, null], [{ key: 1 }], '', '\u0000\u202e\u200b../%00', 'NaN', '9'.repeat(40), deepArray(30),
];

const LONG = 'x'.repeat(20_000);
const MANY = Array.from({ length: 2_000 }, (_, i) => String(i));

/**
 * Values of the right type that are hostile for the parameter: forged page tokens, searches too
 * complex to run, lists too long, strings too long. Each is sent with valid ids around it.
 */
function hostile(param: string, turn: number): unknown[] {
  switch (param) {
    case 'page_token':
      return [token({ offset: 1e308 }), token({ offset: -1 }), token({ offset: 0.5 }), token({ offset: 2 ** 62 }), 'not base64!', Buffer.from('{').toString('base64'), 'A'.repeat(100_000)];
    case 'filter':
      return [Array.from({ length: 70 }, (_, i) => `metrics.m${i} > 0`).join(' AND '), `attributes.run_id IN (${Array.from({ length: 5000 }, (_, i) => `'${i}'`).join(',')})`, `name = '${LONG}'`];
    case 'order_by':
      return [Array.from({ length: 64 }, (_, i) => `metrics.m${i}`), [`${LONG} DESC`]];
    case 'experiment_ids':
      return [Array.from({ length: 50_000 }, (_, i) => String(i)), ['-1', '1e308', 'x']];
    case 'max_results': case 'limit': case 'depth': case 'trials': case 'step': case 'timestamp': case 'start_time': case 'end_time': case 'since': case 'after_seq': case 'schema_version':
      return [2 ** 53, -(2 ** 53), 0, '99999999999999999999'];
    default:
      // A long string or a long list, taking turns across routes so each parameter gets both.
      return [turn % 2 ? LONG : MANY];
  }
}

function queryOf(params: Record<string, unknown>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    const vs = Array.isArray(v) ? v.slice(0, 200) : [v];
    for (const x of vs) q.append(k, typeof x === 'string' ? x : JSON.stringify(x) ?? '');
  }
  return q.toString();
}

describe('route fuzzer', () => {
  let s: TestServer;
  let routes: Route[];
  let params: string[];
  let base: Record<string, unknown>;
  const failures: string[] = [];
  let sent = 0;

  before(async () => {
    s = await openTestServer();
    routes = registeredRoutes(s.app);
    params = knownParameters();
    const exp = await createExperiment(s.app, 'fuzz');
    const { runId } = await createRun(s.app, exp);
    assertOk(await call(s.app, 'POST', mlflow('/runs/log-metric'), { run_id: runId, key: 'm', value: 1, timestamp: 1 }));
    assertOk(await call(s.app, 'POST', mlflow('/registered-models/create'), { name: 'fuzz-model' }));
    // Valid values for the ids, so that bad values of the other fields get past the lookups.
    base = { run_id: runId, experiment_id: exp, experiment_ids: [exp], name: 'fuzz-model', version: '1', key: 'm', metric_key: 'm', value: 'v', alias: 'a' };
  });
  after(() => s.close());

  async function send(method: Method, url: string, payload?: string | Buffer, headers: Record<string, string> = {}): Promise<void> {
    sent++;
    const r = await s.app.inject({ method, url, payload, headers });
    if (r.statusCode >= 500) {
      let code: unknown;
      try {
        code = (JSON.parse(r.body) as { error_code?: unknown }).error_code;
      } catch {
        code = undefined;
      }
      // 501 is the honest answer of a route that is not implemented.
      if (r.statusCode === 501 && code === 'NOT_IMPLEMENTED') return;
      const shown = typeof payload === 'string' ? payload.slice(0, 120) : payload ? `<${payload.length} bytes>` : '';
      failures.push(`${method} ${url.slice(0, 160)} ${shown} → ${r.statusCode} ${r.body.slice(0, 200)}`);
    }
  }

  async function sendParams(r: Route, url: string, p: Record<string, unknown>): Promise<void> {
    if (r.method === 'GET') return send('GET', `${url}?${queryOf(p)}`);
    let body: string;
    try {
      body = JSON.stringify(p);
    } catch {
      return;
    }
    return send(r.method, url, body, { 'content-type': 'application/json' });
  }

  it('reads the routes from the router', () => {
    assert.ok(routes.length > 60, `${routes.length} routes`);
    // The table was read right: each path is a route of the server.
    for (const r of routes) assert.ok(s.app.hasRoute({ method: r.method, url: r.url }), `${r.method} ${r.url}`);
    for (const want of ['POST /api/2.0/mlflow/runs/search', 'GET /api/2.0/mlflow/registered-models/search', 'POST /api/2.0/trellis/pipelines/versions', 'PUT /api/2.0/mlflow-artifacts/artifacts/*', 'POST /api/2.0/mlflow-artifacts/mpu/*']) {
      assert.ok(routes.some((r) => `${r.method} ${r.url}` === want), `${want} is among ${routes.map((r) => `${r.method} ${r.url}`).join(', ')}`);
    }
    assert.ok(params.includes('page_token') && params.includes('experiment_ids') && params.includes('dedupe_key'), params.join(', '));
  });

  it('answers every route below 500 whatever it is sent', async () => {
    // Every known parameter nested 10,000 arrays deep, written as text (JSON.stringify cannot).
    const deepBody = `{${params.map((p) => `"${p}":${'['.repeat(10_000)}${']'.repeat(10_000)}`).join(',')}}`;
    for (const [ri, r] of routes.entries()) {
      const urls = r.url.includes('*')
        ? ['model', '../../x', 'a%00b', 'x'.repeat(5000), '%2e%2e/%2e%2e/etc'].map((tail) => r.url.replace('*', tail))
        : [r.url];
      for (const url of urls) {
        // No body, an empty body, a body that is not JSON, JSON that is not an object, the wrong type.
        await send(r.method, url);
        if (r.method !== 'GET') {
          await send(r.method, url, '', { 'content-type': 'application/json' });
          await send(r.method, url, '{"name": "x",', { 'content-type': 'application/json' });
          await send(r.method, url, '[1,2,3]', { 'content-type': 'application/json' });
          await send(r.method, url, '"{\\"a\\":1}"', { 'content-type': 'application/json' });
          await send(r.method, url, 'name=x', { 'content-type': 'application/x-www-form-urlencoded' });
          await send(r.method, url, Buffer.from([0xff, 0xfe, 0x00, 0x01]), { 'content-type': 'application/octet-stream' });
          await send(r.method, url, deepBody, { 'content-type': 'application/json' });
        }
        // Every known parameter at once, with each bad value (the first one the route reads answers).
        for (const v of BAD) await sendParams(r, url, Object.fromEntries(params.map((p) => [p, v])));
        // Each parameter alone with hostile values of its own type, over valid ids.
        for (const [pi, p] of params.entries()) for (const v of hostile(p, ri + pi)) await sendParams(r, url, { ...base, [p]: v });
      }
    }
    assert.deepEqual(failures, [], `${failures.length} of ${sent} requests answered 5xx`);
    assert.ok(sent > 1000, `${sent} requests`);
  });
});
