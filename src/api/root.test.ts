/** The root page: what a browser or a client sees at the server's bare address. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { call, openTestServer, type TestServer } from './test-helpers/server.js';

let t: TestServer;
before(async () => { t = await openTestServer(); });
after(async () => { await t.close(); });

describe('GET /', () => {
  test('a browser gets a small HTML page naming Trellis, its version and where the API is', async () => {
    const res = await call(t.app, 'GET', '/', undefined, { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' });
    assert.equal(res.status, 200, res.body);
    assert.equal(res.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assert.match(String(res.headers['content-security-policy']), /default-src 'none'/);
    assert.match(String(res.headers.vary), /accept/i);
    assert.match(res.body, /^<!doctype html>/i);
    assert.match(res.body, /<title>Trellis 9\.9\.9-test<\/title>/);
    for (const pointer of ['/api/2.0/mlflow/', '/api/2.0/trellis/', '/api/2.0/trellis/openapi.json', '/health', '/version', 'README.md']) {
      assert.ok(res.body.includes(pointer), `the page lacks ${pointer}`);
    }
    assert.doesNotMatch(res.body, /https?:\/\//, 'no external links');
    assert.doesNotMatch(res.body, /<script/i);
  });

  test('no Accept header gets the page too', async () => {
    const res = await call(t.app, 'GET', '/');
    assert.equal(res.status, 200, res.body);
    assert.equal(res.headers['content-type'], 'text/html; charset=utf-8');
  });

  test('a client asking for JSON only gets the same pointers as JSON', async () => {
    const res = await call(t.app, 'GET', '/', undefined, { accept: 'application/json' });
    assert.equal(res.status, 200, res.body);
    assert.equal(res.headers['content-type'], 'application/json; charset=utf-8');
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assert.deepEqual(res.json, {
      name: 'Trellis',
      version: '9.9.9-test',
      api: {
        mlflow: '/api/2.0/mlflow/',
        mlflow_artifacts: '/api/2.0/mlflow-artifacts/',
        trellis: '/api/2.0/trellis/',
        openapi: '/api/2.0/trellis/openapi.json',
      },
      health: '/health',
      version_endpoint: '/version',
      docs: "README.md and docs/ in the project's repository",
    });
  });

  test('a client that takes both JSON and HTML gets HTML', async () => {
    const res = await call(t.app, 'GET', '/', undefined, { accept: 'application/json, text/html;q=0.5' });
    assert.equal(res.headers['content-type'], 'text/html; charset=utf-8');
  });

  test('HEAD / answers 200 without a body; other paths still 404', async () => {
    const head = await t.app.inject({ method: 'HEAD', url: '/' });
    assert.equal(head.statusCode, 200);
    assert.equal(head.body, '');
    const missing = await call(t.app, 'GET', '/nope');
    assert.equal(missing.status, 404);
    assert.equal(missing.json?.error_code, 'ENDPOINT_NOT_FOUND');
  });
});
