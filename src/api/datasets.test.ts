import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { OPENAPI_DOCUMENT, nativeRoutes } from './openapi.js';
import { buildServer } from './server.js';
import { assertError, assertOk, call, openTestServer, toRes, type Res, type TestServer } from './test-helpers/server.js';

const BIKE = readFileSync(fileURLToPath(new URL('../../examples/data/bike_sharing_hourly.csv', import.meta.url)));
const LINES = BIKE.toString('utf8').split('\r\n').filter((l) => l);
const HEADER = LINES[0]!.split(',');
/** The first 1,000 hours: a second, different version of the same dataset. */
const HEAD = Buffer.from(`${LINES.slice(0, 1001).join('\n')}\n`);

/** Rows of the file as a serving request sends them; every 37th row, so hours and weekdays are all sampled. */
function records(step = 37): Record<string, string | number>[] {
  return LINES.slice(1).filter((_, i) => i % step === 0).map((l) => {
    const cells = l.split(',');
    return Object.fromEntries(HEADER.map((h, j) => [h, h === 'dteday' ? cells[j]! : Number(cells[j])]));
  });
}

const api = (path: string) => `/api/2.0/trellis${path}`;

let t: TestServer;
let uploadTmp: string;
before(async () => {
  // Uploads are staged under the OS temp directory; a private one shows whether they are cleaned up.
  uploadTmp = mkdtempSync(join(tmpdir(), 'trellis-upload-test-'));
  process.env.TMPDIR = uploadTmp;
  t = await openTestServer();
});
after(async () => {
  await t.close();
  rmSync(uploadTmp, { recursive: true, force: true });
});

async function upload(query: string, payload: Buffer | string | Readable, contentType: string | null = 'text/csv'): Promise<Res> {
  return toRes(await t.app.inject({ method: 'POST', url: api(`/datasets/versions?${query}`), payload, headers: contentType ? { 'content-type': contentType } : {} }));
}

const stagedUploads = () => readdirSync(uploadTmp).filter((f) => f.startsWith('trellis-upload-'));

describe('dataset versions over REST', () => {
  test('upload: version 1, the same bytes again, then a second file as version 2', async () => {
    const first = await upload('name=bike&filename=bike_sharing_hourly.csv&subject_column=instant&description=hourly%20rentals', BIKE);
    assertOk(first);
    assert.equal(first.json.created, true);
    const v = first.json.dataset_version;
    assert.equal(v.version, 1);
    assert.equal(v.sha256, 'e03de4ee4ef4dc376ac6e04bf829673c6269e8eba5c60fa121640fa2f829504f');
    assert.equal(v.rows, 17379);
    assert.equal(v.columns, 17);
    assert.equal(v.size_bytes, BIKE.length);
    assert.equal(v.format, 'csv');
    assert.equal(v.created_by, 'anonymous');
    assert.equal(v.schema.format, 'trellis.schema/v1');
    assert.ok(!first.body.includes('"sketch"'), 'profile sketches stay on the server');

    const again = await upload('name=bike&format=csv', BIKE, 'application/octet-stream');
    assertOk(again);
    assert.equal(again.json.created, false);
    assert.equal(again.json.dataset_version.version, 1);

    // No filename: the format comes from the query, and any non-JSON type (or none) is a file.
    const second = await upload('name=bike&format=csv', HEAD, null);
    assertOk(second);
    assert.equal(second.json.created, true);
    assert.equal(second.json.dataset_version.version, 2);
    assert.equal(second.json.dataset_version.rows, 1000);
    assert.deepEqual(stagedUploads(), []);
  });

  test('list, versions and get', async () => {
    const list = await call(t.app, 'GET', api('/datasets'));
    assertOk(list);
    assert.deepEqual(list.json.datasets.map((d: { name: string; latest_version: number; subject_column: string; description: string }) =>
      [d.name, d.latest_version, d.subject_column, d.description]), [['bike', 2, 'instant', 'hourly rentals']]);

    const versions = await call(t.app, 'GET', api('/datasets/versions?name=bike'));
    assertOk(versions);
    assert.deepEqual(versions.json.dataset_versions.map((v: { version: number; rows: number }) => [v.version, v.rows]), [[1, 17379], [2, 1000]]);
    assert.ok(!versions.body.includes('"sketch"'));

    const latest = await call(t.app, 'GET', api('/datasets/get?name=bike'));
    assertOk(latest);
    assert.equal(latest.json.dataset_version.version, 2);
    const v1 = (await call(t.app, 'GET', api('/datasets/get?name=bike&version=1'))).json.dataset_version;
    assert.equal(v1.rows, 17379);
    const cnt = v1.profile.columns.find((c: { name: string }) => c.name === 'cnt');
    assert.ok(Math.abs(cnt.numeric.sum - 3_292_679) < 1e-6);
    assert.equal(cnt.sketch, undefined);
    assert.deepEqual(v1.schema.columns.find((c: { name: string }) => c.name === 'cnt').range, { min: 1, max: 977 });
    assert.equal((await call(t.app, 'GET', api('/datasets/get?name=bike&version=latest'))).json.dataset_version.version, 2);
    // The MLflow UI's prefix serves the same routes.
    assert.equal((await call(t.app, 'GET', '/ajax-api/2.0/trellis/datasets/get?name=bike&version=1')).json.dataset_version.rows, 17379);
  });

  test('diff and profile (JSON, with or without sketches, and HTML)', async () => {
    const d = await call(t.app, 'GET', api('/datasets/diff?a=bike@1&b=bike@2'));
    assertOk(d);
    assert.equal(d.json.diff.b.rows - d.json.diff.a.rows, 1000 - 17379);
    assert.equal(d.json.diff.identical, false);
    assert.deepEqual(d.json.diff.schema, { added: [], removed: [], retyped: [] });
    const yr = d.json.diff.columns.find((c: { column: string }) => c.column === 'yr');
    assert.ok(yr.distance.value > 0.4);
    assert.deepEqual([yr.distance.sample_size, yr.distance.reference_size], [1000, 17379]);

    const json = await call(t.app, 'GET', api('/datasets/profile?name=bike&version=1'));
    assertOk(json);
    assert.equal(json.json.profile.rows, 17379);
    assert.ok(!json.body.includes('"sketch"'));
    const full = await call(t.app, 'GET', api('/datasets/profile?name=bike&version=1&sketches=true'));
    assert.ok(full.json.profile.columns[0].sketch.hll);

    const html = await t.app.inject({ method: 'GET', url: api('/datasets/profile?name=bike&version=1&format=html') });
    assert.equal(html.statusCode, 200);
    assert.match(String(html.headers['content-type']), /^text\/html/);
    assert.match(String(html.headers['content-security-policy']), /default-src 'none'/);
    assert.ok(html.body.includes('<svg'));
    assert.ok(html.body.includes('Profile of bike@1'));
  });

  test('validate: a good batch passes; an out-of-range value fails and is named', async () => {
    const good = await call(t.app, 'POST', api('/datasets/validate'), { records: records(), against: 'bike@1' });
    assertOk(good);
    assert.equal(good.json.report.ok, true, JSON.stringify(good.json.report.anomalies));
    assert.equal(good.json.report.rows, records().length);
    assert.match(good.json.report.against, /bike@1/);
    assert.ok(good.json.report.distances.every((x: { reference_size: number }) => x.reference_size === 17379));

    const batch = records();
    batch[3]!.season = 7;
    batch[5]!.hum = 1.5;
    const bad = await call(t.app, 'POST', api('/datasets/validate'), { records: batch, against: 'bike@1' });
    assertOk(bad);
    assert.equal(bad.json.report.ok, false);
    const season = bad.json.report.anomalies.find((a: { column?: string }) => a.column === 'season');
    assert.equal(season.kind, 'out_of_range');
    assert.deepEqual(season.examples, [7]);
    assert.ok(bad.json.report.anomalies.some((a: { column?: string; kind: string }) => a.column === 'hum' && a.kind === 'out_of_range'));

    // At serving time the label is absent; with an explicit schema that says so, the batch passes.
    const schema = structuredClone((await call(t.app, 'GET', api('/datasets/get?name=bike&version=1'))).json.dataset_version.schema);
    schema.columns.find((c: { name: string }) => c.name === 'cnt').environments = ['training'];
    const serving = records().map(({ cnt: _c, ...rest }) => rest);
    const env = await call(t.app, 'POST', api('/datasets/validate'), { records: serving, against: 'bike@1', schema, environment: 'serving' });
    assertOk(env);
    assert.equal(env.json.report.ok, true, JSON.stringify(env.json.report.anomalies));
    assert.equal(env.json.report.environment, 'serving');
  });

  test('skew: serving records against the training profile', async () => {
    const hot = Array.from({ length: 200 }, (_, i) => ({ instant: i, dteday: '2012-07-01', season: 3, yr: 1, mnth: 7, hr: i % 24, holiday: 0, weekday: 0, workingday: 0, weathersit: 1, temp: 0.9, atemp: 0.85, hum: 0.3, windspeed: 0.1, casual: 50, registered: 200 }));
    const s = await call(t.app, 'POST', api('/datasets/skew'), { records: hot, against: 'bike@1' });
    assertOk(s);
    assert.ok(s.json.skew.skewed.includes('temp'));
    assert.ok(!s.json.skew.skewed.includes('hr'));
    assert.ok(s.json.skew.distances.every((d: { sample_size: number }) => d.sample_size === 200));
  });

  test('schema: store, pin and read back', async () => {
    assert.deepEqual((await call(t.app, 'GET', api('/datasets/schema?name=bike'))).json, {});
    const schema = structuredClone((await call(t.app, 'GET', api('/datasets/get?name=bike&version=1'))).json.dataset_version.schema);
    schema.columns.find((c: { name: string }) => c.name === 'hum').expectations = [{ kind: 'mean', min: 0.9 }];
    const put = await call(t.app, 'POST', api('/datasets/schema'), { name: 'bike', schema, pin: true });
    assertOk(put);
    assert.equal(put.json.dataset_schema.schema_version, 1);
    assert.equal(put.json.dataset_schema.pinned, true);
    const pinned = await call(t.app, 'GET', api('/datasets/schema?name=bike'));
    assert.deepEqual(pinned.json.dataset_schema.schema, schema);
    assert.equal((await call(t.app, 'GET', api('/datasets/schema?name=bike&schema_version=1'))).json.dataset_schema.schema_version, 1);
    assertError(await call(t.app, 'GET', api('/datasets/schema?name=bike&schema_version=9')), 404, 'RESOURCE_DOES_NOT_EXIST', 'no schema version 9');
    // The pinned schema is now the contract validation uses.
    const v = await call(t.app, 'POST', api('/datasets/validate'), { records: records(), against: 'bike@1' });
    assert.match(v.json.report.against, /schema 1 \(pinned\)/);
    assert.ok(v.json.report.anomalies.some((a: { kind: string; column?: string }) => a.kind === 'expectation' && a.column === 'hum'));
    assertError(await call(t.app, 'POST', api('/datasets/schema'), { name: 'bike', schema: { format: 'nope' } }), 400, 'INVALID_PARAMETER_VALUE', "'format' must be");
  });

  test('subjects: the versions holding a subject id', async () => {
    const r = await call(t.app, 'GET', api('/datasets/subjects?subject=500'));
    assertOk(r);
    assert.deepEqual(r.json.versions, [{ name: 'bike', version: 1 }, { name: 'bike', version: 2 }]);
    assert.deepEqual((await call(t.app, 'GET', api('/datasets/subjects?subject=nobody'))).json.versions, []);
  });
});

describe('bad input is a 4xx naming the problem', () => {
  test('uploads', async () => {
    assertError(await upload('format=csv', BIKE), 400, 'INVALID_PARAMETER_VALUE', "parameter 'name'");
    assertError(await upload('name=../etc&format=csv', BIKE), 400, 'INVALID_PARAMETER_VALUE', 'Invalid dataset name');
    assertError(await upload('name=x&format=xlsx', BIKE), 400, 'INVALID_PARAMETER_VALUE', "Unknown data format 'xlsx'");
    assertError(await upload('name=x', BIKE), 400, 'INVALID_PARAMETER_VALUE', 'Cannot tell the format');
    assertError(await upload('name=x&filename=data.bin', BIKE), 400, 'INVALID_PARAMETER_VALUE', 'Cannot tell the format');
    assertError(await upload('name=x&format=csv', '{"path": "/etc/passwd"}', 'application/json'), 400, 'INVALID_PARAMETER_VALUE', 'Content-Type');
    assertError(await upload('name=x&format=csv', '--b\r\n\r\n', 'multipart/form-data; boundary=b'), 400, 'INVALID_PARAMETER_VALUE', 'Content-Type');
    assertError(await upload('name=x&format=csv', ''), 400, 'INVALID_PARAMETER_VALUE', 'empty');
    assertError(await upload('name=x&filename=x.csv&subject_column=nope', HEAD), 400, 'INVALID_PARAMETER_VALUE', "Subject column 'nope'");

    // A malformed file: the error names the file as the client knows it and the line; nothing is recorded.
    const ragged = await upload('name=ragged&filename=ragged.csv', 'a,b\n1,2\n3\n');
    assertError(ragged, 400, 'INVALID_PARAMETER_VALUE', 'ragged.csv:3');
    assert.equal(ragged.json.trellis_code, 'TRELLIS_DATA_PARSE');
    assert.ok(!ragged.json.message.includes('trellis-upload-'), ragged.json.message);
    assertError(await call(t.app, 'GET', api('/datasets/versions?name=ragged')), 404, 'RESOURCE_DOES_NOT_EXIST');
    assert.ok(!(await call(t.app, 'GET', api('/datasets'))).json.datasets.some((d: { name: string }) => d.name === 'ragged'));
    assert.deepEqual(stagedUploads(), []);
  });

  test('uploads over the size limit are refused, declared or streamed', async () => {
    const small = await buildServer(t.ws, { maxUploadBytes: 1000 });
    try {
      const declared = await small.inject({ method: 'POST', url: api('/datasets/versions?name=big&format=csv'), payload: HEAD, headers: { 'content-type': 'text/csv' } });
      assert.equal(declared.statusCode, 400, declared.body);
      assert.equal(JSON.parse(declared.body).trellis_code, 'TRELLIS_LIMIT_EXCEEDED');
      const streamed = await small.inject({ method: 'POST', url: api('/datasets/versions?name=big&format=csv'), payload: Readable.from([HEAD.subarray(0, 800), HEAD.subarray(800, 1600)]), headers: { 'content-type': 'text/csv' } });
      assert.equal(streamed.statusCode, 400, streamed.body);
      assert.equal(JSON.parse(streamed.body).trellis_code, 'TRELLIS_LIMIT_EXCEEDED');
      assert.deepEqual(stagedUploads(), []);
      assertError(await call(small, 'GET', api('/datasets/versions?name=big')), 404, 'RESOURCE_DOES_NOT_EXIST');
    } finally {
      await small.close();
    }
  });

  test('reads and checks', async () => {
    assertError(await call(t.app, 'GET', api('/datasets/get?name=nope')), 404, 'RESOURCE_DOES_NOT_EXIST', "Dataset 'nope' not found");
    assertError(await call(t.app, 'GET', api('/datasets/get?name=bike&version=9')), 404, 'RESOURCE_DOES_NOT_EXIST', 'no version 9');
    assertError(await call(t.app, 'GET', api('/datasets/get')), 400, 'INVALID_PARAMETER_VALUE', "parameter 'name'");
    assertError(await call(t.app, 'GET', api('/datasets/get?name=bike&version=0')), 400, 'INVALID_PARAMETER_VALUE', "'version'");
    assertError(await call(t.app, 'GET', api('/datasets/get?name=bike&version=two')), 400, 'INVALID_PARAMETER_VALUE', "'version'");
    assertError(await call(t.app, 'GET', api('/datasets/versions?name=nope')), 404, 'RESOURCE_DOES_NOT_EXIST');
    assertError(await call(t.app, 'GET', api('/datasets/profile?name=bike&format=pdf')), 400, 'INVALID_PARAMETER_VALUE', "'format'");
    assertError(await call(t.app, 'GET', api('/datasets/diff?a=bike@1')), 400, 'INVALID_PARAMETER_VALUE', "parameter 'b'");
    assertError(await call(t.app, 'GET', api('/datasets/diff?a=bike@1&b=bike@x')), 400, 'INVALID_PARAMETER_VALUE', "no alias 'x' on dataset 'bike'");
    assertError(await call(t.app, 'POST', api('/datasets/validate'), { records: { instant: 1 }, against: 'bike@1' }), 400, 'INVALID_PARAMETER_VALUE', "parameter 'records'");
    assertError(await call(t.app, 'POST', api('/datasets/validate'), { records: [{ a: 1 }, 5], against: 'bike@1' }), 400, 'INVALID_PARAMETER_VALUE', "'records[1]'");
    assertError(await call(t.app, 'POST', api('/datasets/validate'), { against: 'bike@1' }), 400, 'INVALID_PARAMETER_VALUE', "parameter 'records'");
    assertError(await call(t.app, 'POST', api('/datasets/validate'), { records: [] }), 400, 'INVALID_PARAMETER_VALUE', "parameter 'against'");
    assertError(await call(t.app, 'POST', api('/datasets/validate'), { records: [], against: 'nope@1' }), 404, 'RESOURCE_DOES_NOT_EXIST');
    assertError(await call(t.app, 'POST', api('/datasets/validate'), 'records=1', { 'content-type': 'text/plain' }), 400, 'INVALID_PARAMETER_VALUE', 'Content-Type');
    assertError(await call(t.app, 'POST', api('/datasets/skew'), { records: 'x', against: 'bike@1' }), 400, 'INVALID_PARAMETER_VALUE', "parameter 'records'");
    assertError(await call(t.app, 'POST', api('/datasets/skew'), { records: [] }), 400, 'INVALID_PARAMETER_VALUE', "parameter 'against'");
    assertError(await call(t.app, 'POST', api('/datasets/schema'), { name: 'bike' }), 400, 'INVALID_PARAMETER_VALUE', "parameter 'schema'");
    assertError(await call(t.app, 'POST', api('/datasets/schema'), { name: 'nope', schema: {} }), 400, 'INVALID_PARAMETER_VALUE', 'Invalid schema');
    assertError(await call(t.app, 'GET', api('/datasets/schema?name=bike&schema_version=0')), 400, 'INVALID_PARAMETER_VALUE', "'schema_version'");
    assertError(await call(t.app, 'GET', api('/datasets/subjects')), 400, 'INVALID_PARAMETER_VALUE', "parameter 'subject'");
  });

  test('every documented operation, fed junk: never a 5xx, always an error body', async () => {
    const fields = ['name', 'version', 'format', 'a', 'b', 'records', 'against', 'schema', 'environment', 'pin', 'schema_version', 'subject', 'sketches', 'alias', 'stage', 'filename', 'subject_column'];
    const junk: unknown[] = [{ nested: true }, [1, 'x', null], '', -1, 'x'.repeat(300), '../../etc/passwd', 'bike@0'];
    for (const [path, item] of Object.entries(OPENAPI_DOCUMENT.paths)) {
      for (const method of Object.keys(item)) {
        for (const v of junk) {
          const values = Object.fromEntries(fields.map((f) => [f, v]));
          const qs = new URLSearchParams(Object.entries(values).map(([k, x]) => [k, typeof x === 'string' ? x : JSON.stringify(x)]));
          const res = method === 'get'
            ? await call(t.app, 'GET', api(`${path}?${qs}`))
            : path === '/datasets/versions'
              ? await upload(String(qs), 'a,b\n1\n')
              : await call(t.app, 'POST', api(path), values);
          assert.ok(res.status < 500, `${method} ${path} ${JSON.stringify(v)} → ${res.status} ${res.body.slice(0, 300)}`);
          if (res.status !== 200) assert.equal(typeof res.json?.error_code, 'string', `${method} ${path}: ${res.body.slice(0, 300)}`);
        }
      }
    }
  });
});

describe('OpenAPI document', () => {
  type Operation = { operationId?: string; responses?: Record<string, unknown>; parameters?: unknown[] };

  test('is served, and is a structurally sound OpenAPI 3 document', async () => {
    const res = await call(t.app, 'GET', api('/openapi.json'));
    assertOk(res);
    assert.deepEqual(res.json, JSON.parse(JSON.stringify(OPENAPI_DOCUMENT)));
    assert.deepEqual((await call(t.app, 'GET', '/ajax-api/2.0/trellis/openapi.json')).json, res.json);
    const doc = res.json;
    assert.match(doc.openapi, /^3\.\d+\.\d+$/);
    assert.equal(typeof doc.info.title, 'string');
    assert.equal(typeof doc.info.version, 'string');
    assert.ok(Object.keys(doc.paths).length >= 12);
    const ids = new Set<string>();
    for (const [path, item] of Object.entries(doc.paths as Record<string, Record<string, Operation>>)) {
      assert.match(path, /^\/[\w./-]+$/);
      for (const [method, op] of Object.entries(item)) {
        assert.ok(['get', 'post', 'put', 'patch', 'delete'].includes(method), `${method} ${path}`);
        assert.ok(op.operationId && !ids.has(op.operationId), `${method} ${path}: operationId missing or repeated`);
        ids.add(op.operationId);
        assert.ok(op.responses && Object.keys(op.responses).some((s) => /^2\d\d$/.test(s)), `${method} ${path} has no success response`);
        for (const p of (op.parameters ?? []) as { name: string; in: string; schema: unknown }[]) {
          assert.ok(p.name && p.in === 'query' && p.schema, `${method} ${path}: parameter ${JSON.stringify(p)}`);
        }
      }
    }
    // Every $ref points at something the document defines.
    const resolve = (pointer: string) => pointer.slice(2).split('/').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], doc);
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) node.forEach(walk);
      else if (node && typeof node === 'object') {
        for (const [k, v] of Object.entries(node)) {
          if (k === '$ref') assert.ok(typeof v === 'string' && v.startsWith('#/') && resolve(v) !== undefined, `unresolved $ref ${String(v)}`);
          else walk(v);
        }
      }
    };
    walk(doc);
  });

  test('documents exactly the native routes the server registers, under both prefixes', () => {
    const documented = new Set(Object.entries(OPENAPI_DOCUMENT.paths).flatMap(([path, item]) => Object.keys(item).map((m) => `${m.toUpperCase()} ${path}`)));
    for (const prefix of ['/api/2.0/trellis', '/ajax-api/2.0/trellis']) {
      const registered = new Set(nativeRoutes(t.app).filter((r) => r.url.startsWith(`${prefix}/`)).map((r) => `${r.method} ${r.url.slice(prefix.length)}`));
      assert.deepEqual([...registered].filter((r) => !documented.has(r)), [], `registered under ${prefix} but not documented`);
      assert.deepEqual([...documented].filter((r) => !registered.has(r)), [], `documented but not registered under ${prefix}`);
    }
  });
});
