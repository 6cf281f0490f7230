/**
 * The infer route's common case, answered from `node:http` before the framework, against the
 * framework's own route for the same requests: over a real socket and through `inject` (which
 * goes straight to the framework), every request gets the same status, body and headers. The
 * plain requests must not reach the framework; compressed, chunked, binary and oversized ones
 * must. Access is checked before the body on both paths.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import { ServingEngine } from '../../serving/engine.js';
import { ServingMetrics } from '../../serving/metrics.js';
import { Workspace } from '../../workspace/workspace.js';
import { buildServingApp } from './app.js';
import { workspaceSource } from './source.js';
import { ADULT, ROW, authorizeGoodToken, columns } from './test-helpers/adult.js';

const who = { actor: 'alice' };
type Row = Record<string, unknown>;

interface Answer { status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }

/** One request over a real socket, the body sent as given (chunked when `length` is false). */
function send(port: number, method: string, path: string, headers: Record<string, string>, body?: Buffer | string, length = true): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const b = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(body);
    const req = request({ host: '127.0.0.1', port, method, path, headers: { ...headers, ...(b && length ? { 'content-length': String(b.length) } : {}) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    if (b && !length) {
      req.write(b.subarray(0, 10));
      req.end(b.subarray(10));
    } else req.end(b);
  });
}

const SAME_HEADERS = ['x-request-id', 'x-model-endpoint', 'x-model-version', 'x-route', 'content-type', 'www-authenticate', 'inference-header-content-length'];

describe('the infer route answered before the framework', () => {
  let dir: string;
  let ws: Workspace;
  let engine: ServingEngine;
  let app: FastifyInstance;
  let port: number;
  const framework: string[] = [];
  const metrics = new ServingMetrics();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-plain-'));
    ws = await Workspace.open({ store: `sqlite:${join(dir, 't.db')}`, artifacts: `file:${join(dir, 'a')}` });
    await ws.training.train({ data: ADULT, target: 'income', algo: 'gbdt', params: { trees: '5' }, register: 'income' }, who);
    await ws.training.train({ data: ADULT, target: 'hours-per-week', algo: 'linear', register: 'hours' }, who);
    await ws.deployments.create('income', { model: 'income/1' }, who);
    await ws.deployments.create('hours', { model: 'hours/1' }, who);
    engine = new ServingEngine({ source: workspaceSource(ws), pollMs: 60_000, random: () => 0.5 });
    await engine.start();
    app = await buildServingApp({ engine, maxBodyBytes: 64 * 1024, maxBatch: 50, metrics });
    app.addHook('onRequest', async (req) => {
      framework.push(`${req.method} ${req.url}`);
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as { port: number }).port;
  });
  after(async () => {
    await app?.close();
    await engine?.stop();
    await ws?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const json = { 'content-type': 'application/json' };
  const body = (doc: unknown) => JSON.stringify(doc);
  const { 'hours-per-week': _h, ...HOURS_ROW } = ROW;
  const hoursColumns = (rows: Row[]) => [
    ...columns(rows).filter((c) => c.name !== 'hours-per-week'),
    { name: 'income', datatype: 'BYTES', shape: [rows.length], data: rows.map(() => '<=50K') },
  ];

  /** [what, path, headers, body, taken by the plain path, expected status] */
  const cases: [string, string, Record<string, string>, string | Buffer, boolean, number][] = [
    ['one row', '/v2/models/income/infer', json, body({ inputs: columns([ROW]) }), true, 200],
    ['three rows, [N,1] shapes, an id', '/v2/models/income/infer', json, body({ id: 'abc', inputs: columns([ROW, { ...ROW, age: 60 }, { ...ROW, sex: null }], (n) => [n, 1]) }), true, 200],
    ['a regression model', '/v2/models/hours/infer', json, body({ inputs: hoursColumns([HOURS_ROW, { ...HOURS_ROW, age: 20 }]) }), true, 200],
    ['a version in the path', '/v2/models/income/versions/1/infer', json, body({ inputs: columns([ROW]) }), true, 200],
    ['a version not on traffic', '/v2/models/income/versions/7/infer', json, body({ inputs: columns([ROW]) }), true, 404],
    ['an unknown endpoint', '/v2/models/nope/infer', json, body({ inputs: columns([ROW]) }), true, 404],
    ['the endpoint in other letter case', '/v2/models/INCOME/infer', json, body({ inputs: columns([ROW]) }), true, 200],
    ['a charset in the content type', '/v2/models/income/infer', { 'content-type': 'Application/JSON; charset=utf-8' }, body({ inputs: columns([ROW]) }), true, 200],
    ['a caller request id', '/v2/models/income/infer', { ...json, 'x-request-id': 'mine-1' }, body({ inputs: columns([ROW]) }), true, 200],
    ['a request id too long to keep', '/v2/models/income/infer', { ...json, 'x-request-id': 'x'.repeat(200) }, body({ inputs: columns([ROW]) }), true, 200],
    ['outputs asked for by name', '/v2/models/income/infer', json, body({ inputs: columns([ROW]), outputs: [{ name: 'proba' }] }), true, 200],
    ['outputs as binary data', '/v2/models/income/infer', json, body({ inputs: columns([ROW]), parameters: { binary_data_output: true } }), true, 200],
    ['not JSON', '/v2/models/income/infer', json, '{"inputs": [', true, 400],
    ['a missing column', '/v2/models/income/infer', json, body({ inputs: columns([ROW]).slice(1) }), true, 400],
    ['a string where a number goes', '/v2/models/income/infer', json, body({ inputs: columns([{ ...ROW, age: 'old' }]) }), true, 400],
    ['a number too large for a double', '/v2/models/income/infer', json, body({ inputs: columns([ROW]) }).replace('"data":[39]', '"data":[1e999]'), true, 400],
    ['a batch over the limit', '/v2/models/income/infer', json, body({ inputs: columns(Array.from({ length: 60 }, () => ROW)) }), true, 413],
    ['an empty batch', '/v2/models/income/infer', json, body({ inputs: columns([]) }), true, 400],
    ['KServe v1 rows', '/v1/models/income:predict', json, body({ instances: [ROW, { ...ROW, age: 70 }] }), true, 200],
    ['KServe v1 columns of a regression model', '/v1/models/hours:predict', json, body({ inputs: Object.fromEntries(hoursColumns([HOURS_ROW]).map((c) => [c.name, c.data])) }), true, 200],
    ['KServe v1, an unknown column', '/v1/models/income:predict', json, body({ instances: [{ ...ROW, color: 'red' }] }), true, 400],
    ['KServe v1, an unknown endpoint', '/v1/models/nope:predict', json, body({ instances: [ROW] }), true, 404],
    ['MLflow dataframe_split', '/invocations', { ...json, 'x-trellis-endpoint': 'income' }, body({ dataframe_split: { columns: Object.keys(ROW), data: [Object.values(ROW)] } }), true, 200],
    ['MLflow dataframe_records', '/invocations', { ...json, 'x-trellis-endpoint': 'hours' }, body({ dataframe_records: [{ ...HOURS_ROW, income: '>50K' }] }), true, 200],
    ['MLflow without an endpoint, two served', '/invocations', json, body({ dataframe_records: [ROW] }), true, 400],
    ['MLflow, a charset it does not read', '/invocations', { 'content-type': 'application/json; charset=latin1', 'x-trellis-endpoint': 'income' }, body({ dataframe_records: [ROW] }), true, 400],
    ['MLflow as CSV', '/invocations', { 'content-type': 'text/csv', 'x-trellis-endpoint': 'income' }, `${Object.keys(ROW).join(',')}\n${Object.values(ROW).join(',')}\n`, false, 200],
    ['text/plain', '/v2/models/income/infer', { 'content-type': 'text/plain' }, 'hello', false, 400],
    ['no content type', '/v2/models/income/infer', {}, body({ inputs: columns([ROW]) }), false, 400],
    ['gzip', '/v2/models/income/infer', { ...json, 'content-encoding': 'gzip' }, gzipSync(body({ inputs: columns([ROW]) })), false, 200],
    ['a body over the limit', '/v2/models/income/infer', json, body({ inputs: columns(Array.from({ length: 600 }, () => ROW)) }), false, 413],
    ['a query string', '/v2/models/income/infer?x=1', json, body({ inputs: columns([ROW]) }), false, 200],
    ['an encoded name', '/v2/models/inc%6Fme/infer', json, body({ inputs: columns([ROW]) }), false, 200],
  ];

  it('answers every request as the framework route does, and takes only the plain ones', async () => {
    for (const [what, path, headers, payload, plain, status] of cases) {
      framework.length = 0;
      const net = await send(port, 'POST', path, headers, payload);
      assert.equal(net.status, status, `${what}: ${net.body.toString()}`);
      assert.equal(framework.length, plain ? 0 : 1, `${what}: ${plain ? 'answered by the framework' : 'not seen by the framework'}`);
      const inj = await app.inject({ method: 'POST', url: path, headers, payload });
      assert.equal(net.status, inj.statusCode, what);
      assert.ok(net.body.equals(inj.rawPayload), `${what}: the same body\n${net.body.toString()}\n${inj.body}`);
      for (const h of SAME_HEADERS) {
        if (h === 'x-request-id') continue;
        assert.equal(net.headers[h], inj.headers[h], `${what}: header ${h}`);
      }
      const id = net.headers['x-request-id'];
      if (headers['x-request-id'] && headers['x-request-id'].length <= 128) assert.equal(id, headers['x-request-id'], what);
      else assert.match(String(id), /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, `${what}: a generated, time-ordered request id`);
    }
  });

  it('counts refused requests by the served endpoint they named, on both paths, and never by a name only the caller made up', async () => {
    const count = async () => {
      // A copy: prom-client hands out its live entries.
      const values = (await metrics.registry.getSingleMetric('trellis_requests_refused_total')!.get()).values.map((v) => ({ value: v.value, labels: { ...v.labels } }));
      return (endpoint: string, code: string) => values.filter((v) => v.labels.endpoint === endpoint && v.labels.code === code && v.labels.protocol === 'rest').reduce((a, v) => a + v.value, 0);
    };
    const before = await count();
    const bad = body({ inputs: columns([{ ...ROW, age: 'old' }]) });
    await send(port, 'POST', '/v2/models/income/infer', json, bad);
    await send(port, 'POST', '/v2/models/income/infer', { ...json, 'content-encoding': 'gzip' }, gzipSync(bad));
    await send(port, 'POST', '/v1/models/income:predict', json, body({ instances: [{ ...ROW, color: 'red' }] }));
    await send(port, 'POST', '/v2/models/made-up-1/infer', json, bad);
    await send(port, 'POST', '/v2/models/made-up-2/infer', { ...json, 'content-encoding': 'gzip' }, gzipSync(bad));
    await send(port, 'POST', '/v2/models/income/infer', json, body({ inputs: columns([ROW]) }));
    const after = await count();
    assert.equal(after('income', '400') - before('income', '400'), 3);
    assert.equal(after('', '404') - before('', '404'), 2);
    const labels = (await metrics.registry.getSingleMetric('trellis_requests_refused_total')!.get()).values.map((v) => v.labels.endpoint);
    assert.ok(!labels.some((l) => String(l).startsWith('made-up')), 'no label from an unknown name');
  });

  it('sends a chunked body to the framework, and answers after a torn-down request as before', async () => {
    framework.length = 0;
    const chunked = await send(port, 'POST', '/v2/models/income/infer', json, body({ inputs: columns([ROW]) }), false);
    assert.equal(chunked.status, 200);
    assert.equal(framework.length, 1);
    // A client that goes away with half its body sent leaves the server answering the next one.
    await new Promise<void>((resolve) => {
      const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/v2/models/income/infer', headers: { ...json, 'content-length': '5000' } });
      req.on('error', () => resolve());
      req.write('{"inputs": [');
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 50);
    });
    const next = await send(port, 'POST', '/v2/models/income/infer', json, body({ inputs: columns([ROW]) }));
    assert.equal(next.status, 200);
    const gauge = (await metrics.registry.getSingleMetric('trellis_requests_in_flight')!.get()).values.find((v) => v.labels.protocol === 'rest');
    assert.equal(gauge?.value ?? 0, 0, 'nothing left counted in flight');
  });

  it('leaves every request to the framework when its request log is on, so that each one is logged', async () => {
    const lines: string[] = [];
    const a = await buildServingApp({ engine, logger: { level: 'debug', stream: { write: (l: string) => lines.push(l) } } });
    await a.listen({ host: '127.0.0.1', port: 0 });
    try {
      const p = (a.server.address() as { port: number }).port;
      const res = await send(p, 'POST', '/v2/models/income/infer', { ...json, 'x-request-id': 'logged-1' }, body({ inputs: columns([ROW]) }));
      assert.equal(res.status, 200);
      assert.ok(lines.some((l) => l.includes('logged-1') && l.includes('request completed')), lines.join(''));
    } finally {
      await a.close();
    }
  });

  it('checks access before it reads the body, on both paths: 401 without a token, 403 with a bad one', async () => {
    const secured = new ServingEngine({
      source: workspaceSource(ws), endpoints: ['income'], pollMs: 60_000,
      authorize: authorizeGoodToken,
    });
    await secured.start();
    const a = await buildServingApp({ engine: secured });
    await a.listen({ host: '127.0.0.1', port: 0 });
    const p = (a.server.address() as { port: number }).port;
    try {
      const payloads: Record<string, string> = {
        '/v2/models/income/infer': body({ inputs: columns([ROW]) }), '/v2/models/income/versions/1/infer': body({ inputs: columns([ROW]) }),
        '/v1/models/income:predict': body({ instances: [ROW] }), '/invocations': body({ dataframe_records: [ROW] }),
      };
      for (const [path, payload] of Object.entries(payloads)) {
        const none = await send(p, 'POST', path, json, payload);
        assert.equal(none.status, 401, none.body.toString());
        assert.match(String(none.headers['www-authenticate']), /Bearer/);
        // Not even JSON: access is refused before the body is looked at.
        const bad = await send(p, 'POST', path, { ...json, authorization: 'Bearer bad' }, 'not json');
        assert.equal(bad.status, 403, bad.body.toString());
        assert.deepEqual(JSON.parse(bad.body.toString()), { error: "'eve' may not invoke" });
        const ok = await send(p, 'POST', path, { ...json, authorization: 'Bearer good' }, payload);
        assert.equal(ok.status, 200, ok.body.toString());
      }
    } finally {
      await a.close();
      await secured.stop();
    }
  });
});
