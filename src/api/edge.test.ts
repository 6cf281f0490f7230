/**
 * The checks at the server's HTTP edge: a Host it does not answer to, a cross-origin write, a body
 * type a web form can send to the dataset upload, slow clients, and the headers every response
 * carries. Each attack is refused before a route runs, so nothing is recorded; what legitimate
 * clients send (the inject default Host, a loopback Host with a port, no Origin, the same origin)
 * still works.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type AddressInfo } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Workspace } from '../workspace/workspace.js';
import { LOOPBACK_HOSTS, allowedHostNames, parseAllowedHosts } from './edge.js';
import { buildServer, DEFAULT_HEADERS_TIMEOUT_MS, DEFAULT_KEEP_ALIVE_TIMEOUT_MS, DEFAULT_REQUEST_TIMEOUT_MS, type BuildServerOptions } from './server.js';
import { assertError, assertOk, mlflow, toRes, type Res } from './test-helpers/server.js';

interface Served {
  app: FastifyInstance;
  ws: Workspace;
  port: number;
  close(): Promise<void>;
}

/** A server listening on a free loopback port, over a fresh workspace. */
async function serve(opts: BuildServerOptions = {}, listen = true): Promise<Served> {
  const dir = await mkdtemp(join(tmpdir(), 'trellis-edge-'));
  const ws = await Workspace.open({ store: `sqlite:${dir}/t.db`, artifacts: `file:${dir}/a` });
  const app = await buildServer(ws, { version: '9.9.9-test', ...opts });
  if (listen) await app.listen({ host: '127.0.0.1', port: 0 });
  else await app.ready();
  return {
    app, ws, port: listen ? (app.server.address() as AddressInfo).port : 0,
    async close() {
      await app.close();
      await ws.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

async function req(app: FastifyInstance, method: Method, url: string, headers: Record<string, string> = {}, payload?: string | Buffer): Promise<Res> {
  return toRes(await app.inject({ method, url, headers, payload }));
}

const json = { 'content-type': 'application/json' };
const createExperiment = (app: FastifyInstance, name: string, headers: Record<string, string> = {}) =>
  req(app, 'POST', mlflow('/experiments/create'), { ...json, ...headers }, JSON.stringify({ name }));

async function experimentNames(ws: Workspace): Promise<string[]> {
  return (await ws.tracking.searchExperiments({ maxResults: 1000 })).items.map((e) => e.name).sort();
}

/** Sends `text` over a raw socket and resolves with what came back and how long until the server closed it. */
function rawExchange(port: number, text: string, maxWaitMs = 10_000): Promise<{ response: string; closedAfterMs: number; closedByServer: boolean }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = connect(port, '127.0.0.1');
    let response = '';
    const giveUp = setTimeout(() => {
      socket.destroy();
      resolve({ response, closedAfterMs: Date.now() - started, closedByServer: false });
    }, maxWaitMs);
    socket.on('connect', () => socket.write(text));
    socket.on('data', (b: Buffer) => { response += b.toString('latin1'); });
    socket.on('error', (e) => { clearTimeout(giveUp); reject(e); });
    socket.on('close', () => {
      clearTimeout(giveUp);
      resolve({ response, closedAfterMs: Date.now() - started, closedByServer: true });
    });
  });
}

const statusOf = (response: string): number => Number(/^HTTP\/1\.[01] (\d{3})/.exec(response)?.[1] ?? 0);
const bodyOf = (response: string): { error_code?: string; message?: string; trellis_code?: string } =>
  JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4)) as { error_code?: string; message?: string };

describe('Host allowlist (DNS rebinding)', () => {
  let s: Served;
  before(async () => { s = await serve({ bindHost: '127.0.0.1' }); });
  after(async () => { await s.close(); });

  it('answers the inject default Host and the loopback names with any port', async () => {
    assert.equal((await req(s.app, 'GET', '/health')).status, 200, 'inject sends Host: localhost:80');
    for (const host of ['localhost', 'localhost:5000', '127.0.0.1:5000', '[::1]:5000', '[::1]', 'LOCALHOST:80', 'localhost.:5000']) {
      const r = await req(s.app, 'GET', mlflow('/experiments/search?max_results=1'), { host });
      assertOk(r);
    }
    assertOk(await createExperiment(s.app, 'from-loopback', { host: '127.0.0.1:5000' }));
  });

  it('refuses a foreign Host with 403, naming the host and the option that allows it', async () => {
    for (const host of ['evil.example', 'evil.example:5000', '127.0.0.1.nip.io', '127.0.0.1.nip.io:5000', 'localhost.evil.example', 'localhost@evil.example', '10.0.0.1:5000']) {
      const r = await req(s.app, 'GET', mlflow('/experiments/search?max_results=1'), { host });
      assertError(r, 403, 'PERMISSION_DENIED', `Host '${host}' is not allowed`);
      assert.equal(r.json.trellis_code, 'TRELLIS_HOST_NOT_ALLOWED');
    }
    const r = await req(s.app, 'GET', '/health', { host: 'evil.example:5000' });
    assert.equal(r.json.message, "Host 'evil.example:5000' is not allowed: this server answers to localhost, 127.0.0.1, [::1]; "
      + 'to allow the name, start the server with --allowed-hosts evil.example (or TRELLIS_ALLOWED_HOSTS=evil.example)');
    // An unknown path is refused as well, before the router says whether it exists.
    assertError(await req(s.app, 'GET', '/no-such-route', { host: 'evil.example' }), 403, 'PERMISSION_DENIED');
  });

  it('records nothing for a write under a rebinding name', async () => {
    for (const host of ['evil.example', '127.0.0.1.nip.io:5000']) {
      assertError(await createExperiment(s.app, `rebound-${host}`, { host }), 403, 'PERMISSION_DENIED');
    }
    assert.ok(!(await experimentNames(s.ws)).some((n) => n.startsWith('rebound')));
  });

  it('refuses an empty or missing Host over a real socket', async () => {
    const empty = await rawExchange(s.port, 'GET /health HTTP/1.1\r\nHost: \r\nConnection: close\r\n\r\n');
    assert.equal(statusOf(empty.response), 403, empty.response);
    assert.equal(bodyOf(empty.response).trellis_code, 'TRELLIS_HOST_NOT_ALLOWED');
    assert.match(bodyOf(empty.response).message ?? '', /names no host/);
    const http10 = await rawExchange(s.port, 'GET /health HTTP/1.0\r\n\r\n');
    assert.equal(statusOf(http10.response), 403, http10.response);
    // HTTP/1.1 without Host is malformed: Node answers 400 before any route.
    const http11 = await rawExchange(s.port, 'GET /health HTTP/1.1\r\nConnection: close\r\n\r\n');
    assert.equal(statusOf(http11.response), 400, http11.response);
    // And a real client on the loopback address gets through.
    const ok = await rawExchange(s.port, `GET /health HTTP/1.1\r\nHost: 127.0.0.1:${s.port}\r\nConnection: close\r\n\r\n`);
    assert.equal(statusOf(ok.response), 200, ok.response);
  });

  it('takes the names given with allowedHosts, a name:port only on that port, and * for any', async () => {
    const t = await serve({ allowedHosts: ['mlflow.example.com', 'other.example:8080', '10.1.2.3'] }, false);
    try {
      assertOk(await req(t.app, 'GET', '/health', { host: 'mlflow.example.com' }));
      assertOk(await req(t.app, 'GET', '/health', { host: 'MLflow.Example.com:5000' }));
      assertOk(await req(t.app, 'GET', '/health', { host: 'other.example:8080' }));
      assertOk(await req(t.app, 'GET', '/health', { host: '10.1.2.3:5000' }));
      assertError(await req(t.app, 'GET', '/health', { host: 'other.example:9090' }), 403, 'PERMISSION_DENIED');
      assertError(await req(t.app, 'GET', '/health', { host: 'sub.mlflow.example.com' }), 403, 'PERMISSION_DENIED');
    } finally {
      await t.close();
    }
    const any = await serve({ allowedHosts: ['*'] }, false);
    try {
      assertOk(await req(any.app, 'GET', '/health', { host: 'anything.example:1234' }));
      assertError(await req(any.app, 'GET', '/health', { host: 'a b' }), 403, 'PERMISSION_DENIED', 'not a host name');
    } finally {
      await any.close();
    }
  });

  it('answers to the address it is bound to, and every interface address on a wildcard bind', () => {
    const names = (bindHost: string) => allowedHostNames({ bindHost })!.map((h) => h.name);
    assert.deepEqual(names('10.9.8.7'), [...LOOPBACK_HOSTS, '10.9.8.7']);
    assert.deepEqual(names('trellis.internal'), [...LOOPBACK_HOSTS, 'trellis.internal']);
    assert.deepEqual(names('fd00::5'), [...LOOPBACK_HOSTS, '[fd00::5]']);
    const own = Object.values(networkInterfaces()).flatMap((l) => (l ?? []).map((i) => (i.family === 'IPv6' ? `[${i.address.replace(/%.*$/, '')}]` : i.address)));
    const wildcard = names('0.0.0.0');
    for (const a of own) assert.ok(wildcard.includes(a), `${a} in ${wildcard.join(', ')}`);
    assert.equal(allowedHostNames({ allowedHosts: ['*'] }), undefined);
  });

  it('refuses an allowed-hosts entry that is not a host name, naming it', () => {
    assert.deepEqual(parseAllowedHosts(' a.example , b.example:8080,,[::1],fd00::1,* '), ['a.example', 'b.example:8080', '[::1]', 'fd00::1', '*']);
    for (const bad of ['http://a.example', 'a.example/path', 'user@a.example', 'a b', 'a.example:99999', '.example']) {
      assert.throws(() => parseAllowedHosts(bad), (e: Error) => e.message.includes(`'${bad.trim()}' is not a host name`), bad);
    }
  });
});

describe('Origin on state-changing requests', () => {
  let s: Served;
  before(async () => { s = await serve(); });
  after(async () => { await s.close(); });

  it('refuses a cross-site POST and Origin: null, and records nothing', async () => {
    const evil = await createExperiment(s.app, 'csrf-evil', { origin: 'https://evil.example' });
    assertError(evil, 403, 'PERMISSION_DENIED', 'from a page at https://evil.example');
    assert.equal(evil.json.trellis_code, 'TRELLIS_ORIGIN_NOT_ALLOWED');
    assertError(await createExperiment(s.app, 'csrf-null', { origin: 'null' }), 403, 'PERMISSION_DENIED', 'Origin: null');
    // Another page on this machine (another port, another loopback name) is another origin.
    assertError(await createExperiment(s.app, 'csrf-port', { host: 'localhost:5000', origin: 'http://localhost:3000' }), 403, 'PERMISSION_DENIED');
    assertError(await createExperiment(s.app, 'csrf-name', { host: 'localhost:5000', origin: 'http://127.0.0.1:5000' }), 403, 'PERMISSION_DENIED');
    assertError(await createExperiment(s.app, 'csrf-scheme', { host: 'localhost:5000', origin: 'file://' }), 403, 'PERMISSION_DENIED');
    assert.ok(!(await experimentNames(s.ws)).some((n) => n.startsWith('csrf')));
  });

  it('refuses cross-site artifact PUT and DELETE, dataset uploads and PATCH/DELETE JSON calls', async () => {
    const origin = { origin: 'https://evil.example' };
    assertError(await req(s.app, 'PUT', '/api/2.0/mlflow-artifacts/artifacts/0/x/artifacts/a.txt', { ...origin, 'content-type': 'text/plain' }, 'pwned'), 403, 'PERMISSION_DENIED');
    assertError(await req(s.app, 'GET', '/api/2.0/mlflow-artifacts/artifacts/0/x/artifacts/a.txt'), 404, 'RESOURCE_DOES_NOT_EXIST');
    assertError(await req(s.app, 'POST', '/api/2.0/trellis/datasets/versions?name=csrf&format=csv', { ...origin, 'content-type': 'text/csv' }, 'a,b\n1,2\n'), 403, 'PERMISSION_DENIED');
    assert.deepEqual((await req(s.app, 'GET', '/api/2.0/trellis/datasets')).json.datasets ?? [], []);
    assertOk(await createExperiment(s.app, 'keep-me'));
    assertError(await req(s.app, 'POST', mlflow('/experiments/delete'), { ...origin, ...json }, JSON.stringify({ experiment_id: '1' })), 403, 'PERMISSION_DENIED');
    assertError(await req(s.app, 'DELETE', '/api/2.0/mlflow-artifacts/artifacts/0/x/artifacts/a.txt', origin), 403, 'PERMISSION_DENIED');
    assert.ok((await experimentNames(s.ws)).includes('keep-me'));
  });

  it('lets through a POST without Origin, a same-origin POST, and reads with any Origin', async () => {
    assertOk(await createExperiment(s.app, 'no-origin'));
    assertOk(await createExperiment(s.app, 'same-origin', { host: 'localhost:5000', origin: 'http://localhost:5000' }));
    assertOk(await createExperiment(s.app, 'same-origin-default-port', { host: 'localhost', origin: 'http://localhost' }));
    assertOk(await createExperiment(s.app, 'same-origin-v6', { host: '[::1]:5000', origin: 'http://[::1]:5000' }));
    assertOk(await createExperiment(s.app, 'same-origin-tls-proxy', { host: '127.0.0.1', origin: 'https://127.0.0.1' }));
    assertOk(await req(s.app, 'GET', mlflow('/experiments/search?max_results=1'), { origin: 'https://evil.example' }));
    const names = await experimentNames(s.ws);
    for (const n of ['no-origin', 'same-origin', 'same-origin-default-port', 'same-origin-v6', 'same-origin-tls-proxy']) assert.ok(names.includes(n), n);
  });
});

describe('body types', () => {
  let s: Served;
  before(async () => { s = await serve(); });
  after(async () => { await s.close(); });
  const upload = (ct: string | undefined, name: string, body = 'a,b\n1,2\n3,4\n') =>
    req(s.app, 'POST', `/api/2.0/trellis/datasets/versions?name=${name}&format=csv`, ct === undefined ? {} : { 'content-type': ct }, body);
  const datasets = async (): Promise<string[]> => ((await req(s.app, 'GET', '/api/2.0/trellis/datasets')).json.datasets ?? []).map((d: { name: string }) => d.name).sort();

  it('a JSON route takes application/json only: the types a web form sends are refused and nothing is recorded', async () => {
    for (const ct of ['text/plain', 'text/plain; charset=utf-8', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      assertError(await req(s.app, 'POST', mlflow('/experiments/create'), { 'content-type': ct }, '{"name":"form-made"}'), 400, 'INVALID_PARAMETER_VALUE', 'Content-Type must be one of [application/json]');
    }
    assert.ok(!(await experimentNames(s.ws)).includes('form-made'));
    assertOk(await req(s.app, 'POST', mlflow('/experiments/create'), { 'content-type': 'application/json; charset=utf-8' }, '{"name":"json-made"}'));
    // A POST without a body and without a type still works where it did.
    assertOk(await req(s.app, 'POST', mlflow('/experiments/search')));
  });

  it('the dataset upload refuses text/plain and the form types, naming what it takes, and records nothing', async () => {
    for (const ct of ['text/plain', 'text/plain;charset=UTF-8', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json', 'text/html']) {
      const r = await upload(ct, 'formed');
      assertError(r, 400, 'INVALID_PARAMETER_VALUE', `does not take Content-Type ${ct}`);
      assert.match(r.json.message, /application\/octet-stream/);
    }
    assert.deepEqual(await datasets(), []);
  });

  it('the dataset upload takes the data types the SDK, the CLI and curl send, and no type at all', async () => {
    assertOk(await upload('application/octet-stream', 'octets'));
    assertOk(await upload('text/csv; charset=utf-8', 'csv'));
    assertOk(await upload(undefined, 'untyped'));
    assertOk(await req(s.app, 'POST', '/api/2.0/trellis/datasets/versions?name=lines&format=jsonl', { 'content-type': 'application/x-ndjson' }, '{"a":1}\n{"a":2}\n'));
    assert.deepEqual(await datasets(), ['csv', 'lines', 'octets', 'untyped']);
  });

  it('an artifact PUT takes any type: the MLflow client sends a .txt file as text/plain', async () => {
    const path = '/api/2.0/mlflow-artifacts/artifacts/0/r/artifacts/notes.txt';
    assertOk(await req(s.app, 'PUT', path, { 'content-type': 'text/plain' }, 'hello'));
    const back = await req(s.app, 'GET', path);
    assert.equal(back.body, 'hello');
    // Served by the artifact plugin, with the headers every response carries.
    assert.equal(back.headers['x-frame-options'], 'DENY');
    assert.equal(back.headers['content-security-policy'], "default-src 'none'; frame-ancestors 'none'");
  });
});

describe('security headers', () => {
  let s: Served;
  before(async () => { s = await serve(); });
  after(async () => { await s.close(); });

  const assertHeaders = (r: Res, what: string) => {
    assert.equal(r.headers['x-content-type-options'], 'nosniff', what);
    assert.equal(r.headers['x-frame-options'], 'DENY', what);
    assert.equal(r.headers['referrer-policy'], 'no-referrer', what);
    assert.match(String(r.headers['content-security-policy']), /frame-ancestors 'none'/, what);
  };

  it('are on every response: JSON, plain text, errors, refusals, the HTML pages', async () => {
    const health = await req(s.app, 'GET', '/health');
    assertHeaders(health, '/health');
    assert.equal(health.headers['content-security-policy'], "default-src 'none'; frame-ancestors 'none'");
    assertHeaders(await req(s.app, 'GET', mlflow('/experiments/search?max_results=1')), 'JSON');
    assertHeaders(await req(s.app, 'GET', '/no-such-route'), '404');
    assertHeaders(await req(s.app, 'GET', '/health', { host: 'evil.example' }), 'Host refused');
    assertHeaders(await createExperiment(s.app, 'x', { origin: 'null' }), 'Origin refused');
    const page = await req(s.app, 'GET', '/', { accept: 'text/html' });
    assert.match(String(page.headers['content-type']), /^text\/html/);
    assertHeaders(page, 'root page');
    assert.match(page.body, /<h1>Trellis 9\.9\.9-test<\/h1>/);
  });

  it('keep a route\'s own Content-Security-Policy and add frame-ancestors to it', async () => {
    assertOk(await req(s.app, 'POST', '/api/2.0/trellis/datasets/versions?name=h&format=csv', { 'content-type': 'text/csv' }, 'a,b\n1,2\n3,4\n'));
    const report = await req(s.app, 'GET', '/api/2.0/trellis/datasets/profile?name=h&format=html');
    assertOk(report);
    assert.match(String(report.headers['content-type']), /^text\/html/);
    assert.equal(report.headers['content-security-policy'], "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'");
    assertHeaders(report, 'profile report');
  });
});

describe('timeouts', () => {
  it('default to 10 s for headers, 1 hour for a whole request, 72 s for an idle keep-alive connection', async () => {
    const s = await serve({}, false);
    try {
      assert.equal(s.app.server.headersTimeout, DEFAULT_HEADERS_TIMEOUT_MS);
      assert.equal(s.app.server.requestTimeout, DEFAULT_REQUEST_TIMEOUT_MS);
      assert.equal(s.app.server.keepAliveTimeout, DEFAULT_KEEP_ALIVE_TIMEOUT_MS);
      assert.equal(DEFAULT_HEADERS_TIMEOUT_MS, 10_000);
    } finally {
      await s.close();
    }
  });

  it('close a connection whose headers never finish, and one whose body never ends', async () => {
    const s = await serve({ headersTimeoutMs: 400, requestTimeoutMs: 1200 });
    try {
      // Slow headers: a partial header line, then nothing.
      const slowHeaders = await rawExchange(s.port, `GET /health HTTP/1.1\r\nHost: 127.0.0.1:${s.port}\r\nX-Slow: aaa`);
      assert.ok(slowHeaders.closedByServer, 'the server closed the connection');
      assert.ok(slowHeaders.closedAfterMs < 3000, `closed after ${slowHeaders.closedAfterMs} ms`);
      assert.equal(statusOf(slowHeaders.response), 408, slowHeaders.response);
      // Slow body: the headers promise 1000 bytes, 10 arrive.
      const slowBody = await rawExchange(s.port, `POST /api/2.0/trellis/datasets/versions?name=slow&format=csv HTTP/1.1\r\nHost: 127.0.0.1:${s.port}\r\nContent-Type: text/csv\r\nContent-Length: 1000\r\n\r\na,b\n1,2\n3,`);
      assert.ok(slowBody.closedByServer, 'the server closed the connection');
      assert.ok(slowBody.closedAfterMs < 5000, `closed after ${slowBody.closedAfterMs} ms`);
      // Many of them do not stop the server from answering.
      const held = await Promise.all(Array.from({ length: 50 }, () => rawExchange(s.port, 'GET /health HTTP/1.1\r\nHost: local')));
      assert.ok(held.every((h) => h.closedByServer && h.closedAfterMs < 3000));
      assertOk(await req(s.app, 'GET', '/health'));
      assert.deepEqual((await req(s.app, 'GET', '/api/2.0/trellis/datasets')).json.datasets ?? [], []);
    } finally {
      await s.close();
    }
  });
});
